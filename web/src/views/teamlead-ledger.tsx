import { budgetPath } from '../api'
import { useApp } from '../app'
import { useLoad, type Loaded } from '../components'
import type { Budget, Commitment, Spending } from '../types'
import { laterBudget, readAfter, type Written } from '../writes'

/**
 * One budget of a team lead as the page keeps it: read once, then changed only from the answers of
 * the writes made here (the 201 answer carries the budget right after the write, and the
 * commitment or spending it wrote). The read models may lag a write by a moment; the answers never do.
 */
export interface Ledger {
  budget: Budget
  commitments: Commitment[]
  spending: Spending[]
}

/** The newest position this page wrote, so that later reads wait until the read models have it. */
export interface PositionRef {
  current: string | undefined
}

export interface LedgerHandle {
  loaded: Loaded<Ledger>
  /** Sends a write under the budget's path (`/commitments`, `/spending/{id}/reversal`, …). */
  write: <T>(suffix: string, body: unknown, idempotencyKey: string) => Promise<Written<T>>
  commitmentWritten: (answer: Written<Commitment>) => void
  spendingWritten: (answer: Written<Spending>) => void
}

/** The resource a write answered, without the envelope around it. */
function resourceOf<T>(answer: Written<T>): T {
  const { position: _position, revision: _revision, budget: _budget, warnings: _warnings, ...resource } = answer
  return resource as unknown as T
}

/** The list with `item` in place of the one with its id, or appended (lists are in the order of creation). */
function upsert<T extends { id: string }>(items: readonly T[], item: T): T[] {
  return items.some((existing) => existing.id === item.id)
    ? items.map((existing) => (existing.id === item.id ? item : existing))
    : [...items, item]
}

export function useLedger(year: number, sozialraum: string, position: PositionRef): LedgerHandle {
  const { api } = useApp()
  const path = budgetPath(year, sozialraum)
  const read = <T,>(suffix: string) => api.get<T>(readAfter(`${path}${suffix}`, position.current))
  const loaded = useLoad(async (): Promise<Ledger> => {
    const [budget, commitments, spending] = await Promise.all([
      read<Budget>(''),
      read<{ items: Commitment[] }>('/commitments'),
      read<{ items: Spending[] }>('/spending'),
    ])
    return { budget, commitments: commitments.items, spending: spending.items }
  }, [path])

  const write = async <T,>(suffix: string, body: unknown, idempotencyKey: string): Promise<Written<T>> => {
    const answer = await api.post<Written<T>>(`${path}${suffix}`, body, { idempotencyKey })
    position.current = answer.position
    return answer
  }
  return {
    loaded,
    write,
    commitmentWritten: (answer) =>
      loaded.update((ledger) => ({
        ...ledger,
        budget: answer.budget === undefined ? ledger.budget : laterBudget(ledger.budget, answer.budget),
        commitments: upsert(ledger.commitments, resourceOf(answer)),
      })),
    spendingWritten: (answer) =>
      loaded.update((ledger) => ({
        ...ledger,
        budget: answer.budget === undefined ? ledger.budget : laterBudget(ledger.budget, answer.budget),
        spending: upsert(ledger.spending, resourceOf(answer)),
      })),
  }
}

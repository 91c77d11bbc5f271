import type { Position } from '../eventstore/port.js'
import type { YearStatus } from '../domain/year.js'

/**
 * What the order of the fiscal years asks about all years at once, which no single stream knows
 * (docs/fiscal-year.md, "1. The request"): which years have budgets, which are closed. The
 * Ledger asks it for a year's close and for a budget's first write.
 */
export interface YearOrder {
  /** Whether the year has a budget. */
  hasBudgets(year: number): Promise<boolean>
  /** The years since the last closed one before `year` that have a budget and are not closed, oldest first. */
  unclosedYearsBefore(year: number): Promise<number[]>
  /** The first year after `year` whose close is approved or done. */
  closingYearAfter(year: number): Promise<{ year: number; status: YearStatus } | undefined>
}

/** The read models did not reach the head of the log in time: the command was not decided (503, try again). */
export class ReadModelsBehindError extends Error {
  constructor(readonly position: Position) {
    super(`the read models of the fiscal years have not reached position ${position} yet`)
    this.name = 'ReadModelsBehindError'
  }
}

export interface ReadModelYearOrderOptions {
  queries: YearOrder
  headPosition(): Promise<Position>
  /** Whether the named read models reached `position` within `timeoutMs` (the projection runner's). */
  waitFor(position: Position, timeoutMs: number, names: readonly string[]): Promise<boolean>
}

/** The read models that hold the years' budgets (balances) and statuses (fiscal-years). */
const YEAR_ORDER_READ_MODELS = ['balances', 'fiscal-years'] as const
const WAIT_MS = 5_000

/**
 * The YearOrder of the read models, asked once they have reached the head of the log, so that a
 * budget or a close written a moment ago, in this process or another, counts. They are there
 * within milliseconds; while they replay (a rebuild) the question waits up to 5 s, then fails
 * with ReadModelsBehindError. Two commands at the same moment (a budget's first allocation and
 * the approval of a later year's close, in one process or two) can still both pass, each checked
 * before the other is written: see docs/fiscal-year.md.
 */
export function readModelYearOrder(options: ReadModelYearOrderOptions): YearOrder {
  const caughtUp = async <T>(question: () => Promise<T>): Promise<T> => {
    const head = await options.headPosition()
    if (!(await options.waitFor(head, WAIT_MS, YEAR_ORDER_READ_MODELS))) throw new ReadModelsBehindError(head)
    return question()
  }
  return {
    hasBudgets: (year) => caughtUp(() => options.queries.hasBudgets(year)),
    unclosedYearsBefore: (year) => caughtUp(() => options.queries.unclosedYearsBefore(year)),
    closingYearAfter: (year) => caughtUp(() => options.queries.closingYearAfter(year)),
  }
}

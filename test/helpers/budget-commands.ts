import { randomUUID } from 'node:crypto'
import { remainingCents, type BudgetCommand, type BudgetState } from '../../src/domain/budget/index.js'
import type { Actor, Line } from '../../src/domain/events.js'

/**
 * What a property test's generated step asks of a budget, without where it goes: the property
 * tests of the projections draw these and turn them into commands the same way.
 */
export type BudgetAction =
  | { kind: 'allocate'; line: Line; cents: bigint }
  | { kind: 'adjust'; line: Line; cents: bigint }
  | { kind: 'transfer'; from: Line; cents: bigint }
  | { kind: 'commit'; line: Line; cents: bigint; justified: boolean }
  | { kind: 'amend'; pick: number; cents: bigint; justified: boolean }
  | { kind: 'decide'; pick: number; decision: 'approve' | 'reject'; comment?: boolean }
  | { kind: 'invoice'; pick: number; cents: bigint; whole: boolean; invoiceNo: number }
  | { kind: 'release'; pick: number }
  | { kind: 'spend'; cents: bigint }
  | { kind: 'reverse'; pick: number }

export const JUSTIFICATION = 'Rechtsanspruch nach § 27 SGB VIII'

/** The commitment and spending the action is about, who decides, and the state and year it meets. */
export interface ActionTarget {
  commitmentId: string
  spendingId: string
  approver: Actor
  state: BudgetState | undefined
  year: number
}

export function budgetCommandOf(action: BudgetAction, target: ActionTarget): BudgetCommand {
  const { commitmentId, spendingId, state, year } = target
  switch (action.kind) {
    case 'allocate':
      return { type: 'AllocateBudget', line: action.line, amountCents: action.cents, decisionRef: 'HH' }
    case 'adjust':
      return { type: 'AdjustBudget', line: action.line, amountCents: action.cents, reason: 'correction' }
    case 'transfer':
      return {
        type: 'TransferBudget',
        fromLine: action.from,
        toLine: action.from === 'ambulatory' ? 'flexible' : 'ambulatory',
        amountCents: action.cents,
        reason: 'shift',
      }
    case 'commit':
      return {
        type: 'CreateCommitment',
        commitmentId: randomUUID(),
        line: action.line,
        provider: 'traeger-a',
        caseRef: 'case-1',
        amountCents: action.cents,
        period: { from: `${year}-01-01`, to: `${year}-12-31` },
        overBudgetJustification: action.justified ? JUSTIFICATION : undefined,
      }
    case 'amend':
      return {
        type: 'AmendCommitment',
        commitmentId,
        amountCents: action.cents,
        reason: 'change',
        overBudgetJustification: action.justified ? JUSTIFICATION : undefined,
      }
    case 'decide':
      return {
        type: 'DecideApproval',
        commitmentId,
        decision: action.decision,
        approver: { sub: target.approver.sub, role: target.approver.role },
        comment: action.comment ? 'Kollegiale Beratung' : undefined,
      }
    case 'invoice': {
      const commitment = state?.commitments.get(commitmentId)
      const cents = action.whole && commitment ? remainingCents(commitment) : action.cents
      return { type: 'BookInvoice', commitmentId, invoiceNo: `R-${action.invoiceNo}`, amountCents: cents, invoiceDate: `${year}-02-01` }
    }
    case 'release':
      return { type: 'ReleaseCommitment', commitmentId, reason: 'done' }
    case 'spend':
      return { type: 'RecordSpending', spendingId: randomUUID(), amountCents: action.cents, purpose: 'Gruppenangebot', receiptRef: 'B-1', date: `${year}-03-01` }
    case 'reverse':
      return { type: 'ReverseSpending', spendingId, reason: 'Storno' }
  }
}

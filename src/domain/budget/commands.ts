import type { Line } from '../events.js'
import type { Cents } from '../money.js'
import type { CarryOver } from './carry-over.js'
import type { Approver } from './state.js'

/** What may be asked of a budget. Time, ids and the actor come with the command, never from a clock. */
export type BudgetCommand =
  | { type: 'AllocateBudget'; line: Line; amountCents: Cents; decisionRef: string; note?: string | undefined }
  | { type: 'AdjustBudget'; line: Line; amountCents: Cents; reason: string }
  | { type: 'TransferBudget'; fromLine: Line; toLine: Line; amountCents: Cents; reason: string }
  | {
      type: 'CreateCommitment'
      commitmentId: string
      line: Line
      provider: string
      caseRef: string
      helpType?: string | undefined
      amountCents: Cents
      period: { from: string; to: string }
      decisionRef?: string | undefined
      overBudgetJustification?: string | undefined
    }
  | {
      type: 'AmendCommitment'
      commitmentId: string
      amountCents: Cents
      reason: string
      overBudgetJustification?: string | undefined
    }
  | {
      type: 'DecideApproval'
      commitmentId: string
      decision: 'approve' | 'reject'
      comment?: string | undefined
      approver: Approver
    }
  | { type: 'BookInvoice'; commitmentId: string; invoiceNo: string; amountCents: Cents; invoiceDate: string }
  | { type: 'ReleaseCommitment'; commitmentId: string; reason: string }
  | {
      type: 'RecordSpending'
      spendingId: string
      amountCents: Cents
      purpose: string
      category?: string | undefined
      receiptRef: string
      date: string
    }
  | { type: 'ReverseSpending'; spendingId: string; reason: string }
  // The steps of the year close and of moves between Sozialräume: issued by their processes
  // (src/application/processes.ts), the debit of a move also by its request.
  | { type: 'CloseBudget'; carryUnspent: readonly Line[] }
  | { type: 'ReceiveCarryOver'; carry: CarryOver }
  | {
      type: 'DebitMove'
      moveId: string
      line: Line
      amountCents: Cents
      to: { sozialraum: string; line: Line }
      reason: string
    }
  | {
      type: 'CreditMove'
      moveId: string
      line: Line
      amountCents: Cents
      from: { sozialraum: string; line: Line }
      reason: string
    }
  | { type: 'RevertMove'; moveId: string; why: string }

/** One kind of command, e.g. `CommandOf<'BookInvoice'>`. */
export type CommandOf<Type extends BudgetCommand['type']> = Extract<BudgetCommand, { type: Type }>

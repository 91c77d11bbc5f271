import type { Line } from '../events.js'
import type { Cents } from '../money.js'
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

/** One kind of command, e.g. `CommandOf<'BookInvoice'>`. */
export type CommandOf<Type extends BudgetCommand['type']> = Extract<BudgetCommand, { type: Type }>

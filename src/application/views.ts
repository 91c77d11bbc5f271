import {
  availableCents,
  remainingCents,
  type BudgetState,
  type CommitmentState,
  type LineBalance,
  type OverBudgetSummary,
  type SpendingState,
} from '../domain/budget/index.js'
import { formatCents, type Cents } from '../domain/money.js'
import type { SozialraumState } from '../domain/sozialraum.js'

/** The JSON shapes of docs/api.md, built from the decider's state (write responses) or from read models. */

export interface BalanceView {
  allocated: string
  committed: string
  spent: string
  available: string
}

export interface BudgetView {
  year: number
  sozialraum: string
  revision: string
  closed: boolean
  lines: { ambulatory: BalanceView; flexible: BalanceView }
  total: BalanceView
  overBudget: { commitments: number; amount: string }
}

export interface CommitmentView {
  id: string
  year: number
  sozialraum: string
  line: 'ambulatory' | 'flexible'
  provider: string
  caseRef: string
  helpType?: string
  period: { from: string; to: string }
  decisionRef?: string
  amount: string
  invoiced: string
  released: string
  remaining: string
  /** What the year close took into the next year, and the commitment that continues it there (docs/domain.md rule 8). */
  carried: string
  carriedTo?: { year: number; commitmentId: string }
  /** The commitment of the previous year this one continues. */
  carriedFrom?: { year: number; commitmentId: string }
  status: 'requested' | 'open' | 'closed' | 'rejected'
  overBudget: boolean
  overBudgetJustification?: string
  createdBy: string
  createdAt: string
  /**
   * Who asked for what waits for approval, null unless `requested`: the one person who may not
   * approve it (docs/domain.md rule 6). Not always `createdBy`: an increase asked for by another
   * team lead, or a commitment a year close carried in.
   */
  requestedBy: string | null
  invoices: Array<{ invoiceNo: string; amount: string; invoiceDate: string }>
  lastDecision?: { decision: 'approve' | 'reject'; by: string; at: string; comment?: string }
}

export interface SpendingView {
  id: string
  year: number
  sozialraum: string
  line: 'flexible'
  amount: string
  purpose: string
  category?: string
  receiptRef: string
  date: string
  reversed: boolean
  createdBy: string
  createdAt: string
}

export interface SozialraumView {
  id: string
  name: string
  status: 'pilot' | 'permanent'
  openedAt: string
}

export function balanceView(balance: LineBalance): BalanceView {
  return {
    allocated: formatCents(balance.allocatedCents),
    committed: formatCents(balance.committedCents),
    spent: formatCents(balance.spentCents),
    available: formatCents(availableCents(balance)),
  }
}

export function sumBalances(balances: readonly LineBalance[]): LineBalance {
  let allocatedCents: Cents = 0n
  let committedCents: Cents = 0n
  let spentCents: Cents = 0n
  for (const balance of balances) {
    allocatedCents += balance.allocatedCents
    committedCents += balance.committedCents
    spentCents += balance.spentCents
  }
  return { allocatedCents, committedCents, spentCents }
}

export function budgetView(
  key: { year: number; sozialraum: string; revision: bigint; closed: boolean },
  lines: { ambulatory: LineBalance; flexible: LineBalance },
  overBudget: OverBudgetSummary,
): BudgetView {
  return {
    year: key.year,
    sozialraum: key.sozialraum,
    revision: key.revision.toString(),
    closed: key.closed,
    lines: { ambulatory: balanceView(lines.ambulatory), flexible: balanceView(lines.flexible) },
    total: balanceView(sumBalances([lines.ambulatory, lines.flexible])),
    overBudget: { commitments: overBudget.commitments, amount: formatCents(overBudget.amountCents) },
  }
}

export function budgetViewOfState(state: BudgetState, revision: bigint): BudgetView {
  return budgetView({ year: state.year, sozialraum: state.sozialraum, revision, closed: state.closed }, state.lines, state.overBudget)
}

export function commitmentView(state: BudgetState, commitment: CommitmentState): CommitmentView {
  return {
    id: commitment.id,
    year: state.year,
    sozialraum: state.sozialraum,
    line: commitment.line,
    provider: commitment.provider,
    caseRef: commitment.caseRef,
    ...(commitment.helpType === undefined ? {} : { helpType: commitment.helpType }),
    period: commitment.period,
    ...(commitment.decisionRef === undefined ? {} : { decisionRef: commitment.decisionRef }),
    amount: formatCents(commitment.amountCents),
    invoiced: formatCents(commitment.invoicedCents),
    released: formatCents(commitment.releasedCents),
    remaining: formatCents(remainingCents(commitment)),
    carried: formatCents(commitment.carriedCents),
    ...(commitment.carriedTo === undefined
      ? {}
      : { carriedTo: { year: commitment.carriedTo.year, commitmentId: commitment.carriedTo.commitmentId } }),
    ...(commitment.carriedFrom === undefined ? {} : { carriedFrom: commitment.carriedFrom }),
    status: commitment.status,
    overBudget: commitment.overBudget,
    ...(commitment.overBudgetJustification === undefined
      ? {}
      : { overBudgetJustification: commitment.overBudgetJustification }),
    createdBy: commitment.createdBy,
    createdAt: commitment.createdAt,
    requestedBy: commitment.requestedBy ?? null,
    invoices: commitment.invoices.map((invoice) => ({
      invoiceNo: invoice.invoiceNo,
      amount: formatCents(invoice.amountCents),
      invoiceDate: invoice.invoiceDate,
    })),
    ...(commitment.lastDecision === undefined
      ? {}
      : {
          lastDecision: {
            decision: commitment.lastDecision.decision,
            by: commitment.lastDecision.by,
            at: commitment.lastDecision.at,
            ...(commitment.lastDecision.comment === undefined ? {} : { comment: commitment.lastDecision.comment }),
          },
        }),
  }
}

export function spendingView(state: BudgetState, spending: SpendingState): SpendingView {
  return {
    id: spending.id,
    year: state.year,
    sozialraum: state.sozialraum,
    line: 'flexible',
    amount: formatCents(spending.amountCents),
    purpose: spending.purpose,
    ...(spending.category === undefined ? {} : { category: spending.category }),
    receiptRef: spending.receiptRef,
    date: spending.date,
    reversed: spending.reversed,
    createdBy: spending.createdBy,
    createdAt: spending.createdAt,
  }
}

export function sozialraumView(state: SozialraumState): SozialraumView {
  return { id: state.id, name: state.name, status: state.status, openedAt: state.openedAt }
}

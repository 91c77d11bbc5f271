import type { Line, RecordedRole } from '../events.js'
import type { Cents } from '../money.js'
import { PersistentMap } from '../persistent-map.js'

/** The state of a budget as the decider sees it, and the settings it decides under. */

export interface BudgetKey {
  year: number
  sozialraum: string
}

export interface LineBalance {
  allocatedCents: Cents
  committedCents: Cents
  spentCents: Cents
}

export type CommitmentStatus = 'requested' | 'open' | 'closed' | 'rejected'

export interface Invoice {
  invoiceNo: string
  amountCents: Cents
  invoiceDate: string
}

/** The terms a second person last agreed to; a rejection goes back to them (rule 6). */
export interface ApprovedTerms {
  /** 0 while the commitment has never been approved. */
  amountCents: Cents
  overBudget: boolean
  overBudgetJustification: string | undefined
}

export interface ApprovalDecision {
  decision: 'approve' | 'reject'
  by: string
  at: string
  comment: string | undefined
}

export interface CommitmentState {
  id: string
  line: Line
  provider: string
  caseRef: string
  helpType: string | undefined
  period: { from: string; to: string }
  decisionRef: string | undefined
  amountCents: Cents
  invoicedCents: Cents
  releasedCents: Cents
  /** What the year close took into the next year (docs/domain.md rule 8); the commitment is closed then. */
  carriedCents: Cents
  /**
   * The commitment the close opened in the next year for what was left of this one, and how this
   * one stood when it was carried (open, or waiting for approval by someone other than `requestedBy`).
   */
  carriedTo:
    | { year: number; commitmentId: string; status: 'open' | 'requested'; requestedBy: string | undefined }
    | undefined
  /** The commitment of the previous year this one continues. */
  carriedFrom: { year: number; commitmentId: string } | undefined
  status: CommitmentStatus
  overBudget: boolean
  overBudgetJustification: string | undefined
  createdBy: string
  createdAt: string
  invoices: readonly Invoice[]
  /** Who asked for what now waits for approval: they may not approve it (rule 6). */
  requestedBy: string | undefined
  approvedTerms: ApprovedTerms
  /** The latest approval decision, if any. */
  lastDecision: ApprovalDecision | undefined
}

export interface SpendingState {
  id: string
  amountCents: Cents
  purpose: string
  category: string | undefined
  receiptRef: string
  date: string
  reversed: boolean
  createdBy: string
  createdAt: string
}

/** A move this budget sent to another Sozialraum (rule 9): debited here, reverted if refused there. */
export interface OutgoingMove {
  line: Line
  amountCents: Cents
  to: { sozialraum: string; line: Line }
  reason: string
  reverted: boolean
}

export interface BudgetState extends BudgetKey {
  /** True from the first allocation on; before it the budget does not exist. */
  exists: boolean
  /** The year close has closed it: it takes no event any more (rule 8). */
  closed: boolean
  lines: Readonly<Record<Line, LineBalance>>
  /** Persistent maps: folding an event costs the same however many the budget holds. */
  commitments: PersistentMap<string, CommitmentState>
  /**
   * The commitments marked over budget that bind or have spent money, and how much (amount −
   * released − carried): kept as each commitment changes (`withCommitment`), so that a write's
   * answer need not sweep every commitment of the budget.
   */
  overBudget: OverBudgetSummary
  spendings: PersistentMap<string, SpendingState>
  /** What the close carried out of each line's allocation, and the unspent part of it. */
  carriedAllocationCents: Readonly<Record<Line, Cents>>
  unspentCarriedCents: Readonly<Record<Line, Cents>>
  /** The years whose close carried money into this budget: each is received once. */
  carriedInFrom: ReadonlySet<number>
  outgoingMoves: PersistentMap<string, OutgoingMove>
  /**
   * Per line, what the moves out took and no revert brought back. The limit on the allocated
   * amount counts it (limits.ts), so that a revert always fits: an allocation cannot take the room
   * a move in transit left. The source never learns that the target credited a move, so a
   * credited move counts for good; only a line within its moves of the limit notices.
   */
  movedOutCents: Readonly<Record<Line, Cents>>
  /** Moves from other Sozialräume, credited here or refused for good. */
  incomingMoves: PersistentMap<string, 'credited' | 'refused'>
}

/** Over-budget (überplanmäßige) commitments of a budget that bind or have spent money (docs/domain.md rule 1). */
export interface OverBudgetSummary {
  commitments: number
  /** What they commit or have spent: amount − released − carried. */
  amountCents: Cents
}

/** What a commitment adds to the over-budget summary: counted when marked and binding or having spent money. */
export function overBudgetShareOf(commitment: CommitmentState): Cents | undefined {
  const boundOrSpentCents = commitment.amountCents - commitment.releasedCents - commitment.carriedCents
  // A rejected or withdrawn (released before any invoice) request binds nothing: not counted.
  return commitment.overBudget && boundOrSpentCents !== 0n ? boundOrSpentCents : undefined
}

/**
 * The summary after one commitment changed from `before` (undefined: it is new) to `after`: its
 * old share taken out, its new one put in; the same summary when neither counts.
 */
export function overBudgetMoved(summary: OverBudgetSummary, before: CommitmentState | undefined, after: CommitmentState): OverBudgetSummary {
  const out = before === undefined ? undefined : overBudgetShareOf(before)
  const into = overBudgetShareOf(after)
  if (out === undefined && into === undefined) return summary
  return {
    commitments: summary.commitments - (out === undefined ? 0 : 1) + (into === undefined ? 0 : 1),
    amountCents: summary.amountCents - (out ?? 0n) + (into ?? 0n),
  }
}

/** Who decides on an approval: the decider checks the four-eyes rules against the commitment. */
export interface Approver {
  sub: string
  role: RecordedRole
}

/** Settings of the rules that are configuration, not law. */
export interface BudgetPolicy {
  /** Commitments at or above this amount wait for a second person's approval (rule 6). */
  fourEyesThresholdCents: Cents
}

export const DEFAULT_FOUR_EYES_THRESHOLD_CENTS: Cents = 1_000_000n
export const DEFAULT_BUDGET_POLICY: BudgetPolicy = Object.freeze({
  fourEyesThresholdCents: DEFAULT_FOUR_EYES_THRESHOLD_CENTS,
})

/** What `evolve` needs to know about an event beyond its data. */
export interface EventContext {
  recordedAt: string
  actorSub: string
}

const emptyLine = (): LineBalance => ({ allocatedCents: 0n, committedCents: 0n, spentCents: 0n })

export function initialBudgetState(key: BudgetKey): BudgetState {
  return {
    year: key.year,
    sozialraum: key.sozialraum,
    exists: false,
    closed: false,
    lines: { ambulatory: emptyLine(), flexible: emptyLine() },
    commitments: PersistentMap.empty(),
    overBudget: { commitments: 0, amountCents: 0n },
    spendings: PersistentMap.empty(),
    carriedAllocationCents: { ambulatory: 0n, flexible: 0n },
    unspentCarriedCents: { ambulatory: 0n, flexible: 0n },
    carriedInFrom: new Set(),
    outgoingMoves: PersistentMap.empty(),
    movedOutCents: { ambulatory: 0n, flexible: 0n },
    incomingMoves: PersistentMap.empty(),
  }
}

export function availableCents(balance: LineBalance): Cents {
  return balance.allocatedCents - balance.committedCents - balance.spentCents
}

export function remainingCents(commitment: CommitmentState): Cents {
  return commitment.amountCents - commitment.invoicedCents - commitment.releasedCents - commitment.carriedCents
}

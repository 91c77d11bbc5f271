import type { BudgetEvent, EventDataOf, Line } from '../events.js'
import type { Cents } from '../money.js'
import { allocationCarriedOver, commitmentCarriedIn, commitmentCarriedOver } from './carry-over.js'
import { evolveMove } from './moves.js'
import {
  overBudgetMoved,
  remainingCents,
  type ApprovalDecision,
  type BudgetState,
  type CommitmentState,
  type EventContext,
  type LineBalance,
  type SpendingState,
} from './state.js'

/** Folds one event into the budget's state. Events are facts: nothing here refuses, a broken reference is a corrupt stream. */

export function evolveBudget(state: BudgetState, event: BudgetEvent, context: EventContext): BudgetState {
  switch (event.type) {
    case 'BudgetAllocated':
      return {
        ...state,
        exists: true,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: BigInt(event.data.amountCents) }),
        carriedInFrom:
          event.data.fromYear === undefined ? state.carriedInFrom : new Set(state.carriedInFrom).add(event.data.fromYear),
      }
    case 'BudgetAdjusted':
      return {
        ...state,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: BigInt(event.data.amountCents) }),
      }
    case 'BudgetTransferred': {
      const amount = BigInt(event.data.amountCents)
      const lines = changeLine(state.lines, event.data.fromLine, { allocatedCents: -amount })
      return { ...state, lines: changeLine(lines, event.data.toLine, { allocatedCents: amount }) }
    }
    case 'CommitmentCreated':
      return commitmentCreated(state, event.data, context)
    case 'CommitmentApprovalRequested':
      return approvalRequested(state, event.data, context)
    case 'CommitmentApproved':
      return commitmentApproved(state, event.data, context)
    case 'CommitmentRejected':
      return commitmentRejected(state, event.data, context)
    case 'CommitmentAmended':
      return commitmentAmended(state, event.data)
    case 'InvoiceBooked':
      return invoiceBooked(state, event.data)
    case 'CommitmentReleased':
      return commitmentReleased(state, event.data)
    case 'SpendingRecorded':
      return spendingRecorded(state, event.data, context)
    case 'SpendingReversed':
      return spendingReversed(state, event.data)
    case 'CommitmentCarriedOver':
      return commitmentCarriedOver(state, event.data)
    case 'AllocationCarriedOver':
      return allocationCarriedOver(state, event.data)
    case 'BudgetClosed':
      return { ...state, closed: true }
    case 'CommitmentCarriedIn':
      return commitmentCarriedIn(state, event.data, context)
    case 'BudgetMoveDebited':
    case 'BudgetMoveCredited':
    case 'BudgetMoveRefused':
    case 'BudgetMoveReverted':
      return evolveMove(state, event)
  }
}

export function changeLine(
  lines: Readonly<Record<Line, LineBalance>>,
  line: Line,
  change: Partial<Record<keyof LineBalance, Cents>>,
): Record<Line, LineBalance> {
  const current = lines[line]
  return {
    ...lines,
    [line]: {
      allocatedCents: current.allocatedCents + (change.allocatedCents ?? 0n),
      committedCents: current.committedCents + (change.committedCents ?? 0n),
      spentCents: current.spentCents + (change.spentCents ?? 0n),
    },
  }
}

/** The commitments with this one set, and the over-budget summary with its old share taken out and its new one put in. */
export function withCommitment(state: BudgetState, commitment: CommitmentState): Pick<BudgetState, 'commitments' | 'overBudget'> {
  return {
    commitments: state.commitments.set(commitment.id, commitment),
    overBudget: overBudgetMoved(state.overBudget, state.commitments.get(commitment.id), commitment),
  }
}

/** A commitment with nothing left to invoice is closed (rule 4). */
function settle(commitment: CommitmentState): CommitmentState {
  return remainingCents(commitment) === 0n && commitment.status !== 'rejected'
    ? { ...commitment, status: 'closed', requestedBy: undefined }
    : commitment
}

function decision(kind: 'approve' | 'reject', comment: string | undefined, context: EventContext): ApprovalDecision {
  return { decision: kind, by: context.actorSub, at: context.recordedAt, comment }
}

export function commitmentOf(state: BudgetState, data: { commitmentId: string }): CommitmentState {
  const commitment = state.commitments.get(data.commitmentId)
  if (!commitment) throw new Error(`event refers to unknown commitment ${data.commitmentId}: the stream is corrupt`)
  return commitment
}

function commitmentCreated(state: BudgetState, data: EventDataOf<'CommitmentCreated'>, context: EventContext): BudgetState {
  const amount = BigInt(data.amountCents)
  return commitmentOpened(state, data, context, {
    carriedFrom: undefined,
    requestedBy: data.status === 'requested' ? context.actorSub : undefined,
    approvedTerms: { amountCents: data.status === 'open' ? amount : 0n, overBudget: false, overBudgetJustification: undefined },
  })
}

/** A commitment opened with the terms its event names: created, or carried in from the year before. */
export function commitmentOpened(
  state: BudgetState,
  data: EventDataOf<'CommitmentCreated'>,
  context: EventContext,
  origin: Pick<CommitmentState, 'carriedFrom' | 'requestedBy' | 'approvedTerms'>,
): BudgetState {
  const amount = BigInt(data.amountCents)
  const commitment: CommitmentState = {
    ...origin,
    id: data.commitmentId,
    line: data.line,
    provider: data.provider,
    caseRef: data.caseRef,
    helpType: data.helpType,
    period: data.period,
    decisionRef: data.decisionRef,
    amountCents: amount,
    invoicedCents: 0n,
    releasedCents: 0n,
    carriedCents: 0n,
    carriedTo: undefined,
    status: data.status,
    overBudget: data.overBudget,
    overBudgetJustification: data.overBudgetJustification,
    createdBy: context.actorSub,
    createdAt: context.recordedAt,
    invoices: [],
    lastDecision: undefined,
  }
  return {
    ...state,
    lines: changeLine(state.lines, data.line, { committedCents: amount }),
    ...withCommitment(state, commitment),
  }
}

function approvalRequested(
  state: BudgetState,
  data: EventDataOf<'CommitmentApprovalRequested'>,
  context: EventContext,
): BudgetState {
  const requested: CommitmentState = {
    ...commitmentOf(state, data),
    status: 'requested',
    requestedBy: context.actorSub,
    overBudget: data.overBudget,
    overBudgetJustification: data.overBudgetJustification,
  }
  return { ...state, ...withCommitment(state, requested) }
}

function commitmentApproved(state: BudgetState, data: EventDataOf<'CommitmentApproved'>, context: EventContext): BudgetState {
  const commitment = commitmentOf(state, data)
  // A waiting commitment takes no invoices or amendments, so something is always left of it.
  const approved: CommitmentState = {
    ...commitment,
    status: 'open',
    requestedBy: undefined,
    approvedTerms: {
      amountCents: commitment.amountCents,
      overBudget: commitment.overBudget,
      overBudgetJustification: commitment.overBudgetJustification,
    },
    lastDecision: decision('approve', data.comment, context),
  }
  return { ...state, ...withCommitment(state, approved) }
}

function commitmentRejected(state: BudgetState, data: EventDataOf<'CommitmentRejected'>, context: EventContext): BudgetState {
  const commitment = commitmentOf(state, data)
  const amount = BigInt(data.amountCents)
  const withdrawn = data.status === 'rejected'
  const rejected: CommitmentState = {
    ...commitment,
    amountCents: withdrawn ? commitment.amountCents : commitment.amountCents - amount,
    releasedCents: withdrawn ? commitment.releasedCents + amount : commitment.releasedCents,
    status: data.status,
    overBudget: data.overBudget,
    overBudgetJustification: data.overBudgetJustification,
    requestedBy: undefined,
    lastDecision: decision('reject', data.comment, context),
  }
  return {
    ...state,
    lines: changeLine(state.lines, commitment.line, { committedCents: -amount }),
    ...withCommitment(state, rejected),
  }
}

function commitmentAmended(state: BudgetState, data: EventDataOf<'CommitmentAmended'>): BudgetState {
  const commitment = commitmentOf(state, data)
  const amount = BigInt(data.amountCents)
  const amountCents = commitment.amountCents + amount
  const amended = settle({
    ...commitment,
    amountCents,
    // An open commitment's amount is approved as it changes; an increase that needs approval
    // was sent to `requested` by the CommitmentApprovalRequested just before, and waits.
    approvedTerms:
      commitment.status === 'requested' ? commitment.approvedTerms : { ...commitment.approvedTerms, amountCents },
  })
  return {
    ...state,
    lines: changeLine(state.lines, commitment.line, { committedCents: amount }),
    ...withCommitment(state, amended),
  }
}

function invoiceBooked(state: BudgetState, data: EventDataOf<'InvoiceBooked'>): BudgetState {
  const commitment = commitmentOf(state, data)
  const amount = BigInt(data.amountCents)
  const invoiced = settle({
    ...commitment,
    invoicedCents: commitment.invoicedCents + amount,
    invoices: [...commitment.invoices, { invoiceNo: data.invoiceNo, amountCents: amount, invoiceDate: data.invoiceDate }],
  })
  return {
    ...state,
    lines: changeLine(state.lines, commitment.line, { committedCents: -amount, spentCents: amount }),
    ...withCommitment(state, invoiced),
  }
}

function commitmentReleased(state: BudgetState, data: EventDataOf<'CommitmentReleased'>): BudgetState {
  const commitment = commitmentOf(state, data)
  const amount = BigInt(data.amountCents)
  const released: CommitmentState = {
    ...commitment,
    releasedCents: commitment.releasedCents + amount,
    status: 'closed',
    requestedBy: undefined,
  }
  return {
    ...state,
    lines: changeLine(state.lines, commitment.line, { committedCents: -amount }),
    ...withCommitment(state, released),
  }
}

function spendingRecorded(state: BudgetState, data: EventDataOf<'SpendingRecorded'>, context: EventContext): BudgetState {
  const amount = BigInt(data.amountCents)
  const spending: SpendingState = {
    id: data.spendingId,
    amountCents: amount,
    purpose: data.purpose,
    category: data.category,
    receiptRef: data.receiptRef,
    date: data.date,
    reversed: false,
    createdBy: context.actorSub,
    createdAt: context.recordedAt,
  }
  return {
    ...state,
    lines: changeLine(state.lines, 'flexible', { spentCents: amount }),
    spendings: state.spendings.set(spending.id, spending),
  }
}

function spendingReversed(state: BudgetState, data: EventDataOf<'SpendingReversed'>): BudgetState {
  const spending = state.spendings.get(data.spendingId)
  if (!spending) throw new Error(`event refers to unknown spending ${data.spendingId}: the stream is corrupt`)
  return {
    ...state,
    lines: changeLine(state.lines, 'flexible', { spentCents: -spending.amountCents }),
    spendings: state.spendings.set(spending.id, { ...spending, reversed: true }),
  }
}

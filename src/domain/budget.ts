import type { BudgetEvent, Line, RecordedRole } from './events.js'
import { DomainError } from './errors.js'
import { centsToJson, formatCents, MAX_AMOUNT_CENTS, type Cents } from './money.js'

/**
 * The budget of one Sozialraum for one fiscal year, as a decider: `decide` checks a command
 * against the state and answers with events or a DomainError; `evolve` folds one event into the
 * state. Both are pure: time, ids and the actor come in with the command or the event context.
 */

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

export interface BudgetState extends BudgetKey {
  /** True from the first allocation on; before it the budget does not exist. */
  exists: boolean
  closed: boolean
  lines: Readonly<Record<Line, LineBalance>>
  commitments: ReadonlyMap<string, CommitmentState>
  spendings: ReadonlyMap<string, SpendingState>
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

const emptyLine = (): LineBalance => ({ allocatedCents: 0n, committedCents: 0n, spentCents: 0n })

export function initialBudgetState(key: BudgetKey): BudgetState {
  return {
    year: key.year,
    sozialraum: key.sozialraum,
    exists: false,
    closed: false,
    lines: { ambulatory: emptyLine(), flexible: emptyLine() },
    commitments: new Map(),
    spendings: new Map(),
  }
}

export function availableCents(balance: LineBalance): Cents {
  return balance.allocatedCents - balance.committedCents - balance.spentCents
}

export function remainingCents(commitment: CommitmentState): Cents {
  return commitment.amountCents - commitment.invoicedCents - commitment.releasedCents
}

/** A command may lower a line's available amount only as far as zero (DOMAIN rule 1). */
function checkFunds(state: BudgetState, line: Line, decreaseCents: Cents): DomainError | undefined {
  const available = availableCents(state.lines[line])
  if (available - decreaseCents >= 0n) return undefined
  return new DomainError(
    'insufficient-funds',
    `the ${line} line has ${formatCents(available)} available, ${formatCents(decreaseCents)} needed`,
  )
}

const mustExist = (state: BudgetState): DomainError | undefined =>
  state.exists
    ? undefined
    : new DomainError('not-found', `budget ${state.year} of ${state.sozialraum} has no allocation yet`)

function findCommitment(state: BudgetState, id: string): CommitmentState | DomainError {
  return (
    state.commitments.get(id) ??
    new DomainError('not-found', `commitment ${id} does not exist in budget ${state.year} of ${state.sozialraum}`)
  )
}

/**
 * Rule 1 for money a commitment reserves: within the line's available funds, or, for an
 * ambulatory commitment with a non-blank justification, over budget.
 */
function fundsForCommitment(
  state: BudgetState,
  line: Line,
  increaseCents: Cents,
  justification: string | undefined,
): { overBudget: boolean } | DomainError {
  const short = checkFunds(state, line, increaseCents)
  if (!short) return { overBudget: false }
  if (line !== 'ambulatory') return short
  if (justification === undefined || justification.trim() === '') {
    return new DomainError(
      'insufficient-funds',
      `${short.message}; an ambulatory commitment beyond the line needs an over-budget justification`,
    )
  }
  return { overBudget: true }
}

/** Rule 6: a second person, not one who asked; over-budget requests only by finance (rule 1). */
/**
 * Rule 6: a second person decides, not the one who asked; on an over-budget request only finance
 * (rule 1). The requester may withdraw their own request, which is a rejection: it only frees funds.
 */
function checkApprover(
  commitment: CommitmentState,
  approver: Approver,
  decision: 'approve' | 'reject',
): DomainError | undefined {
  if (approver.role !== 'finance' && approver.role !== 'teamlead') {
    return new DomainError('forbidden', `a ${approver.role} does not decide on commitments`)
  }
  if (commitment.requestedBy === approver.sub) {
    if (decision === 'reject') return undefined
    return new DomainError('forbidden', `${approver.sub} asked for commitment ${commitment.id}; a second person must approve it`)
  }
  if (commitment.overBudget && approver.role !== 'finance') {
    return new DomainError('forbidden', `commitment ${commitment.id} is over budget; only finance decides on it`)
  }
  return undefined
}

/** The over-budget fields of an event: the flag, and the justification only where there is one. */
function overBudgetMarking(
  overBudget: boolean,
  justification: string | undefined,
): { overBudget: boolean; overBudgetJustification?: string } {
  return justification === undefined ? { overBudget } : { overBudget, overBudgetJustification: justification }
}

function amended(
  key: BudgetKey,
  commitment: CommitmentState,
  command: { amountCents: Cents; reason: string },
): BudgetEvent {
  return {
    type: 'CommitmentAmended',
    data: {
      ...key,
      commitmentId: commitment.id,
      line: commitment.line,
      amountCents: centsToJson(command.amountCents),
      reason: command.reason,
    },
  }
}

function checkOpenForChanges(commitment: CommitmentState): DomainError | undefined {
  if (commitment.status === 'closed' || commitment.status === 'rejected') {
    return new DomainError('commitment-closed', `commitment ${commitment.id} is ${commitment.status}`)
  }
  return undefined
}

export function decideBudget(
  state: BudgetState,
  command: BudgetCommand,
  policy: BudgetPolicy = DEFAULT_BUDGET_POLICY,
): BudgetEvent[] | DomainError {
  if (state.closed) return new DomainError('year-closed', `fiscal year ${state.year} is closed`)
  const key = { year: state.year, sozialraum: state.sozialraum }
  if (command.type !== 'AllocateBudget') {
    const missing = mustExist(state)
    if (missing) return missing
  }
  if ('amountCents' in command && (command.amountCents > MAX_AMOUNT_CENTS || command.amountCents < -MAX_AMOUNT_CENTS)) {
    return new DomainError(
      'validation',
      `an amount must not exceed ${formatCents(MAX_AMOUNT_CENTS)} in magnitude`,
      'amount',
    )
  }

  switch (command.type) {
    case 'AllocateBudget': {
      if (command.amountCents <= 0n) return new DomainError('validation', 'an allocation must be positive', 'amount')
      return [
        {
          type: 'BudgetAllocated',
          data: {
            ...key,
            line: command.line,
            amountCents: centsToJson(command.amountCents),
            decisionRef: command.decisionRef,
            ...(command.note === undefined ? {} : { note: command.note }),
          },
        },
      ]
    }

    case 'AdjustBudget': {
      if (command.amountCents === 0n) return new DomainError('validation', 'an adjustment must not be zero', 'amount')
      if (command.amountCents < 0n) {
        const short = checkFunds(state, command.line, -command.amountCents)
        if (short) return short
      }
      return [
        {
          type: 'BudgetAdjusted',
          data: { ...key, line: command.line, amountCents: centsToJson(command.amountCents), reason: command.reason },
        },
      ]
    }

    case 'TransferBudget': {
      if (command.fromLine === command.toLine) {
        return new DomainError('validation', 'a transfer moves money between two different lines', 'toLine')
      }
      if (command.amountCents <= 0n) return new DomainError('validation', 'a transfer must be positive', 'amount')
      const short = checkFunds(state, command.fromLine, command.amountCents)
      if (short) return short
      return [
        {
          type: 'BudgetTransferred',
          data: {
            ...key,
            fromLine: command.fromLine,
            toLine: command.toLine,
            amountCents: centsToJson(command.amountCents),
            reason: command.reason,
          },
        },
      ]
    }

    case 'CreateCommitment': {
      if (state.commitments.has(command.commitmentId)) {
        return new DomainError('conflict', `commitment ${command.commitmentId} exists already`)
      }
      if (command.amountCents <= 0n) return new DomainError('validation', 'a commitment must be positive', 'amount')
      if (command.period.to < command.period.from) {
        return new DomainError('validation', 'the period must not end before it starts', 'period.to')
      }
      if (command.period.from > `${state.year}-12-31` || command.period.to < `${state.year}-01-01`) {
        return new DomainError('validation', `the period must overlap fiscal year ${state.year}`, 'period')
      }
      // Rule 1: help under SGB VIII §§ 27 ff. is an entitlement, so an ambulatory commitment may
      // exceed the line when it is justified; it then waits for a finance controller's approval.
      const funds = fundsForCommitment(state, command.line, command.amountCents, command.overBudgetJustification)
      if (funds instanceof DomainError) return funds
      const overBudget = funds.overBudget
      // Rule 6: large sums wait for a second person.
      const requested = overBudget || command.amountCents >= policy.fourEyesThresholdCents
      return [
        {
          type: 'CommitmentCreated',
          data: {
            ...key,
            commitmentId: command.commitmentId,
            line: command.line,
            provider: command.provider,
            caseRef: command.caseRef,
            ...(command.helpType === undefined ? {} : { helpType: command.helpType }),
            amountCents: centsToJson(command.amountCents),
            period: { from: command.period.from, to: command.period.to },
            ...(command.decisionRef === undefined ? {} : { decisionRef: command.decisionRef }),
            status: requested ? 'requested' : 'open',
            overBudget,
            ...(overBudget ? { overBudgetJustification: command.overBudgetJustification } : {}),
          },
        },
      ]
    }

    case 'AmendCommitment': {
      const commitment = findCommitment(state, command.commitmentId)
      if (commitment instanceof DomainError) return commitment
      const closed = checkOpenForChanges(commitment)
      if (closed) return closed
      // A request under review does not change, so an approval always covers what was seen.
      if (commitment.status === 'requested') {
        return new DomainError(
          'approval-required',
          `commitment ${commitment.id} waits for approval and cannot change until it is decided; its requester may withdraw the request by rejecting it`,
        )
      }
      if (command.amountCents === 0n) return new DomainError('validation', 'an amendment must not be zero', 'amount')
      const newAmount = commitment.amountCents + command.amountCents
      if (newAmount < commitment.invoicedCents) {
        return new DomainError(
          'exceeds-commitment',
          `commitment ${commitment.id} has ${formatCents(commitment.invoicedCents)} invoiced; it cannot go below that`,
        )
      }
      if (newAmount <= 0n) {
        return new DomainError(
          'validation',
          'an amendment must leave a positive amount; release the commitment instead',
          'amount',
        )
      }
      if (command.amountCents < 0n) return [amended(key, commitment, command)]
      const funds = fundsForCommitment(state, commitment.line, command.amountCents, command.overBudgetJustification)
      if (funds instanceof DomainError) return funds
      // An increase to or above the threshold, or beyond the line, needs a second person again:
      // otherwise a small commitment could grow into a large one that nobody else has seen.
      if (!funds.overBudget && newAmount < policy.fourEyesThresholdCents) return [amended(key, commitment, command)]
      return [
        {
          type: 'CommitmentApprovalRequested',
          data: {
            ...key,
            commitmentId: commitment.id,
            line: commitment.line,
            ...(funds.overBudget
              ? overBudgetMarking(true, command.overBudgetJustification)
              : overBudgetMarking(commitment.overBudget, commitment.overBudgetJustification)),
          },
        },
        amended(key, commitment, command),
      ]
    }

    case 'DecideApproval': {
      const commitment = findCommitment(state, command.commitmentId)
      if (commitment instanceof DomainError) return commitment
      if (commitment.status !== 'requested') {
        return new DomainError('conflict', `commitment ${commitment.id} is ${commitment.status}, not waiting for approval`)
      }
      const refused = checkApprover(commitment, command.approver, command.decision)
      if (refused) return refused
      const comment = command.comment === undefined ? {} : { comment: command.comment }
      const common = { ...key, commitmentId: commitment.id, line: commitment.line }
      if (command.decision === 'approve') return [{ type: 'CommitmentApproved', data: { ...common, ...comment } }]
      const terms = commitment.approvedTerms
      const neverApproved = terms.amountCents === 0n
      return [
        {
          type: 'CommitmentRejected',
          data: {
            ...common,
            // Never approved: the whole reservation is released. Else only the unapproved increase.
            amountCents: centsToJson(
              neverApproved ? remainingCents(commitment) : commitment.amountCents - terms.amountCents,
            ),
            // A waiting commitment always has more approved than invoiced (else it would be closed).
            status: neverApproved ? 'rejected' : 'open',
            ...(neverApproved
              ? overBudgetMarking(commitment.overBudget, commitment.overBudgetJustification)
              : overBudgetMarking(terms.overBudget, terms.overBudgetJustification)),
            ...comment,
          },
        },
      ]
    }

    case 'BookInvoice': {
      const commitment = findCommitment(state, command.commitmentId)
      if (commitment instanceof DomainError) return commitment
      const closed = checkOpenForChanges(commitment)
      if (closed) return closed
      if (commitment.status === 'requested') {
        return new DomainError('approval-required', `commitment ${commitment.id} waits for approval`)
      }
      if (commitment.invoices.some((invoice) => invoice.invoiceNo === command.invoiceNo)) {
        return new DomainError(
          'conflict',
          `invoice ${command.invoiceNo} is booked on commitment ${commitment.id} already`,
        )
      }
      if (command.amountCents <= 0n) return new DomainError('validation', 'an invoice must be positive', 'amount')
      const remaining = remainingCents(commitment)
      if (command.amountCents > remaining) {
        return new DomainError(
          'exceeds-commitment',
          `invoice of ${formatCents(command.amountCents)} exceeds the remaining ${formatCents(remaining)} of commitment ${commitment.id}`,
        )
      }
      return [
        {
          type: 'InvoiceBooked',
          data: {
            ...key,
            commitmentId: commitment.id,
            line: commitment.line,
            invoiceNo: command.invoiceNo,
            amountCents: centsToJson(command.amountCents),
            invoiceDate: command.invoiceDate,
          },
        },
      ]
    }

    case 'ReleaseCommitment': {
      const commitment = findCommitment(state, command.commitmentId)
      if (commitment instanceof DomainError) return commitment
      const closed = checkOpenForChanges(commitment)
      if (closed) return closed
      return [
        {
          type: 'CommitmentReleased',
          data: {
            ...key,
            commitmentId: commitment.id,
            line: commitment.line,
            amountCents: centsToJson(remainingCents(commitment)),
            reason: command.reason,
          },
        },
      ]
    }

    case 'RecordSpending': {
      if (state.spendings.has(command.spendingId)) {
        return new DomainError('conflict', `spending ${command.spendingId} exists already`)
      }
      if (command.amountCents <= 0n) return new DomainError('validation', 'a spending must be positive', 'amount')
      if (!command.date.startsWith(`${state.year}-`)) {
        return new DomainError('validation', `the spending date must fall in fiscal year ${state.year}`, 'date')
      }
      const short = checkFunds(state, 'flexible', command.amountCents)
      if (short) return short
      return [
        {
          type: 'SpendingRecorded',
          data: {
            ...key,
            spendingId: command.spendingId,
            amountCents: centsToJson(command.amountCents),
            purpose: command.purpose,
            ...(command.category === undefined ? {} : { category: command.category }),
            receiptRef: command.receiptRef,
            date: command.date,
          },
        },
      ]
    }

    case 'ReverseSpending': {
      const spending = state.spendings.get(command.spendingId)
      if (!spending) {
        return new DomainError('not-found', `spending ${command.spendingId} does not exist in this budget`)
      }
      if (spending.reversed) return new DomainError('conflict', `spending ${spending.id} is reversed already`)
      return [
        {
          type: 'SpendingReversed',
          data: { ...key, spendingId: spending.id, amountCents: centsToJson(spending.amountCents), reason: command.reason },
        },
      ]
    }
  }
}

function changeLine(
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

function withCommitment(state: BudgetState, commitment: CommitmentState): Map<string, CommitmentState> {
  return new Map(state.commitments).set(commitment.id, commitment)
}

/** A commitment with nothing left to invoice is closed (rule 4). */
function settle(commitment: CommitmentState): CommitmentState {
  return remainingCents(commitment) === 0n && commitment.status !== 'rejected'
    ? { ...commitment, status: 'closed', requestedBy: undefined }
    : commitment
}

function decision(
  kind: 'approve' | 'reject',
  comment: string | undefined,
  context: EventContext,
): ApprovalDecision {
  return { decision: kind, by: context.actorSub, at: context.recordedAt, comment }
}

function commitmentOf(state: BudgetState, data: { commitmentId: string }): CommitmentState {
  const commitment = state.commitments.get(data.commitmentId)
  if (!commitment) throw new Error(`event refers to unknown commitment ${data.commitmentId}: the stream is corrupt`)
  return commitment
}

export function evolveBudget(state: BudgetState, event: BudgetEvent, context: EventContext): BudgetState {
  switch (event.type) {
    case 'BudgetAllocated':
      return {
        ...state,
        exists: true,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: BigInt(event.data.amountCents) }),
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
    case 'CommitmentCreated': {
      const data = event.data
      const amount = BigInt(data.amountCents)
      const commitment: CommitmentState = {
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
        status: data.status,
        overBudget: data.overBudget,
        overBudgetJustification: data.overBudgetJustification,
        createdBy: context.actorSub,
        createdAt: context.recordedAt,
        invoices: [],
        requestedBy: data.status === 'requested' ? context.actorSub : undefined,
        approvedTerms: {
          amountCents: data.status === 'open' ? amount : 0n,
          overBudget: false,
          overBudgetJustification: undefined,
        },
        lastDecision: undefined,
      }
      return {
        ...state,
        lines: changeLine(state.lines, data.line, { committedCents: amount }),
        commitments: withCommitment(state, commitment),
      }
    }
    case 'CommitmentApprovalRequested': {
      const commitment = commitmentOf(state, event.data)
      const requested: CommitmentState = {
        ...commitment,
        status: 'requested',
        requestedBy: context.actorSub,
        overBudget: event.data.overBudget,
        overBudgetJustification: event.data.overBudgetJustification,
      }
      return { ...state, commitments: withCommitment(state, requested) }
    }
    case 'CommitmentApproved': {
      const commitment = commitmentOf(state, event.data)
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
        lastDecision: decision('approve', event.data.comment, context),
      }
      return { ...state, commitments: withCommitment(state, approved) }
    }
    case 'CommitmentRejected': {
      const commitment = commitmentOf(state, event.data)
      const amount = BigInt(event.data.amountCents)
      const withdrawn = event.data.status === 'rejected'
      const rejected: CommitmentState = {
        ...commitment,
        amountCents: withdrawn ? commitment.amountCents : commitment.amountCents - amount,
        releasedCents: withdrawn ? commitment.releasedCents + amount : commitment.releasedCents,
        status: event.data.status,
        overBudget: event.data.overBudget,
        overBudgetJustification: event.data.overBudgetJustification,
        requestedBy: undefined,
        lastDecision: decision('reject', event.data.comment, context),
      }
      return {
        ...state,
        lines: changeLine(state.lines, commitment.line, { committedCents: -amount }),
        commitments: withCommitment(state, rejected),
      }
    }
    case 'CommitmentAmended': {
      const commitment = commitmentOf(state, event.data)
      const amount = BigInt(event.data.amountCents)
      const amountCents = commitment.amountCents + amount
      const amended = settle({
        ...commitment,
        amountCents,
        // An open commitment's amount is approved as it changes; an increase that needs approval
        // was sent to `requested` by the CommitmentApprovalRequested just before, and waits.
        approvedTerms:
          commitment.status === 'requested'
            ? commitment.approvedTerms
            : { ...commitment.approvedTerms, amountCents },
      })
      return {
        ...state,
        lines: changeLine(state.lines, commitment.line, { committedCents: amount }),
        commitments: withCommitment(state, amended),
      }
    }
    case 'InvoiceBooked': {
      const commitment = commitmentOf(state, event.data)
      const amount = BigInt(event.data.amountCents)
      const invoiced = settle({
        ...commitment,
        invoicedCents: commitment.invoicedCents + amount,
        invoices: [
          ...commitment.invoices,
          { invoiceNo: event.data.invoiceNo, amountCents: amount, invoiceDate: event.data.invoiceDate },
        ],
      })
      return {
        ...state,
        lines: changeLine(state.lines, commitment.line, { committedCents: -amount, spentCents: amount }),
        commitments: withCommitment(state, invoiced),
      }
    }
    case 'CommitmentReleased': {
      const commitment = commitmentOf(state, event.data)
      const amount = BigInt(event.data.amountCents)
      const released: CommitmentState = {
        ...commitment,
        releasedCents: commitment.releasedCents + amount,
        status: 'closed',
        requestedBy: undefined,
      }
      return {
        ...state,
        lines: changeLine(state.lines, commitment.line, { committedCents: -amount }),
        commitments: withCommitment(state, released),
      }
    }
    case 'SpendingRecorded': {
      const data = event.data
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
        spendings: new Map(state.spendings).set(spending.id, spending),
      }
    }
    case 'SpendingReversed': {
      const spending = state.spendings.get(event.data.spendingId)
      if (!spending) throw new Error(`event refers to unknown spending ${event.data.spendingId}: the stream is corrupt`)
      return {
        ...state,
        lines: changeLine(state.lines, 'flexible', { spentCents: -spending.amountCents }),
        spendings: new Map(state.spendings).set(spending.id, { ...spending, reversed: true }),
      }
    }
  }
}

/**
 * The ledger's invariant, asserted after every event: each line's committed amount is the sum of
 * the open remainders of its commitments. A failure means a bug, never bad input.
 */
export function assertBudgetInvariants(state: BudgetState): void {
  const committed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of state.commitments.values()) {
    const remaining = remainingCents(commitment)
    if (remaining < 0n) throw new Error(`invariant broken: commitment ${commitment.id} has a negative remainder`)
    if (commitment.status === 'rejected' && remaining !== 0n) {
      throw new Error(`invariant broken: rejected commitment ${commitment.id} still reserves funds`)
    }
    if (commitment.approvedTerms.amountCents > commitment.amountCents) {
      throw new Error(`invariant broken: commitment ${commitment.id} has more approved than committed`)
    }
    if ((commitment.status === 'requested') !== (commitment.requestedBy !== undefined)) {
      throw new Error(`invariant broken: commitment ${commitment.id} is ${commitment.status} with requester ${commitment.requestedBy}`)
    }
    if (commitment.status === 'open' && commitment.approvedTerms.amountCents !== commitment.amountCents) {
      throw new Error(`invariant broken: open commitment ${commitment.id} has unapproved terms`)
    }
    committed[commitment.line] += remaining
  }
  for (const line of ['ambulatory', 'flexible'] as const) {
    if (state.lines[line].committedCents !== committed[line]) {
      throw new Error(`invariant broken: ${line} committed ${state.lines[line].committedCents} ≠ ${committed[line]}`)
    }
    if (state.lines[line].spentCents < 0n) throw new Error(`invariant broken: ${line} spent is negative`)
  }
  if (availableCents(state.lines.flexible) < 0n) throw new Error('invariant broken: the flexible line is below zero')
}

import type { BudgetEvent, Line } from './events.js'
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
  | { type: 'AmendCommitment'; commitmentId: string; amountCents: Cents; reason: string }
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

function checkOpenForChanges(commitment: CommitmentState): DomainError | undefined {
  if (commitment.status === 'closed' || commitment.status === 'rejected') {
    return new DomainError('commitment-closed', `commitment ${commitment.id} is ${commitment.status}`)
  }
  return undefined
}

export function decideBudget(state: BudgetState, command: BudgetCommand): BudgetEvent[] | DomainError {
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
      let overBudget = false
      const short = checkFunds(state, command.line, command.amountCents)
      if (short) {
        if (command.line !== 'ambulatory') return short
        if (command.overBudgetJustification === undefined || command.overBudgetJustification.trim() === '') {
          return new DomainError(
            'insufficient-funds',
            `${short.message}; an ambulatory commitment beyond the line needs an over-budget justification`,
          )
        }
        overBudget = true
      }
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
            status: overBudget ? 'requested' : 'open',
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
      if (command.amountCents > 0n) {
        const short = checkFunds(state, commitment.line, command.amountCents)
        if (short) return short
      }
      return [
        {
          type: 'CommitmentAmended',
          data: {
            ...key,
            commitmentId: commitment.id,
            line: commitment.line,
            amountCents: centsToJson(command.amountCents),
            reason: command.reason,
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
    ? { ...commitment, status: 'closed' }
    : commitment
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
      }
      return {
        ...state,
        lines: changeLine(state.lines, data.line, { committedCents: amount }),
        commitments: withCommitment(state, commitment),
      }
    }
    case 'CommitmentAmended': {
      const commitment = commitmentOf(state, event.data)
      const amount = BigInt(event.data.amountCents)
      const amended = settle({ ...commitment, amountCents: commitment.amountCents + amount })
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
    if (commitment.status !== 'rejected') committed[commitment.line] += remaining
  }
  for (const line of ['ambulatory', 'flexible'] as const) {
    if (state.lines[line].committedCents !== committed[line]) {
      throw new Error(`invariant broken: ${line} committed ${state.lines[line].committedCents} ≠ ${committed[line]}`)
    }
    if (state.lines[line].spentCents < 0n) throw new Error(`invariant broken: ${line} spent is negative`)
  }
  if (availableCents(state.lines.flexible) < 0n) throw new Error('invariant broken: the flexible line is below zero')
}

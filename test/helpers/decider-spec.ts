import type tap from 'tap'
import { plainCopy } from './plain.js'
import {
  assertBudgetInvariants,
  availableCents,
  decideBudget,
  DEFAULT_BUDGET_POLICY,
  evolveBudget,
  initialBudgetState,
  type Approver,
  type BudgetCommand,
  type BudgetKey,
  type BudgetPolicy,
  type BudgetState,
  type EventContext,
} from '../../src/domain/budget/index.js'
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js'
import { eventDataSchemas, type BudgetEvent, type DomainEvent, type Line } from '../../src/domain/events.js'
import { formatCents, parseAmount, type Cents } from '../../src/domain/money.js'
import {
  decideSozialraum,
  evolveSozialraum,
  initialSozialraumState,
  type SozialraumCommand,
  type SozialraumState,
} from '../../src/domain/sozialraum.js'
import type { SozialraumEvent } from '../../src/domain/events.js'
import type { YearEvent } from '../../src/domain/events.js'
import { carriedCommitmentId } from '../../src/domain/budget/index.js'
import { decideYear, evolveYear, initialYearState, type YearCommand, type YearState } from '../../src/domain/year.js'

/**
 * Emmett-style given/when/then specifications for a decider:
 *
 *   budgetSpec(t).given([allocated('flexible', eur('1000'))])
 *     .when({ type: 'RecordSpending', ... })
 *     .then([spendingRecorded(...)])
 *
 * `then` and `thenFails` report through tap; `then` returns the state after folding the new events,
 * so a test can go on to check balances.
 *
 * Where it matters who recorded an event (the four eyes of rule 6), a given event names its actor
 * with `by('teamlead-2', event)`, and `when(command, { by })` names the actor of the new events.
 * Without one, the decider's default actor (and for a budget: the approver of a DecideApproval)
 * records them.
 */

/** The assertions the spec needs from a tap test, so any `t` fits. */
export type Assert = Pick<typeof tap, 'same' | 'ok' | 'fail' | 'equal' | 'match' | 'pass'>

/** An event as a named actor recorded it. */
export interface Recorded<Event> {
  readonly by: string
  readonly event: Event
}

/** A given event, with the actor who recorded it when that matters. */
export type GivenEvent<Event> = Event | Recorded<Event>

export const by = <Event>(actor: string, event: Event): Recorded<Event> => ({ by: actor, event })

function isRecorded<Event>(entry: GivenEvent<Event>): entry is Recorded<Event> {
  return typeof entry === 'object' && entry !== null && 'by' in entry && 'event' in entry
}

export interface Decider<State, Command, Event> {
  initialState: () => State
  decide: (state: State, command: Command) => Event[] | DomainError
  /** `actor` is who recorded the event; undefined for the decider's default actor. */
  evolve: (state: State, event: Event, actor: string | undefined) => State
  /** Who records the events of a command when the command says so itself (an approver). */
  actorOf?: (command: Command) => string | undefined
  /** Called after every folded event; throws when the state breaks an invariant. */
  assertInvariants?: (state: State) => void
  /** Called for every event `decide` returns; throws when the event would not be storable. */
  assertEventValid?: (event: Event) => void
}

export interface Given<State, Command, Event> {
  /** The state the `given` events led to. */
  readonly state: State
  /** `by`: the actor who records the resulting events. */
  when(command: Command, options?: { by?: string }): When<State, Event>
}

export interface When<State, Event> {
  /** Expects exactly these events; returns the state after folding them (invariants checked). */
  then(expected: Event[]): State
  /** Expects a DomainError with this code (and a message matching the pattern); the state is unchanged. */
  thenFails(code: DomainErrorCode, messagePattern?: RegExp | string): DomainError | undefined
}

export function deciderSpec<State, Command, Event>(decider: Decider<State, Command, Event>) {
  const fold = (events: readonly GivenEvent<Event>[], start: State, actor?: string): State =>
    events.reduce((state, entry) => {
      const next = isRecorded(entry) ? decider.evolve(state, entry.event, entry.by) : decider.evolve(state, entry, actor)
      decider.assertInvariants?.(next)
      return next
    }, start)

  return (t: Assert) => ({
    /** `adjust` sets what no event of this decider can reach yet (e.g. a closed fiscal year). */
    given(
      events: readonly GivenEvent<Event>[],
      adjust: (state: State) => State = (state) => state,
    ): Given<State, Command, Event> {
      const state = adjust(fold(events, decider.initialState()))
      return {
        state,
        when(command: Command, options: { by?: string } = {}): When<State, Event> {
          const actor = options.by ?? decider.actorOf?.(command)
          const snapshot = plainCopy(state)
          const result = decider.decide(state, command)
          // decide is pure: whatever it answers, it never touches the state it was given.
          t.same(plainCopy(state), snapshot, 'decide leaves the given state unchanged')
          return {
            then(expected: Event[]): State {
              if (result instanceof DomainError) {
                t.fail(`expected events, got DomainError ${result.code}: ${result.message}`)
                return state
              }
              t.same(result, expected, 'decide returns the expected events')
              for (const event of result) decider.assertEventValid?.(event)
              return fold(result, state, actor)
            },
            thenFails(code: DomainErrorCode, messagePattern?: RegExp | string): DomainError | undefined {
              if (!(result instanceof DomainError)) {
                t.fail(`expected DomainError ${code}, got events ${JSON.stringify(result)}`)
                return undefined
              }
              t.equal(result.code, code, `fails with ${code}: ${result.message}`)
              if (messagePattern !== undefined) t.match(result.message, messagePattern, 'error message')
              return result
            },
          }
        },
      }
    },
  })
}

// ---------------------------------------------------------------------------------------------
// The budget decider

export const BUDGET_KEY: BudgetKey = { year: 2025, sozialraum: 'unteres-malstatt' }
export const CONTEXT: EventContext = { recordedAt: '2025-02-03T09:30:00.000Z', actorSub: 'finance-controller-1' }

/** Throws unless the event's data passes its zod schema, i.e. the event could be stored as it is. */
export function assertStorable(event: DomainEvent): void {
  const result = eventDataSchemas[event.type].safeParse(event.data)
  if (!result.success) {
    throw new Error(`decide produced an event that fails its schema: ${event.type} ${result.error.message}`)
  }
}

/** The event context of an event recorded by `actor` (CONTEXT's actor by default). */
export const contextBy = (actor: string | undefined): EventContext =>
  actor === undefined ? CONTEXT : { ...CONTEXT, actorSub: actor }

/** The budget decider under a policy (DOMAIN.md's defaults unless a spec says otherwise). */
export function budgetDecider(policy: BudgetPolicy = DEFAULT_BUDGET_POLICY): Decider<BudgetState, BudgetCommand, BudgetEvent> {
  return {
    initialState: () => initialBudgetState(BUDGET_KEY),
    decide: (state, command) => decideBudget(state, command, policy),
    evolve: (state, event, actor) => evolveBudget(state, event, contextBy(actor)),
    // An approval decision is recorded by the one who decides.
    actorOf: (command) => (command.type === 'DecideApproval' ? command.approver.sub : undefined),
    assertInvariants: assertBudgetInvariants,
    assertEventValid: assertStorable,
  }
}

/** A spec of the budget decider; `policy` sets the configurable rules (the four-eyes threshold). */
export function budgetSpec(t: Assert, options: { policy?: BudgetPolicy } = {}) {
  return deciderSpec(budgetDecider(options.policy))(t)
}

/** A policy with this four-eyes threshold. */
export const fourEyesAt = (thresholdCents: Cents): BudgetPolicy => ({ fourEyesThresholdCents: thresholdCents })

/** Folds events from the initial budget, asserting the invariants after each. */
export function budgetAfter(events: readonly GivenEvent<BudgetEvent>[]): BudgetState {
  return events.reduce((state, entry) => {
    const next = isRecorded(entry)
      ? evolveBudget(state, entry.event, contextBy(entry.by))
      : evolveBudget(state, entry, CONTEXT)
    assertBudgetInvariants(next)
    return next
  }, initialBudgetState(BUDGET_KEY))
}

export const closedYear = (state: BudgetState): BudgetState => ({ ...state, closed: true })

/** Amounts in tests are written as EUR strings: eur('1250.50') → 125050n. */
export function eur(text: string): Cents {
  const parsed = parseAmount(text)
  if (!parsed.ok) throw new Error(`test amount ${text}: ${parsed.reason}`)
  return parsed.cents
}

/** A line's balance as EUR strings, so that failures read like a ledger. */
export function balanceOf(state: BudgetState, line: Line) {
  const balance = state.lines[line]
  return {
    allocated: formatCents(balance.allocatedCents),
    committed: formatCents(balance.committedCents),
    spent: formatCents(balance.spentCents),
    available: formatCents(availableCents(balance)),
  }
}

/** Fixed ids that pass `z.uuid()`. */
export const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`

// Event builders: events carry integer cents, builders take bigint cents like the commands do.

const json = (cents: Cents): number => Number(cents)

export const allocated = (line: Line, amountCents: Cents, decisionRef = 'JHA-2025-001'): BudgetEvent => ({
  type: 'BudgetAllocated',
  data: { ...BUDGET_KEY, line, amountCents: json(amountCents), decisionRef, kind: 'allocation' },
})

export const adjusted = (line: Line, amountCents: Cents, reason = 'correction'): BudgetEvent => ({
  type: 'BudgetAdjusted',
  data: { ...BUDGET_KEY, line, amountCents: json(amountCents), reason },
})

export const transferred = (fromLine: Line, toLine: Line, amountCents: Cents, reason = 'rebalance'): BudgetEvent => ({
  type: 'BudgetTransferred',
  data: { ...BUDGET_KEY, fromLine, toLine, amountCents: json(amountCents), reason },
})

export interface CommitmentFixture {
  id: string
  line: Line
}

export const PERIOD = { from: '2025-01-01', to: '2025-12-31' }

export const commitmentCreated = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  options: {
    status?: 'requested' | 'open'
    overBudget?: boolean
    overBudgetJustification?: string
    period?: { from: string; to: string }
  } = {},
): BudgetEvent => ({
  type: 'CommitmentCreated',
  data: {
    ...BUDGET_KEY,
    commitmentId: commitment.id,
    line: commitment.line,
    provider: 'traeger-a',
    caseRef: 'case-7f3a',
    amountCents: json(amountCents),
    period: options.period ?? PERIOD,
    status: options.status ?? 'open',
    overBudget: options.overBudget ?? false,
    ...(options.overBudgetJustification === undefined
      ? {}
      : { overBudgetJustification: options.overBudgetJustification }),
  },
})

export const commitmentAmended = (commitment: CommitmentFixture, amountCents: Cents, reason = 'more hours'): BudgetEvent => ({
  type: 'CommitmentAmended',
  data: { ...BUDGET_KEY, commitmentId: commitment.id, line: commitment.line, amountCents: json(amountCents), reason },
})

export const invoiceBooked = (
  commitment: CommitmentFixture,
  invoiceNo: string,
  amountCents: Cents,
  invoiceDate = '2025-02-28',
): BudgetEvent => ({
  type: 'InvoiceBooked',
  data: {
    ...BUDGET_KEY,
    commitmentId: commitment.id,
    line: commitment.line,
    invoiceNo,
    amountCents: json(amountCents),
    invoiceDate,
  },
})

export const commitmentReleased = (commitment: CommitmentFixture, amountCents: Cents, reason = 'case closed'): BudgetEvent => ({
  type: 'CommitmentReleased',
  data: { ...BUDGET_KEY, commitmentId: commitment.id, line: commitment.line, amountCents: json(amountCents), reason },
})

/**
 * Rule 6: an increase of an open commitment to the threshold or beyond the line sends it (back) to
 * `requested`, asked for by the amender; written before its CommitmentAmended. (A commitment that
 * is `requested` already takes no amendment.)
 */
export const commitmentApprovalRequested = (
  commitment: CommitmentFixture,
  options: { overBudget?: boolean; overBudgetJustification?: string } = {},
): BudgetEvent => ({
  type: 'CommitmentApprovalRequested',
  data: {
    ...BUDGET_KEY,
    commitmentId: commitment.id,
    line: commitment.line,
    overBudget: options.overBudget ?? false,
    ...(options.overBudgetJustification === undefined
      ? {}
      : { overBudgetJustification: options.overBudgetJustification }),
  },
})

export const commitmentApproved = (commitment: CommitmentFixture, comment?: string): BudgetEvent => ({
  type: 'CommitmentApproved',
  data: {
    ...BUDGET_KEY,
    commitmentId: commitment.id,
    line: commitment.line,
    ...(comment === undefined ? {} : { comment }),
  },
})

/**
 * `amountCents` is what the rejection (or the requester's withdrawal) gives back; `status` what the
 * commitment is afterwards: `rejected` when it was never approved, else `open` on its approved terms.
 */
export const commitmentRejected = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  options: {
    status?: 'rejected' | 'open'
    overBudget?: boolean
    overBudgetJustification?: string
    comment?: string
  } = {},
): BudgetEvent => ({
  type: 'CommitmentRejected',
  data: {
    ...BUDGET_KEY,
    commitmentId: commitment.id,
    line: commitment.line,
    amountCents: json(amountCents),
    status: options.status ?? 'rejected',
    overBudget: options.overBudget ?? false,
    ...(options.overBudgetJustification === undefined
      ? {}
      : { overBudgetJustification: options.overBudgetJustification }),
    ...(options.comment === undefined ? {} : { comment: options.comment }),
  },
})

export const spendingRecorded = (spendingId: string, amountCents: Cents): BudgetEvent => ({
  type: 'SpendingRecorded',
  data: {
    ...BUDGET_KEY,
    spendingId,
    amountCents: json(amountCents),
    purpose: 'group offer materials',
    receiptRef: 'receipt-1',
    date: '2025-03-01',
  },
})

export const spendingReversed = (spendingId: string, amountCents: Cents, reason = 'booked twice'): BudgetEvent => ({
  type: 'SpendingReversed',
  data: { ...BUDGET_KEY, spendingId, amountCents: json(amountCents), reason },
})

// Command builders with the defaults the event builders use, so a spec names only what matters.

export const createCommitment = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  options: { overBudgetJustification?: string; period?: { from: string; to: string } } = {},
): BudgetCommand => ({
  type: 'CreateCommitment',
  commitmentId: commitment.id,
  line: commitment.line,
  provider: 'traeger-a',
  caseRef: 'case-7f3a',
  amountCents,
  period: options.period ?? PERIOD,
  ...(options.overBudgetJustification === undefined ? {} : { overBudgetJustification: options.overBudgetJustification }),
})

export const amendCommitment = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  options: { reason?: string; overBudgetJustification?: string } = {},
): BudgetCommand => ({
  type: 'AmendCommitment',
  commitmentId: commitment.id,
  amountCents,
  reason: options.reason ?? 'more hours',
  ...(options.overBudgetJustification === undefined ? {} : { overBudgetJustification: options.overBudgetJustification }),
})

export const decideApproval = (
  commitment: CommitmentFixture,
  decision: 'approve' | 'reject',
  approver: Approver,
  comment?: string,
): BudgetCommand => ({
  type: 'DecideApproval',
  commitmentId: commitment.id,
  decision,
  approver,
  ...(comment === undefined ? {} : { comment }),
})

export const releaseCommitment = (commitment: CommitmentFixture, reason = 'case closed'): BudgetCommand => ({
  type: 'ReleaseCommitment',
  commitmentId: commitment.id,
  reason,
})

export const bookInvoice = (
  commitment: CommitmentFixture,
  invoiceNo: string,
  amountCents: Cents,
  invoiceDate = '2025-02-28',
): BudgetCommand => ({ type: 'BookInvoice', commitmentId: commitment.id, invoiceNo, amountCents, invoiceDate })

export const recordSpending = (spendingId: string, amountCents: Cents): BudgetCommand => ({
  type: 'RecordSpending',
  spendingId,
  amountCents,
  purpose: 'group offer materials',
  receiptRef: 'receipt-1',
  date: '2025-03-01',
})

// ---------------------------------------------------------------------------------------------
// The Sozialraum decider

export const SOZIALRAUM_ID = 'unteres-malstatt'

export const sozialraumSpec = deciderSpec<SozialraumState, SozialraumCommand, SozialraumEvent>({
  initialState: () => initialSozialraumState(SOZIALRAUM_ID),
  decide: decideSozialraum,
  evolve: (state, event) => evolveSozialraum(state, event, { recordedAt: CONTEXT.recordedAt }),
  assertEventValid: assertStorable,
})

// ---------------------------------------------------------------------------------------------
// Budgets of other years and Sozialräume: the year close (rule 8) and moves between Sozialräume (rule 9)

/** The next year's budget of the same Sozialraum: where the close of BUDGET_KEY's year carries to. */
export const NEXT_KEY: BudgetKey = { year: BUDGET_KEY.year + 1, sozialraum: BUDGET_KEY.sozialraum }
/** Another Sozialraum's budget of the same year: where a move from BUDGET_KEY goes. */
export const NEIGHBOUR_KEY: BudgetKey = { year: BUDGET_KEY.year, sozialraum: 'unteres-alt-saarbruecken' }

/** The budget decider of the budget `key` (budgetDecider is the one of BUDGET_KEY). */
export function budgetDeciderAt(
  key: BudgetKey,
  policy: BudgetPolicy = DEFAULT_BUDGET_POLICY,
): Decider<BudgetState, BudgetCommand, BudgetEvent> {
  return { ...budgetDecider(policy), initialState: () => initialBudgetState(key) }
}

/** A spec of the budget `key`. */
export function budgetSpecAt(t: Assert, key: BudgetKey, options: { policy?: BudgetPolicy } = {}) {
  return deciderSpec(budgetDeciderAt(key, options.policy))(t)
}

/** Folds events from the initial state of the budget `key`, asserting the invariants after each. */
export function budgetAfterAt(key: BudgetKey, events: readonly GivenEvent<BudgetEvent>[]): BudgetState {
  return events.reduce((state, entry) => {
    const next = isRecorded(entry)
      ? evolveBudget(state, entry.event, contextBy(entry.by))
      : evolveBudget(state, entry, CONTEXT)
    assertBudgetInvariants(next)
    return next
  }, initialBudgetState(key))
}

/** The same event in the budget `key`: the builders above write BUDGET_KEY's. */
export function atKey<Event extends BudgetEvent>(key: BudgetKey, event: Event): Event {
  return { ...event, data: { ...event.data, year: key.year, sozialraum: key.sozialraum } }
}

/** The commitment the close of `key`'s year opens in the next year for what is left of `commitment`. */
export const carriedFixture = (commitment: CommitmentFixture, key: BudgetKey = BUDGET_KEY): CommitmentFixture => ({
  id: carriedCommitmentId(key.year, key.sozialraum, commitment.id),
  line: commitment.line,
})

/** The close carried what is left of `commitment`: its line commits that much less (the money goes with allocationCarriedOver). */
export const commitmentCarriedOver = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  key: BudgetKey = BUDGET_KEY,
): BudgetEvent => ({
  type: 'CommitmentCarriedOver',
  data: {
    ...key,
    commitmentId: commitment.id,
    line: commitment.line,
    amountCents: json(amountCents),
    toYear: key.year + 1,
    toCommitmentId: carriedFixture(commitment, key).id,
  },
})

/**
 * The close took `amountCents` of the line's allocation into the next year: what its carried
 * commitments need, as far as the line holds it, and `unspentCents` of it the line's unspent money
 * (when the close names the line). A CommitmentCarriedOver moves no money by itself.
 */
export const allocationCarriedOver = (
  line: Line,
  amountCents: Cents,
  unspentCents: Cents,
  key: BudgetKey = BUDGET_KEY,
): BudgetEvent => ({
  type: 'AllocationCarriedOver',
  data: { ...key, line, amountCents: json(amountCents), unspentCents: json(unspentCents), toYear: key.year + 1 },
})

export const budgetClosed = (lapsed: Partial<Record<Line, Cents>> = {}, key: BudgetKey = BUDGET_KEY): BudgetEvent => ({
  type: 'BudgetClosed',
  data: { ...key, lapsed: { ambulatory: json(lapsed.ambulatory ?? 0n), flexible: json(lapsed.flexible ?? 0n) } },
})

/** What the next year's budget is allocated by the close of `fromYear` (kind carry-over). */
export const carryOverAllocated = (
  line: Line,
  amountCents: Cents,
  note: string,
  options: { fromYear?: number; key?: BudgetKey } = {},
): BudgetEvent => {
  const fromYear = options.fromYear ?? BUDGET_KEY.year
  return {
    type: 'BudgetAllocated',
    data: {
      ...(options.key ?? NEXT_KEY),
      line,
      amountCents: json(amountCents),
      decisionRef: `year-close-${fromYear}`,
      note,
      kind: 'carry-over',
      fromYear,
    },
  }
}

/**
 * `commitment` of BUDGET_KEY's year, opened in the next year for `amountCents`: with the defaults of
 * commitmentCreated (provider, case, period), open and all of it approved unless the options say otherwise.
 */
export const commitmentCarriedIn = (
  commitment: CommitmentFixture,
  amountCents: Cents,
  options: {
    status?: 'requested' | 'open'
    approvedCents?: Cents
    requestedBy?: string
    overBudget?: boolean
    overBudgetJustification?: string
    /** The marking last approved; for an open commitment its own, for a waiting one none unless given. */
    approvedOverBudget?: boolean
    approvedOverBudgetJustification?: string
    helpType?: string
    decisionRef?: string
    period?: { from: string; to: string }
    from?: BudgetKey
  } = {},
): BudgetEvent => {
  const from = options.from ?? BUDGET_KEY
  return {
    type: 'CommitmentCarriedIn',
    data: {
      year: from.year + 1,
      sozialraum: from.sozialraum,
      commitmentId: carriedFixture(commitment, from).id,
      line: commitment.line,
      provider: 'traeger-a',
      caseRef: 'case-7f3a',
      ...(options.helpType === undefined ? {} : { helpType: options.helpType }),
      amountCents: json(amountCents),
      period: options.period ?? PERIOD,
      ...(options.decisionRef === undefined ? {} : { decisionRef: options.decisionRef }),
      status: options.status ?? 'open',
      overBudget: options.overBudget ?? false,
      ...(options.overBudgetJustification === undefined ? {} : { overBudgetJustification: options.overBudgetJustification }),
      approvedAmountCents: json(options.approvedCents ?? amountCents),
      approvedOverBudget: options.approvedOverBudget ?? (options.status === 'requested' ? false : (options.overBudget ?? false)),
      ...(options.approvedOverBudgetJustification === undefined
        ? options.status !== 'requested' && options.overBudgetJustification !== undefined
          ? { approvedOverBudgetJustification: options.overBudgetJustification }
          : {}
        : { approvedOverBudgetJustification: options.approvedOverBudgetJustification }),
      ...(options.requestedBy === undefined ? {} : { requestedBy: options.requestedBy }),
      from: { year: from.year, commitmentId: commitment.id },
    },
  }
}

/** One move between Sozialräume, as the source and the target name it. */
export interface MoveFixture {
  moveId: string
  from: { sozialraum: string; line: Line }
  to: { sozialraum: string; line: Line }
  amountCents: Cents
  reason: string
}

export const moveDebited = (move: MoveFixture, key: BudgetKey = { year: BUDGET_KEY.year, sozialraum: move.from.sozialraum }): BudgetEvent => ({
  type: 'BudgetMoveDebited',
  data: { ...key, moveId: move.moveId, line: move.from.line, amountCents: json(move.amountCents), to: move.to, reason: move.reason },
})

export const moveCredited = (move: MoveFixture, key: BudgetKey = { year: BUDGET_KEY.year, sozialraum: move.to.sozialraum }): BudgetEvent => ({
  type: 'BudgetMoveCredited',
  data: { ...key, moveId: move.moveId, line: move.to.line, amountCents: json(move.amountCents), from: move.from, reason: move.reason },
})

export const moveRefused = (
  move: MoveFixture,
  why: string,
  key: BudgetKey = { year: BUDGET_KEY.year, sozialraum: move.to.sozialraum },
): BudgetEvent => ({
  type: 'BudgetMoveRefused',
  data: { ...key, moveId: move.moveId, amountCents: json(move.amountCents), from: move.from, why },
})

export const moveReverted = (
  move: MoveFixture,
  why: string,
  key: BudgetKey = { year: BUDGET_KEY.year, sozialraum: move.from.sozialraum },
): BudgetEvent => ({
  type: 'BudgetMoveReverted',
  data: { ...key, moveId: move.moveId, line: move.from.line, amountCents: json(move.amountCents), why },
})

export const debitMove = (move: MoveFixture): BudgetCommand => ({
  type: 'DebitMove',
  moveId: move.moveId,
  line: move.from.line,
  amountCents: move.amountCents,
  to: move.to,
  reason: move.reason,
})

export const creditMove = (move: MoveFixture): BudgetCommand => ({
  type: 'CreditMove',
  moveId: move.moveId,
  line: move.to.line,
  amountCents: move.amountCents,
  from: move.from,
  reason: move.reason,
})

export const revertMove = (move: MoveFixture, why: string): BudgetCommand => ({ type: 'RevertMove', moveId: move.moveId, why })

// ---------------------------------------------------------------------------------------------
// The fiscal year's decider (src/domain/year.ts)

export const yearSpec = deciderSpec<YearState, YearCommand, YearEvent>({
  initialState: () => initialYearState(BUDGET_KEY.year),
  decide: decideYear,
  evolve: (state, event, actor) => evolveYear(state, event, contextBy(actor)),
  // A decision on the close is recorded by the one who decides.
  actorOf: (command) => (command.type === 'DecideClose' ? command.approver.sub : undefined),
  assertEventValid: assertStorable,
})

export const yearCloseRequested = (reason: string, carryUnspent: Line[] = []): YearEvent => ({
  type: 'YearCloseRequested',
  data: { year: BUDGET_KEY.year, reason, carryUnspent },
})

export const yearCloseApproved = (comment?: string): YearEvent => ({
  type: 'YearCloseApproved',
  data: { year: BUDGET_KEY.year, ...(comment === undefined ? {} : { comment }) },
})

export const yearCloseRejected = (comment?: string): YearEvent => ({
  type: 'YearCloseRejected',
  data: { year: BUDGET_KEY.year, ...(comment === undefined ? {} : { comment }) },
})


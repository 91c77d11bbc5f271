import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import {
  assertBudgetChange,
  assertBudgetInvariants,
  availableCents,
  carriedCommitmentId,
  carryOverOf,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  remainingCents,
  type Approver,
  type BudgetCommand,
  type BudgetState,
  type CommitmentState,
} from '../../src/domain/budget/index.js'
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js'
import { LINES, type BudgetEvent, type EventDataOf, type Line } from '../../src/domain/events.js'
import { MAX_AMOUNT_CENTS, MAX_BALANCE_CENTS, type Cents } from '../../src/domain/money.js'
import { assertStorable, contextBy, uuid } from '../helpers/decider-spec.js'
import { plainCopy } from '../helpers/plain.js'

/**
 * Properties of the year close (docs/domain.md rule 8) and of moves between Sozialräume (rule 9),
 * over the budgets of several Sozialräume in two years, Y and Y+1, each decided by the real
 * decider and folded with the invariants asserted after every event:
 *
 * (a) Random activity on every budget of both years (allocations, adjustments, transfers,
 *     commitments, amendments, approvals, invoices, releases, spending, reversals, moves between
 *     Sozialräume: debited, then credited or refused and reverted, interleaved, some left in
 *     transit for a while); the moves of Y settled as the close process does; then the close,
 *     its steps (CloseBudget on each budget of Y with random lines to carry, ReceiveCarryOver into
 *     Y+1) in random order, repeated, interleaved with activity in Y+1; then more commands, on both
 *     years. Checked:
 *     - money is conserved: over all budgets of both years, allocated + what is in transit is
 *       exactly what AllocateBudget and AdjustBudget granted, and spent is exactly what invoices
 *       and spending booked less reversals; so the total (allocated − spent) is never higher than
 *       granted − spent, and equal to it when nothing is in transit;
 *     - the close of each budget carries exactly the open remainders it had (as the model predicts
 *       them, event by event), with their status, requester and approved part; each line gives up
 *       what its carried remainders need plus, when named, its unspent money, but never more than
 *       it holds (allocated − spent); what is not carried lapses; each carried commitment arrives
 *       in Y+1 exactly once (carriedTo and carriedFrom one to one, amounts equal); Y+1's carry-over
 *       allocations are exactly what each old line gave up, marked with the year they come from;
 *     - the close never makes a line's held money negative: no line of Y ends with allocated −
 *       spent below min(0, what it was before the close); an over-budget line's deficit goes to Y+1:
 *       line by line, the receive moves Y+1's available by exactly what the close took off Y's;
 *     - four eyes survive the carry: nobody ever approves what they asked for;
 *     - a closed budget refuses every further command with year-closed and never changes again.
 * (b) Moves alone: for any interleaving of debits, credits, refusals and reverts, repeated any
 *     number of times, the total over source and target is never above what they started with,
 *     and equal to it once every move is settled.
 */

const NUM_RUNS = 300
const Y = 2025
const SOZIALRAEUME = ['sr-a', 'sr-b', 'sr-c'] as const
/** The close's steps are written on behalf of the finance controller who approved it. */
const CLOSER = 'finance-2'
const WRITERS = ['teamlead-1', 'teamlead-2', 'finance-1'] as const
/** Who may be asked to decide on a commitment; index APPROVERS.length stands for whoever asked for it. */
const APPROVERS: readonly Approver[] = [
  { sub: 'teamlead-1', role: 'teamlead' },
  { sub: 'teamlead-2', role: 'teamlead' },
  { sub: 'finance-1', role: 'finance' },
  { sub: 'finance-2', role: 'finance' },
  { sub: 'auditor-1', role: 'auditor' },
]
const JUSTIFICATION = 'Rechtsanspruch § 27 SGB VIII'

const show = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))

// ---------------------------------------------------------------------------------------------
// Generated plans, turned into commands against the state they meet.

type AmountPlan =
  | { kind: 'fixed'; cents: Cents }
  | { kind: 'available' } // exactly what the line has available
  | { kind: 'beyond' } // one cent more
  | { kind: 'remaining' } // exactly the remainder of the commitment meant

type Action =
  | { kind: 'allocate'; line: Line; cents: Cents }
  | { kind: 'adjust'; line: Line; amount: AmountPlan; negative: boolean }
  | { kind: 'transfer'; from: Line; amount: AmountPlan }
  | { kind: 'commit'; line: Line; amount: AmountPlan; justified: boolean; writer: number; intoNextYear: boolean }
  | { kind: 'amend'; pick: number; amount: AmountPlan; negative: boolean; justified: boolean; writer: number }
  | { kind: 'decide'; pick: number; decision: 'approve' | 'reject'; approver: number }
  | { kind: 'invoice'; pick: number; amount: AmountPlan; duplicateNo: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'spend'; amount: AmountPlan }
  | { kind: 'reverse'; pick: number }

/** `year`: 0 for Y, 1 for Y+1. */
type Step =
  | { kind: 'budget'; year: 0 | 1; sr: number; action: Action }
  | { kind: 'debit'; year: 0 | 1; from: number; to: number; fromLine: Line; toLine: Line; amount: AmountPlan }
  | { kind: 'credit'; pick: number; inTransit: boolean }
  | { kind: 'revert'; pick: number; unknown: boolean }

type CloseStep = { kind: 'close'; sr: number } | { kind: 'receive'; sr: number } | Step

const lineArb = fc.constantFrom<Line>(...LINES)
const srArb = fc.nat(SOZIALRAEUME.length - 1)
const yearArb = fc.constantFrom<0 | 1>(0, 1)
const pickArb = fc.nat(5)
const amountArb: fc.Arbitrary<AmountPlan> = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 1_500_000n }).map((cents) => ({ kind: 'fixed', cents }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'available' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'beyond' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'remaining' } as const) },
)

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('allocate' as const), line: lineArb, cents: fc.bigInt({ min: 1n, max: 5_000_000n }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('adjust' as const), line: lineArb, amount: amountArb, negative: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), from: lineArb, amount: amountArb }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      line: lineArb,
      amount: amountArb,
      justified: fc.boolean(),
      writer: fc.nat(WRITERS.length - 1),
      intoNextYear: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('amend' as const),
      pick: pickArb,
      amount: amountArb,
      negative: fc.nat(2).map((n) => n === 0),
      justified: fc.boolean(),
      writer: fc.nat(WRITERS.length - 1),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      pick: pickArb,
      decision: fc.constantFrom('approve' as const, 'reject' as const),
      approver: fc.nat(APPROVERS.length),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('invoice' as const), pick: pickArb, amount: amountArb, duplicateNo: fc.nat(9).map((n) => n === 0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: pickArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('spend' as const), amount: amountArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: pickArb }) },
)

const stepArb = (year: fc.Arbitrary<0 | 1>): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('budget' as const), year, sr: srArb, action: actionArb }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('debit' as const),
        year,
        from: srArb,
        to: srArb,
        fromLine: lineArb,
        toLine: lineArb,
        amount: amountArb,
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('credit' as const), pick: pickArb, inTransit: fc.nat(3).map((n) => n !== 0) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('revert' as const), pick: pickArb, unknown: fc.nat(5).map((n) => n === 0) }) },
  )

const closeStepArb: fc.Arbitrary<CloseStep> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('close' as const), sr: srArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('receive' as const), sr: srArb }) },
  // While Y closes, only Y+1 takes writes (the ledger refuses the rest once the close is approved).
  { weight: 3, arbitrary: stepArb(fc.constant<1>(1)) },
)

interface Scenario {
  /** Which budgets get a first allocation at the start: [year][sr]. */
  opening: boolean[][]
  /**
   * Which Sozialräume's Y budget opens with its flexible line only: its ambulatory commitments are
   * over budget from the start, and a line that holds nothing (or less) meets the close.
   */
  lean: boolean[]
  before: Step[]
  /** The lines each Sozialraum's close carries (duplicates allowed: the close reads them as a set). */
  carryUnspent: Line[][]
  closing: CloseStep[]
  after: Step[]
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  opening: fc.tuple(
    fc.array(fc.nat(4).map((n) => n !== 0), { minLength: SOZIALRAEUME.length, maxLength: SOZIALRAEUME.length }),
    fc.array(fc.boolean(), { minLength: SOZIALRAEUME.length, maxLength: SOZIALRAEUME.length }),
  ),
  lean: fc.array(fc.nat(3).map((n) => n === 0), { minLength: SOZIALRAEUME.length, maxLength: SOZIALRAEUME.length }),
  before: fc.array(stepArb(fc.oneof({ weight: 3, arbitrary: fc.constant<0>(0) }, { weight: 1, arbitrary: fc.constant<1>(1) })), {
    maxLength: 80,
    size: 'max',
  }),
  carryUnspent: fc.array(fc.array(lineArb, { maxLength: 3 }), { minLength: SOZIALRAEUME.length, maxLength: SOZIALRAEUME.length }),
  closing: fc.array(closeStepArb, { maxLength: 30, size: 'max' }),
  after: fc.array(stepArb(yearArb), { maxLength: 30, size: 'max' }),
})

// ---------------------------------------------------------------------------------------------
// The world: every budget of both years, and what the test itself knows about money and moves.

interface MoveModel {
  id: string
  year: number
  from: string
  to: string
  fromLine: Line
  toLine: Line
  amount: Cents
  /** debited and refused are in transit; credited and reverted are settled. */
  status: 'debited' | 'credited' | 'refused' | 'reverted'
}

/** What the close of one budget carried, as the test saw the budget just before it. */
interface CloseRecord {
  carried: Map<string, { before: CommitmentState; remainder: Cents; approvedPart: Cents }>
  /** What each line gave up (AllocationCarriedOver), as the model predicts it. */
  allocation: Record<Line, Cents>
  /** Of it, the unspent money of the named lines. */
  unspent: Record<Line, Cents>
  lapsed: Record<Line, Cents>
  /** allocated − spent of each line just before the close. */
  heldBefore: Record<Line, Cents>
  /** How much each line's available amount went down by the close: what the next year's line takes over. */
  availableGone: Record<Line, Cents>
}

const coverage = new Map<string, number>()
const count = (key: string, by = 1) => coverage.set(key, (coverage.get(key) ?? 0) + by)

class World {
  readonly states = new Map<string, BudgetState>()
  readonly log: { year: number; sozialraum: string; event: BudgetEvent }[] = []
  readonly moves: MoveModel[] = []
  readonly closes = new Map<string, CloseRecord>()
  /** The Sozialräume whose Y+1 budget has received Y's carry-over, as the test counts them. */
  readonly received = new Set<string>()
  /** Snapshots of the closed budgets of Y, taken when the close of the year is complete. */
  frozen = new Map<string, unknown>()
  granted = 0n
  spent = 0n
  /** Carried out of Y by a close and not yet allocated to Y+1 as carry-over. */
  carrying = 0n
  private ids = 0

  newId(): string {
    this.ids += 1
    return uuid(this.ids)
  }

  state(year: number, sozialraum: string): BudgetState {
    return this.states.get(`${year}/${sozialraum}`) ?? initialBudgetState({ year, sozialraum })
  }

  /** Decides and folds a command; every event must be storable and leave the invariants intact. */
  execute(year: number, sozialraum: string, command: BudgetCommand, actor: string): BudgetEvent[] | DomainError {
    const before = this.state(year, sozialraum)
    const snapshot = plainCopy(before)
    const result = decideBudget(before, command)
    if (!isDeepStrictEqual(plainCopy(before), snapshot)) this.fail('decide changed the state it was given', command)
    if (result instanceof DomainError) {
      count(`refused:${command.type}:${result.code}`)
      return result
    }
    let state = before
    for (const event of result) {
      try {
        assertStorable(event)
        state = evolveBudget(state, event, contextBy(actor))
        assertBudgetInvariants(state)
      } catch (error) {
        this.fail(String(error), command)
      }
      if (event.data.year !== year || event.data.sozialraum !== sozialraum) this.fail(`an event of another budget: ${show(event.data)}`, command)
      this.log.push({ year, sozialraum, event })
      this.account(event)
      count(`event:${event.type}`)
    }
    // The check a write makes, on what its events touched, agrees with the sweep above.
    try {
      assertBudgetChange(before, state, result)
    } catch (error) {
      this.fail(`the write's own invariant check: ${String(error)}`, command)
    }
    this.states.set(`${year}/${sozialraum}`, state)
    this.checkMoney(command)
    return result
  }

  /** What the test counts itself, from the events: money granted, spent, carried, and the moves. */
  private account(event: BudgetEvent): void {
    switch (event.type) {
      // The money leaves Y with the line's allocation; a carried commitment moves none by itself.
      case 'AllocationCarriedOver':
        this.carrying += BigInt(event.data.amountCents)
        break
      case 'BudgetMoveDebited': {
        const { data } = event
        if (this.moves.some((move) => move.id === data.moveId)) this.fail(`move ${data.moveId} was debited twice`)
        this.moves.push({
          id: data.moveId,
          year: data.year,
          from: data.sozialraum,
          to: data.to.sozialraum,
          fromLine: data.line,
          toLine: data.to.line,
          amount: BigInt(data.amountCents),
          status: 'debited',
        })
        break
      }
      case 'BudgetMoveCredited':
      case 'BudgetMoveRefused':
      case 'BudgetMoveReverted': {
        const { data } = event
        const move = this.moves.find((m) => m.id === data.moveId)
        if (!move || BigInt(data.amountCents) !== move.amount) this.fail(`${event.type} of ${data.moveId}, which was not debited so`)
        const from = event.type === 'BudgetMoveReverted' ? ['refused'] : ['debited']
        if (!from.includes(move.status)) this.fail(`${event.type} of move ${move.id}, which was ${move.status}`)
        move.status = event.type === 'BudgetMoveCredited' ? 'credited' : event.type === 'BudgetMoveRefused' ? 'refused' : 'reverted'
        break
      }
      case 'BudgetAllocated':
        if (event.data.kind === 'allocation') this.granted += BigInt(event.data.amountCents)
        else this.carrying -= BigInt(event.data.amountCents)
        break
      case 'BudgetAdjusted':
        this.granted += BigInt(event.data.amountCents)
        break
      case 'InvoiceBooked':
      case 'SpendingRecorded':
        this.spent += BigInt(event.data.amountCents)
        break
      case 'SpendingReversed':
        this.spent -= BigInt(event.data.amountCents)
        break
      default:
        break
    }
  }

  /**
   * Money on its way: moves debited and not yet credited or reverted, and what a closed budget of Y
   * carried out that its next year has not received yet (the two are steps on two streams, too).
   */
  inTransit(): Cents {
    const moving = this.moves.reduce((sum, move) => (move.status === 'debited' || move.status === 'refused' ? sum + move.amount : sum), 0n)
    return moving + this.carrying
  }

  /** Moves and carry-overs neither create nor lose money; what is in transit is only missing for a while. */
  checkMoney(command?: BudgetCommand): void {
    let allocated = 0n
    let spent = 0n
    for (const state of this.states.values()) {
      for (const line of LINES) {
        allocated += state.lines[line].allocatedCents
        spent += state.lines[line].spentCents
      }
    }
    if (spent !== this.spent) this.fail(`spent is ${spent} over all budgets, but invoices and spending booked ${this.spent}`, command)
    const inTransit = this.inTransit()
    if (allocated + inTransit !== this.granted) {
      this.fail(`allocated ${allocated} + in transit ${inTransit} over all budgets ≠ granted ${this.granted}`, command)
    }
    // The total as the rule states it: never above what was granted less what was spent.
    if (allocated - spent > this.granted - this.spent) this.fail('the total over all budgets went above what was granted', command)
  }

  fail(message: string, command?: BudgetCommand): never {
    throw new Error(command === undefined ? message : `${message}\n  command: ${show(command)}`)
  }
}

const expectRefused = (world: World, result: BudgetEvent[] | DomainError, code: DomainErrorCode, command: BudgetCommand, why: string) => {
  if (!(result instanceof DomainError) || result.code !== code) {
    world.fail(`expected ${code} (${why}), got ${result instanceof DomainError ? `${result.code}: ${result.message}` : show(result)}`, command)
  }
}

// ---------------------------------------------------------------------------------------------
// Budget activity

function resolve(plan: AmountPlan, state: BudgetState, line: Line, commitment: CommitmentState | undefined): Cents {
  switch (plan.kind) {
    case 'fixed':
      return plan.cents
    case 'available':
      return availableCents(state.lines[line])
    case 'beyond':
      return availableCents(state.lines[line]) + 1n
    case 'remaining':
      return commitment ? remainingCents(commitment) : 1n
  }
}

const pickOf = <T>(items: readonly T[], pick: number): T | undefined => (items.length === 0 ? undefined : items[pick % items.length])

function budgetCommand(world: World, year: number, state: BudgetState, action: Action): { command: BudgetCommand; actor: string } {
  const commitments = [...state.commitments.values()]
  const withStatus = (...statuses: string[]) => commitments.filter((c) => statuses.includes(c.status))
  const unknownId = uuid(900_000 + year)
  switch (action.kind) {
    case 'allocate':
      return { command: { type: 'AllocateBudget', line: action.line, amountCents: action.cents, decisionRef: 'JHA' }, actor: 'finance-1' }
    case 'adjust': {
      const amount = resolve(action.amount, state, action.line, undefined)
      return { command: { type: 'AdjustBudget', line: action.line, amountCents: action.negative ? -amount : amount, reason: 'Korrektur' }, actor: 'finance-1' }
    }
    case 'transfer': {
      const toLine: Line = action.from === 'ambulatory' ? 'flexible' : 'ambulatory'
      const amountCents = resolve(action.amount, state, action.from, undefined)
      return { command: { type: 'TransferBudget', fromLine: action.from, toLine, amountCents, reason: 'Umschichtung' }, actor: 'finance-1' }
    }
    case 'commit': {
      const amountCents = resolve(action.amount, state, action.line, undefined)
      const period = action.intoNextYear ? { from: `${year}-07-01`, to: `${year + 1}-06-30` } : { from: `${year}-01-01`, to: `${year}-12-31` }
      const id = world.newId()
      return {
        command: {
          type: 'CreateCommitment',
          commitmentId: id,
          line: action.line,
          provider: `traeger-${id.slice(-2)}`,
          caseRef: `case-${id.slice(-4)}`,
          ...(action.intoNextYear ? { helpType: '§ 31 SPFH', decisionRef: `KB-${year}` } : {}),
          amountCents,
          period,
          ...(action.justified ? { overBudgetJustification: JUSTIFICATION } : {}),
        },
        actor: WRITERS[action.writer] as string,
      }
    }
    case 'amend': {
      const commitment = pickOf(withStatus('open'), action.pick) ?? pickOf(commitments, action.pick)
      const amount = resolve(action.amount, state, commitment?.line ?? 'ambulatory', commitment)
      return {
        command: {
          type: 'AmendCommitment',
          commitmentId: commitment?.id ?? unknownId,
          amountCents: action.negative ? -amount : amount,
          reason: 'Änderung',
          ...(action.justified ? { overBudgetJustification: JUSTIFICATION } : {}),
        },
        actor: WRITERS[action.writer] as string,
      }
    }
    case 'decide': {
      const commitment = pickOf(withStatus('requested'), action.pick) ?? pickOf(commitments, action.pick)
      const approver = APPROVERS[action.approver] ?? { sub: commitment?.requestedBy ?? 'teamlead-1', role: 'teamlead' as const }
      return {
        command: { type: 'DecideApproval', commitmentId: commitment?.id ?? unknownId, decision: action.decision, approver },
        actor: approver.sub,
      }
    }
    case 'invoice': {
      const commitment = pickOf(withStatus('open'), action.pick) ?? pickOf(commitments, action.pick)
      const amountCents = resolve(action.amount, state, commitment?.line ?? 'ambulatory', commitment)
      return {
        command: {
          type: 'BookInvoice',
          commitmentId: commitment?.id ?? unknownId,
          invoiceNo: action.duplicateNo ? 'R-1' : `R-${world.newId().slice(-6)}`,
          amountCents,
          invoiceDate: `${year}-02-01`,
        },
        actor: 'teamlead-1',
      }
    }
    case 'release': {
      const commitment = pickOf(withStatus('open', 'requested'), action.pick) ?? pickOf(commitments, action.pick)
      return { command: { type: 'ReleaseCommitment', commitmentId: commitment?.id ?? unknownId, reason: 'erledigt' }, actor: 'teamlead-1' }
    }
    case 'spend':
      return {
        command: {
          type: 'RecordSpending',
          spendingId: world.newId(),
          amountCents: resolve(action.amount, state, 'flexible', undefined),
          purpose: 'Gruppenangebot',
          receiptRef: 'B-1',
          date: `${year}-03-01`,
        },
        actor: 'teamlead-1',
      }
    case 'reverse': {
      const spendings = [...state.spendings.values()]
      const spending = pickOf(spendings.filter((s) => !s.reversed), action.pick) ?? pickOf(spendings, action.pick)
      return { command: { type: 'ReverseSpending', spendingId: spending?.id ?? unknownId, reason: 'Storno' }, actor: 'teamlead-1' }
    }
  }
}

function runBudgetAction(world: World, year: number, sozialraum: string, action: Action): void {
  const before = world.state(year, sozialraum)
  const { command, actor } = budgetCommand(world, year, before, action)
  const result = world.execute(year, sozialraum, command, actor)
  if (before.closed) expectRefused(world, result, 'year-closed', command, `budget ${year} of ${sozialraum} is closed`)
  // Four eyes, across the close too: nobody approves what they asked for.
  if (command.type === 'DecideApproval') {
    const commitment = before.commitments.get(command.commitmentId)
    if (commitment?.status === 'requested' && commitment.requestedBy === command.approver.sub && command.decision === 'approve' && !before.closed) {
      expectRefused(world, result, 'forbidden', command, `${command.approver.sub} asked for it`)
      count(commitment.carriedFrom === undefined ? 'four-eyes:own-request-refused' : 'four-eyes:own-carried-request-refused')
    }
    if (!(result instanceof DomainError) && commitment?.carriedFrom !== undefined) count(`four-eyes:carried-${command.decision}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Moves between Sozialräume

function runDebit(world: World, step: Extract<Step, { kind: 'debit' }>): void {
  const year = Y + step.year
  const from = SOZIALRAEUME[step.from] as string
  const to = SOZIALRAEUME[step.to] as string
  const source = world.state(year, from)
  const id = world.newId()
  const amountCents = resolve(step.amount, source, step.fromLine, undefined)
  const command: BudgetCommand = { type: 'DebitMove', moveId: id, line: step.fromLine, amountCents, to: { sozialraum: to, line: step.toLine }, reason: 'Deckungsfähigkeit' }
  const result = world.execute(year, from, command, 'finance-1')
  if (source.closed) return expectRefused(world, result, 'year-closed', command, 'the source is closed')
  if (!source.exists) return expectRefused(world, result, 'not-found', command, 'the source has no allocation')
  if (from === to) return expectRefused(world, result, 'validation', command, 'a move to the own Sozialraum')
  if (amountCents <= 0n) return expectRefused(world, result, 'validation', command, 'a move of nothing')
  if (amountCents > availableCents(source.lines[step.fromLine])) return expectRefused(world, result, 'insufficient-funds', command, 'beyond the line')
  if (result instanceof DomainError) return world.fail(`a debit within the funds was refused: ${result.code} ${result.message}`, command)
}

/** The target's step: credited, or refused for good; an error only when it is closed or has decided already. */
function credit(world: World, move: MoveModel): void {
  const target = world.state(move.year, move.to)
  const prior = move.status
  const command: BudgetCommand = {
    type: 'CreditMove',
    moveId: move.id,
    line: move.toLine,
    amountCents: move.amount,
    from: { sozialraum: move.from, line: move.fromLine },
    reason: 'Deckungsfähigkeit',
  }
  const result = world.execute(move.year, move.to, command, 'finance-1')
  if (target.closed) return expectRefused(world, result, 'year-closed', command, 'the target is closed')
  if (prior !== 'debited') {
    count(`credit-again:${prior}`)
    return expectRefused(world, result, 'conflict', command, `the move was ${prior} already`)
  }
  if (result instanceof DomainError) return world.fail(`a credit answered with an error: ${result.code} ${result.message}`, command)
  const type = result.map((event) => event.type).join(',')
  // Refused by a budget without allocation, or when the credit would take a balance beyond the limit.
  const balance = target.lines[move.toLine]
  // What the target moved out of that line and did not get back counts as allocated (a revert may bring it).
  const movedOut = world.moves.reduce((sum, m) => (m.year === move.year && m.from === move.to && m.fromLine === move.toLine && m.status !== 'reverted' ? sum + m.amount : sum), 0n)
  const beyond = balance.allocatedCents + movedOut + move.amount > MAX_BALANCE_CENTS || availableCents(balance) + move.amount > MAX_BALANCE_CENTS
  if (beyond && target.exists) count('moves:refused-at-limit')
  const expected = target.exists && !beyond ? 'BudgetMoveCredited' : 'BudgetMoveRefused'
  if (type !== expected) world.fail(`the target answered ${type}, expected ${expected}`, command)
}

/** The source's step after a refusal (never after a credit: the process reads the target first). */
function revert(world: World, move: MoveModel): void {
  const source = world.state(move.year, move.from)
  const prior = move.status
  const command: BudgetCommand = { type: 'RevertMove', moveId: move.id, why: 'refused by the target' }
  const result = world.execute(move.year, move.from, command, 'finance-1')
  if (source.closed) return expectRefused(world, result, 'year-closed', command, 'the source is closed')
  if (prior === 'reverted') return expectRefused(world, result, 'conflict', command, 'reverted already')
  if (result instanceof DomainError) return world.fail(`a revert after a refusal failed: ${result.code} ${result.message}`, command)
}

function runStep(world: World, step: Step): void {
  switch (step.kind) {
    case 'budget':
      return runBudgetAction(world, Y + step.year, SOZIALRAEUME[step.sr] as string, step.action)
    case 'debit':
      return runDebit(world, step)
    case 'credit': {
      const candidates = step.inTransit ? world.moves.filter((move) => move.status === 'debited') : world.moves
      const move = pickOf(candidates, step.pick)
      if (move) credit(world, move)
      return
    }
    case 'revert': {
      if (step.unknown) {
        const sozialraum = SOZIALRAEUME[step.pick % SOZIALRAEUME.length] as string
        const state = world.state(Y + 1, sozialraum)
        const command: BudgetCommand = { type: 'RevertMove', moveId: uuid(800_000 + step.pick), why: 'x' }
        const result = world.execute(Y + 1, sozialraum, command, 'finance-1')
        if (state.exists) expectRefused(world, result, 'not-found', command, 'an unknown move')
        return
      }
      const move = pickOf(
        world.moves.filter((m) => m.status === 'refused' || m.status === 'reverted'),
        step.pick,
      )
      if (move) revert(world, move)
      return
    }
  }
}

/** What the close process does first: every move of the year in transit is credited, or refused and reverted. */
function settleMoves(world: World, year: number): void {
  for (const move of world.moves) {
    if (move.year !== year) continue
    if (move.status === 'debited') credit(world, move)
    if (move.status === 'refused') revert(world, move)
    if (move.status === 'debited' || move.status === 'refused') world.fail(`move ${move.id} is still in transit after settling`)
  }
}

// ---------------------------------------------------------------------------------------------
// The close: the model of what each step must write

const clamp = (value: Cents, max: Cents): Cents => (value < 0n ? 0n : value > max ? max : value)

function closeStep(world: World, sozialraum: string, carryUnspent: Line[]): void {
  const state = world.state(Y, sozialraum)
  const command: BudgetCommand = { type: 'CloseBudget', carryUnspent }
  const result = world.execute(Y, sozialraum, command, CLOSER)
  if (state.closed) return expectRefused(world, result, 'year-closed', command, 'closed already')
  if (!state.exists) return expectRefused(world, result, 'not-found', command, 'no budget')
  if (result instanceof DomainError) return world.fail(`the close was refused: ${result.code} ${result.message}`, command)
  if (world.moves.some((move) => move.year === Y && move.from === sozialraum && (move.status === 'debited' || move.status === 'refused'))) {
    world.fail('a budget was closed with a move in transit; the process settles them first', command)
  }

  // Every commitment with something left carries exactly that; the rest of each line is unspent.
  const record: CloseRecord = {
    carried: new Map(),
    allocation: { ambulatory: 0n, flexible: 0n },
    unspent: { ambulatory: 0n, flexible: 0n },
    lapsed: { ambulatory: 0n, flexible: 0n },
    heldBefore: { ambulatory: 0n, flexible: 0n },
    availableGone: { ambulatory: 0n, flexible: 0n },
  }
  const expected: BudgetEvent[] = []
  /** Σ of the remainders each line's carried commitments take along. */
  const needed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of state.commitments.values()) {
    const remainder = commitment.amountCents - commitment.invoicedCents - commitment.releasedCents - commitment.carriedCents
    if (remainder <= 0n) continue
    needed[commitment.line] += remainder
    const waits = commitment.status === 'requested'
    // What a second person approved of it and is left: all of an open one; of a waiting one, what
    // was approved before it asked for more, less what was invoiced since.
    const approvedPart = waits ? clamp(commitment.approvedTerms.amountCents - commitment.invoicedCents - commitment.releasedCents, remainder) : remainder
    record.carried.set(commitment.id, { before: commitment, remainder, approvedPart })
    count(waits ? (approvedPart > 0n ? 'carried:requested-partly-approved' : 'carried:requested') : 'carried:open')
    if (commitment.overBudget) count('carried:over-budget')
    expected.push({
      type: 'CommitmentCarriedOver',
      data: {
        year: Y,
        sozialraum,
        commitmentId: commitment.id,
        line: commitment.line,
        amountCents: Number(remainder),
        toYear: Y + 1,
        toCommitmentId: carriedCommitmentId(Y, sozialraum, commitment.id),
      },
    })
  }
  // Each line gives up what its carried commitments need and, when named, its unspent money, but
  // never more than it holds (allocated − spent): an over-budget line gives what it holds, and one
  // that holds nothing gives nothing. What is unspent and not named lapses.
  for (const line of LINES) {
    const balance = state.lines[line]
    const held = balance.allocatedCents - balance.spentCents
    const left = availableCents(balance)
    record.heldBefore[line] = held
    if (left < 0n) count('close:line-below-zero')
    if (held < 0n) count('close:held-below-zero')
    if (left > 0n && carryUnspent.includes(line)) record.unspent[line] = left
    if (left > 0n && !carryUnspent.includes(line)) {
      record.lapsed[line] = left
      count('close:lapsed')
    }
    const wanted = needed[line] + record.unspent[line]
    const holds = held > 0n ? held : 0n
    record.allocation[line] = wanted < holds ? wanted : holds
    if (wanted > holds) count(held > 0n ? 'close:deficit-carried' : 'close:held-nothing')
    if (record.allocation[line] === 0n) continue
    if (record.unspent[line] > 0n) count('close:unspent-carried')
    expected.push({
      type: 'AllocationCarriedOver',
      data: { year: Y, sozialraum, line, amountCents: Number(record.allocation[line]), unspentCents: Number(record.unspent[line]), toYear: Y + 1 },
    })
  }
  expected.push({
    type: 'BudgetClosed',
    data: { year: Y, sozialraum, lapsed: { ambulatory: Number(record.lapsed.ambulatory), flexible: Number(record.lapsed.flexible) } },
  })

  // What the close did to the lines, whatever the model says it should have written.
  const closed = world.state(Y, sozialraum)
  if (!closed.closed) world.fail('a budget is not closed after its close', command)
  for (const line of LINES) {
    const before = state.lines[line]
    const after = closed.lines[line]
    if (after.spentCents !== before.spentCents) world.fail(`the close changed what the ${line} line spent`, command)
    // The close never makes a line's held money negative: at worst it stays what it was.
    const heldAfter = after.allocatedCents - after.spentCents
    const floor = record.heldBefore[line] < 0n ? record.heldBefore[line] : 0n
    if (heldAfter < floor) {
      world.fail(`the close left the ${line} line holding ${heldAfter} (allocated − spent), below min(0, ${record.heldBefore[line]})`, command)
    }
    // What the line gave up is what the budget records as carried out of it: the next year's allocation.
    const gaveUp = before.allocatedCents - after.allocatedCents
    if (gaveUp !== closed.carriedAllocationCents[line] - state.carriedAllocationCents[line]) {
      world.fail(`the ${line} line gave up ${gaveUp}, the budget records ${closed.carriedAllocationCents[line]} carried out`, command)
    }
  }
  if (!isDeepStrictEqual(result, expected)) world.fail(`the close wrote ${show(result)}\n  expected ${show(expected)}`, command)
  world.closes.set(sozialraum, record)

  for (const line of LINES) {
    if (closed.lines[line].committedCents !== 0n) world.fail(`the ${line} line of a closed budget still commits money`, command)
    if (state.lines[line].allocatedCents - closed.lines[line].allocatedCents !== record.allocation[line]) {
      world.fail(`the ${line} line gave up ${state.lines[line].allocatedCents - closed.lines[line].allocatedCents}, not ${record.allocation[line]}`, command)
    }
    // What lapses stays where it was: the closed line keeps exactly it available, or the deficit of
    // a line that held less than nothing (an over-budget line that held something gave its deficit along).
    const heldDeficit = record.heldBefore[line] < 0n ? record.heldBefore[line] : 0n
    if (availableCents(closed.lines[line]) !== record.lapsed[line] + heldDeficit) {
      world.fail(`the closed ${line} line has ${availableCents(closed.lines[line])} available, ${record.lapsed[line]} lapsed`, command)
    }
    record.availableGone[line] = availableCents(state.lines[line]) - availableCents(closed.lines[line])
  }
}

function receiveStep(world: World, sozialraum: string): void {
  const closed = world.state(Y, sozialraum)
  if (!closed.closed) return // the process closes a budget before its next year receives
  const record = world.closes.get(sozialraum)
  if (!record) return world.fail(`budget ${Y} of ${sozialraum} is closed, but the test did not close it`)
  const next = world.state(Y + 1, sozialraum)
  const command: BudgetCommand = { type: 'ReceiveCarryOver', carry: carryOverOf(closed) }
  const result = world.execute(Y + 1, sozialraum, command, CLOSER)
  const carriesAnything = record.carried.size > 0 || LINES.some((line) => record.allocation[line] > 0n)
  if (!carriesAnything) return expectRefused(world, result, 'validation', command, 'nothing was carried')
  if (world.received.has(sozialraum)) {
    count('receive:again')
    return expectRefused(world, result, 'conflict', command, 'received already')
  }
  if (result instanceof DomainError) return world.fail(`the receive was refused: ${result.code} ${result.message}`, command)
  count(next.exists ? 'receive:into-existing' : 'receive:into-new')
  if (LINES.every((line) => record.allocation[line] === 0n)) count('receive:commitments-only')

  // Each line is allocated exactly what the old line gave up: never the remainders it could not cover.
  const expected: BudgetEvent[] = []
  const carried = [...record.carried.entries()]
  for (const line of LINES) {
    const total = record.allocation[line]
    if (total === 0n) continue
    const actual = result.find((event) => event.type === 'BudgetAllocated' && event.data.line === line)
    expected.push({
      type: 'BudgetAllocated',
      data: {
        year: Y + 1,
        sozialraum,
        line,
        amountCents: Number(total),
        decisionRef: `year-close-${Y}`,
        // (the note is prose for the reader; its presence is all the test asks of it)
        ...(actual?.type === 'BudgetAllocated' && actual.data.note !== undefined ? { note: actual.data.note } : { note: '(missing)' }),
        kind: 'carry-over',
        fromYear: Y,
      },
    })
  }
  for (const [id, { before, remainder, approvedPart }] of carried) {
    const waits = before.status === 'requested'
    const data: EventDataOf<'CommitmentCarriedIn'> = {
      year: Y + 1,
      sozialraum,
      commitmentId: carriedCommitmentId(Y, sozialraum, id),
      line: before.line,
      provider: before.provider,
      caseRef: before.caseRef,
      ...(before.helpType === undefined ? {} : { helpType: before.helpType }),
      amountCents: Number(remainder),
      period: before.period,
      ...(before.decisionRef === undefined ? {} : { decisionRef: before.decisionRef }),
      status: waits ? 'requested' : 'open',
      overBudget: before.overBudget,
      ...(before.overBudgetJustification === undefined ? {} : { overBudgetJustification: before.overBudgetJustification }),
      approvedAmountCents: Number(approvedPart),
      approvedOverBudget: waits ? before.approvedTerms.overBudget : before.overBudget,
      ...((waits ? before.approvedTerms.overBudgetJustification : before.overBudgetJustification) === undefined
        ? {}
        : { approvedOverBudgetJustification: waits ? before.approvedTerms.overBudgetJustification : before.overBudgetJustification }),
      ...(waits && before.requestedBy !== undefined ? { requestedBy: before.requestedBy } : {}),
      from: { year: Y, commitmentId: id },
    }
    expected.push({ type: 'CommitmentCarriedIn', data })
  }
  if (!isDeepStrictEqual(result, expected)) world.fail(`the receive wrote ${show(result)}\n  expected ${show(expected)}`, command)
  world.received.add(sozialraum)

  const after = world.state(Y + 1, sozialraum)
  if (!after.exists || !after.carriedInFrom.has(Y)) world.fail(`${Y + 1} of ${sozialraum} received, but exists ${after.exists}, from ${show([...after.carriedInFrom])}`, command)
  for (const line of LINES) {
    // Line by line no money appears: the new line's available moves by what the old line's went down
    // (an over-budget line's deficit included), no more.
    const moved = availableCents(after.lines[line]) - availableCents(next.lines[line])
    if (moved !== record.availableGone[line]) {
      world.fail(`${Y + 1} of ${sozialraum}: the ${line} line's available moved by ${moved}, the old line's went down by ${record.availableGone[line]}`, command)
    }
  }
}

/** The close process: each step unless its stream records it done. */
function finishClose(world: World, carryUnspent: Line[][]): void {
  SOZIALRAEUME.forEach((sozialraum, n) => {
    const state = world.state(Y, sozialraum)
    if (state.exists && !state.closed) closeStep(world, sozialraum, carryUnspent[n] ?? [])
    const next = world.state(Y + 1, sozialraum)
    if (world.state(Y, sozialraum).closed && !next.carriedInFrom.has(Y)) receiveStep(world, sozialraum)
  })
}

/** After the close: what Y carried arrived in Y+1 exactly once, and Y+1's carry-over allocations are exactly it. */
function checkCarry(world: World): void {
  const carriedOut = new Map<string, { sozialraum: string; commitment: CommitmentState }>()
  for (const sozialraum of SOZIALRAEUME) {
    const closed = world.state(Y, sozialraum)
    const record = world.closes.get(sozialraum)
    if (!closed.exists) continue
    if (!closed.closed || !record) return world.fail(`budget ${Y} of ${sozialraum} was not closed`)
    const out = [...closed.commitments.values()].filter((c) => c.carriedTo !== undefined)
    if (out.length !== record.carried.size) world.fail(`${sozialraum} carried ${out.length} commitments, ${record.carried.size} were open`)
    for (const commitment of out) {
      const item = record.carried.get(commitment.id)
      if (!item || item.remainder !== commitment.carriedCents) {
        world.fail(`commitment ${commitment.id} carried ${commitment.carriedCents}, its open remainder was ${item?.remainder}`)
      }
      if (commitment.status !== 'closed' || remainingCents(commitment) !== 0n) world.fail(`carried commitment ${commitment.id} is not closed with nothing left`)
      carriedOut.set(commitment.carriedTo?.commitmentId ?? '', { sozialraum, commitment })
    }
    if (!isDeepStrictEqual(closed.unspentCarriedCents, record.unspent)) world.fail(`${sozialraum} carried unspent ${show(closed.unspentCarriedCents)}`)
    if (!isDeepStrictEqual(closed.carriedAllocationCents, record.allocation)) {
      world.fail(`${sozialraum} carried allocation ${show(closed.carriedAllocationCents)}, expected ${show(record.allocation)}`)
    }
  }

  // One to one: each carried commitment has exactly one continuation, and nothing else continues one.
  const carriedIn = new Map<string, CommitmentState>()
  for (const sozialraum of SOZIALRAEUME) {
    for (const commitment of world.state(Y + 1, sozialraum).commitments.values()) {
      if (commitment.carriedFrom === undefined) continue
      const origin = carriedOut.get(commitment.id)
      if (!origin || origin.sozialraum !== sozialraum || origin.commitment.id !== commitment.carriedFrom.commitmentId || commitment.carriedFrom.year !== Y) {
        world.fail(`commitment ${commitment.id} of ${Y + 1} continues ${show(commitment.carriedFrom)}, which did not carry to it`)
      }
      carriedIn.set(commitment.id, commitment)
    }
  }
  if (carriedIn.size !== carriedOut.size) world.fail(`${carriedOut.size} commitments were carried out of ${Y}, ${carriedIn.size} arrived`)
  const arrivals = new Map<string, number>()
  const carryAllocations = new Map<string, Cents>()
  for (const { year, sozialraum, event } of world.log) {
    if (event.type === 'CommitmentCarriedIn') {
      arrivals.set(event.data.commitmentId, (arrivals.get(event.data.commitmentId) ?? 0) + 1)
      const origin = carriedOut.get(event.data.commitmentId)
      if (BigInt(event.data.amountCents) !== origin?.commitment.carriedCents) world.fail(`commitment ${event.data.commitmentId} arrived with ${event.data.amountCents}`)
    }
    if (event.type === 'BudgetAllocated' && event.data.kind === 'carry-over') {
      if (year !== Y + 1 || event.data.fromYear !== Y) world.fail(`a carry-over allocation in ${year} from ${event.data.fromYear}`)
      const key = `${sozialraum}/${event.data.line}`
      if (carryAllocations.has(key)) world.fail(`two carry-over allocations of ${key}`)
      carryAllocations.set(key, BigInt(event.data.amountCents))
    }
  }
  for (const [id, n] of arrivals) if (n !== 1) world.fail(`commitment ${id} arrived ${n} times`)
  // Y+1's carry-over allocation of each line is what the old line gave up: read off the closed budget's events.
  const givenUp = new Map<string, Cents>()
  for (const { year, sozialraum, event } of world.log) {
    if (year !== Y || event.type !== 'AllocationCarriedOver') continue
    const key = `${sozialraum}/${event.data.line}`
    if (givenUp.has(key)) world.fail(`two AllocationCarriedOver of ${key}`)
    givenUp.set(key, BigInt(event.data.amountCents))
  }
  for (const sozialraum of SOZIALRAEUME) {
    const record = world.closes.get(sozialraum)
    for (const line of LINES) {
      const gaveUp = givenUp.get(`${sozialraum}/${line}`) ?? 0n
      if (gaveUp !== (record?.allocation[line] ?? 0n)) world.fail(`${Y} of ${sozialraum}: ${line} gave up ${gaveUp}, the model says ${record?.allocation[line]}`)
      const allocated = carryAllocations.get(`${sozialraum}/${line}`) ?? 0n
      if (allocated !== gaveUp) world.fail(`${Y + 1} of ${sozialraum}: ${line} got ${allocated} as carry-over, the old line gave up ${gaveUp}`)
    }
  }
}

function runScenario(scenario: Scenario): void {
  const world = new World()
  scenario.opening.forEach((row, year) =>
    row.forEach((opens, sr) => {
      if (!opens) return
      for (const line of year === 0 && scenario.lean[sr] === true ? (['flexible'] as const) : LINES) {
        world.execute(Y + year, SOZIALRAEUME[sr] as string, { type: 'AllocateBudget', line, amountCents: 2_000_000n, decisionRef: 'JHA' }, 'finance-1')
      }
    }),
  )
  for (const step of scenario.before) runStep(world, step)
  // The process settles the year's moves before it closes a budget; Y+1's may stay in transit.
  settleMoves(world, Y)
  if (SOZIALRAEUME.some((sozialraum) => world.state(Y + 1, sozialraum).exists)) count('scenario:next-year-had-budgets')

  for (const step of scenario.closing) {
    if (step.kind === 'close') {
      closeStep(world, SOZIALRAEUME[step.sr] as string, scenario.carryUnspent[step.sr] ?? [])
    } else if (step.kind === 'receive') {
      receiveStep(world, SOZIALRAEUME[step.sr] as string)
    } else {
      runStep(world, step)
    }
  }
  finishClose(world, scenario.carryUnspent)
  // A retry of every step of the close writes nothing more.
  SOZIALRAEUME.forEach((sozialraum, n) => {
    closeStep(world, sozialraum, scenario.carryUnspent[n] ?? [])
    receiveStep(world, sozialraum)
  })
  checkCarry(world)
  world.checkMoney()

  // The closed year never changes again, whatever is asked of it.
  for (const sozialraum of SOZIALRAEUME) {
    const state = world.state(Y, sozialraum)
    if (state.closed) world.frozen.set(sozialraum, plainCopy(state))
  }
  for (const step of scenario.after) {
    if (step.kind === 'budget' && step.year === 0 && !world.state(Y, SOZIALRAEUME[step.sr] as string).closed) continue
    runStep(world, step)
  }
  for (const [sozialraum, frozen] of world.frozen) {
    if (!isDeepStrictEqual(plainCopy(world.state(Y, sozialraum)), frozen)) world.fail(`closed budget ${Y} of ${sozialraum} changed after its close`)
    count('frozen:budget')
  }
  checkCarry(world)
  world.checkMoney()
}

t.test('(a) year close over random budgets of two years: money conserved, each remainder carried exactly once, a closed year frozen', async (t) => {
  const started = Date.now()
  coverage.clear()
  fc.assert(fc.property(scenarioArb, runScenario), { numRuns: NUM_RUNS })
  t.pass(`${NUM_RUNS} scenarios in ${Date.now() - started} ms`)
  if (process.env.SHOW_COVERAGE) console.error([...coverage.entries()].sort().map(([k, v]) => `${k}: ${v}`).join('\n'))
  // The generator reaches what the properties are about (counted over all runs).
  for (const key of [
    'event:CommitmentCarriedOver',
    'event:CommitmentCarriedIn',
    'event:AllocationCarriedOver',
    'event:BudgetClosed',
    'carried:open',
    'carried:requested',
    'carried:requested-partly-approved',
    'carried:over-budget',
    'close:lapsed',
    'close:line-below-zero',
    'close:unspent-carried',
    'close:deficit-carried',
    'close:held-nothing',
    'receive:into-existing',
    'receive:into-new',
    'receive:again',
    'receive:commitments-only',
    'refused:CloseBudget:year-closed',
    'refused:ReceiveCarryOver:conflict',
    'event:BudgetMoveDebited',
    'event:BudgetMoveCredited',
    'event:BudgetMoveRefused',
    'event:BudgetMoveReverted',
    'credit-again:credited',
    'refused:RevertMove:conflict',
    'four-eyes:own-request-refused',
    'four-eyes:own-carried-request-refused',
    'four-eyes:carried-approve',
    'refused:BookInvoice:year-closed',
    'refused:CreditMove:year-closed',
    'frozen:budget',
    'scenario:next-year-had-budgets',
  ]) {
    t.ok((coverage.get(key) ?? 0) > 0, `reached ${key} (${coverage.get(key) ?? 0} times)`)
  }
})

// ---------------------------------------------------------------------------------------------
// (b) Moves alone

const A = { year: Y, sozialraum: 'sr-a' }
const B = { year: Y, sozialraum: 'sr-b' }

type MoveStep =
  | { kind: 'debit'; toB: boolean; fromLine: Line; toLine: Line; amount: AmountPlan | { kind: 'large'; cents: Cents } }
  | { kind: 'credit'; pick: number; inTransit: boolean }
  | { kind: 'revert'; pick: number }
  | { kind: 'fund-b'; line: Line; cents: Cents }

interface MovesScenario {
  a: Cents
  /** A's flexible line this far below the limit on balances, or ordinary: then A refuses moves too. */
  aGap: Cents | null
  /** B: no budget, an ordinary one, or one whose flexible line stands `gap` below the limit on balances. */
  b: { kind: 'none' } | { kind: 'funded'; cents: Cents } | { kind: 'near-limit'; gap: Cents }
  steps: MoveStep[]
}

const movesScenarioArb: fc.Arbitrary<MovesScenario> = fc.record({
  a: fc.bigInt({ min: 1n, max: MAX_AMOUNT_CENTS }),
  aGap: fc.option(fc.bigInt({ min: 0n, max: 5_000_000n })),
  b: fc.oneof(
    fc.constant({ kind: 'none' } as const),
    fc.record({ kind: fc.constant('funded' as const), cents: fc.bigInt({ min: 1n, max: 10_000_000n }) }),
    fc.record({ kind: fc.constant('near-limit' as const), gap: fc.bigInt({ min: 0n, max: 5_000_000n }) }),
  ),
  steps: fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('debit' as const),
          toB: fc.nat(3).map((n) => n !== 0),
          fromLine: lineArb,
          toLine: lineArb,
          amount: fc.oneof(amountArb, fc.bigInt({ min: 1n, max: MAX_AMOUNT_CENTS }).map((cents) => ({ kind: 'large' as const, cents }))),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('credit' as const), pick: pickArb, inTransit: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('revert' as const), pick: pickArb }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('fund-b' as const), line: lineArb, cents: fc.bigInt({ min: 1n, max: 1_000_000n }) }) },
    ),
    { maxLength: 40, size: 'max' },
  ),
})

function runMoves(scenario: MovesScenario): void {
  const world = new World()
  const allocate = (key: typeof A, line: Line, cents: Cents) =>
    world.execute(key.year, key.sozialraum, { type: 'AllocateBudget', line, amountCents: cents, decisionRef: 'JHA' }, 'finance-1')
  // Near the limit through a few allocations of at most the largest single amount would take
  // thousands of steps: fold the allocation as one event of the history instead.
  const grantFlexible = (key: typeof A, cents: Cents) => {
    const event: BudgetEvent = { type: 'BudgetAllocated', data: { ...key, line: 'flexible', amountCents: Number(cents), decisionRef: 'JHA', kind: 'allocation' } }
    world.states.set(`${key.year}/${key.sozialraum}`, evolveBudget(world.state(key.year, key.sozialraum), event, contextBy('finance-1')))
    world.granted += cents
  }
  for (const line of LINES) allocate(A, line, scenario.a)
  if (scenario.aGap !== null) grantFlexible(A, MAX_BALANCE_CENTS - scenario.aGap - scenario.a)
  if (scenario.b.kind === 'funded') allocate(B, 'ambulatory', scenario.b.cents)
  if (scenario.b.kind === 'near-limit') grantFlexible(B, MAX_BALANCE_CENTS - scenario.b.gap)
  const startTotal = world.granted

  const total = () =>
    [A, B].reduce((sum, key) => {
      const state = world.state(key.year, key.sozialraum)
      return sum + LINES.reduce((s, line) => s + state.lines[line].allocatedCents - state.lines[line].spentCents, 0n)
    }, 0n)
  const check = (what: string) => {
    const granted = world.granted // grows only with fund-b
    if (total() > granted) world.fail(`after ${what} the total ${total()} is above what was there, ${granted}`)
    if (total() + world.inTransit() !== granted) world.fail(`after ${what} the total and what is in transit do not add up`)
    // The limit holds through moves: a revert brings back only what no allocation took the room of.
    for (const key of [A, B]) {
      const state = world.state(key.year, key.sozialraum)
      if (LINES.some((line) => state.lines[line].allocatedCents > MAX_BALANCE_CENTS)) world.fail(`after ${what} ${key.sozialraum} is allocated beyond the limit`)
    }
  }

  for (const step of scenario.steps) {
    switch (step.kind) {
      case 'debit': {
        const [from, to] = step.toB ? [A, B] : [B, A]
        const source = world.state(from.year, from.sozialraum)
        const amountCents = step.amount.kind === 'large' ? step.amount.cents : resolve(step.amount, source, step.fromLine, undefined)
        const id = world.newId()
        const command: BudgetCommand = {
          type: 'DebitMove',
          moveId: id,
          line: step.fromLine,
          amountCents,
          to: { sozialraum: to.sozialraum, line: step.toLine },
          reason: 'Deckungsfähigkeit',
        }
        const result = world.execute(from.year, from.sozialraum, command, 'finance-1')
        const fits = source.exists && amountCents > 0n && amountCents <= MAX_AMOUNT_CENTS && amountCents <= availableCents(source.lines[step.fromLine])
        if (fits === result instanceof DomainError) world.fail(`a debit that ${fits ? 'fits' : 'does not fit'} answered ${show(result)}`, command)
        if (!(result instanceof DomainError) && !world.moves.some((m) => m.id === id)) world.fail('an accepted debit is not a move', command)
        break
      }
      case 'credit': {
        const move = pickOf(step.inTransit ? world.moves.filter((m) => m.status === 'debited') : world.moves, step.pick)
        if (move) credit(world, move)
        break
      }
      case 'revert': {
        const move = pickOf(world.moves.filter((m) => m.status === 'refused' || m.status === 'reverted'), step.pick)
        if (move) revert(world, move)
        break
      }
      case 'fund-b': {
        const result = allocate(B, step.line, step.cents)
        const outOfB = world.moves.some((m) => m.from === B.sozialraum && m.fromLine === step.line && (m.status === 'debited' || m.status === 'refused'))
        if (result instanceof DomainError && result.code === 'limit-exceeded' && outOfB) count('moves:room-kept-for-revert')
        break
      }
    }
    check(step.kind)
  }

  // Settle what is left, as the process does: then both hold exactly what they started with (and were given).
  settleMoves(world, Y)
  if (world.moves.some((m) => m.status !== 'credited' && m.status !== 'reverted')) world.fail('a move is not settled')
  if (total() !== world.granted) world.fail(`settled, the total is ${total()}, not ${world.granted}`)
  if (world.granted === startTotal && world.moves.length > 0) count('moves:settled-to-start')
}

t.test('(b) moves between two Sozialräume: never more than there was, exactly that once settled', async (t) => {
  const started = Date.now()
  coverage.clear()
  fc.assert(fc.property(movesScenarioArb, runMoves), { numRuns: NUM_RUNS })
  t.pass(`${NUM_RUNS} scenarios in ${Date.now() - started} ms`)
  if (process.env.SHOW_COVERAGE) console.error([...coverage.entries()].sort().map(([k, v]) => `${k}: ${v}`).join('\n'))
  for (const key of [
    'event:BudgetMoveDebited',
    'event:BudgetMoveCredited',
    'event:BudgetMoveRefused',
    'event:BudgetMoveReverted',
    'moves:refused-at-limit',
    'moves:room-kept-for-revert',
    'refused:CreditMove:conflict',
    'refused:RevertMove:conflict',
    'refused:DebitMove:insufficient-funds',
    'moves:settled-to-start',
  ]) {
    t.ok((coverage.get(key) ?? 0) > 0, `reached ${key} (${coverage.get(key) ?? 0} times)`)
  }
})

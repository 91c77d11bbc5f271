import fc from 'fast-check'
import t from 'tap'
import {
  assertBudgetChange,
  assertBudgetInvariants,
  availableCents,
  decideBudget,
  DEFAULT_FOUR_EYES_THRESHOLD_CENTS,
  evolveBudget,
  initialBudgetState,
  remainingCents,
  type Approver,
  type BudgetCommand,
  type BudgetPolicy,
  type BudgetState,
  type CommitmentStatus,
} from '../../src/domain/budget/index.js'
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js'
import { LINES, type BudgetEvent, type Line } from '../../src/domain/events.js'
import { MAX_AMOUNT_CENTS, MAX_BALANCE_CENTS, type Cents } from '../../src/domain/money.js'
import { BUDGET_KEY, assertStorable, contextBy, uuid } from '../helpers/decider-spec.js'
import { plainCopy } from '../helpers/plain.js'

/**
 * Model-based properties of the budget decider: random command sequences, each decided on the
 * state so far and, when accepted, folded in. Amounts are either fixed or taken from the state at
 * the moment the command is decided ("exactly what is available", "one cent more", "exactly the
 * remainder", "exactly the four-eyes threshold"), so that the boundaries of rules 1–3 and 6 are
 * hit often. Each sequence runs under a random four-eyes threshold; commitments are created and
 * amended by a few team leads and a finance controller, and decided on by a pool of approvers
 * and by whoever asked (rule 6 lets them withdraw their request, never approve it), in any role,
 * an auditor's included.
 *
 * One run in five starts near the limit on balances (MAX_BALANCE_CENTS): from a history folded
 * first (standing for a hundred or so accepted allocations and commitments of at most
 * MAX_AMOUNT_CENTS each), with amounts up to MAX_AMOUNT_CENTS and amounts that take a balance
 * exactly to the limit, one cent below or one cent beyond it.
 */

const NUM_RUNS = 1000

/** Who writes commitments and amendments. */
const WRITERS: readonly Approver[] = [
  { sub: 'teamlead-1', role: 'teamlead' },
  { sub: 'teamlead-2', role: 'teamlead' },
  { sub: 'finance-1', role: 'finance' },
]
/** Who may be asked to decide: the writers, a second finance controller and an auditor. */
const APPROVERS: readonly Approver[] = [...WRITERS, { sub: 'finance-2', role: 'finance' }, { sub: 'auditor-1', role: 'auditor' }]
const JUSTIFICATION = 'Rechtsanspruch § 27 SGB VIII'

// ---------------------------------------------------------------------------------------------
// Generated commands: a plan that is turned into a BudgetCommand against the current state.

type AmountPlan =
  | { kind: 'fixed'; cents: Cents }
  | { kind: 'available' } // exactly what the relevant line has available
  | { kind: 'beyond-available' } // one cent more than that
  | { kind: 'remaining' } // exactly the remainder of the referenced commitment
  | { kind: 'beyond-remaining' }
  | { kind: 'threshold'; offset: Cents } // the four-eyes threshold (plus offset), or what takes the commitment there
  | { kind: 'limit'; offset: Cents } // what takes the balance the command raises to MAX_BALANCE_CENTS (plus offset)

/** The approver of a DecideApproval: the one who asked for the commitment, in some role, or one of the pool. */
type ApproverPlan = { kind: 'requester'; role: Approver['role'] } | { kind: 'pool'; n: number }

type Plan =
  | { type: 'AllocateBudget'; line: Line; amount: AmountPlan }
  | { type: 'AdjustBudget'; line: Line; amount: AmountPlan; negative: boolean }
  | { type: 'TransferBudget'; fromLine: Line; toLine: Line; amount: AmountPlan }
  | { type: 'CreateCommitment'; commitment: number; line: Line; amount: AmountPlan; justified: boolean; periodReversed: boolean; actor: number }
  | { type: 'AmendCommitment'; reference: number; amongOpen: boolean; amount: AmountPlan; negative: boolean; justified: boolean; actor: number }
  | { type: 'DecideApproval'; reference: number; amongRequested: boolean; decision: 'approve' | 'reject'; approver: ApproverPlan; comment: boolean }
  | { type: 'BookInvoice'; reference: number; invoiceNo: string; amount: AmountPlan }
  | { type: 'ReleaseCommitment'; reference: number }
  | { type: 'RecordSpending'; spending: number; amount: AmountPlan }
  | { type: 'ReverseSpending'; reference: number }

const COMMITMENT_IDS = 6
const SPENDING_IDS = 6

const lineArb = fc.constantFrom<Line>(...LINES)
const amountArb: fc.Arbitrary<AmountPlan> = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 2_000_000n }).map((cents) => ({ kind: 'fixed', cents }) as const) },
  { weight: 1, arbitrary: fc.constantFrom<Cents>(0n, 1n, 100n).map((cents) => ({ kind: 'fixed', cents }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'available' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'beyond-available' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'remaining' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'beyond-remaining' } as const) },
  { weight: 2, arbitrary: fc.constantFrom<Cents>(0n, -1n, 1n).map((offset) => ({ kind: 'threshold', offset }) as const) },
)
const writerArb = fc.nat(WRITERS.length - 1)
const approverArb: fc.Arbitrary<ApproverPlan> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('requester' as const), role: fc.constantFrom('teamlead' as const, 'finance' as const, 'auditor' as const) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pool' as const), n: fc.nat(APPROVERS.length - 1) }) },
)
/** Mostly the default threshold or one in the range of the generated amounts; now and then a tiny one. */
const thresholdArb: fc.Arbitrary<Cents> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(DEFAULT_FOUR_EYES_THRESHOLD_CENTS) },
  { weight: 4, arbitrary: fc.bigInt({ min: 100_000n, max: 3_000_000n }) },
  { weight: 1, arbitrary: fc.constantFrom<Cents>(1n, 100n) },
)
/** A new commitment or spending takes one of a few ids, so that ids collide now and then. */
const commitmentArb = fc.integer({ min: 1, max: COMMITMENT_IDS })
const spendingArb = fc.integer({ min: 1, max: SPENDING_IDS })
/**
 * A later command refers to the n-th commitment or spending that exists when it is decided, or,
 * when n is past the end, to one that does not exist.
 */
const referenceArb = fc.oneof({ weight: 3, arbitrary: fc.nat(2) }, { weight: 1, arbitrary: fc.nat(7) })

/** Amounts of the runs near the limit: up to the largest single amount, and the limit's boundary. */
const largeAmountArb: fc.Arbitrary<AmountPlan> = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: MAX_AMOUNT_CENTS }).map((cents) => ({ kind: 'fixed', cents }) as const) },
  { weight: 3, arbitrary: fc.constantFrom<Cents>(-1n, 0n, 1n).map((offset) => ({ kind: 'limit', offset }) as const) },
  { weight: 2, arbitrary: amountArb },
)

const allocationArb = (amount: fc.Arbitrary<AmountPlan>): fc.Arbitrary<Plan> =>
  fc.record({ type: fc.constant('AllocateBudget' as const), line: lineArb, amount })

/** Allocations mostly of fixed amounts in the order of a budget's, now and then of any amount. */
const budgetAllocationArb = allocationArb(
  fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: 10_000_000n }).map((cents) => ({ kind: 'fixed', cents }) as const) },
    { weight: 1, arbitrary: amountArb },
  ),
)

/** Every kind of command, with `amounts` for their amounts and `allocations` for the allocations. */
const planArbWith = (amounts: fc.Arbitrary<AmountPlan>, allocations: fc.Arbitrary<Plan>): fc.Arbitrary<Plan> => {
  /** An amendment goes beyond the line more often, so that increases wait as over budget often enough. */
  const amendmentAmountArb: fc.Arbitrary<AmountPlan> = fc.oneof(
    { weight: 3, arbitrary: amounts },
    { weight: 1, arbitrary: fc.constant({ kind: 'beyond-available' } as const) },
  )
  return fc.oneof(
    { weight: 2, arbitrary: allocations },
    {
      weight: 2,
      arbitrary: fc.record({ type: fc.constant('AdjustBudget' as const), line: lineArb, amount: amounts, negative: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ type: fc.constant('TransferBudget' as const), fromLine: lineArb, toLine: lineArb, amount: amounts }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        type: fc.constant('CreateCommitment' as const),
        commitment: commitmentArb,
        line: lineArb,
        amount: amounts,
        justified: fc.boolean(),
        periodReversed: fc.nat(9).map((n) => n === 0), // now and then a period that ends before it starts
        actor: writerArb,
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant('AmendCommitment' as const),
        reference: referenceArb,
        amongOpen: fc.nat(3).map((n) => n !== 0), // mostly a commitment that can change; now and then any
        amount: amendmentAmountArb,
        negative: fc.nat(2).map((n) => n === 0), // increases more often than decreases
        justified: fc.boolean(),
        actor: writerArb,
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        type: fc.constant('DecideApproval' as const),
        reference: referenceArb,
        amongRequested: fc.nat(4).map((n) => n !== 0), // mostly a commitment that waits
        decision: fc.constantFrom('approve' as const, 'reject' as const),
        approver: approverArb,
        comment: fc.boolean(),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        type: fc.constant('BookInvoice' as const),
        reference: referenceArb,
        invoiceNo: fc.constantFrom('R-1', 'R-2', 'R-3'),
        amount: amounts,
      }),
    },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('ReleaseCommitment' as const), reference: referenceArb }) },
    { weight: 4, arbitrary: fc.record({ type: fc.constant('RecordSpending' as const), spending: spendingArb, amount: amounts }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('ReverseSpending' as const), reference: referenceArb }) },
  )
}

/**
 * Where a run near the limit starts: each line allocated up to a gap below the limit and, now and
 * then, one large ambulatory commitment that a second person approved, binding all of its line's
 * allocation but `unbound`, with `invoiced` of it spent. Gaps of up to three of the largest single
 * amounts, so that a few commands reach the limit.
 */
interface HeadStart {
  gaps: Record<Line, Cents>
  commitment: { id: number; unbound: Cents; invoiced: Cents } | undefined
}

const gapArb = fc.oneof(fc.constantFrom<Cents>(0n, 1n, 100n), fc.bigInt({ min: 0n, max: 3n * MAX_AMOUNT_CENTS }))
const headStartArb: fc.Arbitrary<HeadStart> = fc.record({
  gaps: fc.record({ ambulatory: gapArb, flexible: gapArb }),
  commitment: fc.option(
    fc.record({ id: commitmentArb, unbound: gapArb, invoiced: fc.oneof(fc.constant(0n), gapArb, fc.bigInt({ min: 0n, max: MAX_BALANCE_CENTS })) }),
    { nil: undefined, freq: 3 },
  ),
})

interface Sequence {
  threshold: Cents
  headStart: HeadStart | undefined
  plans: Plan[]
}

/** A few allocations first, so that most sequences work on an existing budget; and a threshold. */
const budgetSequenceArb: fc.Arbitrary<Sequence> = fc.record({
  threshold: thresholdArb,
  headStart: fc.constant(undefined),
  plans: fc
    .tuple(
      fc.array(budgetAllocationArb, { maxLength: 3 }),
      fc.array(planArbWith(amountArb, budgetAllocationArb), { minLength: 1, maxLength: 60, size: 'max' }),
    )
    .map(([allocations, plans]) => [...allocations, ...plans]),
})

const nearLimitSequenceArb: fc.Arbitrary<Sequence> = fc.record({
  threshold: thresholdArb,
  headStart: headStartArb,
  plans: fc.array(planArbWith(largeAmountArb, allocationArb(largeAmountArb)), { minLength: 1, maxLength: 60, size: 'max' }),
})

const sequenceArb = fc.oneof({ weight: 4, arbitrary: budgetSequenceArb }, { weight: 1, arbitrary: nearLimitSequenceArb })

/** The events of a head start, each with the actor who recorded it; all within the limit. */
function headStartEvents(headStart: HeadStart | undefined): { actor: string | undefined; event: BudgetEvent }[] {
  if (headStart === undefined) return []
  const allocatedCents = (line: Line) => MAX_BALANCE_CENTS - headStart.gaps[line]
  const events: { actor: string | undefined; event: BudgetEvent }[] = LINES.map((line) => ({
    actor: undefined,
    event: { type: 'BudgetAllocated', data: { ...BUDGET_KEY, line, amountCents: Number(allocatedCents(line)), decisionRef: 'JHA', kind: 'allocation' } },
  }))
  const commitment = headStart.commitment
  const amount = commitment === undefined ? 0n : allocatedCents('ambulatory') - commitment.unbound
  if (commitment === undefined || amount <= 0n) return events
  const key = { ...BUDGET_KEY, commitmentId: uuid(commitment.id), line: 'ambulatory' as const }
  const created: BudgetEvent = {
    type: 'CommitmentCreated',
    data: { ...key, provider: 'traeger', caseRef: 'case-large', amountCents: Number(amount), period: { from: '2025-01-01', to: '2025-12-31' }, status: 'requested', overBudget: false },
  }
  events.push({ actor: 'teamlead-1', event: created }, { actor: 'finance-2', event: { type: 'CommitmentApproved', data: key } })
  // Invoiced, but something left, so that the commitment stays open.
  const invoiced = commitment.invoiced < amount ? commitment.invoiced : amount - 1n
  if (invoiced > 0n) {
    events.push({ actor: 'teamlead-1', event: { type: 'InvoiceBooked', data: { ...key, invoiceNo: 'R-0', amountCents: Number(invoiced), invoiceDate: '2025-03-31' } } })
  }
  return events
}

/** `raised`: the balance the command raises, which a 'limit' amount takes to the limit. */
function resolveAmount(
  plan: AmountPlan,
  state: BudgetState,
  line: Line,
  commitmentId: string | undefined,
  policy: BudgetPolicy,
  raised: Cents,
): Cents {
  const commitment = commitmentId === undefined ? undefined : state.commitments.get(commitmentId)
  switch (plan.kind) {
    case 'limit':
      return MAX_BALANCE_CENTS + plan.offset - raised
    case 'threshold':
      // (an amendment takes the commitment to this amount instead: see toCommand)
      return policy.fourEyesThresholdCents + plan.offset
    case 'fixed':
      return plan.cents
    case 'available':
      return availableCents(state.lines[line])
    case 'beyond-available':
      return availableCents(state.lines[line]) + 1n
    case 'remaining':
      return commitment ? remainingCents(commitment) : 1n
    case 'beyond-remaining':
      return commitment ? remainingCents(commitment) + 1n : 2n
  }
}

const nth = (ids: Iterable<string>, n: number, unknown: string): string => [...ids][n] ?? unknown

function toApprover(plan: ApproverPlan, state: BudgetState, commitmentId: string): Approver {
  if (plan.kind === 'pool') return APPROVERS[plan.n] as Approver
  const commitment = state.commitments.get(commitmentId)
  return { sub: commitment?.requestedBy ?? commitment?.createdBy ?? 'teamlead-1', role: plan.role }
}

function toCommand(plan: Plan, state: BudgetState, policy: BudgetPolicy): BudgetCommand {
  const resolve = (amount: AmountPlan, line: Line, commitmentId: string | undefined, raised: Cents) =>
    resolveAmount(amount, state, line, commitmentId, policy, raised)
  const balance = (line: Line) => state.lines[line]
  switch (plan.type) {
    case 'AllocateBudget': {
      const amountCents = resolve(plan.amount, plan.line, undefined, balance(plan.line).allocatedCents)
      return { type: plan.type, line: plan.line, amountCents, decisionRef: 'JHA' }
    }
    case 'AdjustBudget': {
      const amount = resolve(plan.amount, plan.line, undefined, balance(plan.line).allocatedCents)
      const negative = plan.negative && plan.amount.kind !== 'limit'
      return { type: plan.type, line: plan.line, amountCents: negative ? -amount : amount, reason: 'adjust' }
    }
    case 'TransferBudget':
      return {
        type: plan.type,
        fromLine: plan.fromLine,
        toLine: plan.toLine,
        amountCents: resolve(plan.amount, plan.fromLine, undefined, balance(plan.toLine).allocatedCents),
        reason: 'transfer',
      }
    case 'CreateCommitment': {
      const id = uuid(plan.commitment)
      return {
        type: plan.type,
        commitmentId: id,
        line: plan.line,
        provider: 'traeger',
        caseRef: `case-${plan.commitment}`,
        amountCents: resolve(plan.amount, plan.line, undefined, balance(plan.line).committedCents),
        period: plan.periodReversed ? { from: '2025-07-01', to: '2025-06-30' } : { from: '2025-01-01', to: '2025-12-31' },
        ...(plan.justified ? { overBudgetJustification: JUSTIFICATION } : {}),
      }
    }
    case 'AmendCommitment': {
      const open = [...state.commitments.values()].filter((c) => c.status === 'open').map((c) => c.id)
      const id =
        plan.amongOpen && open.length > 0
          ? (open[plan.reference % open.length] as string)
          : nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference))
      const line = state.commitments.get(id)?.line ?? 'ambulatory'
      const current = state.commitments.get(id)?.amountCents
      const committed = balance(line).committedCents
      // 'limit': what takes the commitment's amount or its line's committed amount, whichever is higher, to the limit.
      const amount = resolve(plan.amount, line, id, current !== undefined && current > committed ? current : committed)
      // 'threshold': the amendment that takes the commitment to the threshold (plus offset).
      const amountCents =
        plan.amount.kind === 'threshold' && current !== undefined
          ? amount - current
          : plan.negative && plan.amount.kind !== 'limit'
            ? -amount
            : amount
      return {
        type: plan.type,
        commitmentId: id,
        amountCents,
        reason: 'amend',
        ...(plan.justified ? { overBudgetJustification: JUSTIFICATION } : {}),
      }
    }
    case 'DecideApproval': {
      const waiting = [...state.commitments.values()].filter((c) => c.status === 'requested').map((c) => c.id)
      const id =
        plan.amongRequested && waiting.length > 0
          ? (waiting[plan.reference % waiting.length] as string)
          : nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference))
      return {
        type: plan.type,
        commitmentId: id,
        decision: plan.decision,
        approver: toApprover(plan.approver, state, id),
        ...(plan.comment ? { comment: 'Kollegiale Beratung' } : {}),
      }
    }
    case 'BookInvoice': {
      const id = nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference))
      const line = state.commitments.get(id)?.line ?? 'ambulatory'
      return {
        type: plan.type,
        commitmentId: id,
        invoiceNo: plan.invoiceNo,
        amountCents: resolve(plan.amount, line, id, balance(line).spentCents),
        invoiceDate: '2025-03-31',
      }
    }
    case 'ReleaseCommitment':
      return { type: plan.type, commitmentId: nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference)), reason: 'release' }
    case 'RecordSpending':
      return {
        type: plan.type,
        spendingId: uuid(100 + plan.spending),
        amountCents: resolve(plan.amount, 'flexible', undefined, balance('flexible').spentCents),
        purpose: 'group offer',
        receiptRef: 'receipt',
        date: '2025-03-01',
      }
    case 'ReverseSpending':
      return { type: plan.type, spendingId: nth(state.spendings.keys(), plan.reference, uuid(190 + plan.reference)), reason: 'reverse' }
  }
}

// ---------------------------------------------------------------------------------------------
// An independent recomputation of the balances from the accepted events (DOMAIN.md's formulas).

interface ModelBalance {
  allocated: Cents
  committed: Cents
  spent: Cents
  available: Cents
}

function recompute(events: readonly BudgetEvent[]): Record<Line, ModelBalance> {
  const allocated: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  const spent: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  const commitments = new Map<string, { line: Line; amount: Cents; invoiced: Cents; released: Cents }>()
  const lineOf = (id: string) => {
    const commitment = commitments.get(id)
    if (!commitment) throw new Error(`accepted event refers to unknown commitment ${id}`)
    return commitment
  }
  for (const event of events) {
    switch (event.type) {
      case 'BudgetAllocated':
      case 'BudgetAdjusted':
        allocated[event.data.line] += BigInt(event.data.amountCents)
        break
      case 'BudgetTransferred':
        allocated[event.data.fromLine] -= BigInt(event.data.amountCents)
        allocated[event.data.toLine] += BigInt(event.data.amountCents)
        break
      case 'CommitmentCreated':
        commitments.set(event.data.commitmentId, {
          line: event.data.line,
          amount: BigInt(event.data.amountCents),
          invoiced: 0n,
          released: 0n,
        })
        break
      case 'CommitmentAmended':
        lineOf(event.data.commitmentId).amount += BigInt(event.data.amountCents)
        break
      case 'InvoiceBooked': {
        const commitment = lineOf(event.data.commitmentId)
        commitment.invoiced += BigInt(event.data.amountCents)
        spent[commitment.line] += BigInt(event.data.amountCents)
        break
      }
      case 'CommitmentReleased':
        lineOf(event.data.commitmentId).released += BigInt(event.data.amountCents)
        break
      case 'CommitmentRejected':
        // Rejected outright: the reservation is released; else the unapproved increase is withdrawn.
        if (event.data.status === 'rejected') lineOf(event.data.commitmentId).released += BigInt(event.data.amountCents)
        else lineOf(event.data.commitmentId).amount -= BigInt(event.data.amountCents)
        break
      case 'CommitmentApprovalRequested':
      case 'CommitmentApproved':
        lineOf(event.data.commitmentId)
        break
      case 'SpendingRecorded':
        spent.flexible += BigInt(event.data.amountCents)
        break
      case 'SpendingReversed':
        spent.flexible -= BigInt(event.data.amountCents)
        break
    }
  }
  const committed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of commitments.values()) {
    committed[commitment.line] += commitment.amount - commitment.invoiced - commitment.released
  }
  const balance = (line: Line): ModelBalance => ({
    allocated: allocated[line],
    committed: committed[line],
    spent: spent[line],
    available: allocated[line] - committed[line] - spent[line],
  })
  return { ambulatory: balance('ambulatory'), flexible: balance('flexible') }
}

const balancesOf = (state: BudgetState): Record<Line, ModelBalance> => {
  const balance = (line: Line): ModelBalance => ({
    allocated: state.lines[line].allocatedCents,
    committed: state.lines[line].committedCents,
    spent: state.lines[line].spentCents,
    available: availableCents(state.lines[line]),
  })
  return { ambulatory: balance('ambulatory'), flexible: balance('flexible') }
}

/**
 * Whether a command, should every other rule let it pass, takes a balance beyond the limit: the
 * formulas of DOMAIN.md applied to what the command moves, on the recomputed balances and the
 * model's commitments. Releases, decisions and reversals only give money back: never beyond.
 */
function takesBeyondLimit(command: BudgetCommand, balances: Record<Line, ModelBalance>, shadow: Shadow): boolean {
  const lines = { ambulatory: { ...balances.ambulatory }, flexible: { ...balances.flexible } }
  const commitmentSums: Cents[] = []
  switch (command.type) {
    case 'AllocateBudget':
    case 'AdjustBudget':
      lines[command.line].allocated += command.amountCents
      break
    case 'TransferBudget':
      lines[command.fromLine].allocated -= command.amountCents
      lines[command.toLine].allocated += command.amountCents
      break
    case 'CreateCommitment':
      lines[command.line].committed += command.amountCents
      commitmentSums.push(command.amountCents)
      break
    case 'AmendCommitment': {
      const commitment = shadow.commitments.get(command.commitmentId)
      if (!commitment) return false
      lines[commitment.line].committed += command.amountCents
      commitmentSums.push(commitment.amount + command.amountCents)
      break
    }
    case 'BookInvoice': {
      const commitment = shadow.commitments.get(command.commitmentId)
      if (!commitment) return false
      lines[commitment.line].committed -= command.amountCents
      lines[commitment.line].spent += command.amountCents
      commitmentSums.push(commitment.invoiced + command.amountCents)
      break
    }
    case 'RecordSpending':
      lines.flexible.spent += command.amountCents
      break
    default:
      return false
  }
  const beyond = (cents: Cents) => cents > MAX_BALANCE_CENTS || cents < -MAX_BALANCE_CENTS
  return (
    LINES.some((line) => {
      const { allocated, committed, spent } = lines[line]
      return [allocated, committed, spent, allocated - committed - spent].some(beyond)
    }) || commitmentSums.some(beyond)
  )
}

// ---------------------------------------------------------------------------------------------
// An independent model of rule 6, kept from the commands, their actors and the events alone: it
// never reads the decider's requestedBy, approvedTerms or lastDecision, and it says beforehand
// what the decider must answer.

interface ShadowCommitment {
  line: Line
  status: CommitmentStatus
  amount: Cents
  invoiced: Cents
  released: Cents
  overBudget: boolean
  /** Who asked for what now waits: they may withdraw it (a rejection), never approve it. */
  asker: string | undefined
  /**
   * What a rejection goes back to: the amount last agreed to, by a second person or, for an open
   * commitment below the threshold, as it changed; 0 when a second person never agreed to any amount.
   */
  agreed: Cents
  /** The over-budget marking of the terms last agreed to. */
  agreedOverBudget: boolean
  /** The largest amount a second person ever approved. */
  approvedCeiling: Cents
  /** An over-budget request that finance has not approved yet. */
  overBudgetUnapproved: boolean
}

type Expected = { kind: 'accepted' } | { kind: 'refused'; code: DomainErrorCode }

const withinSingleAmount = (cents: Cents) => cents <= MAX_AMOUNT_CENTS && cents >= -MAX_AMOUNT_CENTS

/** What the model expects of a DecideApproval, and which path of rules 1 and 6 leads there. */
interface ExpectedDecision {
  expected: Expected
  path: string
}

class Shadow {
  readonly commitments = new Map<string, ShadowCommitment>()
  /** The commitment whose CommitmentApprovalRequested must be followed by its CommitmentAmended. */
  private requestPending: string | undefined

  /** What DecideApproval must answer, from rule 6 (four eyes) and rule 1 (finance decides over budget). */
  expectDecision(command: Extract<BudgetCommand, { type: 'DecideApproval' }>): ExpectedDecision {
    const refused = (code: DomainErrorCode, path: string): ExpectedDecision => ({ expected: { kind: 'refused', code }, path })
    const accepted = (path: string): ExpectedDecision => ({ expected: { kind: 'accepted' }, path })
    const commitment = this.commitments.get(command.commitmentId)
    if (!commitment) return refused('not-found', 'not-found')
    if (commitment.status !== 'requested') return refused('conflict', 'not-waiting')
    const { role, sub } = command.approver
    const asker = commitment.asker === sub
    // The role first: an auditor never decides, not even on what they asked for.
    if (role !== 'finance' && role !== 'teamlead') return refused('forbidden', asker ? 'forbidden:role-of-asker' : 'forbidden:role')
    const scope = commitment.agreed === 0n ? 'whole' : 'increase'
    if (asker) {
      // A withdrawal only frees funds, so the asker may do it, over budget and as a team lead too.
      if (command.decision === 'approve') return refused('forbidden', 'forbidden:asker-approves')
      return accepted(commitment.overBudget && role !== 'finance' ? `withdrawn:${scope}:over-budget-by-teamlead` : `withdrawn:${scope}`)
    }
    if (commitment.overBudget && role !== 'finance') return refused('forbidden', 'forbidden:over-budget')
    const over = commitment.overBudget ? ':over-budget' : ''
    return accepted(command.decision === 'approve' ? `approved${over}` : `rejected:${scope}${over}`)
  }

  /** What AmendCommitment must answer where rule 6 decides it: nothing that waits changes. */
  expectAmendment(command: Extract<BudgetCommand, { type: 'AmendCommitment' }>): Expected | undefined {
    // (An amount beyond the largest single amount is invalid before any rule of a commitment is asked.)
    if (!withinSingleAmount(command.amountCents)) return { kind: 'refused', code: 'validation' }
    return this.commitments.get(command.commitmentId)?.status === 'requested'
      ? { kind: 'refused', code: 'approval-required' }
      : undefined
  }

  /** Folds one accepted event; throws where the event breaks what the model expects. */
  apply(event: BudgetEvent, actor: string, threshold: Cents): void {
    const pending = this.requestPending
    this.requestPending = undefined
    if (pending !== undefined && !(event.type === 'CommitmentAmended' && event.data.commitmentId === pending)) {
      throw new Error(`a CommitmentApprovalRequested of ${pending} was followed by ${event.type}, not by its amendment`)
    }
    if (event.type === 'CommitmentCreated') {
      const amount = BigInt(event.data.amountCents)
      const requested = event.data.status === 'requested'
      this.commitments.set(event.data.commitmentId, {
        line: event.data.line,
        status: event.data.status,
        amount,
        invoiced: 0n,
        released: 0n,
        overBudget: event.data.overBudget,
        asker: requested ? actor : undefined,
        agreed: requested ? 0n : amount,
        agreedOverBudget: false,
        approvedCeiling: 0n,
        overBudgetUnapproved: event.data.overBudget,
      })
      return
    }
    if (!('commitmentId' in event.data)) return
    const commitment = this.commitments.get(event.data.commitmentId)
    if (!commitment) throw new Error(`${event.type} of an unknown commitment`)
    switch (event.type) {
      case 'CommitmentApprovalRequested':
        // Only an open commitment is sent (back) to approval: what waits does not change.
        if (commitment.status !== 'open') throw new Error(`an approval was requested for a ${commitment.status} commitment`)
        commitment.asker = actor
        commitment.status = 'requested'
        commitment.overBudget = event.data.overBudget
        this.requestPending = event.data.commitmentId
        break
      case 'CommitmentAmended':
        // Amended while it waits only as the increase its request is about; else open, and
        // an open commitment's amount is agreed to as it changes.
        if (commitment.status === 'requested' && pending !== event.data.commitmentId) {
          throw new Error('a commitment that waits for approval was amended')
        }
        commitment.amount += BigInt(event.data.amountCents)
        if (commitment.status !== 'requested') commitment.agreed = commitment.amount
        break
      case 'CommitmentApproved':
        commitment.status = 'open'
        commitment.asker = undefined
        commitment.agreed = commitment.amount
        commitment.agreedOverBudget = commitment.overBudget
        if (commitment.amount > commitment.approvedCeiling) commitment.approvedCeiling = commitment.amount
        commitment.overBudgetUnapproved = false
        break
      case 'CommitmentRejected': {
        const amount = BigInt(event.data.amountCents)
        const neverAgreed = commitment.agreed === 0n
        // A waiting commitment took no invoice since its terms were agreed, so something of them is left.
        if (!neverAgreed && commitment.agreed <= commitment.invoiced + commitment.released) {
          throw new Error(`a waiting commitment has nothing left of the ${commitment.agreed} cents agreed to`)
        }
        const expected = neverAgreed
          ? { amount: commitment.amount - commitment.invoiced - commitment.released, status: 'rejected', overBudget: commitment.overBudget }
          : { amount: commitment.amount - commitment.agreed, status: 'open', overBudget: commitment.agreedOverBudget }
        const actual = { amount, status: event.data.status, overBudget: event.data.overBudget }
        if (stringify(actual) !== stringify(expected)) {
          throw new Error(`the rejection ${stringify(actual)} is not what was asked for since the last agreement ${stringify(expected)}`)
        }
        if (neverAgreed) commitment.released += amount
        else commitment.amount = commitment.agreed
        commitment.status = event.data.status
        commitment.overBudget = event.data.overBudget
        commitment.asker = undefined
        commitment.overBudgetUnapproved = false
        break
      }
      case 'InvoiceBooked':
        // Rule 6 from the outside: money flows only on what a second person has seen.
        if (commitment.status !== 'open') throw new Error(`an invoice was booked on a ${commitment.status} commitment`)
        if (commitment.amount >= threshold && commitment.amount > commitment.approvedCeiling) {
          throw new Error(`an invoice was booked on ${commitment.amount} cents, at or above the threshold, but only ${commitment.approvedCeiling} were ever approved`)
        }
        if (commitment.overBudget && commitment.overBudgetUnapproved) {
          throw new Error('an invoice was booked on an over-budget commitment that finance has not approved')
        }
        commitment.invoiced += BigInt(event.data.amountCents)
        break
      case 'CommitmentReleased':
        commitment.released += BigInt(event.data.amountCents)
        commitment.status = 'closed'
        commitment.asker = undefined
        break
    }
    // Rule 4: nothing left to invoice is closed.
    if (commitment.status !== 'rejected' && commitment.amount === commitment.invoiced + commitment.released) {
      commitment.status = 'closed'
      commitment.asker = undefined
    }
    // An open commitment holds only agreed terms (the model's own rule-6 invariant).
    if (commitment.status === 'open' && commitment.agreed !== commitment.amount) {
      throw new Error(`an open commitment of ${commitment.amount} cents has only ${commitment.agreed} agreed to`)
    }
  }

  /** After the events of one command: an approval request came with its amendment. */
  endOfCommand(): void {
    if (this.requestPending !== undefined) throw new Error(`the approval request of ${this.requestPending} came without its amendment`)
  }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence and checking the properties after every command.

const fail = (message: string, command: BudgetCommand): never => {
  throw new Error(`${message}\n  command: ${JSON.stringify(command, (_key, value) => (typeof value === 'bigint' ? `${value}n` : value))}`)
}

/** What the runs accepted and rejected, so that the test can show the generator reaches every rule. */
const accepted = new Map<string, number>()
const rejected = new Map<string, number>()
const produced = new Map<string, number>()
/** Which path of rules 1 and 6 each DecideApproval took, as the model classifies it. */
const decisionPaths = new Map<string, number>()
let overBudgetCommitments = 0
/** Accepted commands after which some balance stood exactly at the limit. */
let atLimit = 0
const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)

/** The actor who records the events of a command. */
function actorOf(plan: Plan, command: BudgetCommand): string | undefined {
  if (command.type === 'DecideApproval') return command.approver.sub
  if (plan.type === 'CreateCommitment' || plan.type === 'AmendCommitment') return WRITERS[plan.actor]?.sub
  return undefined
}

function run({ threshold, headStart, plans }: Sequence): void {
  const policy: BudgetPolicy = { fourEyesThresholdCents: threshold }
  const shadow = new Shadow()
  let state = initialBudgetState(BUDGET_KEY)
  const history: BudgetEvent[] = []
  // A run near the limit starts from its history, folded as it is.
  for (const { actor, event } of headStartEvents(headStart)) {
    const context = contextBy(actor)
    assertStorable(event)
    shadow.apply(event, context.actorSub, threshold)
    state = evolveBudget(state, event, context)
    assertBudgetInvariants(state)
    history.push(event)
  }
  for (const plan of plans) {
    const command = toCommand(plan, state, policy)
    const context = contextBy(actorOf(plan, command))
    const before = state
    const snapshot = plainCopy(state)
    const result = decideBudget(state, command, policy)

    const answer: Expected = result instanceof DomainError ? { kind: 'refused', code: result.code } : { kind: 'accepted' }
    // (m) the limit on balances as the model sees it: a command refused with limit-exceeded takes
    // a balance beyond the limit; an accepted one never does.
    const beyondLimit = takesBeyondLimit(command, recompute(history), shadow)
    if (answer.kind === 'refused' && answer.code === 'limit-exceeded' && !beyondLimit) {
      fail('refused with limit-exceeded, but the model sees every balance within the limit', command)
    }
    if (answer.kind === 'accepted' && beyondLimit) fail('accepted, but the model sees a balance beyond the limit', command)
    // (f) rule 6 decided as the model says: who may approve, who may reject or withdraw, and only what waits.
    if (command.type === 'DecideApproval') {
      const { expected, path } = shadow.expectDecision(command)
      if (stringify(answer) !== stringify(expected)) {
        fail(`DecideApproval answered ${stringify(answer)}, the model expects ${stringify(expected)} (${path})`, command)
      }
      count(decisionPaths, path)
    }
    // (l) a commitment that waits for approval does not change: an amendment is refused.
    if (command.type === 'AmendCommitment') {
      const expected = shadow.expectAmendment(command)
      if (expected !== undefined && stringify(answer) !== stringify(expected)) {
        fail(`an amendment of a waiting commitment answered ${stringify(answer)}, the model expects ${stringify(expected)}`, command)
      }
    }
    // (g) a commitment that waits for approval takes no invoice.
    if (
      command.type === 'BookInvoice' &&
      withinSingleAmount(command.amountCents) &&
      shadow.commitments.get(command.commitmentId)?.status === 'requested'
    ) {
      if (!(result instanceof DomainError) || result.code !== 'approval-required') {
        fail('an invoice on a requested commitment was not refused with approval-required', command)
      }
    }

    if (result instanceof DomainError) {
      count(rejected, `${command.type}:${result.code}`)
      // (e) a rejected command writes nothing and leaves the state as it was: decide is pure.
      if (!deepEqual(plainCopy(state), snapshot)) fail(`the rejection (${result.code}) changed the state`, command)
      const again = decideBudget(state, command, policy)
      if (!(again instanceof DomainError) || again.code !== result.code) fail('decide is not deterministic', command)
      continue
    }

    count(accepted, command.type)
    if (result.length === 0) fail('an accepted command returned no events', command)

    // (h) what waits for a second person: a new commitment at or above the threshold or beyond
    // its line; an increase beyond the line or to an amount at or above the threshold.
    if (command.type === 'CreateCommitment') {
      const overBudget = command.amountCents > availableCents(before.lines[command.line])
      const mustWait = overBudget || command.amountCents >= threshold
      const created = result[0]
      if (created?.type !== 'CommitmentCreated' || (created.data.status === 'requested') !== mustWait || created.data.overBudget !== overBudget) {
        fail(`a commitment of ${command.amountCents} (threshold ${threshold}, over budget: ${overBudget}) was created as ${stringify(created?.data)}`, command)
      }
    }
    if (command.type === 'AmendCommitment') {
      const commitment = before.commitments.get(command.commitmentId)
      if (!commitment) return fail('an amendment of an unknown commitment was accepted', command)
      if (commitment.status !== 'open') fail(`an amendment of a ${commitment.status} commitment was accepted`, command)
      const increase = command.amountCents > 0n
      const overBudget = increase && command.amountCents > availableCents(before.lines[commitment.line])
      const mustAsk = increase && (overBudget || commitment.amountCents + command.amountCents >= threshold)
      const types = result.map((event) => event.type)
      const expectedTypes = mustAsk ? ['CommitmentApprovalRequested', 'CommitmentAmended'] : ['CommitmentAmended']
      if (stringify(types) !== stringify(expectedTypes)) fail(`the amendment produced ${types.join(', ')}, expected ${expectedTypes.join(', ')}`, command)
      const asked = result[0]
      if (overBudget && (asked?.type !== 'CommitmentApprovalRequested' || !asked.data.overBudget)) {
        fail('an increase beyond the line was not marked over budget', command)
      }
      if (overBudget) {
        const tracked = shadow.commitments.get(command.commitmentId)
        if (tracked) tracked.overBudgetUnapproved = true
      }
    }

    for (const event of result) {
      try {
        assertStorable(event)
        shadow.apply(event, context.actorSub, threshold)
        state = evolveBudget(state, event, context)
        // (a) the ledger's own invariants hold after every event, also between the two events of an amendment.
        assertBudgetInvariants(state)
      } catch (error) {
        fail(String(error), command)
      }
      history.push(event)
      count(produced, event.type)
      if (event.type === 'CommitmentRejected') count(produced, `CommitmentRejected:${event.data.status}`)
      if (event.type === 'CommitmentApprovalRequested' && event.data.overBudget) count(produced, 'CommitmentApprovalRequested:overBudget')
      if (event.type === 'CommitmentCreated') count(produced, `CommitmentCreated:${event.data.status}`)
      if (event.type === 'InvoiceBooked') {
        const commitment = shadow.commitments.get(event.data.commitmentId)
        if (commitment && commitment.approvedCeiling > 0n) count(produced, 'InvoiceBooked:after-approval')
      }
    }
    try {
      shadow.endOfCommand()
      // (a') the check a write makes on what its events touched agrees with the sweep.
      assertBudgetChange(before, state, result)
    } catch (error) {
      fail(String(error), command)
    }

    // (e) also on success, decide and evolve never mutate the state they were given.
    if (!deepEqual(plainCopy(before), snapshot)) fail('the state before the command was mutated', command)

    // (b) the flexible line never goes below zero.
    if (availableCents(state.lines.flexible) < 0n) fail('the flexible line went below zero', command)

    // (c) only a justified (over-budget) ambulatory commitment or increase may lower a line below
    // zero, and it then waits for approval.
    for (const line of LINES) {
      const availableBefore = availableCents(before.lines[line])
      const availableAfter = availableCents(state.lines[line])
      if (availableAfter < 0n && availableAfter < availableBefore) {
        const overBudgetRequest =
          line === 'ambulatory' &&
          ((command.type === 'CreateCommitment' &&
            result.every((event) => event.type === 'CommitmentCreated' && event.data.overBudget && event.data.status === 'requested')) ||
            (command.type === 'AmendCommitment' &&
              result[0]?.type === 'CommitmentApprovalRequested' &&
              result[0].data.overBudget &&
              command.overBudgetJustification !== undefined))
        if (!overBudgetRequest) {
          fail(`${command.type} took the ${line} line from ${availableBefore} to ${availableAfter}`, command)
        }
        overBudgetCommitments += 1
      }
    }

    // (d) the balances are what DOMAIN.md's formulas give for the accepted events.
    const expected = recompute(history)
    const actual = balancesOf(state)
    if (!deepEqual(actual, expected)) {
      fail(`balances ${stringify(actual)} differ from the recomputation ${stringify(expected)}`, command)
    }

    // (n) no accepted command leaves a balance or sum beyond the limit: a line's allocated,
    // committed, spent and available amounts, a commitment's amount, invoiced and released.
    const sums = [
      ...LINES.flatMap((line) => Object.values(expected[line])),
      ...[...state.commitments.values()].flatMap((c) => [c.amountCents, c.invoicedCents, c.releasedCents]),
    ]
    if (sums.some((cents) => cents > MAX_BALANCE_CENTS || cents < -MAX_BALANCE_CENTS)) {
      fail(`a balance went beyond the limit: ${stringify(expected)}`, command)
    }
    if (sums.some((cents) => cents === MAX_BALANCE_CENTS || cents === -MAX_BALANCE_CENTS)) atLimit += 1

    if (shadow.commitments.size !== state.commitments.size) fail('the model and the state know different commitments', command)
    for (const commitment of state.commitments.values()) {
      // (i) the decider's state agrees with the model: status, amounts, marking and who asked; and
      // (the decider's own invariant, seen from outside) someone asked exactly while it waits.
      const model = shadow.commitments.get(commitment.id)
      const seen = {
        status: commitment.status,
        amount: commitment.amountCents,
        invoiced: commitment.invoicedCents,
        released: commitment.releasedCents,
        overBudget: commitment.overBudget,
        asker: commitment.requestedBy ?? null,
      }
      const modelled = model && {
        status: model.status,
        amount: model.amount,
        invoiced: model.invoiced,
        released: model.released,
        overBudget: model.overBudget,
        asker: model.asker ?? null,
      }
      if (stringify(seen) !== stringify(modelled)) fail(`commitment ${commitment.id} is ${stringify(seen)}, the model says ${stringify(modelled)}`, command)
      if ((commitment.status === 'requested') !== (commitment.requestedBy !== undefined)) {
        fail(`commitment ${commitment.id} is ${commitment.status} with requester ${commitment.requestedBy}`, command)
      }
      // (j) approved is never more than committed, and an open commitment holds nothing unapproved:
      // its current terms are the ones agreed to.
      if (commitment.approvedTerms.amountCents > commitment.amountCents) fail(`commitment ${commitment.id} has more approved than its amount`, command)
      if (commitment.status === 'open') {
        const terms = { amountCents: commitment.amountCents, overBudget: commitment.overBudget, overBudgetJustification: commitment.overBudgetJustification }
        if (!deepEqual(commitment.approvedTerms, terms)) {
          fail(`open commitment ${commitment.id} has unapproved terms ${stringify(terms)}; approved are ${stringify(commitment.approvedTerms)}`, command)
        }
      }
      // (k) the last decision is recorded by the one who decided; an approval never by the one who
      // asked, whose own rejection is a withdrawal: it only frees funds, never adds to them.
      if (command.type === 'DecideApproval' && command.commitmentId === commitment.id) {
        if (commitment.lastDecision?.decision !== command.decision || commitment.lastDecision.by !== command.approver.sub) {
          fail(`the decision on ${commitment.id} is recorded as ${stringify(commitment.lastDecision)}`, command)
        }
        const previous = before.commitments.get(commitment.id)
        if (previous?.requestedBy === command.approver.sub) {
          if (command.decision === 'approve') fail(`${command.approver.sub} approved a commitment they asked for`, command)
          if (remainingCents(commitment) > remainingCents(previous) || commitment.amountCents > previous.amountCents) {
            fail(`${command.approver.sub} withdrew their request on ${commitment.id} and it reserves more than before`, command)
          }
        }
      }
    }
  }
}

const stringify = (value: unknown) => JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v))

/** Structural equality for plain data, Maps and bigints (what BudgetState holds). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false
    for (const [key, value] of a) if (!b.has(key) || !deepEqual(value, b.get(key))) return false
    return true
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a as object)
  const keysB = Object.keys(b as object)
  if (keysA.length !== keysB.length) return false
  return keysA.every((key) => deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}

/**
 * One sequence that surely takes every path of rules 1 and 6 through an amendment and a decision,
 * besides the random ones (some paths need four or five commands in a row): an increase sent back
 * to approval, refused changes while it waits, its requester refused to approve and as an auditor,
 * then withdrawing it; the same increase rejected, approved, and over budget withdrawn by the team
 * lead who asked, rejected and approved by finance; new requests rejected and withdrawn, plain and
 * over budget.
 */
const amend = (amount: AmountPlan, actor: number, justified = false): Plan => ({
  type: 'AmendCommitment', reference: 0, amongOpen: true, amount, negative: false, justified, actor,
})
const decide = (decision: 'approve' | 'reject', approver: ApproverPlan, reference = 0, amongRequested = true): Plan => ({
  type: 'DecideApproval', reference, amongRequested, decision, approver, comment: false,
})
const create = (commitment: number, line: Line, amount: AmountPlan, actor: number, justified = false): Plan => ({
  type: 'CreateCommitment', commitment, line, amount, justified, periodReversed: false, actor,
})
const fixed = (cents: Cents): AmountPlan => ({ kind: 'fixed', cents })
const requester = (role: Approver['role']): ApproverPlan => ({ kind: 'requester', role })
const pool = (n: number): ApproverPlan => ({ kind: 'pool', n })
const EVERY_PATH: Sequence = {
  threshold: 1_000_000n,
  headStart: undefined,
  plans: [
    { type: 'AllocateBudget', line: 'ambulatory', amount: fixed(5_000_000n) },
    { type: 'AllocateBudget', line: 'flexible', amount: fixed(1_000_000n) },
    create(1, 'ambulatory', fixed(500_000n), 0), // open: below the threshold
    { type: 'BookInvoice', reference: 0, invoiceNo: 'R-1', amount: fixed(100_000n) },
    { type: 'BookInvoice', reference: 0, invoiceNo: 'R-1', amount: fixed(100n) }, // conflict
    amend(fixed(600_000n), 1), // to the threshold: teamlead-2 asks
    { type: 'AmendCommitment', reference: 0, amongOpen: false, amount: fixed(100n), negative: true, justified: false, actor: 0 }, // approval-required
    { type: 'AmendCommitment', reference: 0, amongOpen: false, amount: fixed(100n), negative: false, justified: true, actor: 1 }, // approval-required
    decide('approve', requester('teamlead')), // forbidden:asker-approves
    decide('reject', requester('auditor')), // forbidden:role-of-asker
    decide('reject', pool(4)), // forbidden:role
    decide('reject', requester('teamlead')), // withdrawn:increase
    amend(fixed(600_000n), 1),
    decide('reject', pool(0)), // rejected:increase
    amend(fixed(600_000n), 2),
    decide('approve', pool(1)), // approved
    { type: 'BookInvoice', reference: 0, invoiceNo: 'R-2', amount: fixed(100n) }, // after approval
    amend({ kind: 'beyond-available' }, 1, true), // over budget: teamlead-2 asks
    decide('approve', pool(0)), // forbidden:over-budget
    decide('reject', requester('teamlead')), // withdrawn:increase:over-budget-by-teamlead
    amend({ kind: 'beyond-available' }, 1, true),
    decide('reject', pool(3)), // rejected:increase:over-budget
    amend({ kind: 'beyond-available' }, 0, true),
    decide('approve', pool(3)), // approved:over-budget
    create(2, 'flexible', { kind: 'threshold', offset: 0n }, 0),
    decide('reject', pool(1)), // rejected:whole
    create(3, 'flexible', { kind: 'threshold', offset: 0n }, 0),
    decide('reject', requester('finance')), // withdrawn:whole
    create(4, 'ambulatory', fixed(100_000n), 1, true), // over budget: the line is below zero
    decide('reject', requester('teamlead')), // withdrawn:whole:over-budget-by-teamlead
    create(5, 'ambulatory', fixed(100_000n), 0, true),
    decide('reject', pool(2)), // rejected:whole:over-budget
    decide('approve', pool(2), 0, false), // not-waiting
    decide('approve', pool(2), 7, false), // not-found
  ],
}

/**
 * One sequence that surely meets the limit on every kind of balance a command raises, besides the
 * random runs near it: the ambulatory line allocated to the limit and committed but 1.00 to a
 * large approved commitment; the flexible line 1.00 below the limit. Every command aims at the
 * limit plus one cent and is refused, except the allocation and the amendment that take their
 * balance exactly to it.
 */
const toLimit = (offset: Cents): AmountPlan => ({ kind: 'limit', offset })
const AT_THE_LIMIT: Sequence = {
  threshold: 1_000_000n,
  headStart: { gaps: { ambulatory: 0n, flexible: 100n }, commitment: { id: 1, unbound: 100n, invoiced: 0n } },
  plans: [
    { type: 'AllocateBudget', line: 'ambulatory', amount: toLimit(1n) }, // allocated LIMIT + 0.01
    { type: 'AllocateBudget', line: 'flexible', amount: toLimit(0n) }, // allocated exactly LIMIT
    { type: 'AdjustBudget', line: 'flexible', amount: toLimit(1n), negative: false },
    { type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amount: toLimit(1n) },
    create(2, 'ambulatory', toLimit(1n), 0, true), // over budget by 0.01, committed LIMIT + 0.01
    amend(toLimit(1n), 0, true), // the commitment's amount and the line's committed amount LIMIT + 0.01
    amend(toLimit(0n), 0), // exactly LIMIT, within the line: waits for approval
  ],
}

t.test('random command sequences keep the ledger consistent', async (t) => {
  fc.assert(fc.property(sequenceArb, (sequence) => run(sequence)), {
    numRuns: NUM_RUNS,
    examples: [[EVERY_PATH], [AT_THE_LIMIT]],
  })
  t.pass(
    `${NUM_RUNS} sequences hold (a) invariants after every event, (b) flexible ≥ 0, (c) only over-budget ` +
      'requests go below zero, (d) balances follow from the events, (e) rejections change nothing, ' +
      '(f) approvals only by a second person in the right role, withdrawals by the requester, ' +
      '(g) no invoice while requested, (h) what must wait waits, (i) the state agrees with an ' +
      'independent model of rule 6, (j) open commitments hold only approved terms, (k) decisions are ' +
      'recorded by who decided, (l) what waits does not change, (m) refused at the limit exactly when a ' +
      'balance would pass it, (n) no balance beyond the limit',
  )
})

t.test('the generated sequences reach every rule', async (t) => {
  // Guards against a generator that silently stops exercising the interesting cases.
  const commandTypes = ['AllocateBudget', 'AdjustBudget', 'TransferBudget', 'CreateCommitment', 'AmendCommitment', 'DecideApproval', 'BookInvoice', 'ReleaseCommitment', 'RecordSpending', 'ReverseSpending']
  for (const type of commandTypes) t.ok((accepted.get(type) ?? 0) > 0, `some ${type} commands were accepted (${accepted.get(type) ?? 0})`)
  const rejections = [
    'AllocateBudget:validation',
    'AdjustBudget:insufficient-funds',
    'AdjustBudget:not-found',
    'TransferBudget:validation',
    'TransferBudget:insufficient-funds',
    'CreateCommitment:conflict',
    'CreateCommitment:validation',
    'CreateCommitment:insufficient-funds',
    'AmendCommitment:insufficient-funds',
    'AmendCommitment:exceeds-commitment',
    'AmendCommitment:commitment-closed',
    'AmendCommitment:not-found',
    'AmendCommitment:approval-required',
    'BookInvoice:exceeds-commitment',
    'BookInvoice:conflict',
    'BookInvoice:approval-required',
    'BookInvoice:commitment-closed',
    'BookInvoice:not-found',
    'DecideApproval:conflict',
    'DecideApproval:not-found',
    'DecideApproval:forbidden',
    'ReleaseCommitment:commitment-closed',
    'RecordSpending:insufficient-funds',
    'RecordSpending:conflict',
    'ReverseSpending:conflict',
    'ReverseSpending:not-found',
  ]
  for (const key of rejections) t.ok((rejected.get(key) ?? 0) > 0, `some ${key} rejections (${rejected.get(key) ?? 0})`)
  t.ok(overBudgetCommitments > 0, `some over-budget commitments took the ambulatory line below zero (${overBudgetCommitments})`)
  // The limit on balances: reached, refused one cent beyond, accepted exactly at it.
  for (const type of ['AllocateBudget', 'AdjustBudget', 'TransferBudget', 'CreateCommitment', 'AmendCommitment']) {
    t.ok((rejected.get(`${type}:limit-exceeded`) ?? 0) > 0, `some ${type}:limit-exceeded rejections (${rejected.get(`${type}:limit-exceeded`) ?? 0})`)
  }
  t.ok(atLimit > 0, `some accepted commands left a balance exactly at the limit (${atLimit})`)
  const events = [
    'CommitmentCreated:open',
    'CommitmentCreated:requested',
    'CommitmentApprovalRequested',
    'CommitmentApprovalRequested:overBudget',
    'CommitmentApproved',
    'CommitmentRejected:rejected',
    'CommitmentRejected:open',
    'InvoiceBooked:after-approval',
  ]
  for (const key of events) t.ok((produced.get(key) ?? 0) > 0, `some ${key} events (${produced.get(key) ?? 0})`)
  // Every path of rules 1 and 6 through a DecideApproval, as the model tells them apart.
  const paths = [
    'not-found',
    'not-waiting',
    'forbidden:role',
    'forbidden:role-of-asker',
    'forbidden:asker-approves',
    'forbidden:over-budget',
    'approved',
    'approved:over-budget',
    'rejected:whole',
    'rejected:whole:over-budget',
    'rejected:increase',
    'rejected:increase:over-budget',
    'withdrawn:whole',
    'withdrawn:whole:over-budget-by-teamlead',
    'withdrawn:increase',
    'withdrawn:increase:over-budget-by-teamlead',
  ]
  for (const path of paths) t.ok((decisionPaths.get(path) ?? 0) > 0, `some decisions took the path ${path} (${decisionPaths.get(path) ?? 0})`)
  const unexpected = [...decisionPaths.keys()].filter((path) => !paths.includes(path))
  t.same(unexpected, [], 'no decision took a path the list does not name')
})

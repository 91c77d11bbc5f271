import fc from 'fast-check'
import t from 'tap'
import {
  assertBudgetInvariants,
  availableCents,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  remainingCents,
  type BudgetCommand,
  type BudgetState,
} from '../../src/domain/budget.js'
import { DomainError } from '../../src/domain/errors.js'
import { LINES, type BudgetEvent, type Line } from '../../src/domain/events.js'
import type { Cents } from '../../src/domain/money.js'
import { BUDGET_KEY, CONTEXT, assertStorable, uuid } from '../helpers/decider-spec.js'

/**
 * Model-based properties of the budget decider: random command sequences, each decided on the
 * state so far and, when accepted, folded in. Amounts are either fixed or taken from the state at
 * the moment the command is decided ("exactly what is available", "one cent more", "exactly the
 * remainder"), so that the boundaries of rules 1–3 are hit often.
 */

const NUM_RUNS = 300

// ---------------------------------------------------------------------------------------------
// Generated commands: a plan that is turned into a BudgetCommand against the current state.

type AmountPlan =
  | { kind: 'fixed'; cents: Cents }
  | { kind: 'available' } // exactly what the relevant line has available
  | { kind: 'beyond-available' } // one cent more than that
  | { kind: 'remaining' } // exactly the remainder of the referenced commitment
  | { kind: 'beyond-remaining' }

type Plan =
  | { type: 'AllocateBudget'; line: Line; amount: AmountPlan }
  | { type: 'AdjustBudget'; line: Line; amount: AmountPlan; negative: boolean }
  | { type: 'TransferBudget'; fromLine: Line; toLine: Line; amount: AmountPlan }
  | { type: 'CreateCommitment'; commitment: number; line: Line; amount: AmountPlan; justified: boolean; periodReversed: boolean }
  | { type: 'AmendCommitment'; reference: number; amount: AmountPlan; negative: boolean }
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
)
/** A new commitment or spending takes one of a few ids, so that ids collide now and then. */
const commitmentArb = fc.integer({ min: 1, max: COMMITMENT_IDS })
const spendingArb = fc.integer({ min: 1, max: SPENDING_IDS })
/**
 * A later command refers to the n-th commitment or spending that exists when it is decided, or,
 * when n is past the end, to one that does not exist.
 */
const referenceArb = fc.oneof({ weight: 3, arbitrary: fc.nat(2) }, { weight: 1, arbitrary: fc.nat(7) })

const allocationArb: fc.Arbitrary<Plan> = fc.record({
  type: fc.constant('AllocateBudget' as const),
  line: lineArb,
  amount: fc.oneof(
    { weight: 4, arbitrary: fc.bigInt({ min: 1n, max: 10_000_000n }).map((cents) => ({ kind: 'fixed', cents }) as const) },
    { weight: 1, arbitrary: amountArb },
  ),
})

const planArb: fc.Arbitrary<Plan> = fc.oneof(
  { weight: 2, arbitrary: allocationArb },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('AdjustBudget' as const), line: lineArb, amount: amountArb, negative: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('TransferBudget' as const), fromLine: lineArb, toLine: lineArb, amount: amountArb }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('CreateCommitment' as const),
      commitment: commitmentArb,
      line: lineArb,
      amount: amountArb,
      justified: fc.boolean(),
      periodReversed: fc.nat(9).map((n) => n === 0), // now and then a period that ends before it starts
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('AmendCommitment' as const),
      reference: referenceArb,
      amount: amountArb,
      negative: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('BookInvoice' as const),
      reference: referenceArb,
      invoiceNo: fc.constantFrom('R-1', 'R-2', 'R-3'),
      amount: amountArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ReleaseCommitment' as const), reference: referenceArb }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('RecordSpending' as const), spending: spendingArb, amount: amountArb }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('ReverseSpending' as const), reference: referenceArb }) },
)

/** A few allocations first, so that most sequences work on an existing budget. */
const sequenceArb = fc
  .tuple(fc.array(allocationArb, { maxLength: 3 }), fc.array(planArb, { minLength: 1, maxLength: 60, size: 'max' }))
  .map(([allocations, plans]) => [...allocations, ...plans])

function resolveAmount(plan: AmountPlan, state: BudgetState, line: Line, commitmentId: string | undefined): Cents {
  const commitment = commitmentId === undefined ? undefined : state.commitments.get(commitmentId)
  switch (plan.kind) {
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

function toCommand(plan: Plan, state: BudgetState): BudgetCommand {
  switch (plan.type) {
    case 'AllocateBudget':
      return { type: plan.type, line: plan.line, amountCents: resolveAmount(plan.amount, state, plan.line, undefined), decisionRef: 'JHA' }
    case 'AdjustBudget': {
      const amount = resolveAmount(plan.amount, state, plan.line, undefined)
      return { type: plan.type, line: plan.line, amountCents: plan.negative ? -amount : amount, reason: 'adjust' }
    }
    case 'TransferBudget':
      return {
        type: plan.type,
        fromLine: plan.fromLine,
        toLine: plan.toLine,
        amountCents: resolveAmount(plan.amount, state, plan.fromLine, undefined),
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
        amountCents: resolveAmount(plan.amount, state, plan.line, undefined),
        period: plan.periodReversed ? { from: '2025-07-01', to: '2025-06-30' } : { from: '2025-01-01', to: '2025-12-31' },
        ...(plan.justified ? { overBudgetJustification: 'Rechtsanspruch § 27 SGB VIII' } : {}),
      }
    }
    case 'AmendCommitment': {
      const id = nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference))
      const line = state.commitments.get(id)?.line ?? 'ambulatory'
      const amount = resolveAmount(plan.amount, state, line, id)
      return { type: plan.type, commitmentId: id, amountCents: plan.negative ? -amount : amount, reason: 'amend' }
    }
    case 'BookInvoice': {
      const id = nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference))
      const line = state.commitments.get(id)?.line ?? 'ambulatory'
      return {
        type: plan.type,
        commitmentId: id,
        invoiceNo: plan.invoiceNo,
        amountCents: resolveAmount(plan.amount, state, line, id),
        invoiceDate: '2025-03-31',
      }
    }
    case 'ReleaseCommitment':
      return { type: plan.type, commitmentId: nth(state.commitments.keys(), plan.reference, uuid(90 + plan.reference)), reason: 'release' }
    case 'RecordSpending':
      return {
        type: plan.type,
        spendingId: uuid(100 + plan.spending),
        amountCents: resolveAmount(plan.amount, state, 'flexible', undefined),
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

// ---------------------------------------------------------------------------------------------
// Running a sequence and checking the properties after every command.

const fail = (message: string, command: BudgetCommand): never => {
  throw new Error(`${message}\n  command: ${JSON.stringify(command, (_key, value) => (typeof value === 'bigint' ? `${value}n` : value))}`)
}

/** What the runs accepted and rejected, so that the test can show the generator reaches every rule. */
const accepted = new Map<string, number>()
const rejected = new Map<string, number>()
let overBudgetCommitments = 0
const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)

function run(plans: readonly Plan[]): void {
  let state = initialBudgetState(BUDGET_KEY)
  const history: BudgetEvent[] = []
  for (const plan of plans) {
    const command = toCommand(plan, state)
    const before = state
    const snapshot = structuredClone(state)
    const result = decideBudget(state, command)

    if (result instanceof DomainError) {
      count(rejected, `${command.type}:${result.code}`)
      // (e) a rejected command writes nothing and leaves the state as it was: decide is pure.
      if (!deepEqual(state, snapshot)) fail(`the rejection (${result.code}) changed the state`, command)
      const again = decideBudget(state, command)
      if (!(again instanceof DomainError) || again.code !== result.code) fail('decide is not deterministic', command)
      continue
    }

    count(accepted, command.type)
    if (result.length === 0) fail('an accepted command returned no events', command)
    for (const event of result) {
      try {
        assertStorable(event)
      } catch (error) {
        fail(String(error), command)
      }
      state = evolveBudget(state, event, CONTEXT)
      history.push(event)
    }

    // (e) also on success, decide and evolve never mutate the state they were given.
    if (!deepEqual(before, snapshot)) fail('the state before the command was mutated', command)

    // (a) the ledger's own invariants hold after every accepted command.
    try {
      assertBudgetInvariants(state)
    } catch (error) {
      fail(String(error), command)
    }

    // (b) the flexible line never goes below zero.
    if (availableCents(state.lines.flexible) < 0n) fail('the flexible line went below zero', command)

    // (c) only a justified (over-budget) ambulatory commitment may lower a line below zero.
    for (const line of LINES) {
      const availableBefore = availableCents(before.lines[line])
      const availableAfter = availableCents(state.lines[line])
      if (availableAfter < 0n && availableAfter < availableBefore) {
        const overBudgetCommitment =
          command.type === 'CreateCommitment' &&
          line === 'ambulatory' &&
          result.every((event) => event.type === 'CommitmentCreated' && event.data.overBudget && event.data.status === 'requested')
        if (!overBudgetCommitment) {
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

t.test('random command sequences keep the ledger consistent', async (t) => {
  fc.assert(fc.property(sequenceArb, (plans) => run(plans)), { numRuns: NUM_RUNS })
  t.pass(`${NUM_RUNS} sequences hold (a) invariants, (b) flexible ≥ 0, (c) only over-budget commitments go below zero, (d) balances follow from the events, (e) rejections change nothing`)
})

t.test('the generated sequences reach every rule', async (t) => {
  // Guards against a generator that silently stops exercising the interesting cases.
  const commandTypes = ['AllocateBudget', 'AdjustBudget', 'TransferBudget', 'CreateCommitment', 'AmendCommitment', 'BookInvoice', 'ReleaseCommitment', 'RecordSpending', 'ReverseSpending']
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
    'BookInvoice:exceeds-commitment',
    'BookInvoice:conflict',
    'BookInvoice:approval-required',
    'BookInvoice:commitment-closed',
    'BookInvoice:not-found',
    'ReleaseCommitment:commitment-closed',
    'RecordSpending:insufficient-funds',
    'RecordSpending:conflict',
    'ReverseSpending:conflict',
    'ReverseSpending:not-found',
  ]
  for (const key of rejections) t.ok((rejected.get(key) ?? 0) > 0, `some ${key} rejections (${rejected.get(key) ?? 0})`)
  t.ok(overBudgetCommitments > 0, `some over-budget commitments took the ambulatory line below zero (${overBudgetCommitments})`)
})

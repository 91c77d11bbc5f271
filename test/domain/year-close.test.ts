import t from 'tap'
import {
  availableCents,
  carriedCommitmentId,
  carryOverOf,
  decideBudget,
  type Approver,
  type BudgetCommand,
  type BudgetState,
  type CarryOver,
} from '../../src/domain/budget/index.js'
import { DomainError } from '../../src/domain/errors.js'
import type { BudgetEvent, Line } from '../../src/domain/events.js'
import { MAX_BALANCE_CENTS } from '../../src/domain/money.js'
import { yearTakesWrites } from '../../src/domain/year.js'
import {
  BUDGET_KEY,
  NEXT_KEY,
  allocated,
  allocationCarriedOver,
  atKey,
  balanceOf,
  bookInvoice,
  budgetAfter,
  budgetAfterAt,
  budgetClosed,
  budgetSpec,
  budgetSpecAt,
  by,
  carriedFixture,
  carryOverAllocated,
  commitmentAmended,
  commitmentApprovalRequested,
  commitmentApproved,
  commitmentCarriedIn,
  commitmentCarriedOver,
  commitmentCreated,
  commitmentRejected,
  commitmentReleased,
  createCommitment,
  decideApproval,
  eur,
  invoiceBooked,
  recordSpending,
  releaseCommitment,
  spendingRecorded,
  uuid,
  yearCloseApproved,
  yearCloseRejected,
  yearCloseRequested,
  yearSpec,
  type Assert,
  type CommitmentFixture,
  type GivenEvent,
} from '../helpers/decider-spec.js'

/**
 * DOMAIN rule 8, the budget's part: CloseBudget carries every open or waiting commitment's
 * remainder out of the closing year, with the money of its line that covers it (never more than
 * the line holds: allocated − spent), and (when named) a line's unspent allocation, and closes the
 * budget for good; ReceiveCarryOver opens the commitments in the next year's budget of the same
 * Sozialraum, with a link to the original, each line allocated exactly what the old line gave up,
 * once. Then the year's own decider: one finance controller asks, a second decides.
 */

const teamlead1: Approver = { sub: 'teamlead-1', role: 'teamlead' }
const teamlead2: Approver = { sub: 'teamlead-2', role: 'teamlead' }
const finance1: Approver = { sub: 'finance-1', role: 'finance' }
const finance2: Approver = { sub: 'finance-2', role: 'finance' }
const auditor: Approver = { sub: 'auditor-1', role: 'auditor' }

/** Who runs the close's steps: the finance controller who approved it. */
const CLOSER = finance2.sub

/** § 31 family support, open, 8,000.00 with 3,000.00 invoiced: 5,000.00 left. Its period runs into the next year. */
const familySupport: CommitmentFixture = { id: uuid(1), line: 'ambulatory' }
/** 12,000.00 asked for by teamlead-1, never approved: all of it waits. */
const waiting: CommitmentFixture = { id: uuid(2), line: 'ambulatory' }
/** Open 8,000.00, 1,000.00 invoiced, then raised by teamlead-2 to 12,000.00: 11,000.00 left, 7,000.00 of it approved. */
const raised: CommitmentFixture = { id: uuid(3), line: 'ambulatory' }
/** Invoiced in full: closed. */
const invoicedInFull: CommitmentFixture = { id: uuid(4), line: 'ambulatory' }
/** Asked for and rejected. */
const rejected: CommitmentFixture = { id: uuid(5), line: 'ambulatory' }
/** 1,500.00 invoiced, the rest released: closed. */
const released: CommitmentFixture = { id: uuid(6), line: 'ambulatory' }
/** A group offer on the flexible line: 3,000.00 with 500.00 invoiced. */
const groupOffer: CommitmentFixture = { id: uuid(7), line: 'flexible' }

const FAMILY_SUPPORT_PERIOD = { from: '2025-07-01', to: '2026-06-30' }
const justification = 'Hilfe zur Erziehung nach § 27 SGB VIII ist ein Rechtsanspruch'

/** The 2025 familySupport commitment carries a help type and a decision reference, which the carry keeps. */
function familySupportCreated(): BudgetEvent {
  const event = commitmentCreated(familySupport, eur('8000'), { period: FAMILY_SUPPORT_PERIOD })
  if (event.type !== 'CommitmentCreated') throw new Error('unreachable')
  return { ...event, data: { ...event.data, helpType: 'sgb8-31', decisionRef: 'KB-2025-044' } }
}

/**
 * The year 2025 of unteres-malstatt before its close:
 * ambulatory: allocated 100,000.00, committed 28,000.00 (5,000 + 12,000 + 11,000), spent 7,500.00, available 64,500.00;
 * flexible: allocated 10,000.00, committed 2,500.00, spent 1,500.00, available 6,000.00.
 */
const year2025: GivenEvent<BudgetEvent>[] = [
  allocated('ambulatory', eur('100000')),
  allocated('flexible', eur('10000')),
  by(teamlead1.sub, familySupportCreated()),
  invoiceBooked(familySupport, 'R-1', eur('3000')),
  by(teamlead1.sub, commitmentCreated(waiting, eur('12000'), { status: 'requested' })),
  by(teamlead1.sub, commitmentCreated(raised, eur('8000'))),
  invoiceBooked(raised, 'R-1', eur('1000')),
  by(teamlead2.sub, commitmentApprovalRequested(raised)),
  by(teamlead2.sub, commitmentAmended(raised, eur('4000'))),
  by(teamlead1.sub, commitmentCreated(invoicedInFull, eur('2000'))),
  invoiceBooked(invoicedInFull, 'R-1', eur('2000')),
  by(teamlead1.sub, commitmentCreated(rejected, eur('15000'), { status: 'requested' })),
  by(teamlead2.sub, commitmentRejected(rejected, eur('15000'))),
  by(teamlead1.sub, commitmentCreated(released, eur('4000'))),
  invoiceBooked(released, 'R-1', eur('1500')),
  commitmentReleased(released, eur('2500')),
  by(teamlead1.sub, commitmentCreated(groupOffer, eur('3000'))),
  invoiceBooked(groupOffer, 'R-1', eur('500')),
  spendingRecorded(uuid(50), eur('1000')),
]

/** What the close of year2025 carries out of it: the remainders of what is open or waits (28,000.00 ambulatory, 2,500.00 flexible). */
const carriedOut: BudgetEvent[] = [
  commitmentCarriedOver(familySupport, eur('5000')),
  commitmentCarriedOver(waiting, eur('12000')),
  commitmentCarriedOver(raised, eur('11000')),
  commitmentCarriedOver(groupOffer, eur('2500')),
]

/**
 * What the lines give up with them: ambulatory the 28,000.00 its commitments need; flexible their
 * 2,500.00 and, named, its unspent 6,000.00. Both hold enough (92,500.00 and 8,500.00 allocated − spent).
 */
const givenUpWithFlexible: BudgetEvent[] = [
  allocationCarriedOver('ambulatory', eur('28000'), 0n),
  allocationCarriedOver('flexible', eur('8500'), eur('6000')),
]

/** year2025, closed with the flexible line's unspent carried. */
const closedWithFlexible: GivenEvent<BudgetEvent>[] = [
  ...year2025,
  ...carriedOut,
  ...givenUpWithFlexible,
  budgetClosed({ ambulatory: eur('64500') }),
]

const closeBudget = (...carryUnspent: Line[]): BudgetCommand => ({ type: 'CloseBudget', carryUnspent })

/** The carried commitment of the next year, with the builders' default fixture. */
const next = (commitment: CommitmentFixture): CommitmentFixture => carriedFixture(commitment)

/** The next year's events of receiving `carry`, as the close's approver records them. */
function received(state: BudgetState, carry: CarryOver): GivenEvent<BudgetEvent>[] {
  const events = decideBudget(state, { type: 'ReceiveCarryOver', carry })
  if (events instanceof DomainError) throw new Error(`receiving failed: ${events.message}`)
  return events.map((event) => by(CLOSER, event))
}

t.test('the close of a budget', async (t) => {
  t.test('before it: the budget as the fixture says', async (t) => {
    const state = budgetAfter(year2025)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '28000.00', spent: '7500.00', available: '64500.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '10000.00', committed: '2500.00', spent: '1500.00', available: '6000.00' })
    t.same(
      [...state.commitments.values()].map((c) => c.status),
      ['open', 'requested', 'requested', 'closed', 'rejected', 'closed', 'open'],
    )
  })

  t.test('carries open and waiting commitments with their exact remainders, and a named line\'s unspent; the rest lapses', async (t) => {
    const state = budgetSpec(t)
      .given(year2025)
      .when(closeBudget('flexible'), { by: CLOSER })
      .then([...carriedOut, ...givenUpWithFlexible, budgetClosed({ ambulatory: eur('64500') })])
    t.ok(state.closed, 'the budget is closed')
    // The money left with the commitments: committed and allocated went down by what was carried.
    t.same(balanceOf(state, 'ambulatory'), { allocated: '72000.00', committed: '0.00', spent: '7500.00', available: '64500.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '1500.00', committed: '0.00', spent: '1500.00', available: '0.00' })
    t.same(state.carriedAllocationCents, { ambulatory: eur('28000'), flexible: eur('8500') }, 'what each line gave up')
    t.same(state.unspentCarriedCents, { ambulatory: 0n, flexible: eur('6000') }, 'of it, the unspent part')
    for (const [fixture, cents, status, requestedBy] of [
      [familySupport, eur('5000'), 'open', undefined],
      [waiting, eur('12000'), 'requested', teamlead1.sub],
      [raised, eur('11000'), 'requested', teamlead2.sub],
      [groupOffer, eur('2500'), 'open', undefined],
    ] as const) {
      const commitment = state.commitments.get(fixture.id)
      t.equal(commitment?.status, 'closed', `${fixture.id} is closed in 2025`)
      t.equal(commitment?.carriedCents, cents, `${fixture.id} carried ${cents}`)
      t.strictSame(
        commitment?.carriedTo,
        { year: 2026, commitmentId: carriedCommitmentId(2025, BUDGET_KEY.sozialraum, fixture.id), status, requestedBy },
        'where it went, and how it stood when it was carried',
      )
      t.equal(commitment?.requestedBy, undefined, 'nothing waits in a closed year')
    }
    // What was closed, rejected or fully invoiced stays as it was.
    for (const fixture of [invoicedInFull, rejected, released]) {
      t.equal(state.commitments.get(fixture.id)?.carriedCents, 0n)
      t.equal(state.commitments.get(fixture.id)?.carriedTo, undefined)
    }
    t.equal(state.commitments.get(invoicedInFull.id)?.status, 'closed')
    t.equal(state.commitments.get(rejected.id)?.status, 'rejected')
    t.equal(state.commitments.get(released.id)?.status, 'closed')
  })

  t.test('without lines to carry, every line\'s unspent lapses', async (t) => {
    budgetSpec(t)
      .given(year2025)
      .when(closeBudget(), { by: CLOSER })
      .then([
        ...carriedOut,
        allocationCarriedOver('ambulatory', eur('28000'), 0n),
        allocationCarriedOver('flexible', eur('2500'), 0n),
        budgetClosed({ ambulatory: eur('64500'), flexible: eur('6000') }),
      ])
  })

  t.test('a carried commitment alone moves no money: the allocation goes with AllocationCarriedOver', async (t) => {
    const before = budgetAfter(year2025)
    const state = budgetAfter([...year2025, commitmentCarriedOver(familySupport, eur('5000'))])
    t.equal(state.lines.ambulatory.allocatedCents, before.lines.ambulatory.allocatedCents, 'allocated as it was')
    t.equal(state.lines.ambulatory.committedCents, before.lines.ambulatory.committedCents - eur('5000'), 'committed 5,000.00 less')
  })

  t.test('both lines carried (named twice or not) lapses nothing', async (t) => {
    const expected = [
      ...carriedOut,
      allocationCarriedOver('ambulatory', eur('92500'), eur('64500')),
      allocationCarriedOver('flexible', eur('8500'), eur('6000')),
      budgetClosed(),
    ]
    const state = budgetSpec(t).given(year2025).when(closeBudget('flexible', 'ambulatory', 'flexible'), { by: CLOSER }).then(expected)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '7500.00', committed: '0.00', spent: '7500.00', available: '0.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '1500.00', committed: '0.00', spent: '1500.00', available: '0.00' })
    t.same(state.carriedAllocationCents, { ambulatory: eur('92500'), flexible: eur('8500') })
    t.same(state.unspentCarriedCents, { ambulatory: eur('64500'), flexible: eur('6000') })
  })

  t.test('the id of a carried commitment is a uuid v5 of the year, the Sozialraum and the original id alone', async (t) => {
    const id = carriedCommitmentId(2025, BUDGET_KEY.sozialraum, familySupport.id)
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.equal(carriedCommitmentId(2025, BUDGET_KEY.sozialraum, familySupport.id), id, 'the same every time')
    t.not(carriedCommitmentId(2026, BUDGET_KEY.sozialraum, familySupport.id), id, 'another year: another id')
    t.not(carriedCommitmentId(2025, 'unteres-alt-saarbruecken', familySupport.id), id, 'another Sozialraum: another id')
    t.not(carriedCommitmentId(2025, BUDGET_KEY.sozialraum, waiting.id), id)
  })

  t.test('over budget (a line below zero): the commitments carry with all the line holds, nothing lapses, the deficit goes along', async (t) => {
    const open: CommitmentFixture = { id: uuid(11), line: 'ambulatory' }
    const overBudget: CommitmentFixture = { id: uuid(12), line: 'ambulatory' }
    const given: GivenEvent<BudgetEvent>[] = [
      allocated('ambulatory', eur('10000')),
      by(teamlead1.sub, commitmentCreated(open, eur('9000'))),
      by(teamlead1.sub, commitmentCreated(overBudget, eur('5000'), { status: 'requested', overBudget: true, overBudgetJustification: justification })),
    ]
    t.same(balanceOf(budgetAfter(given), 'ambulatory').available, '-4000.00')
    const state = budgetSpec(t)
      .given(given)
      .when(closeBudget('ambulatory', 'flexible'), { by: CLOSER })
      .then([
        commitmentCarriedOver(open, eur('9000')),
        commitmentCarriedOver(overBudget, eur('5000')),
        // 14,000.00 needed, 10,000.00 held: the line gives what it holds, not a cent more; naming it carries no unspent.
        allocationCarriedOver('ambulatory', eur('10000'), 0n),
        budgetClosed(),
      ])
    // The old line ends with nothing, not below zero: no money was made by the close.
    t.same(balanceOf(state, 'ambulatory'), { allocated: '0.00', committed: '0.00', spent: '0.00', available: '0.00' })
    t.same(state.carriedAllocationCents, { ambulatory: eur('10000'), flexible: 0n })
    t.same(state.unspentCarriedCents, { ambulatory: 0n, flexible: 0n })

    // The next year is allocated the 10,000.00 the line gave up: over both years, 10,000.00 as before.
    const carry = carryOverOf(state)
    t.same(carry.allocation, { ambulatory: eur('10000'), flexible: 0n })
    const next2026 = budgetSpecAt(t, NEXT_KEY)
      .given([])
      .when({ type: 'ReceiveCarryOver', carry }, { by: CLOSER })
      .then([
        carryOverAllocated('ambulatory', eur('10000'), 'carry-over of 2025: 2 open commitment(s) and 0 cents unspent'),
        commitmentCarriedIn(open, eur('9000')),
        commitmentCarriedIn(overBudget, eur('5000'), {
          status: 'requested',
          approvedCents: 0n,
          requestedBy: teamlead1.sub,
          overBudget: true,
          overBudgetJustification: justification,
        }),
      ])
    // ... and starts over budget by the 4,000.00 the old line ended with.
    t.same(balanceOf(next2026, 'ambulatory'), { allocated: '10000.00', committed: '14000.00', spent: '0.00', available: '-4000.00' })
    t.equal(state.lines.ambulatory.allocatedCents + next2026.lines.ambulatory.allocatedCents, eur('10000'))

    // Still over budget in 2026: only finance decides on it, and not its requester.
    const spec = budgetSpecAt(t, NEXT_KEY).given(received(budgetAfterAt(NEXT_KEY, []), carry))
    t.equal(spec.state.commitments.get(next(overBudget).id)?.overBudget, true)
    spec.when(decideApproval(next(overBudget), 'approve', teamlead2)).thenFails('forbidden', /over budget; only finance/)
    spec.when(decideApproval(next(overBudget), 'approve', teamlead1)).thenFails('forbidden', /teamlead-1 asked/)
    spec.when(decideApproval(next(overBudget), 'approve', finance1)).then([atKey(NEXT_KEY, commitmentApproved(next(overBudget)))])
  })

  t.test('a line that holds less than nothing (spent beyond its allocation) gives nothing: its deficit stays, its commitment carries', async (t) => {
    const c: CommitmentFixture = { id: uuid(13), line: 'ambulatory' }
    const given: GivenEvent<BudgetEvent>[] = [
      allocated('ambulatory', eur('100')),
      by(teamlead1.sub, commitmentCreated(c, eur('500'), { overBudget: true, overBudgetJustification: justification })),
      invoiceBooked(c, 'R-1', eur('300')),
    ]
    t.same(balanceOf(budgetAfter(given), 'ambulatory'), { allocated: '100.00', committed: '200.00', spent: '300.00', available: '-400.00' })
    const state = budgetSpec(t)
      .given(given)
      .when(closeBudget('ambulatory'), { by: CLOSER })
      .then([commitmentCarriedOver(c, eur('200')), budgetClosed()])
    // allocated − spent stays −200.00, as it was: the close takes nothing from a line that holds nothing.
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100.00', committed: '0.00', spent: '300.00', available: '-200.00' })
    const carry = carryOverOf(state)
    t.same(carry.allocation, { ambulatory: 0n, flexible: 0n })
    const next2026 = budgetSpecAt(t, NEXT_KEY)
      .given([])
      .when({ type: 'ReceiveCarryOver', carry }, { by: CLOSER })
      .then([commitmentCarriedIn(c, eur('200'), { overBudget: true, overBudgetJustification: justification })])
    t.same(balanceOf(next2026, 'ambulatory'), { allocated: '0.00', committed: '200.00', spent: '0.00', available: '-200.00' })
    const held = (s: BudgetState) => s.lines.ambulatory.allocatedCents - s.lines.ambulatory.spentCents
    t.equal(held(state) + held(next2026), eur('100') - eur('300'), 'over both years: what was allocated less what was spent, as before')
  })

  t.test('a budget with nothing open and nothing left closes with nothing carried and nothing lapsed', async (t) => {
    const c: CommitmentFixture = { id: uuid(21), line: 'flexible' }
    const state = budgetSpec(t)
      .given([allocated('flexible', eur('100')), commitmentCreated(c, eur('100')), invoiceBooked(c, 'R-1', eur('100'))])
      .when(closeBudget('flexible'), { by: CLOSER })
      .then([budgetClosed()])
    t.same(carryOverOf(state), {
      fromYear: 2025,
      sozialraum: state.sozialraum,
      allocation: { ambulatory: 0n, flexible: 0n },
      commitments: [],
      unspent: { ambulatory: 0n, flexible: 0n },
    })
    // ... and the next year has nothing to receive.
    budgetSpecAt(t, NEXT_KEY).given([]).when({ type: 'ReceiveCarryOver', carry: carryOverOf(state) }).thenFails('validation', /carried nothing/)
  })

  t.test('a budget without an allocation cannot be closed: it does not exist', async (t) => {
    budgetSpec(t).given([]).when(closeBudget()).thenFails('not-found')
  })

  t.test('carryOverOf reads only a closed budget', async (t) => {
    t.throws(() => carryOverOf(budgetAfter(year2025)), /not closed/)
  })

  t.test('a closed budget refuses every command with year-closed, a second close included, and stays as it is', async (t) => {
    const closed = budgetAfter(closedWithFlexible)
    const carry = carryOverOf(closed)
    const move = { sozialraum: 'unteres-alt-saarbruecken', line: 'ambulatory' as const }
    const commands: BudgetCommand[] = [
      { type: 'AllocateBudget', line: 'ambulatory', amountCents: eur('10'), decisionRef: 'JHA-2025-099' },
      { type: 'AdjustBudget', line: 'ambulatory', amountCents: eur('10'), reason: 'x' },
      { type: 'AdjustBudget', line: 'ambulatory', amountCents: -eur('10'), reason: 'x' },
      { type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents: eur('10'), reason: 'x' },
      createCommitment({ id: uuid(30), line: 'ambulatory' }, eur('10')),
      { type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('10'), reason: 'x' },
      decideApproval(waiting, 'approve', teamlead2),
      decideApproval(waiting, 'reject', teamlead1),
      bookInvoice(familySupport, 'R-2', eur('10')),
      releaseCommitment(familySupport),
      recordSpending(uuid(51), eur('10')),
      { type: 'ReverseSpending', spendingId: uuid(50), reason: 'x' },
      closeBudget(),
      closeBudget('ambulatory', 'flexible'),
      { type: 'ReceiveCarryOver', carry: { ...carry, fromYear: 2024 } },
      { type: 'DebitMove', moveId: uuid(60), line: 'ambulatory', amountCents: eur('10'), to: move, reason: 'x' },
      { type: 'CreditMove', moveId: uuid(61), line: 'ambulatory', amountCents: eur('10'), from: move, reason: 'x' },
      { type: 'RevertMove', moveId: uuid(62), why: 'x' },
    ]
    for (const command of commands) {
      budgetSpec(t).given(closedWithFlexible).when(command).thenFails('year-closed', /fiscal year 2025 is closed/)
    }
  })
})

t.test('receiving the carry-over in the next year', async (t) => {
  const closed = budgetAfter(closedWithFlexible)
  const carry = carryOverOf(closed)
  /** The next year of the same Sozialraum already has its own money and a commitment. */
  const own2026: CommitmentFixture = { id: uuid(101), line: 'ambulatory' }
  const year2026: BudgetEvent[] = [
    atKey(NEXT_KEY, allocated('ambulatory', eur('50000'), 'JHA-2026-001')),
    atKey(NEXT_KEY, commitmentCreated(own2026, eur('4000'), { period: { from: '2026-01-01', to: '2026-12-31' } })),
  ]
  const carriedIn: BudgetEvent[] = [
    carryOverAllocated('ambulatory', eur('28000'), 'carry-over of 2025: 3 open commitment(s) and 0 cents unspent'),
    carryOverAllocated('flexible', eur('8500'), 'carry-over of 2025: 1 open commitment(s) and 600000 cents unspent'),
    commitmentCarriedIn(familySupport, eur('5000'), { period: FAMILY_SUPPORT_PERIOD, helpType: 'sgb8-31', decisionRef: 'KB-2025-044' }),
    commitmentCarriedIn(waiting, eur('12000'), { status: 'requested', approvedCents: 0n, requestedBy: teamlead1.sub }),
    commitmentCarriedIn(raised, eur('11000'), { status: 'requested', approvedCents: eur('7000'), requestedBy: teamlead2.sub }),
    commitmentCarriedIn(groupOffer, eur('2500')),
  ]

  t.test('the carry-over as the closed budget records it', async (t) => {
    t.equal(carry.fromYear, 2025)
    t.strictSame(
      carry.commitments.map((item) => [item.commitment.id, item.amountCents, item.toCommitmentId, item.status, item.requestedBy]),
      [
        [familySupport.id, eur('5000'), next(familySupport).id, 'open', undefined],
        [waiting.id, eur('12000'), next(waiting).id, 'requested', teamlead1.sub],
        [raised.id, eur('11000'), next(raised).id, 'requested', teamlead2.sub],
        [groupOffer.id, eur('2500'), next(groupOffer).id, 'open', undefined],
      ],
    )
    t.same(carry.allocation, { ambulatory: eur('28000'), flexible: eur('8500') }, 'what each line gave up')
    t.same(carry.unspent, { ambulatory: 0n, flexible: eur('6000') })
  })

  t.test('allocates each line exactly what was carried to it, as carry-over from 2025, and opens the commitments with their link', async (t) => {
    const state = budgetSpecAt(t, NEXT_KEY).given(year2026).when({ type: 'ReceiveCarryOver', carry }, { by: CLOSER }).then(carriedIn)
    t.same([...state.carriedInFrom], [2025], 'the carry-over of 2025 is received')
    // Its own 50,000.00 and 4,000.00 stay; the carried money comes with the carried commitments.
    t.same(balanceOf(state, 'ambulatory'), { allocated: '78000.00', committed: '32000.00', spent: '0.00', available: '46000.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '8500.00', committed: '2500.00', spent: '0.00', available: '6000.00' })

    const family = state.commitments.get(next(familySupport).id)
    t.match(family, {
      line: 'ambulatory',
      provider: 'traeger-a',
      caseRef: 'case-7f3a',
      helpType: 'sgb8-31',
      decisionRef: 'KB-2025-044',
      period: FAMILY_SUPPORT_PERIOD,
      amountCents: eur('5000'),
      invoicedCents: 0n,
      status: 'open',
      requestedBy: undefined,
      carriedFrom: { year: 2025, commitmentId: familySupport.id },
      carriedTo: undefined,
      createdBy: CLOSER,
    })
    t.equal(family?.approvedTerms.amountCents, eur('5000'), 'approved as it was')

    const wait = state.commitments.get(next(waiting).id)
    t.match(wait, { status: 'requested', requestedBy: teamlead1.sub, amountCents: eur('12000'), carriedFrom: { year: 2025, commitmentId: waiting.id } })
    t.equal(wait?.approvedTerms.amountCents, 0n, 'never approved, and still not')

    const raise = state.commitments.get(next(raised).id)
    t.match(raise, { status: 'requested', requestedBy: teamlead2.sub, amountCents: eur('11000') })
    t.equal(raise?.approvedTerms.amountCents, eur('7000'), 'what was approved of it and is left: 8,000.00 − 1,000.00 invoiced')

    const offer = state.commitments.get(next(groupOffer).id)
    t.match(offer, { line: 'flexible', status: 'open', amountCents: eur('2500'), carriedFrom: { year: 2025, commitmentId: groupOffer.id } })

    // Both years together hold what was allocated, less what was spent: nothing was created or lost.
    const total = (s: BudgetState) => s.lines.ambulatory.allocatedCents + s.lines.flexible.allocatedCents
    t.equal(total(closed) + total(state), eur('100000') + eur('10000') + eur('50000'))
  })

  t.test('into a budget with no allocation yet: the carry-over makes it exist', async (t) => {
    const before = budgetAfterAt(NEXT_KEY, [])
    t.equal(before.exists, false)
    const state = budgetSpecAt(t, NEXT_KEY).given([]).when({ type: 'ReceiveCarryOver', carry }, { by: CLOSER }).then(carriedIn)
    t.equal(state.exists, true)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '28000.00', committed: '28000.00', spent: '0.00', available: '0.00' })
  })

  t.test('only the unspent of a line, with no commitment: one allocation', async (t) => {
    const c: CommitmentFixture = { id: uuid(22), line: 'ambulatory' }
    const closedFlexOnly = budgetAfter([
      allocated('flexible', eur('300')),
      allocated('ambulatory', eur('200')),
      commitmentCreated(c, eur('200')),
      invoiceBooked(c, 'R-1', eur('200')),
      allocationCarriedOver('flexible', eur('300'), eur('300')),
      budgetClosed(),
    ])
    budgetSpecAt(t, NEXT_KEY)
      .given([])
      .when({ type: 'ReceiveCarryOver', carry: carryOverOf(closedFlexOnly) })
      .then([carryOverAllocated('flexible', eur('300'), 'carry-over of 2025: 0 open commitment(s) and 30000 cents unspent')])
  })

  t.test('only commitments, from a line that held no money: no allocation, and the commitments open the budget, once', async (t) => {
    const c: CommitmentFixture = { id: uuid(23), line: 'ambulatory' }
    const closedCommitmentsOnly = budgetSpec(t)
      .given([
        allocated('flexible', eur('100')),
        by(teamlead1.sub, commitmentCreated(c, eur('500'), { status: 'requested', overBudget: true, overBudgetJustification: justification })),
      ])
      .when(closeBudget(), { by: CLOSER })
      .then([commitmentCarriedOver(c, eur('500')), budgetClosed({ flexible: eur('100') })])
    const carryOnly = carryOverOf(closedCommitmentsOnly)
    t.same(carryOnly.allocation, { ambulatory: 0n, flexible: 0n }, 'the ambulatory line held nothing to give')
    t.equal(carryOnly.commitments.length, 1)
    const state = budgetSpecAt(t, NEXT_KEY)
      .given([])
      .when({ type: 'ReceiveCarryOver', carry: carryOnly }, { by: CLOSER })
      .then([
        commitmentCarriedIn(c, eur('500'), {
          status: 'requested',
          approvedCents: 0n,
          requestedBy: teamlead1.sub,
          overBudget: true,
          overBudgetJustification: justification,
        }),
      ])
    t.equal(state.exists, true, 'the carried commitment opens the budget')
    t.same([...state.carriedInFrom], [2025], 'and records the carry-over as received')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '0.00', committed: '500.00', spent: '0.00', available: '-500.00' })
    budgetSpecAt(t, NEXT_KEY)
      .given([...received(budgetAfterAt(NEXT_KEY, []), carryOnly)])
      .when({ type: 'ReceiveCarryOver', carry: carryOnly })
      .thenFails('conflict', /received the carry-over of 2025 already/)
  })

  t.test('a second receive of the same year is refused, and changes nothing', async (t) => {
    const spec = budgetSpecAt(t, NEXT_KEY).given([...year2026, ...received(budgetAfterAt(NEXT_KEY, year2026), carry)])
    spec.when({ type: 'ReceiveCarryOver', carry }).thenFails('conflict', /received the carry-over of 2025 already/)
  })

  t.test('a carry-over from another year than the one before is refused', async (t) => {
    const spec = budgetSpecAt(t, NEXT_KEY).given(year2026)
    spec.when({ type: 'ReceiveCarryOver', carry: { ...carry, fromYear: 2024 } }).thenFails('validation', /2026 receives the carry-over of 2025 only/)
    spec.when({ type: 'ReceiveCarryOver', carry: { ...carry, fromYear: 2026 } }).thenFails('validation')
    // ... and the closing year cannot receive its own carry-over.
    budgetSpec(t).given(year2025).when({ type: 'ReceiveCarryOver', carry }).thenFails('validation', /2025 receives the carry-over of 2024 only/)
  })

  t.test('a commitment id taken already in the next year is a conflict, and nothing is received', async (t) => {
    const clash = atKey(NEXT_KEY, commitmentCreated(next(groupOffer), eur('10'), { period: { from: '2026-01-01', to: '2026-12-31' } }))
    budgetSpecAt(t, NEXT_KEY)
      .given([atKey(NEXT_KEY, allocated('flexible', eur('10'))), clash])
      .when({ type: 'ReceiveCarryOver', carry })
      .thenFails('conflict', new RegExp(next(groupOffer).id))
  })

  t.test('the limit on balances holds for what is received', async (t) => {
    budgetSpecAt(t, NEXT_KEY)
      .given([atKey(NEXT_KEY, allocated('ambulatory', MAX_BALANCE_CENTS - eur('27999.99')))])
      .when({ type: 'ReceiveCarryOver', carry })
      .thenFails('limit-exceeded')
  })
})

t.test('four eyes on what was carried', async (t) => {
  const carry = carryOverOf(budgetAfter(closedWithFlexible))
  const year2026 = received(budgetAfterAt(NEXT_KEY, []), carry)
  const specOf = (t: Assert) => budgetSpecAt(t, NEXT_KEY).given(year2026)

  t.test('the one who asked in 2025 cannot approve it in 2026', async (t) => {
    const spec = specOf(t)
    spec.when(decideApproval(next(waiting), 'approve', teamlead1)).thenFails('forbidden', /teamlead-1 asked for commitment .*; a second person must approve it/)
    spec.when(decideApproval(next(raised), 'approve', teamlead2)).thenFails('forbidden', /teamlead-2 asked/)
    // ... not even as finance.
    spec.when(decideApproval(next(waiting), 'approve', { sub: teamlead1.sub, role: 'finance' })).thenFails('forbidden')
    spec.when(decideApproval(next(waiting), 'approve', auditor)).thenFails('forbidden')
  })

  t.test('a second person approves it; then it takes invoices', async (t) => {
    const spec = specOf(t)
    const state = spec.when(decideApproval(next(waiting), 'approve', teamlead2)).then([atKey(NEXT_KEY, commitmentApproved(next(waiting)))])
    t.match(state.commitments.get(next(waiting).id), { status: 'open', requestedBy: undefined, approvedTerms: { amountCents: eur('12000') } })
    t.equal(state.commitments.get(next(waiting).id)?.lastDecision?.by, teamlead2.sub)
    budgetSpecAt(t, NEXT_KEY)
      .given([...year2026, by(teamlead2.sub, atKey(NEXT_KEY, commitmentApproved(next(waiting))))])
      .when(bookInvoice(next(waiting), 'R-2026-1', eur('12000'), '2026-02-01'))
      .then([atKey(NEXT_KEY, invoiceBooked(next(waiting), 'R-2026-1', eur('12000'), '2026-02-01'))])
  })

  t.test('while it waits it takes no invoice and no amendment', async (t) => {
    const spec = specOf(t)
    spec.when(bookInvoice(next(waiting), 'R-2026-1', eur('100'), '2026-02-01')).thenFails('approval-required')
    spec.when({ type: 'AmendCommitment', commitmentId: next(raised).id, amountCents: -eur('100'), reason: 'x' }).thenFails('approval-required')
  })

  t.test('its requester withdraws a never-approved request: all of it is given back', async (t) => {
    const spec = specOf(t)
    const state = spec
      .when(decideApproval(next(waiting), 'reject', teamlead1))
      .then([atKey(NEXT_KEY, commitmentRejected(next(waiting), eur('12000')))])
    t.equal(state.commitments.get(next(waiting).id)?.status, 'rejected')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '28000.00', committed: '16000.00', spent: '0.00', available: '12000.00' })
  })

  t.test('a rejection of the raised one withdraws only the increase: open again on the 7,000.00 approved', async (t) => {
    const spec = specOf(t)
    const state = spec
      .when(decideApproval(next(raised), 'reject', teamlead1))
      .then([atKey(NEXT_KEY, commitmentRejected(next(raised), eur('4000'), { status: 'open' }))])
    t.match(state.commitments.get(next(raised).id), { status: 'open', amountCents: eur('7000'), requestedBy: undefined })
    t.same(balanceOf(state, 'ambulatory').committed, '24000.00')
  })

  t.test('the approved ones take invoices up to what was carried', async (t) => {
    const spec = specOf(t)
    spec.when(bookInvoice(next(familySupport), 'R-1', eur('5000.01'), '2026-01-31')).thenFails('exceeds-commitment')
    const state = spec
      .when(bookInvoice(next(familySupport), 'R-1', eur('5000'), '2026-01-31'))
      .then([atKey(NEXT_KEY, invoiceBooked(next(familySupport), 'R-1', eur('5000'), '2026-01-31'))])
    t.equal(state.commitments.get(next(familySupport).id)?.status, 'closed')
  })
})

t.test('the fiscal year\'s decider', async (t) => {
  const requested = [by(finance1.sub, yearCloseRequested('Jahresabschluss 2025', ['flexible']))]
  const approved = [...requested, by(finance2.sub, yearCloseApproved())]

  t.test('a finance controller asks for the close; the lines to carry are named once', async (t) => {
    const state = yearSpec(t)
      .given([])
      .when({ type: 'RequestClose', reason: 'Jahresabschluss 2025', carryUnspent: ['flexible', 'flexible'] }, { by: finance1.sub })
      .then([yearCloseRequested('Jahresabschluss 2025', ['flexible'])])
    t.equal(state.status, 'close-requested')
    t.match(state.request, { reason: 'Jahresabschluss 2025', carryUnspent: ['flexible'], by: finance1.sub })
    t.ok(yearTakesWrites(state), 'the budgets take writes until the close is approved')
  })

  t.test('a second finance controller approves: the year is closing and its budgets take no writes', async (t) => {
    const state = yearSpec(t)
      .given(requested)
      .when({ type: 'DecideClose', decision: 'approve', comment: 'geprüft', approver: finance2 })
      .then([yearCloseApproved('geprüft')])
    t.equal(state.status, 'closing')
    t.match(state.decision, { decision: 'approve', by: finance2.sub, comment: 'geprüft' })
    t.notOk(yearTakesWrites(state))
  })

  t.test('the one who asked may not decide, neither approve nor reject', async (t) => {
    const spec = yearSpec(t).given(requested)
    spec.when({ type: 'DecideClose', decision: 'approve', approver: finance1 }).thenFails('forbidden', /finance-1 asked for the close of 2025/)
    spec.when({ type: 'DecideClose', decision: 'reject', approver: finance1 }).thenFails('forbidden')
  })

  t.test('only finance decides', async (t) => {
    const spec = yearSpec(t).given(requested)
    for (const approver of [teamlead1, auditor, { sub: 'someone', role: 'anonymous' } as Approver]) {
      spec.when({ type: 'DecideClose', decision: 'approve', approver }).thenFails('forbidden', /only finance/)
      spec.when({ type: 'DecideClose', decision: 'reject', approver }).thenFails('forbidden', /only finance/)
    }
  })

  t.test('a rejection takes the year back to open; it may be asked again, by anyone of finance', async (t) => {
    const state = yearSpec(t)
      .given(requested)
      .when({ type: 'DecideClose', decision: 'reject', comment: 'noch offene Rechnungen', approver: finance2 })
      .then([yearCloseRejected('noch offene Rechnungen')])
    t.equal(state.status, 'open')
    t.ok(yearTakesWrites(state))
    const again = [...requested, by(finance2.sub, yearCloseRejected()), by(finance2.sub, yearCloseRequested('zweiter Versuch'))]
    // The new requester is finance-2 now: finance-1 may decide.
    yearSpec(t).given(again).when({ type: 'DecideClose', decision: 'approve', approver: finance2 }).thenFails('forbidden')
    yearSpec(t).given(again).when({ type: 'DecideClose', decision: 'approve', approver: finance1 }).then([yearCloseApproved()])
  })

  t.test('a decision needs a request that waits', async (t) => {
    yearSpec(t).given([]).when({ type: 'DecideClose', decision: 'approve', approver: finance2 }).thenFails('conflict', /not waiting for a decision \(the year is open\)/)
    yearSpec(t).given(approved).when({ type: 'DecideClose', decision: 'reject', approver: finance1 }).thenFails('conflict', /closing/)
  })

  t.test('a second request while one waits is a conflict', async (t) => {
    yearSpec(t).given(requested).when({ type: 'RequestClose', reason: 'x', carryUnspent: [] }, { by: finance2.sub }).thenFails('conflict')
  })

  const totals = { budgets: 2, carriedCommitments: 4, carriedCents: 3_050_000, allocationCarriedCents: 3_650_000, unspentCarriedCents: 600_000, lapsedCents: 6_450_000 }

  t.test('the close completes only while closing', async (t) => {
    yearSpec(t).given([]).when({ type: 'CompleteClose', totals }).thenFails('conflict', /year 2025 is open, not closing/)
    yearSpec(t).given(requested).when({ type: 'CompleteClose', totals }).thenFails('conflict', /close-requested/)
    const state = yearSpec(t).given(approved).when({ type: 'CompleteClose', totals }).then([{ type: 'YearClosed', data: { year: 2025, ...totals } }])
    t.equal(state.status, 'closed')
    t.same(state.totals, totals)
    t.notOk(yearTakesWrites(state))
    const closed = [...approved, { type: 'YearClosed' as const, data: { year: 2025, ...totals } }]
    yearSpec(t).given(closed).when({ type: 'CompleteClose', totals }).thenFails('conflict', /closed, not closing/)
    yearSpec(t).given(closed).when({ type: 'DecideClose', decision: 'approve', approver: finance1 }).thenFails('conflict')
  })

  t.test('asking to close a year that is closing or closed is year-closed', async (t) => {
    yearSpec(t).given(approved).when({ type: 'RequestClose', reason: 'x', carryUnspent: [] }, { by: finance1.sub }).thenFails('year-closed', /is closing/)
    yearSpec(t)
      .given([...approved, { type: 'YearClosed', data: { year: 2025, ...totals } }])
      .when({ type: 'RequestClose', reason: 'x', carryUnspent: [] }, { by: finance1.sub })
      .thenFails('year-closed', /is closed/)
  })
})

// A loose end the checks above rely on: available stays as it was across the close of a line that
// holds what its commitments need; an over-budget line gives its deficit to the next year.
t.test('the close keeps every line\'s available amount as it was, unless the line was over budget', async (t) => {
  const before = budgetAfter(year2025)
  const after = budgetAfter(closedWithFlexible)
  t.equal(availableCents(after.lines.ambulatory), availableCents(before.lines.ambulatory))
  t.equal(availableCents(after.lines.flexible), availableCents(before.lines.flexible) - eur('6000'), 'less the unspent carried')

  const over: CommitmentFixture = { id: uuid(14), line: 'ambulatory' }
  const overGiven: BudgetEvent[] = [allocated('ambulatory', eur('1000')), commitmentCreated(over, eur('1500'), { overBudget: true, overBudgetJustification: justification })]
  const overClosed = budgetAfter([...overGiven, commitmentCarriedOver(over, eur('1500')), allocationCarriedOver('ambulatory', eur('1000'), 0n), budgetClosed()])
  t.equal(availableCents(budgetAfter(overGiven).lines.ambulatory), -eur('500'))
  t.equal(availableCents(overClosed.lines.ambulatory), 0n, 'the 500.00 deficit went with the commitment')
})

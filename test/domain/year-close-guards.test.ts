import t from 'tap'
import {
  assertBudgetInvariants,
  availableCents,
  carriedCommitmentId,
  carryOverOf,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  type BudgetCommand,
  type BudgetKey,
  type BudgetState,
} from '../../src/domain/budget/index.js'
import { DomainError } from '../../src/domain/errors.js'
import type { BudgetEvent } from '../../src/domain/events.js'

/**
 * Guards of the year close found in review: a carried request keeps the over-budget marking a
 * second person last approved; a client may not take an id the close needs; a budget receives
 * only its own Sozialraum's carry-over; an over-budget line carries its deficit along instead of
 * making money in the next year.
 */

const OLD: BudgetKey = { year: 2025, sozialraum: 'burbach' }
const NEW: BudgetKey = { year: 2026, sozialraum: 'burbach' }
const ID = '00000000-0000-4000-8000-000000000001'
const justification = 'Rechtsanspruch § 27 SGB VIII'

function decided(state: BudgetState, command: BudgetCommand): BudgetEvent[] {
  const events = decideBudget(state, command)
  if (events instanceof DomainError) throw new Error(`${command.type} refused: ${events.message}`)
  return events
}

function run(state: BudgetState, command: BudgetCommand, actorSub = 'lead-1'): BudgetState {
  return decided(state, command).reduce((next, event) => {
    const after = evolveBudget(next, event, { recordedAt: '2025-06-01T00:00:00.000Z', actorSub })
    assertBudgetInvariants(after)
    return after
  }, state)
}

/** What a budget holds: Σ (allocated − spent) over its lines. */
const held = (state: BudgetState): bigint =>
  state.lines.ambulatory.allocatedCents - state.lines.ambulatory.spentCents + state.lines.flexible.allocatedCents - state.lines.flexible.spentCents

t.test('a carried request goes back to the marking last approved when the new year rejects it', async (t) => {
  let old = run(initialBudgetState(OLD), { type: 'AllocateBudget', line: 'ambulatory', amountCents: 10_000n, decisionRef: 'JHA' }, 'finance-1')
  const period = { from: '2025-01-01', to: '2026-06-30' }
  old = run(old, { type: 'CreateCommitment', commitmentId: ID, line: 'ambulatory', provider: 'p', caseRef: 'c', amountCents: 15_000n, period, overBudgetJustification: justification })
  old = run(old, { type: 'DecideApproval', commitmentId: ID, decision: 'approve', approver: { sub: 'finance-2', role: 'finance' } }, 'finance-2')
  old = run(old, { type: 'AmendCommitment', commitmentId: ID, amountCents: 1_000n, reason: 'more', overBudgetJustification: justification })
  t.equal(old.commitments.get(ID)?.status, 'requested', 'the increase waits')
  const closed = run(old, { type: 'CloseBudget', carryUnspent: [] }, 'finance-2')
  const next = run(initialBudgetState(NEW), { type: 'ReceiveCarryOver', carry: carryOverOf(closed) }, 'finance-2')
  const carriedId = carriedCommitmentId(2025, 'burbach', ID)
  t.match(next.commitments.get(carriedId), { status: 'requested', requestedBy: 'lead-1', approvedTerms: { amountCents: 15_000n, overBudget: true } })
  const rejected = decideBudget(next, { type: 'DecideApproval', commitmentId: carriedId, decision: 'reject', approver: { sub: 'finance-2', role: 'finance' } })
  t.match(rejected, [{ type: 'CommitmentRejected', data: { status: 'open', amountCents: 1_000, overBudget: true, overBudgetJustification: justification } }])
})

t.test('a client may not choose an id of the kind the close gives carried commitments', async (t) => {
  const state = run(initialBudgetState(NEW), { type: 'AllocateBudget', line: 'ambulatory', amountCents: 10_000n, decisionRef: 'JHA' }, 'finance-1')
  const command = (commitmentId: string): BudgetCommand => ({
    type: 'CreateCommitment',
    commitmentId,
    line: 'ambulatory',
    provider: 'p',
    caseRef: 'c',
    amountCents: 100n,
    period: { from: '2026-01-01', to: '2026-12-31' },
  })
  const taken = decideBudget(state, command(carriedCommitmentId(2025, 'burbach', ID)))
  t.match(taken, { code: 'validation', path: 'id' }, 'a version-5 UUID is refused')
  t.ok(Array.isArray(decideBudget(state, command(ID))), 'a version-4 UUID is taken')
})

t.test("a budget receives only its own Sozialraum's carry-over", async (t) => {
  let old = run(initialBudgetState({ year: 2025, sozialraum: 'malstatt' }), { type: 'AllocateBudget', line: 'flexible', amountCents: 500n, decisionRef: 'JHA' }, 'finance-1')
  old = run(old, { type: 'CloseBudget', carryUnspent: ['flexible'] }, 'finance-2')
  const refused = decideBudget(initialBudgetState(NEW), { type: 'ReceiveCarryOver', carry: carryOverOf(old) })
  t.match(refused, { code: 'validation', path: 'sozialraum' })
})

t.test('an over-budget line carries its deficit: the old line gives what it holds, the new one starts over budget, no money appears', async (t) => {
  const finance2 = { sub: 'finance-2', role: 'finance' } as const
  const period = { from: '2025-01-01', to: '2026-06-30' }
  // 1,000.00 allocated; a 1,500.00 commitment over budget, approved by finance; then raised by 19,000.00, which waits.
  let old = run(initialBudgetState(OLD), { type: 'AllocateBudget', line: 'ambulatory', amountCents: 100_000n, decisionRef: 'JHA' }, 'finance-1')
  old = run(old, { type: 'CreateCommitment', commitmentId: ID, line: 'ambulatory', provider: 'p', caseRef: 'c', amountCents: 150_000n, period, overBudgetJustification: justification })
  old = run(old, { type: 'DecideApproval', commitmentId: ID, decision: 'approve', approver: finance2 }, 'finance-2')
  old = run(old, { type: 'AmendCommitment', commitmentId: ID, amountCents: 1_900_000n, reason: 'more', overBudgetJustification: justification })
  t.match(old.commitments.get(ID), { status: 'requested', amountCents: 2_050_000n, approvedTerms: { amountCents: 150_000n } })
  t.same(old.lines.ambulatory, { allocatedCents: 100_000n, committedCents: 2_050_000n, spentCents: 0n })
  const before = held(old)

  // Named or not, the line gives up exactly the 1,000.00 it holds: not the 20,500.00 its commitment needs.
  const close = decided(old, { type: 'CloseBudget', carryUnspent: ['ambulatory'] })
  t.strictSame(close, [
    {
      type: 'CommitmentCarriedOver',
      data: { ...OLD, commitmentId: ID, line: 'ambulatory', amountCents: 2_050_000, toYear: 2026, toCommitmentId: carriedCommitmentId(2025, 'burbach', ID) },
    },
    { type: 'AllocationCarriedOver', data: { ...OLD, line: 'ambulatory', amountCents: 100_000, unspentCents: 0, toYear: 2026 } },
    { type: 'BudgetClosed', data: { ...OLD, lapsed: { ambulatory: 0, flexible: 0 } } },
  ])
  const closed = run(old, { type: 'CloseBudget', carryUnspent: ['ambulatory'] }, 'finance-2')
  t.same(closed.lines.ambulatory, { allocatedCents: 0n, committedCents: 0n, spentCents: 0n }, 'the old line keeps allocated 0 ≥ spent 0')
  t.equal(closed.carriedAllocationCents.ambulatory, 100_000n)
  t.equal(closed.unspentCarriedCents.ambulatory, 0n)

  const carry = carryOverOf(closed)
  t.same(carry.allocation, { ambulatory: 100_000n, flexible: 0n })
  const receive = decided(initialBudgetState(NEW), { type: 'ReceiveCarryOver', carry })
  t.match(receive, [
    { type: 'BudgetAllocated', data: { ...NEW, line: 'ambulatory', amountCents: 100_000, kind: 'carry-over', fromYear: 2025 } },
    { type: 'CommitmentCarriedIn', data: { ...NEW, line: 'ambulatory', amountCents: 2_050_000, approvedAmountCents: 150_000, status: 'requested' } },
  ])
  t.equal(receive.length, 2, 'one allocation, one commitment')
  const next = run(initialBudgetState(NEW), { type: 'ReceiveCarryOver', carry }, 'finance-2')
  t.same(next.lines.ambulatory, { allocatedCents: 100_000n, committedCents: 2_050_000n, spentCents: 0n })
  t.equal(availableCents(next.lines.ambulatory), -1_950_000n, 'the new line starts 19,500.00 over budget')
  t.equal(held(closed) + held(next), before, 'over both years: 1,000.00, as before the close')

  // The increase rejected in the new year: back to the 1,500.00 approved, 500.00 over budget, as in the old year.
  const carriedId = carriedCommitmentId(2025, 'burbach', ID)
  const rejected = run(next, { type: 'DecideApproval', commitmentId: carriedId, decision: 'reject', approver: finance2 }, 'finance-2')
  t.match(rejected.commitments.get(carriedId), { status: 'open', amountCents: 150_000n })
  t.same(rejected.lines.ambulatory, { allocatedCents: 100_000n, committedCents: 150_000n, spentCents: 0n })
  t.equal(availableCents(rejected.lines.ambulatory), -50_000n)
  // Released altogether: exactly the 1,000.00 granted in 2025 is left, not a cent more.
  const released = run(rejected, { type: 'ReleaseCommitment', commitmentId: carriedId, reason: 'done' })
  t.equal(availableCents(released.lines.ambulatory), 100_000n)
  t.equal(held(closed) + held(released), 100_000n, 'no money appeared')
})

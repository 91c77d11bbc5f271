import t from 'tap'
import {
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

/**
 * Guards of the year close found in review: a carried request keeps the over-budget marking a
 * second person last approved; a client may not take an id the close needs; a budget receives
 * only its own Sozialraum's carry-over.
 */

const OLD: BudgetKey = { year: 2025, sozialraum: 'burbach' }
const NEW: BudgetKey = { year: 2026, sozialraum: 'burbach' }
const ID = '00000000-0000-4000-8000-000000000001'
const justification = 'Rechtsanspruch § 27 SGB VIII'

function run(state: BudgetState, command: BudgetCommand, actorSub = 'lead-1'): BudgetState {
  const events = decideBudget(state, command)
  if (events instanceof DomainError) throw new Error(`${command.type} refused: ${events.message}`)
  return events.reduce((next, event) => evolveBudget(next, event, { recordedAt: '2025-06-01T00:00:00.000Z', actorSub }), state)
}

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

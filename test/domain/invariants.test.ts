import t from 'tap'
import {
  assertBudgetChange,
  assertBudgetInvariants,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  type BudgetCommand,
  type BudgetState,
} from '../../src/domain/budget/index.js'
import { DomainError } from '../../src/domain/errors.js'
import type { BudgetEvent } from '../../src/domain/events.js'
import { BUDGET_KEY, contextBy, uuid } from '../helpers/decider-spec.js'

/** The check a write makes on what its events touched (assertBudgetChange) finds what the sweep finds. */

function write(state: BudgetState, command: BudgetCommand): { after: BudgetState; events: BudgetEvent[] } {
  const events = decideBudget(state, command)
  if (events instanceof DomainError) throw events
  return { after: events.reduce((s, event) => evolveBudget(s, event, contextBy('lead-1')), state), events }
}

const commitment = (n: number): BudgetCommand => ({
  type: 'CreateCommitment',
  commitmentId: uuid(n),
  line: 'ambulatory',
  provider: 'Träger',
  caseRef: `CASE-${n}`,
  amountCents: 50_000n,
  period: { from: '2025-01-01', to: '2025-12-31' },
})

let state = initialBudgetState(BUDGET_KEY)
state = write(state, { type: 'AllocateBudget', line: 'ambulatory', amountCents: 1_000_000n, decisionRef: 'B-1' }).after
state = write(state, commitment(1)).after

t.test('a sound write passes both checks', async (t) => {
  const { after, events } = write(state, commitment(2))
  t.doesNotThrow(() => assertBudgetChange(state, after, events))
  t.doesNotThrow(() => assertBudgetInvariants(after))
})

t.test('a commitment changed that no event names: the sweep finds it (the property tests run it after every command)', async (t) => {
  const { after, events } = write(state, commitment(2))
  const first = after.commitments.get(uuid(1))!
  const broken = { ...after, commitments: after.commitments.set(uuid(1), { ...first, invoicedCents: 10_000n }) }
  t.throws(() => assertBudgetInvariants(broken), /invariant broken/, 'the sweep finds it')
  // The write's own check looks only at what its events name (commitment 2) and at the lines: a
  // change elsewhere that keeps them right is beyond it. evolve touches only what an event names,
  // which test/domain/budget.property.test.ts checks by running both after every command.
  t.doesNotThrow(() => assertBudgetChange(state, broken, events), 'beyond what the write touched')
})

t.test('a line that moved by more than the touched commitments is found', async (t) => {
  const { after, events } = write(state, commitment(2))
  const lines = { ...after.lines, ambulatory: { ...after.lines.ambulatory, committedCents: after.lines.ambulatory.committedCents + 1n } }
  t.throws(() => assertBudgetChange(state, { ...after, lines }, events), /committed moved by/)
})

t.test('a commitment that appeared without an event naming it is found', async (t) => {
  const { after, events } = write(state, commitment(2))
  const extra = { ...after.commitments.get(uuid(2))!, id: uuid(3) }
  t.throws(() => assertBudgetChange(state, { ...after, commitments: after.commitments.set(uuid(3), extra) }, events), /no event names/)
})

t.test('a touched commitment inconsistent in itself is found', async (t) => {
  const { after, events } = write(state, commitment(2))
  const second = after.commitments.get(uuid(2))!
  const broken = { ...after, commitments: after.commitments.set(uuid(2), { ...second, status: 'requested' as const }) }
  t.throws(() => assertBudgetChange(state, broken, events), /requester/)
})

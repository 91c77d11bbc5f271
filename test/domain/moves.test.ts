import t from 'tap'
import { type BudgetState } from '../../src/domain/budget/index.js'
import type { BudgetEvent } from '../../src/domain/events.js'
import { MAX_AMOUNT_CENTS, MAX_BALANCE_CENTS } from '../../src/domain/money.js'
import {
  BUDGET_KEY,
  NEIGHBOUR_KEY,
  allocated,
  atKey,
  balanceOf,
  budgetAfter,
  budgetAfterAt,
  budgetClosed,
  budgetSpec,
  budgetSpecAt,
  commitmentCreated,
  creditMove,
  debitMove,
  eur,
  moveCredited,
  moveDebited,
  moveRefused,
  moveReverted,
  revertMove,
  spendingRecorded,
  uuid,
  type CommitmentFixture,
  type MoveFixture,
} from '../helpers/decider-spec.js'

/**
 * DOMAIN rule 9: money moves between Sozialräume of one year in up to three steps, one per
 * stream. The source is debited first (its funds checked), so money is in transit but never
 * created; the target then credits it, or refuses it for good with an event (never with an error
 * a retry could change, except that a closed budget takes nothing); after a refusal the source is
 * credited back, once.
 */

const SOURCE = BUDGET_KEY // 2025, unteres-malstatt
const TARGET = NEIGHBOUR_KEY // 2025, unteres-alt-saarbruecken

/** 20,000.00 from the source's ambulatory line to the target's flexible line. */
const move: MoveFixture = {
  moveId: uuid(500),
  from: { sozialraum: SOURCE.sozialraum, line: 'ambulatory' },
  to: { sozialraum: TARGET.sozialraum, line: 'flexible' },
  amountCents: eur('20000'),
  reason: 'Deckungsfähigkeit: mehr Gruppenangebote im Nachbarsozialraum',
}

const familySupport: CommitmentFixture = { id: uuid(1), line: 'ambulatory' }

/** The source: 100,000.00 ambulatory of which 60,000.00 committed, 10,000.00 flexible with 4,000.00 spent. */
const source: BudgetEvent[] = [
  allocated('ambulatory', eur('100000')),
  allocated('flexible', eur('10000')),
  commitmentCreated(familySupport, eur('60000'), { status: 'requested' }),
  spendingRecorded(uuid(50), eur('4000')),
]
/** The target: 5,000.00 on each line. */
const target: BudgetEvent[] = [atKey(TARGET, allocated('ambulatory', eur('5000'))), atKey(TARGET, allocated('flexible', eur('5000')))]

const total = (state: BudgetState): bigint =>
  state.lines.ambulatory.allocatedCents + state.lines.flexible.allocatedCents - state.lines.ambulatory.spentCents - state.lines.flexible.spentCents

t.test('the debit at the source', async (t) => {
  t.test('takes the money off the line at once and records the move as outgoing', async (t) => {
    const state = budgetSpec(t).given(source).when(debitMove(move)).then([moveDebited(move)])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '80000.00', committed: '60000.00', spent: '0.00', available: '20000.00' })
    t.same(state.outgoingMoves.get(move.moveId), { line: 'ambulatory', amountCents: eur('20000'), to: move.to, reason: move.reason, reverted: false })
  })

  t.test('may take exactly what is available', async (t) => {
    const all = { ...move, amountCents: eur('40000') }
    const state = budgetSpec(t).given(source).when(debitMove(all)).then([moveDebited(all)])
    t.same(balanceOf(state, 'ambulatory').available, '0.00')
  })

  t.test('checks the line\'s funds: committed and spent money is not available', async (t) => {
    budgetSpec(t)
      .given(source)
      .when(debitMove({ ...move, amountCents: eur('40000.01') }))
      .thenFails('insufficient-funds', /ambulatory line has 40000\.00 available, 40000\.01 needed/)
    budgetSpec(t)
      .given(source)
      .when(debitMove({ ...move, from: { ...move.from, line: 'flexible' }, amountCents: eur('6000.01') }))
      .thenFails('insufficient-funds', /flexible line has 6000\.00 available/)
  })

  t.test('from a line over budget (below zero) nothing moves', async (t) => {
    const over: CommitmentFixture = { id: uuid(2), line: 'ambulatory' }
    budgetSpec(t)
      .given([
        allocated('ambulatory', eur('100')),
        commitmentCreated(over, eur('150'), { status: 'requested', overBudget: true, overBudgetJustification: 'Rechtsanspruch' }),
      ])
      .when(debitMove({ ...move, amountCents: 1n }))
      .thenFails('insufficient-funds')
  })

  t.test('never to the own Sozialraum: that is a transfer between lines', async (t) => {
    budgetSpec(t)
      .given(source)
      .when(debitMove({ ...move, to: { sozialraum: SOURCE.sozialraum, line: 'flexible' } }))
      .thenFails('validation', /another Sozialraum/)
  })

  t.test('a move must be positive and within the largest single amount', async (t) => {
    budgetSpec(t).given(source).when(debitMove({ ...move, amountCents: 0n })).thenFails('validation')
    budgetSpec(t).given(source).when(debitMove({ ...move, amountCents: -eur('1') })).thenFails('validation')
    budgetSpec(t).given(source).when(debitMove({ ...move, amountCents: MAX_AMOUNT_CENTS + 1n })).thenFails('validation')
  })

  t.test('one move id leaves once', async (t) => {
    budgetSpec(t).given([...source, moveDebited(move)]).when(debitMove({ ...move, amountCents: eur('1') })).thenFails('conflict', /exists already/)
  })

  t.test('a budget without an allocation has nothing to move', async (t) => {
    budgetSpec(t).given([]).when(debitMove(move)).thenFails('not-found')
  })

  t.test('a closed budget moves nothing', async (t) => {
    budgetSpec(t).given([...source, budgetClosed()]).when(debitMove(move)).thenFails('year-closed')
  })
})

t.test('the credit at the target', async (t) => {
  t.test('adds the money to the named line and records the move as credited', async (t) => {
    const state = budgetSpecAt(t, TARGET).given(target).when(creditMove(move)).then([moveCredited(move)])
    t.same(balanceOf(state, 'flexible'), { allocated: '25000.00', committed: '0.00', spent: '0.00', available: '25000.00' })
    t.equal(state.incomingMoves.get(move.moveId), 'credited')
    // Over both budgets, nothing was created or lost.
    const sourceAfter = budgetAfter([...source, moveDebited(move)])
    t.equal(total(sourceAfter) + total(state), total(budgetAfter(source)) + total(budgetAfterAt(TARGET, target)))
  })

  t.test('a budget without an allocation refuses it with an event, and still does not exist', async (t) => {
    const state = budgetSpecAt(t, TARGET)
      .given([])
      .when(creditMove(move))
      .then([moveRefused(move, 'budget 2025 of unteres-alt-saarbruecken has no allocation')])
    t.equal(state.exists, false)
    t.equal(state.incomingMoves.get(move.moveId), 'refused')
    t.same(balanceOf(state, 'flexible').allocated, '0.00')
  })

  t.test('a refused move is never credited afterwards, not even once the budget exists', async (t) => {
    const refused = moveRefused(move, 'budget 2025 of unteres-alt-saarbruecken has no allocation')
    budgetSpecAt(t, TARGET).given([refused]).when(creditMove(move)).thenFails('conflict', /was refused here already/)
    budgetSpecAt(t, TARGET).given([refused, ...target]).when(creditMove(move)).thenFails('conflict', /was refused here already/)
  })

  t.test('a credit beyond the limit on balances is refused with an event; exactly to the limit it is credited', async (t) => {
    const nearLimit = [atKey(TARGET, allocated('flexible', MAX_BALANCE_CENTS - eur('20000')))]
    budgetSpecAt(t, TARGET).given(nearLimit).when(creditMove(move)).then([moveCredited(move)])
    const beyond = { ...move, amountCents: eur('20000') + 1n }
    const state = budgetSpecAt(t, TARGET)
      .given(nearLimit)
      .when(creditMove(beyond))
      .then([moveRefused(beyond, "the flexible line's allocated amount would become 100000000000.01, beyond the limit of 100000000000.00")])
    t.same(balanceOf(state, 'flexible').allocated, '99999980000.00', 'the refusal changed no balance')
  })

  t.test('a move is credited once', async (t) => {
    budgetSpecAt(t, TARGET).given([...target, moveCredited(move)]).when(creditMove(move)).thenFails('conflict', /was credited here already/)
  })

  t.test('a closed budget takes nothing: year-closed, the one error a credit answers with', async (t) => {
    budgetSpecAt(t, TARGET)
      .given([...target, atKey(TARGET, budgetClosed())])
      .when(creditMove(move))
      .thenFails('year-closed', /fiscal year 2025 is closed/)
    // ... also when it has no allocation and was closed (it cannot be: closing needs one; the rule holds all the same).
    budgetSpecAt(t, TARGET).given([], (state) => ({ ...state, closed: true })).when(creditMove(move)).thenFails('year-closed')
  })
})

t.test('the revert at the source', async (t) => {
  const debited = [...source, moveDebited(move)]
  const why = 'budget 2025 of unteres-alt-saarbruecken refused the move'

  t.test('gives the source its money back', async (t) => {
    const state = budgetSpec(t).given(debited).when(revertMove(move, why)).then([moveReverted(move, why)])
    t.same(balanceOf(state, 'ambulatory'), balanceOf(budgetAfter(source), 'ambulatory'))
    t.equal(state.outgoingMoves.get(move.moveId)?.reverted, true)
  })

  t.test('once', async (t) => {
    budgetSpec(t).given([...debited, moveReverted(move, why)]).when(revertMove(move, why)).thenFails('conflict', /reverted already/)
  })

  t.test('a move that did not leave this budget is not-found', async (t) => {
    budgetSpec(t).given(debited).when(revertMove({ ...move, moveId: uuid(501) }, why)).thenFails('not-found', /did not leave budget 2025 of unteres-malstatt/)
    // ... nor one that came in here.
    budgetSpecAt(t, TARGET).given([...target, moveCredited(move)]).when(revertMove(move, why)).thenFails('not-found')
  })

  t.test('a closed source takes nothing back: the process settles moves before it closes a budget', async (t) => {
    budgetSpec(t).given([...debited, budgetClosed()]).when(revertMove(move, why)).thenFails('year-closed')
  })

  t.test('an allocation cannot take the room a move in transit left, so its revert always fits', async (t) => {
    const atLimit = [allocated('ambulatory', MAX_BALANCE_CENTS), moveDebited(move)]
    budgetSpec(t)
      .given(atLimit)
      .when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: eur('0.01'), decisionRef: 'JHA' })
      .thenFails('limit-exceeded', "the ambulatory line's allocated amount with the 20000.00 moved out would become 100000000000.01, beyond the limit of 100000000000.00")
    const state = budgetSpec(t).given(atLimit).when(revertMove(move, why)).then([moveReverted(move, why)])
    t.equal(state.lines.ambulatory.allocatedCents, MAX_BALANCE_CENTS, 'back at the limit, not beyond it')
    t.equal(state.movedOutCents.ambulatory, 0n, 'nothing counted as moved out any more')
  })

  t.test('a stream from before 0.12.5, allocated into that room, still gets its money back', async (t) => {
    const written = [allocated('ambulatory', MAX_BALANCE_CENTS), moveDebited(move), { ...allocated('ambulatory', move.amountCents) }]
    const state = budgetSpec(t).given(written).when(revertMove(move, why)).then([moveReverted(move, why)])
    t.equal(state.lines.ambulatory.allocatedCents, MAX_BALANCE_CENTS + move.amountCents, 'past the limit by what the move took, which may only shrink now')
  })

  t.test('debit, refusal, revert: both budgets end as they began', async (t) => {
    const refusedAt = budgetAfterAt(TARGET, [moveRefused(move, 'budget 2025 of unteres-alt-saarbruecken has no allocation')])
    const sourceAfter = budgetAfter([...debited, moveReverted(move, why)])
    t.equal(total(sourceAfter) + total(refusedAt), total(budgetAfter(source)))
    t.same(balanceOf(sourceAfter, 'ambulatory'), balanceOf(budgetAfter(source), 'ambulatory'))
  })
})

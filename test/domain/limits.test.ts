import t from 'tap'
import type { BudgetEvent } from '../../src/domain/events.js'
import { formatCents, MAX_AMOUNT_CENTS, MAX_BALANCE_CENTS } from '../../src/domain/money.js'
import {
  adjusted,
  allocated,
  amendCommitment,
  balanceOf,
  budgetSpec,
  commitmentAmended,
  commitmentApprovalRequested,
  commitmentCreated,
  createCommitment,
  eur,
  invoiceBooked,
  transferred,
  uuid,
  type CommitmentFixture,
} from '../helpers/decider-spec.js'

/**
 * The limit on every balance and sum the budget keeps (MAX_BALANCE_CENTS, 100,000,000,000.00):
 * a line's allocated, committed, spent and available amounts and a commitment's amount, invoiced
 * and released. A command whose events would take one beyond it is refused with limit-exceeded,
 * naming the balance, the limit and what the balance would have become; exactly at the limit is
 * accepted. The given events stand for histories of many accepted steps of at most
 * MAX_AMOUNT_CENTS each.
 */

const LIMIT = MAX_BALANCE_CENTS
const LIMIT_TEXT = formatCents(LIMIT) // '100000000000.00'
const justification = 'Hilfe zur Erziehung nach § 27 SGB VIII ist ein Rechtsanspruch'

const familySupport: CommitmentFixture = { id: uuid(1), line: 'ambulatory' }
const erziehungsbeistand: CommitmentFixture = { id: uuid(2), line: 'ambulatory' }

/** Escapes a message for a RegExp, so that the exact text is matched. */
const exactly = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)

t.test('the limit is far above any Sozialraum budget and below what numbers hold exactly', async (t) => {
  t.equal(LIMIT, 10n ** 13n, '100 billion EUR')
  t.ok(LIMIT >= 100n * MAX_AMOUNT_CENTS, 'a hundred of the largest single amounts fit')
  t.ok(LIMIT * 900n < BigInt(Number.MAX_SAFE_INTEGER), '900 balances at the limit still sum exactly in a JS number')
  t.ok(LIMIT * 900_000n < 2n ** 63n - 1n, '900,000 balances at the limit still sum exactly in a SQL BIGINT')
})

t.test('allocations', async (t) => {
  t.test('an allocation that takes the line exactly to the limit is accepted', async (t) => {
    const state = budgetSpec(t)
      .given([allocated('ambulatory', LIMIT - MAX_AMOUNT_CENTS)])
      .when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: MAX_AMOUNT_CENTS, decisionRef: 'HH-2025-100' })
      .then([allocated('ambulatory', MAX_AMOUNT_CENTS, 'HH-2025-100')])
    t.same(balanceOf(state, 'ambulatory'), { allocated: LIMIT_TEXT, committed: '0.00', spent: '0.00', available: LIMIT_TEXT })
  })

  t.test('an allocation one cent beyond the limit is refused, naming the line, the limit and the result', async (t) => {
    budgetSpec(t)
      .given([allocated('ambulatory', LIMIT - MAX_AMOUNT_CENTS + 1n)])
      .when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: MAX_AMOUNT_CENTS, decisionRef: 'HH-2025-101' })
      .thenFails(
        'limit-exceeded',
        exactly(`the ambulatory line's allocated amount would become 100000000000.01, beyond the limit of ${LIMIT_TEXT}`),
      )
  })

  t.test('each line has its own limit', async (t) => {
    budgetSpec(t)
      .given([allocated('ambulatory', LIMIT)])
      .when({ type: 'AllocateBudget', line: 'flexible', amountCents: MAX_AMOUNT_CENTS, decisionRef: 'HH-2025-102' })
      .then([allocated('flexible', MAX_AMOUNT_CENTS, 'HH-2025-102')])
  })

  t.test('other rules are asked first: an empty allocation is invalid, also at the limit', async (t) => {
    budgetSpec(t)
      .given([allocated('ambulatory', LIMIT)])
      .when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: 0n, decisionRef: 'HH-2025-103' })
      .thenFails('validation')
  })
})

t.test('adjustments and transfers', async (t) => {
  t.test('a positive adjustment to the limit is accepted, one cent more is refused', async (t) => {
    const given = budgetSpec(t).given([allocated('flexible', LIMIT - eur('10'))])
    given.when({ type: 'AdjustBudget', line: 'flexible', amountCents: eur('10'), reason: 'Nachtrag' }).then([adjusted('flexible', eur('10'), 'Nachtrag')])
    given
      .when({ type: 'AdjustBudget', line: 'flexible', amountCents: eur('10.01'), reason: 'Nachtrag' })
      .thenFails('limit-exceeded', exactly(`the flexible line's allocated amount would become 100000000000.01, beyond the limit of ${LIMIT_TEXT}`))
  })

  t.test('a transfer into a line at the limit is refused; out of it, it is accepted', async (t) => {
    const given = budgetSpec(t).given([allocated('ambulatory', LIMIT), allocated('flexible', eur('100'))])
    given
      .when({ type: 'TransferBudget', fromLine: 'flexible', toLine: 'ambulatory', amountCents: 1n, reason: 'Umschichtung' })
      .thenFails('limit-exceeded', /^the ambulatory line's allocated amount would become 100000000000\.01,/)
    given
      .when({ type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents: eur('100'), reason: 'Umschichtung' })
      .then([transferred('ambulatory', 'flexible', eur('100'), 'Umschichtung')])
  })

  t.test('a balance beyond the limit from before it existed may shrink, never grow', async (t) => {
    const given = budgetSpec(t).given([allocated('ambulatory', LIMIT + eur('5'))])
    given.when({ type: 'AdjustBudget', line: 'ambulatory', amountCents: -eur('1'), reason: 'Korrektur' }).then([adjusted('ambulatory', -eur('1'), 'Korrektur')])
    given
      .when({ type: 'AdjustBudget', line: 'ambulatory', amountCents: 1n, reason: 'Nachtrag' })
      .thenFails('limit-exceeded', /would become 100000000005\.01, beyond the limit/)
    // A commitment leaves the allocation as it is: nothing grows beyond the limit.
    given.when(createCommitment(familySupport, eur('100'))).then([commitmentCreated(familySupport, eur('100'))])
  })
})

t.test('commitments over budget', async (t) => {
  /**
   * 1,000.00 allocated and an approved over-budget commitment that binds all but 1,000.00 of the
   * limit: the line is committed to LIMIT − 1,000.00 and stands at 2,000.00 − LIMIT available.
   */
  const nearLimit: BudgetEvent[] = [
    allocated('ambulatory', eur('1000')),
    commitmentCreated(familySupport, LIMIT - eur('1000'), { overBudget: true, overBudgetJustification: justification }),
  ]

  t.test('a commitment that takes the committed amount exactly to the limit is accepted', async (t) => {
    const state = budgetSpec(t)
      .given(nearLimit)
      .when(createCommitment(erziehungsbeistand, eur('1000'), { overBudgetJustification: justification }))
      .then([
        commitmentCreated(erziehungsbeistand, eur('1000'), {
          status: 'requested',
          overBudget: true,
          overBudgetJustification: justification,
        }),
      ])
    t.equal(balanceOf(state, 'ambulatory').committed, LIMIT_TEXT)
  })

  t.test('one cent more is refused with limit-exceeded, naming the line', async (t) => {
    budgetSpec(t)
      .given(nearLimit)
      .when(createCommitment(erziehungsbeistand, eur('1000.01'), { overBudgetJustification: justification }))
      .thenFails(
        'limit-exceeded',
        exactly(`the ambulatory line's committed amount would become 100000000000.01, beyond the limit of ${LIMIT_TEXT}`),
      )
  })

  t.test('the available amount is limited in magnitude when it goes below zero', async (t) => {
    // Nothing allocated on the ambulatory line; half of the over-budget commitment is invoiced:
    // committed and spent are half the limit each, available is −(LIMIT − 1 cent).
    const overspent: BudgetEvent[] = [
      allocated('flexible', eur('100')),
      commitmentCreated(familySupport, LIMIT - 1n, { overBudget: true, overBudgetJustification: justification }),
      invoiceBooked(familySupport, 'RE-1', LIMIT / 2n),
    ]
    const given = budgetSpec(t).given(overspent)
    t.equal(balanceOf(given.state, 'ambulatory').available, '-99999999999.99')
    given
      .when(createCommitment(erziehungsbeistand, 1n, { overBudgetJustification: justification }))
      .then([commitmentCreated(erziehungsbeistand, 1n, { status: 'requested', overBudget: true, overBudgetJustification: justification })])
    given
      .when(createCommitment(erziehungsbeistand, 2n, { overBudgetJustification: justification }))
      .thenFails(
        'limit-exceeded',
        exactly(`the ambulatory line's available amount would become -100000000000.01, beyond the limit of ${LIMIT_TEXT} in magnitude`),
      )
  })
})

t.test('amendments', async (t) => {
  /**
   * The whole limit allocated; a commitment of LIMIT − 1 cent, invoiced but for 1 cent: the line
   * has 1 cent committed, LIMIT − 2 cents spent and 1 cent available.
   */
  const almostInvoiced: BudgetEvent[] = [
    allocated('ambulatory', LIMIT),
    commitmentCreated(familySupport, LIMIT - 1n),
    invoiceBooked(familySupport, 'RE-1', LIMIT - 2n),
  ]

  t.test("an amendment that takes the commitment's amount exactly to the limit is accepted", async (t) => {
    const state = budgetSpec(t)
      .given(almostInvoiced)
      .when(amendCommitment(familySupport, 1n))
      .then([commitmentApprovalRequested(familySupport), commitmentAmended(familySupport, 1n)])
    t.equal(formatCents(state.commitments.get(familySupport.id)?.amountCents ?? 0n), LIMIT_TEXT)
  })

  t.test("one cent more is refused with limit-exceeded, naming the commitment", async (t) => {
    // Over budget by 1 cent, justified: every line balance stays within the limit, the commitment does not.
    budgetSpec(t)
      .given(almostInvoiced)
      .when(amendCommitment(familySupport, 2n, { overBudgetJustification: justification }))
      .thenFails(
        'limit-exceeded',
        exactly(`commitment ${familySupport.id}'s amount would become 100000000000.01, beyond the limit of ${LIMIT_TEXT}`),
      )
  })

  t.test('an amendment that takes the line beyond the limit is refused as well', async (t) => {
    const given = budgetSpec(t).given([
      allocated('ambulatory', eur('1000')),
      commitmentCreated(familySupport, LIMIT - eur('1000'), { overBudget: true, overBudgetJustification: justification }),
      commitmentCreated(erziehungsbeistand, eur('999.99')),
    ])
    given
      .when(amendCommitment(erziehungsbeistand, 1n, { overBudgetJustification: justification }))
      .then([
        commitmentApprovalRequested(erziehungsbeistand, { overBudget: true, overBudgetJustification: justification }),
        commitmentAmended(erziehungsbeistand, 1n),
      ])
    given
      .when(amendCommitment(erziehungsbeistand, 2n, { overBudgetJustification: justification }))
      .thenFails('limit-exceeded', /^the ambulatory line's committed amount would become 100000000000\.01,/)
  })
})

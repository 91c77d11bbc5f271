import t from 'tap'
import { remainingCents, type BudgetCommand } from '../../src/domain/budget/index.js'
import type { BudgetEvent } from '../../src/domain/events.js'
import {
  BUDGET_KEY,
  adjusted,
  allocated,
  balanceOf,
  bookInvoice,
  budgetAfter,
  budgetSpec,
  closedYear,
  commitmentAmended,
  commitmentCreated,
  commitmentReleased,
  createCommitment,
  eur,
  fourEyesAt,
  invoiceBooked,
  recordSpending,
  spendingRecorded,
  spendingReversed,
  transferred,
  uuid,
  type CommitmentFixture,
} from '../helpers/decider-spec.js'

/** A case of § 31 family support, bought from a provider on the ambulatory line. */
const familySupport: CommitmentFixture = { id: uuid(1), line: 'ambulatory' }
/** A second ambulatory case. */
const erziehungsbeistand: CommitmentFixture = { id: uuid(2), line: 'ambulatory' }
/** A group offer on the flexible line. */
const groupOffer: CommitmentFixture = { id: uuid(3), line: 'flexible' }

/** The budget of 2025: 100,000.00 ambulatory, 10,000.00 flexible. */
const funded: BudgetEvent[] = [allocated('ambulatory', eur('100000')), allocated('flexible', eur('10000'))]

const justification = 'Hilfe zur Erziehung nach § 27 SGB VIII ist ein Rechtsanspruch'

t.test('allocation', async (t) => {
  t.test('a first allocation opens the budget and adds to the line', async (t) => {
    const state = budgetSpec(t)
      .given([])
      .when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: eur('250000'), decisionRef: 'JHA-2025-001' })
      .then([
        {
          type: 'BudgetAllocated',
          data: {
            year: 2025,
            sozialraum: 'unteres-malstatt',
            line: 'ambulatory',
            amountCents: 25_000_000,
            decisionRef: 'JHA-2025-001',
            kind: 'allocation',
          },
        },
      ])
    t.ok(state.exists, 'the budget exists')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '250000.00', committed: '0.00', spent: '0.00', available: '250000.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '0.00', committed: '0.00', spent: '0.00', available: '0.00' })
  })

  t.test('a further allocation with a note adds to what the line has', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when({ type: 'AllocateBudget', line: 'flexible', amountCents: eur('5000.50'), decisionRef: 'JHA-2025-017', note: 'second half' })
      .then([
        {
          type: 'BudgetAllocated',
          data: { ...BUDGET_KEY, line: 'flexible', amountCents: 500_050, decisionRef: 'JHA-2025-017', note: 'second half', kind: 'allocation' },
        },
      ])
    t.same(balanceOf(state, 'flexible').available, '15000.50')
  })

  t.test('an allocation must be positive', async (t) => {
    const when = budgetSpec(t).given(funded)
    when.when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: 0n, decisionRef: 'x' }).thenFails('validation')
    when.when({ type: 'AllocateBudget', line: 'ambulatory', amountCents: -1n, decisionRef: 'x' }).thenFails('validation')
  })
})

t.test('adjustments', async (t) => {
  t.test('a positive adjustment raises the allocation', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when({ type: 'AdjustBudget', line: 'ambulatory', amountCents: eur('1500'), reason: 'tariff increase' })
      .then([adjusted('ambulatory', eur('1500'), 'tariff increase')])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '101500.00', committed: '0.00', spent: '0.00', available: '101500.00' })
  })

  t.test('a negative adjustment within what is available lowers the allocation', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('60000'))])
      .when({ type: 'AdjustBudget', line: 'ambulatory', amountCents: -eur('40000'), reason: 'council cut' })
      .then([adjusted('ambulatory', -eur('40000'), 'council cut')])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '60000.00', committed: '60000.00', spent: '0.00', available: '0.00' })
  })

  t.test('a negative adjustment below what is available fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('60000'))])
      .when({ type: 'AdjustBudget', line: 'ambulatory', amountCents: -eur('40000.01'), reason: 'council cut' })
      .thenFails('insufficient-funds', /ambulatory line has 40000\.00 available, 40000\.01 needed/)
  })

  t.test('an adjustment of zero is not an adjustment', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when({ type: 'AdjustBudget', line: 'flexible', amountCents: 0n, reason: 'nothing' })
      .thenFails('validation')
  })
})

t.test('transfers', async (t) => {
  t.test('a transfer moves allocation from one line to the other', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when({ type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents: eur('2500'), reason: 'more group offers' })
      .then([transferred('ambulatory', 'flexible', eur('2500'), 'more group offers')])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '97500.00', committed: '0.00', spent: '0.00', available: '97500.00' })
    t.same(balanceOf(state, 'flexible'), { allocated: '12500.00', committed: '0.00', spent: '0.00', available: '12500.00' })
  })

  t.test('a transfer of everything available is allowed', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, spendingRecorded(uuid(50), eur('4000'))])
      .when({ type: 'TransferBudget', fromLine: 'flexible', toLine: 'ambulatory', amountCents: eur('6000'), reason: 'year end' })
      .then([transferred('flexible', 'ambulatory', eur('6000'), 'year end')])
    t.same(balanceOf(state, 'flexible'), { allocated: '4000.00', committed: '0.00', spent: '4000.00', available: '0.00' })
  })

  t.test('a transfer within one line fails with validation', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when({ type: 'TransferBudget', fromLine: 'flexible', toLine: 'flexible', amountCents: eur('1'), reason: 'x' })
      .thenFails('validation', /different lines/)
  })

  t.test('a transfer must be positive', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when({ type: 'TransferBudget', fromLine: 'flexible', toLine: 'ambulatory', amountCents: 0n, reason: 'x' })
      .thenFails('validation')
  })

  t.test('a transfer beyond what the source line has available fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(groupOffer, eur('3000'))])
      .when({ type: 'TransferBudget', fromLine: 'flexible', toLine: 'ambulatory', amountCents: eur('7000.01'), reason: 'x' })
      .thenFails('insufficient-funds', /flexible line has 7000\.00 available/)
  })
})

t.test('a budget without an allocation does not exist yet', async (t) => {
  const commands: BudgetCommand[] = [
    { type: 'AdjustBudget', line: 'ambulatory', amountCents: eur('10'), reason: 'x' },
    { type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents: eur('10'), reason: 'x' },
    createCommitment(familySupport, eur('10'), { overBudgetJustification: justification }),
    { type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('10'), reason: 'x' },
    bookInvoice(familySupport, 'R-1', eur('10')),
    { type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'x' },
    recordSpending(uuid(50), eur('10')),
    { type: 'ReverseSpending', spendingId: uuid(50), reason: 'x' },
  ]
  for (const command of commands) {
    t.test(`${command.type} fails with not-found`, async (t) => {
      budgetSpec(t).given([]).when(command).thenFails('not-found', /2025 of unteres-malstatt has no allocation yet/)
    })
  }
})

t.test('commitments', async (t) => {
  // Amounts of new commitments stay below 10,000.00, the default four-eyes threshold of rule 6.
  t.test('a commitment within the line reserves its funds and is open', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when({
        type: 'CreateCommitment',
        commitmentId: familySupport.id,
        line: 'ambulatory',
        provider: 'traeger-a',
        caseRef: 'case-7f3a',
        helpType: 'sgb8-31',
        amountCents: eur('9600'),
        period: { from: '2025-01-01', to: '2025-12-31' },
        decisionRef: 'KB-2025-044',
      })
      .then([
        {
          type: 'CommitmentCreated',
          data: {
            ...BUDGET_KEY,
            commitmentId: familySupport.id,
            line: 'ambulatory',
            provider: 'traeger-a',
            caseRef: 'case-7f3a',
            helpType: 'sgb8-31',
            amountCents: 960_000,
            period: { from: '2025-01-01', to: '2025-12-31' },
            decisionRef: 'KB-2025-044',
            status: 'open',
            overBudget: false,
          },
        },
      ])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '9600.00', spent: '0.00', available: '90400.00' })
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.createdBy, 'finance-controller-1', 'evolve takes the actor from the event context')
  })

  t.test('a period of a single day is allowed', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when(createCommitment(groupOffer, eur('100'), { period: { from: '2025-05-05', to: '2025-05-05' } }))
      .then([commitmentCreated(groupOffer, eur('100'), { period: { from: '2025-05-05', to: '2025-05-05' } })])
  })

  t.test('a commitment id used before fails with conflict', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('1000'))])
      .when(createCommitment(familySupport, eur('1000')))
      .thenFails('conflict', /exists already/)
  })

  t.test('a commitment id used before fails with conflict even after it is closed', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('1000')), commitmentReleased(familySupport, eur('1000'))])
      .when(createCommitment(familySupport, eur('1000')))
      .thenFails('conflict')
  })

  t.test('a period that ends before it starts fails with validation', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when(createCommitment(familySupport, eur('1000'), { period: { from: '2025-07-01', to: '2025-06-30' } }))
      .thenFails('validation', /period/)
  })

  t.test('a commitment must be positive', async (t) => {
    budgetSpec(t).given(funded).when(createCommitment(familySupport, 0n)).thenFails('validation')
  })

  t.test('a flexible commitment beyond the line fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when(createCommitment(groupOffer, eur('10000.01')))
      .thenFails('insufficient-funds', /flexible line has 10000\.00 available, 10000\.01 needed/)
  })

  t.test('a flexible commitment beyond the line fails even with a justification: the flexible line never goes below zero', async (t) => {
    budgetSpec(t)
      .given(funded)
      .when(createCommitment(groupOffer, eur('10000.01'), { overBudgetJustification: justification }))
      .thenFails('insufficient-funds')
  })

  t.test('a flexible commitment of exactly what is available is allowed', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, spendingRecorded(uuid(50), eur('2000'))])
      .when(createCommitment(groupOffer, eur('8000')))
      .then([commitmentCreated(groupOffer, eur('8000'))])
    t.same(balanceOf(state, 'flexible').available, '0.00')
  })

  t.test('an ambulatory commitment beyond the line without a justification fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('90000'))])
      .when(createCommitment(erziehungsbeistand, eur('10000.01')))
      .thenFails('insufficient-funds', /needs an over-budget justification/)
  })

  t.test('an ambulatory commitment beyond the line with a justification is created over budget and waits for approval', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('90000'))])
      .when(createCommitment(erziehungsbeistand, eur('18000'), { overBudgetJustification: justification }))
      .then([
        commitmentCreated(erziehungsbeistand, eur('18000'), {
          status: 'requested',
          overBudget: true,
          overBudgetJustification: justification,
        }),
      ])
    // It already reserves its funds (rule 6), so the line shows the overrun.
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '108000.00', spent: '0.00', available: '-8000.00' })
    const commitment = state.commitments.get(erziehungsbeistand.id)
    t.equal(commitment?.status, 'requested')
    t.equal(commitment?.overBudget, true)
    t.equal(commitment?.overBudgetJustification, justification)
  })

  t.test('a justification on a commitment within the line is not stored and the commitment is an ordinary open one', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, commitmentCreated(erziehungsbeistand, eur('95000'))])
      .when(createCommitment(familySupport, eur('5000'), { overBudgetJustification: justification }))
      .then([commitmentCreated(familySupport, eur('5000'))])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.overBudget, false)
    t.equal(commitment?.overBudgetJustification, undefined)
  })

  t.test('an empty over-budget justification is no justification', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(familySupport, eur('95000'))])
      .when(createCommitment(erziehungsbeistand, eur('9000'), { overBudgetJustification: '' }))
      .thenFails('insufficient-funds', /needs an over-budget justification/)
  })

  t.test('once the line is over budget, any further ambulatory commitment needs a justification too', async (t) => {
    budgetSpec(t)
      .given([
        ...funded,
        commitmentCreated(familySupport, eur('120000'), { status: 'requested', overBudget: true, overBudgetJustification: justification }),
      ])
      .when(createCommitment(erziehungsbeistand, eur('0.01')))
      .thenFails('insufficient-funds', /-20000\.00 available/)
  })
})

t.test('amendments', async (t) => {
  const withCommitment = [...funded, commitmentCreated(familySupport, eur('24000'))]
  // These specs are about funds (rule 1) and invoices (rule 3). An increase that leaves a
  // commitment at or above the four-eyes threshold waits for approval (rule 6, see
  // four-eyes.test.ts), so the funds specs run with a threshold above every amount here.
  const fundsOnly = { policy: fourEyesAt(eur('1000000')) }

  t.test('an increase within the line raises the commitment', async (t) => {
    const state = budgetSpec(t, fundsOnly)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('6000'), reason: 'more hours' })
      .then([commitmentAmended(familySupport, eur('6000'), 'more hours')])
    t.equal(state.commitments.get(familySupport.id)?.amountCents, eur('30000'))
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '30000.00', spent: '0.00', available: '70000.00' })
  })

  t.test('an increase of exactly what is available is allowed', async (t) => {
    const state = budgetSpec(t, fundsOnly)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('76000'), reason: 'x' })
      .then([commitmentAmended(familySupport, eur('76000'), 'x')])
    t.same(balanceOf(state, 'ambulatory').available, '0.00')
    t.equal(state.commitments.get(familySupport.id)?.status, 'open')
  })

  t.test('an increase beyond the line fails with insufficient-funds', async (t) => {
    budgetSpec(t, fundsOnly)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('76000.01'), reason: 'x' })
      .thenFails('insufficient-funds', /76000\.00 available/)
  })

  t.test('a decrease returns money to the line', async (t) => {
    const state = budgetSpec(t)
      .given([...withCommitment, invoiceBooked(familySupport, 'R-1', eur('2000'))])
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: -eur('10000'), reason: 'fewer hours' })
      .then([commitmentAmended(familySupport, -eur('10000'), 'fewer hours')])
    t.equal(state.commitments.get(familySupport.id)?.status, 'open')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '12000.00', spent: '2000.00', available: '86000.00' })
  })

  t.test('a decrease below what is already invoiced fails with exceeds-commitment', async (t) => {
    budgetSpec(t)
      .given([...withCommitment, invoiceBooked(familySupport, 'R-1', eur('5000'))])
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: -eur('19000.01'), reason: 'x' })
      .thenFails('exceeds-commitment', /5000\.00 invoiced/)
  })

  t.test('a decrease to exactly what is invoiced closes the commitment', async (t) => {
    const state = budgetSpec(t)
      .given([...withCommitment, invoiceBooked(familySupport, 'R-1', eur('5000'))])
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: -eur('19000'), reason: 'case ended' })
      .then([commitmentAmended(familySupport, -eur('19000'), 'case ended')])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'closed')
    t.equal(commitment && remainingCents(commitment), 0n)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '5000.00', available: '95000.00' })
  })

  t.test('a decrease to zero with nothing invoiced fails with validation: release it instead', async (t) => {
    budgetSpec(t)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: -eur('24000'), reason: 'x' })
      .thenFails('validation', /release/)
  })

  t.test('an amendment of zero fails with validation', async (t) => {
    budgetSpec(t)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: 0n, reason: 'x' })
      .thenFails('validation')
  })

  t.test('an amendment of a closed commitment fails with commitment-closed', async (t) => {
    budgetSpec(t)
      .given([...withCommitment, commitmentReleased(familySupport, eur('24000'))])
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('100'), reason: 'x' })
      .thenFails('commitment-closed', /closed/)
  })

  t.test('an amendment of a commitment that waits for approval fails with approval-required, even a decrease that ends an overrun', async (t) => {
    // Rule 6 (four-eyes.test.ts): what waits does not change until it is decided; the requester
    // withdraws the request instead, or a release ends the overrun (see release).
    const overBudget = [
      ...funded,
      commitmentCreated(familySupport, eur('120000'), { status: 'requested', overBudget: true, overBudgetJustification: justification }),
    ]
    budgetSpec(t, fundsOnly)
      .given(overBudget)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: -eur('20000'), reason: 'x' })
      .thenFails('approval-required', /waits for approval/)
    budgetSpec(t, fundsOnly)
      .given(overBudget)
      .when({ type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('100'), reason: 'x', overBudgetJustification: justification })
      .thenFails('approval-required', /waits for approval/)
  })

  t.test('an amendment of an unknown commitment fails with not-found', async (t) => {
    budgetSpec(t)
      .given(withCommitment)
      .when({ type: 'AmendCommitment', commitmentId: erziehungsbeistand.id, amountCents: eur('100'), reason: 'x' })
      .thenFails('not-found', /does not exist/)
  })
})

t.test('invoices', async (t) => {
  const withCommitment = [...funded, commitmentCreated(familySupport, eur('24000'))]

  t.test('an invoice moves its amount from committed to spent', async (t) => {
    const state = budgetSpec(t)
      .given(withCommitment)
      .when(bookInvoice(familySupport, 'R-2025-01', eur('2000'), '2025-01-31'))
      .then([invoiceBooked(familySupport, 'R-2025-01', eur('2000'), '2025-01-31')])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.invoicedCents, eur('2000'))
    t.same(commitment?.invoices, [{ invoiceNo: 'R-2025-01', amountCents: eur('2000'), invoiceDate: '2025-01-31' }])
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '22000.00', spent: '2000.00', available: '76000.00' })
  })

  t.test('an invoice above the remainder fails with exceeds-commitment', async (t) => {
    budgetSpec(t)
      .given([...withCommitment, invoiceBooked(familySupport, 'R-1', eur('20000'))])
      .when(bookInvoice(familySupport, 'R-2', eur('4000.01')))
      .thenFails('exceeds-commitment', /exceeds the remaining 4000\.00/)
  })

  t.test('an invoice number booked on the same commitment before fails with conflict', async (t) => {
    budgetSpec(t)
      .given([...withCommitment, invoiceBooked(familySupport, 'R-1', eur('2000'))])
      .when(bookInvoice(familySupport, 'R-1', eur('2000')))
      .thenFails('conflict', /R-1 is booked/)
  })

  t.test('the same invoice number on another commitment is fine', async (t) => {
    budgetSpec(t)
      .given([
        ...withCommitment,
        commitmentCreated(erziehungsbeistand, eur('12000')),
        invoiceBooked(familySupport, 'R-1', eur('2000')),
      ])
      .when(bookInvoice(erziehungsbeistand, 'R-1', eur('1000')))
      .then([invoiceBooked(erziehungsbeistand, 'R-1', eur('1000'))])
  })

  t.test('an invoice on a commitment that waits for approval fails with approval-required', async (t) => {
    budgetSpec(t)
      .given([
        ...funded,
        commitmentCreated(familySupport, eur('120000'), { status: 'requested', overBudget: true, overBudgetJustification: justification }),
      ])
      .when(bookInvoice(familySupport, 'R-1', eur('1000')))
      .thenFails('approval-required', /waits for approval/)
  })

  t.test('an invoice must be positive', async (t) => {
    budgetSpec(t).given(withCommitment).when(bookInvoice(familySupport, 'R-1', 0n)).thenFails('validation')
  })

  t.test('an invoice on an unknown commitment fails with not-found', async (t) => {
    budgetSpec(t).given(withCommitment).when(bookInvoice(erziehungsbeistand, 'R-1', eur('1'))).thenFails('not-found')
  })

  t.test('the invoice that uses up the remainder closes the commitment, which then takes no more invoices', async (t) => {
    const given = [...withCommitment, invoiceBooked(familySupport, 'R-1', eur('20000'))]
    const state = budgetSpec(t)
      .given(given)
      .when(bookInvoice(familySupport, 'R-2', eur('4000')))
      .then([invoiceBooked(familySupport, 'R-2', eur('4000'))])
    t.equal(state.commitments.get(familySupport.id)?.status, 'closed')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '24000.00', available: '76000.00' })

    budgetSpec(t)
      .given([...given, invoiceBooked(familySupport, 'R-2', eur('4000'))])
      .when(bookInvoice(familySupport, 'R-3', eur('0.01')))
      .thenFails('commitment-closed', /is closed/)
  })
})

t.test('release', async (t) => {
  const invoicedInPart = [
    ...funded,
    commitmentCreated(familySupport, eur('24000')),
    invoiceBooked(familySupport, 'R-1', eur('6000')),
  ]

  t.test('a release returns the remainder to the line and closes the commitment', async (t) => {
    const state = budgetSpec(t)
      .given(invoicedInPart)
      .when({ type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'case closed' })
      .then([commitmentReleased(familySupport, eur('18000'), 'case closed')])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'closed')
    t.equal(commitment?.releasedCents, eur('18000'))
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '6000.00', available: '94000.00' })
  })

  t.test('a commitment that waits for approval can be released, which ends the overrun', async (t) => {
    const state = budgetSpec(t)
      .given([
        ...funded,
        commitmentCreated(familySupport, eur('120000'), { status: 'requested', overBudget: true, overBudgetJustification: justification }),
      ])
      .when({ type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'withdrawn' })
      .then([commitmentReleased(familySupport, eur('120000'), 'withdrawn')])
    t.same(balanceOf(state, 'ambulatory').available, '100000.00')
  })

  t.test('a release of a released commitment fails with commitment-closed', async (t) => {
    budgetSpec(t)
      .given([...invoicedInPart, commitmentReleased(familySupport, eur('18000'))])
      .when({ type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'again' })
      .thenFails('commitment-closed')
  })

  t.test('a release of a fully invoiced commitment fails with commitment-closed', async (t) => {
    budgetSpec(t)
      .given([...invoicedInPart, invoiceBooked(familySupport, 'R-2', eur('18000'))])
      .when({ type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'x' })
      .thenFails('commitment-closed')
  })

  t.test('a release of an unknown commitment fails with not-found', async (t) => {
    budgetSpec(t)
      .given(invoicedInPart)
      .when({ type: 'ReleaseCommitment', commitmentId: erziehungsbeistand.id, reason: 'x' })
      .thenFails('not-found')
  })
})

t.test('flexible spending', async (t) => {
  t.test('a spending within the flexible line is recorded as spent', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when({
        type: 'RecordSpending',
        spendingId: uuid(50),
        amountCents: eur('149.90'),
        purpose: 'craft materials for the Kita group',
        category: 'materials',
        receiptRef: 'Beleg-2025-0042',
        date: '2025-03-12',
      })
      .then([
        {
          type: 'SpendingRecorded',
          data: {
            ...BUDGET_KEY,
            spendingId: uuid(50),
            amountCents: 14_990,
            purpose: 'craft materials for the Kita group',
            category: 'materials',
            receiptRef: 'Beleg-2025-0042',
            date: '2025-03-12',
          },
        },
      ])
    t.same(balanceOf(state, 'flexible'), { allocated: '10000.00', committed: '0.00', spent: '149.90', available: '9850.10' })
    t.same(balanceOf(state, 'ambulatory').available, '100000.00', 'the ambulatory line is untouched')
  })

  t.test('a spending beyond what the flexible line has available fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given([...funded, commitmentCreated(groupOffer, eur('6000'))])
      .when(recordSpending(uuid(50), eur('4000.01')))
      .thenFails('insufficient-funds', /flexible line has 4000\.00 available, 4000\.01 needed/)
  })

  t.test('a spending that takes the flexible line to exactly zero is allowed', async (t) => {
    const state = budgetSpec(t)
      .given([...funded, commitmentCreated(groupOffer, eur('6000'))])
      .when(recordSpending(uuid(50), eur('4000')))
      .then([spendingRecorded(uuid(50), eur('4000'))])
    t.same(balanceOf(state, 'flexible'), { allocated: '10000.00', committed: '6000.00', spent: '4000.00', available: '0.00' })
  })

  t.test('a spending id used before fails with conflict', async (t) => {
    budgetSpec(t)
      .given([...funded, spendingRecorded(uuid(50), eur('10'))])
      .when(recordSpending(uuid(50), eur('10')))
      .thenFails('conflict')
  })

  t.test('a spending must be positive', async (t) => {
    budgetSpec(t).given(funded).when(recordSpending(uuid(50), 0n)).thenFails('validation')
  })
})

t.test('reversal', async (t) => {
  const withSpending = [...funded, spendingRecorded(uuid(50), eur('300'))]

  t.test('a reversal cancels the spending and returns its amount', async (t) => {
    const state = budgetSpec(t)
      .given(withSpending)
      .when({ type: 'ReverseSpending', spendingId: uuid(50), reason: 'booked twice' })
      .then([spendingReversed(uuid(50), eur('300'), 'booked twice')])
    t.equal(state.spendings.get(uuid(50))?.reversed, true)
    t.same(balanceOf(state, 'flexible'), { allocated: '10000.00', committed: '0.00', spent: '0.00', available: '10000.00' })
  })

  t.test('a second reversal of the same spending fails with conflict', async (t) => {
    budgetSpec(t)
      .given([...withSpending, spendingReversed(uuid(50), eur('300'))])
      .when({ type: 'ReverseSpending', spendingId: uuid(50), reason: 'again' })
      .thenFails('conflict', /reversed already/)
  })

  t.test('a reversal of an unknown spending fails with not-found', async (t) => {
    budgetSpec(t)
      .given(withSpending)
      .when({ type: 'ReverseSpending', spendingId: uuid(51), reason: 'x' })
      .thenFails('not-found')
  })
})

t.test('a closed fiscal year takes no new events', async (t) => {
  const history = [
    ...funded,
    commitmentCreated(familySupport, eur('24000')),
    spendingRecorded(uuid(50), eur('300')),
  ]
  const commands: BudgetCommand[] = [
    { type: 'AllocateBudget', line: 'ambulatory', amountCents: eur('10'), decisionRef: 'x' },
    { type: 'AdjustBudget', line: 'ambulatory', amountCents: eur('10'), reason: 'x' },
    { type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents: eur('10'), reason: 'x' },
    createCommitment(erziehungsbeistand, eur('10')),
    { type: 'AmendCommitment', commitmentId: familySupport.id, amountCents: eur('10'), reason: 'x' },
    bookInvoice(familySupport, 'R-1', eur('10')),
    { type: 'ReleaseCommitment', commitmentId: familySupport.id, reason: 'x' },
    recordSpending(uuid(51), eur('10')),
    { type: 'ReverseSpending', spendingId: uuid(50), reason: 'x' },
  ]
  for (const command of commands) {
    t.test(`${command.type} fails with year-closed`, async (t) => {
      budgetSpec(t).given(history, closedYear).when(command).thenFails('year-closed', /fiscal year 2025 is closed/)
    })
  }
  t.test('even before the budget exists', async (t) => {
    budgetSpec(t)
      .given([], closedYear)
      .when({ type: 'AllocateBudget', line: 'flexible', amountCents: eur('10'), decisionRef: 'x' })
      .thenFails('year-closed')
  })
})

t.test('balances over a year follow from the events', async (t) => {
  const year: BudgetEvent[] = [
    allocated('ambulatory', eur('100000')),
    allocated('flexible', eur('10000')),
    adjusted('ambulatory', eur('5000')),
    adjusted('flexible', -eur('1000')),
    transferred('ambulatory', 'flexible', eur('3000')),
    commitmentCreated(familySupport, eur('24000')),
    commitmentAmended(familySupport, eur('6000')),
    invoiceBooked(familySupport, 'R-1', eur('2500')),
    invoiceBooked(familySupport, 'R-2', eur('2500')),
    commitmentCreated(erziehungsbeistand, eur('12000')),
    invoiceBooked(erziehungsbeistand, 'R-1', eur('1000')),
    commitmentReleased(erziehungsbeistand, eur('11000')),
    commitmentCreated(groupOffer, eur('2000')),
    invoiceBooked(groupOffer, 'R-9', eur('500')),
    spendingRecorded(uuid(50), eur('300')),
    spendingRecorded(uuid(51), eur('120.55')),
    spendingReversed(uuid(51), eur('120.55')),
  ]
  const state = budgetAfter(year)
  // ambulatory: allocated 100000 + 5000 − 3000 = 102000; committed (30000 − 5000) + 0 = 25000;
  // spent 5000 + 1000 = 6000; available 102000 − 25000 − 6000 = 71000
  t.same(balanceOf(state, 'ambulatory'), { allocated: '102000.00', committed: '25000.00', spent: '6000.00', available: '71000.00' })
  // flexible: allocated 10000 − 1000 + 3000 = 12000; committed 1500; spent 500 + 300 = 800
  t.same(balanceOf(state, 'flexible'), { allocated: '12000.00', committed: '1500.00', spent: '800.00', available: '9700.00' })
  t.same(
    [...state.commitments.values()].map((c) => [c.id, c.status]),
    [
      [familySupport.id, 'open'],
      [erziehungsbeistand.id, 'closed'],
      [groupOffer.id, 'open'],
    ],
  )

  t.test('and the next command is decided on those balances', async (t) => {
    budgetSpec(t).given(year).when(recordSpending(uuid(52), eur('9700.01'))).thenFails('insufficient-funds')
    budgetSpec(t).given(year).when(recordSpending(uuid(52), eur('9700'))).then([spendingRecorded(uuid(52), eur('9700'))])
  })
})

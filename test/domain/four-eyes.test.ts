import t from 'tap'
import { remainingCents, type Approver } from '../../src/domain/budget/index.js'
import type { BudgetEvent } from '../../src/domain/events.js'
import {
  CONTEXT,
  allocated,
  amendCommitment,
  balanceOf,
  bookInvoice,
  budgetAfter,
  budgetSpec,
  by,
  commitmentAmended,
  commitmentApprovalRequested,
  commitmentApproved,
  commitmentCreated,
  commitmentRejected,
  commitmentReleased,
  createCommitment,
  decideApproval,
  eur,
  fourEyesAt,
  invoiceBooked,
  releaseCommitment,
  uuid,
  type CommitmentFixture,
  type GivenEvent,
} from '../helpers/decider-spec.js'

/**
 * DOMAIN rule 6 (four eyes) and the approval part of rule 1 (over budget): a commitment at or
 * above the threshold (default 10,000.00), or beyond its line, waits for a second person's
 * approval before it takes invoices; while it waits it reserves its funds and does not change, so
 * an approval covers what the approver saw; a rejection releases them, or, after an amendment,
 * withdraws only what was asked for since the last approval. Whoever asked may not approve, but
 * may withdraw the request, which is a rejection like any other.
 */

const teamlead1: Approver = { sub: 'teamlead-1', role: 'teamlead' }
const teamlead2: Approver = { sub: 'teamlead-2', role: 'teamlead' }
const finance: Approver = { sub: 'finance-1', role: 'finance' }
const auditor: Approver = { sub: 'auditor-1', role: 'auditor' }

/** A case of § 31 family support on the ambulatory line. */
const familySupport: CommitmentFixture = { id: uuid(1), line: 'ambulatory' }
/** A second ambulatory case. */
const erziehungsbeistand: CommitmentFixture = { id: uuid(2), line: 'ambulatory' }
/** A group offer on the flexible line. */
const groupOffer: CommitmentFixture = { id: uuid(3), line: 'flexible' }

/** The budget of 2025: 100,000.00 ambulatory, 10,000.00 flexible. */
const funded: BudgetEvent[] = [allocated('ambulatory', eur('100000')), allocated('flexible', eur('10000'))]

const justification = 'Hilfe zur Erziehung nach § 27 SGB VIII ist ein Rechtsanspruch'

/** teamlead-1 asked for 12,000.00 for family support; it waits for approval. */
const requested: GivenEvent<BudgetEvent>[] = [
  ...funded,
  by(teamlead1.sub, commitmentCreated(familySupport, eur('12000'), { status: 'requested' })),
]

/** The ambulatory line is committed up to 5,000.00; teamlead-1 asked for 9,000.00 beyond it, justified. */
const overBudgetRequested: GivenEvent<BudgetEvent>[] = [
  ...funded,
  by(teamlead1.sub, commitmentCreated(erziehungsbeistand, eur('95000'), { status: 'requested' })),
  by(finance.sub, commitmentApproved(erziehungsbeistand)),
  by(teamlead1.sub, commitmentCreated(familySupport, eur('9000'), { status: 'requested', overBudget: true, overBudgetJustification: justification })),
]

/** teamlead-1 committed 8,000.00 (open, no approval needed) and invoiced 1,000.00 of it. */
const openBelowThreshold: GivenEvent<BudgetEvent>[] = [
  ...funded,
  by(teamlead1.sub, commitmentCreated(familySupport, eur('8000'))),
  by(teamlead1.sub, invoiceBooked(familySupport, 'R-1', eur('1000'))),
]

/** ... then teamlead-2 raised it by 4,000.00 to 12,000.00, which waits for approval again. */
const raisedToThreshold: GivenEvent<BudgetEvent>[] = [
  ...openBelowThreshold,
  by(teamlead2.sub, commitmentApprovalRequested(familySupport)),
  by(teamlead2.sub, commitmentAmended(familySupport, eur('4000'))),
]

t.test('creating a commitment', async (t) => {
  t.test('below the threshold it is open and takes invoices at once', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when(createCommitment(familySupport, eur('9999.99')), { by: teamlead1.sub })
      .then([commitmentCreated(familySupport, eur('9999.99'))])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.requestedBy, undefined, 'nobody waits for a decision')
    t.equal(commitment?.approvedTerms.amountCents, eur('9999.99'), 'what nobody else needs to see counts as agreed')
    t.equal(commitment?.lastDecision, undefined)
    budgetSpec(t)
      .given([...funded, by(teamlead1.sub, commitmentCreated(familySupport, eur('9999.99')))])
      .when(bookInvoice(familySupport, 'R-1', eur('500')))
      .then([invoiceBooked(familySupport, 'R-1', eur('500'))])
  })

  t.test('exactly at the threshold it waits for approval and already reserves its funds', async (t) => {
    const state = budgetSpec(t)
      .given(funded)
      .when(createCommitment(familySupport, eur('10000')), { by: teamlead1.sub })
      .then([commitmentCreated(familySupport, eur('10000'), { status: 'requested' })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'requested')
    t.equal(commitment?.overBudget, false)
    t.equal(commitment?.requestedBy, teamlead1.sub, 'its creator asked for it')
    t.equal(commitment?.approvedTerms.amountCents, 0n, 'nothing is approved yet')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '10000.00', spent: '0.00', available: '90000.00' })
  })

  t.test('beyond the line, justified, it waits for approval and is over budget, even below the threshold', async (t) => {
    const state = budgetSpec(t)
      .given(overBudgetRequested.slice(0, -1))
      .when(createCommitment(familySupport, eur('9000'), { overBudgetJustification: justification }), { by: teamlead1.sub })
      .then([commitmentCreated(familySupport, eur('9000'), { status: 'requested', overBudget: true, overBudgetJustification: justification })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'requested')
    t.equal(commitment?.overBudget, true)
    t.equal(commitment?.overBudgetJustification, justification)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '104000.00', spent: '0.00', available: '-4000.00' })
  })

  t.test('a custom policy moves the threshold', async (t) => {
    const policy = fourEyesAt(eur('5000'))
    budgetSpec(t, { policy })
      .given(funded)
      .when(createCommitment(groupOffer, eur('5000')))
      .then([commitmentCreated(groupOffer, eur('5000'), { status: 'requested' })])
    budgetSpec(t, { policy })
      .given(funded)
      .when(createCommitment(groupOffer, eur('4999.99')))
      .then([commitmentCreated(groupOffer, eur('4999.99'))])
    // The same 5,000.00 is an ordinary open commitment under the default threshold.
    budgetSpec(t)
      .given(funded)
      .when(createCommitment(groupOffer, eur('5000')))
      .then([commitmentCreated(groupOffer, eur('5000'))])
    // An increase to the custom threshold waits for approval too.
    budgetSpec(t, { policy })
      .given([...funded, commitmentCreated(groupOffer, eur('4000'))])
      .when(amendCommitment(groupOffer, eur('1000')), { by: teamlead2.sub })
      .then([commitmentApprovalRequested(groupOffer), commitmentAmended(groupOffer, eur('1000'))])
  })
})

t.test('a requested commitment takes no invoices', async (t) => {
  budgetSpec(t)
    .given(requested)
    .when(bookInvoice(familySupport, 'R-1', eur('100')))
    .thenFails('approval-required', /waits for approval/)
  budgetSpec(t)
    .given(overBudgetRequested)
    .when(bookInvoice(familySupport, 'R-1', eur('100')))
    .thenFails('approval-required')
})

t.test('who may decide', async (t) => {
  t.test('the requester may not approve their own request, not even in another role', async (t) => {
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', teamlead1))
      .thenFails('forbidden', /teamlead-1 asked for commitment .*a second person must approve it/)
    // It is the person who counts.
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', { sub: teamlead1.sub, role: 'finance' }))
      .thenFails('forbidden', /second person/)
  })

  t.test('the requester may withdraw their own request: a rejection that frees the funds', async (t) => {
    const state = budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'reject', teamlead1, 'the family moved away'))
      .then([commitmentRejected(familySupport, eur('12000'), { status: 'rejected', comment: 'the family moved away' })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'rejected')
    t.equal(commitment?.releasedCents, eur('12000'))
    t.equal(commitment && remainingCents(commitment), 0n)
    t.equal(commitment?.requestedBy, undefined, 'nobody waits for a decision any more')
    t.same(
      commitment?.lastDecision,
      { decision: 'reject', by: teamlead1.sub, at: CONTEXT.recordedAt, comment: 'the family moved away' },
      'the withdrawal is recorded as the requester\'s own rejection',
    )
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '0.00', available: '100000.00' })
    // It is the person who counts, in whatever role they now decide.
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'reject', { sub: teamlead1.sub, role: 'finance' }))
      .then([commitmentRejected(familySupport, eur('12000'), { status: 'rejected' })])
  })

  t.test('the role comes first: a requester who decides as an auditor may not even withdraw', async (t) => {
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'reject', { sub: teamlead1.sub, role: 'auditor' }))
      .thenFails('forbidden', /auditor does not decide/)
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', { sub: teamlead1.sub, role: 'auditor' }))
      .thenFails('forbidden', /auditor does not decide/)
  })

  t.test('a second team lead approves: the commitment is open and takes invoices', async (t) => {
    const state = budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', teamlead2, 'collegial consultation of 2025-02-03'))
      .then([commitmentApproved(familySupport, 'collegial consultation of 2025-02-03')])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.requestedBy, undefined)
    t.same(commitment?.approvedTerms, { amountCents: eur('12000'), overBudget: false, overBudgetJustification: undefined })
    t.same(commitment?.lastDecision, {
      decision: 'approve',
      by: teamlead2.sub,
      at: CONTEXT.recordedAt,
      comment: 'collegial consultation of 2025-02-03',
    })
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '12000.00', spent: '0.00', available: '88000.00' }, 'approval moves no money')

    budgetSpec(t)
      .given([...requested, by(teamlead2.sub, commitmentApproved(familySupport))])
      .when(bookInvoice(familySupport, 'R-1', eur('1000')))
      .then([invoiceBooked(familySupport, 'R-1', eur('1000'))])
  })

  t.test('a team lead who did not ask may neither approve nor reject an over-budget commitment', async (t) => {
    budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'approve', teamlead2))
      .thenFails('forbidden', /over budget; only finance decides/)
    budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'reject', teamlead2))
      .thenFails('forbidden', /over budget; only finance decides/)
  })

  t.test('the team lead who asked for an over-budget commitment may withdraw it, not approve it', async (t) => {
    budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'approve', teamlead1))
      .thenFails('forbidden', /teamlead-1 asked for commitment .*a second person must approve it/)
    const state = budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'reject', teamlead1))
      .then([commitmentRejected(familySupport, eur('9000'), { status: 'rejected', overBudget: true, overBudgetJustification: justification })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'rejected')
    t.equal(commitment?.lastDecision?.by, teamlead1.sub)
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '95000.00', spent: '0.00', available: '5000.00' }, 'the overrun ends')
  })

  t.test('finance approves an over-budget commitment, which stays marked as over budget', async (t) => {
    const state = budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'approve', finance))
      .then([commitmentApproved(familySupport)])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.overBudget, true)
    t.equal(commitment?.overBudgetJustification, justification)
    t.same(commitment?.approvedTerms, { amountCents: eur('9000'), overBudget: true, overBudgetJustification: justification })
    t.equal(commitment?.lastDecision?.by, finance.sub)
    t.equal(commitment?.lastDecision?.comment, undefined)
    t.same(balanceOf(state, 'ambulatory').available, '-4000.00')

    budgetSpec(t)
      .given([...overBudgetRequested, by(finance.sub, commitmentApproved(familySupport))])
      .when(bookInvoice(familySupport, 'R-1', eur('9000')))
      .then([invoiceBooked(familySupport, 'R-1', eur('9000'))])
  })

  t.test('an auditor never decides', async (t) => {
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', auditor))
      .thenFails('forbidden', /^an auditor does not decide on commitments$/)
    budgetSpec(t).given(requested).when(decideApproval(familySupport, 'reject', auditor)).thenFails('forbidden')
    budgetSpec(t).given(overBudgetRequested).when(decideApproval(familySupport, 'approve', auditor)).thenFails('forbidden')
  })

  t.test('the refusal names the role with its article, whichever role it is', async (t) => {
    // Events written before authentication (0.1.0) carry the role `anonymous`.
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', { sub: 'someone', role: 'anonymous' }))
      .thenFails('forbidden', /^an anonymous user does not decide on commitments$/)
  })

  t.test('only a commitment that waits for approval can be decided on', async (t) => {
    const open = [...requested, by(teamlead2.sub, commitmentApproved(familySupport))]
    budgetSpec(t)
      .given(open)
      .when(decideApproval(familySupport, 'approve', finance))
      .thenFails('conflict', /is open, not waiting for approval/)
    budgetSpec(t).given(open).when(decideApproval(familySupport, 'reject', finance)).thenFails('conflict')
    budgetSpec(t)
      .given(openBelowThreshold)
      .when(decideApproval(familySupport, 'approve', teamlead2))
      .thenFails('conflict', /is open/)
    budgetSpec(t)
      .given([...open, commitmentReleased(familySupport, eur('12000'))])
      .when(decideApproval(familySupport, 'approve', finance))
      .thenFails('conflict', /is closed/)
    budgetSpec(t)
      .given([...requested, by(teamlead2.sub, commitmentRejected(familySupport, eur('12000')))])
      .when(decideApproval(familySupport, 'approve', finance))
      .thenFails('conflict', /is rejected/)
    budgetSpec(t)
      .given(requested)
      .when(decideApproval(erziehungsbeistand, 'approve', finance))
      .thenFails('not-found', /does not exist/)
  })
})

t.test('rejecting a commitment that was never approved', async (t) => {
  t.test('releases the whole reservation', async (t) => {
    const state = budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'reject', teamlead2, 'no need shown'))
      .then([commitmentRejected(familySupport, eur('12000'), { status: 'rejected', comment: 'no need shown' })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'rejected')
    t.equal(commitment && remainingCents(commitment), 0n)
    t.equal(commitment?.amountCents, eur('12000'), 'the amount asked for stays on record')
    t.equal(commitment?.releasedCents, eur('12000'))
    t.equal(commitment?.requestedBy, undefined)
    t.same(commitment?.lastDecision, { decision: 'reject', by: teamlead2.sub, at: CONTEXT.recordedAt, comment: 'no need shown' })
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '0.00', available: '100000.00' })
  })

  t.test('of an over-budget commitment ends the overrun; the marking stays on record', async (t) => {
    const state = budgetSpec(t)
      .given(overBudgetRequested)
      .when(decideApproval(familySupport, 'reject', finance))
      .then([commitmentRejected(familySupport, eur('9000'), { status: 'rejected', overBudget: true, overBudgetJustification: justification })])
    t.equal(state.commitments.get(familySupport.id)?.status, 'rejected')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '95000.00', spent: '0.00', available: '5000.00' })
  })

  t.test('a rejected commitment takes nothing any more', async (t) => {
    const rejected = [...requested, by(teamlead2.sub, commitmentRejected(familySupport, eur('12000')))]
    budgetSpec(t).given(rejected).when(bookInvoice(familySupport, 'R-1', eur('1'))).thenFails('commitment-closed', /is rejected/)
    budgetSpec(t).given(rejected).when(amendCommitment(familySupport, eur('1'))).thenFails('commitment-closed', /is rejected/)
    budgetSpec(t).given(rejected).when(releaseCommitment(familySupport)).thenFails('commitment-closed', /is rejected/)
  })
})

t.test('an increase of an open commitment', async (t) => {
  t.test('to the threshold or above waits for approval again, and takes no invoices meanwhile', async (t) => {
    const state = budgetSpec(t)
      .given(openBelowThreshold)
      .when(amendCommitment(familySupport, eur('4000'), { reason: 'more hours' }), { by: teamlead2.sub })
      .then([commitmentApprovalRequested(familySupport), commitmentAmended(familySupport, eur('4000'), 'more hours')])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'requested')
    t.equal(commitment?.amountCents, eur('12000'))
    t.equal(commitment?.requestedBy, teamlead2.sub, 'the amender asked for the increase')
    t.equal(commitment?.approvedTerms.amountCents, eur('8000'), 'what was agreed before stays agreed')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '11000.00', spent: '1000.00', available: '88000.00' }, 'the increase is reserved at once')

    budgetSpec(t).given(raisedToThreshold).when(bookInvoice(familySupport, 'R-2', eur('100'))).thenFails('approval-required')
  })

  t.test('that stays below the threshold needs no approval', async (t) => {
    const state = budgetSpec(t)
      .given(openBelowThreshold)
      .when(amendCommitment(familySupport, eur('1999.99')), { by: teamlead2.sub })
      .then([commitmentAmended(familySupport, eur('1999.99'))])
    t.equal(state.commitments.get(familySupport.id)?.status, 'open')
    t.equal(state.commitments.get(familySupport.id)?.approvedTerms.amountCents, eur('9999.99'))
  })

  t.test('of a commitment approved above the threshold waits for approval again', async (t) => {
    budgetSpec(t)
      .given([...requested, by(teamlead2.sub, commitmentApproved(familySupport))])
      .when(amendCommitment(familySupport, eur('0.01')), { by: teamlead2.sub })
      .then([commitmentApprovalRequested(familySupport), commitmentAmended(familySupport, eur('0.01'))])
  })

  t.test('a decrease needs no approval', async (t) => {
    const state = budgetSpec(t)
      .given([...requested, by(teamlead2.sub, commitmentApproved(familySupport))])
      .when(amendCommitment(familySupport, -eur('1000')), { by: teamlead1.sub })
      .then([commitmentAmended(familySupport, -eur('1000'))])
    t.equal(state.commitments.get(familySupport.id)?.status, 'open')
    t.equal(state.commitments.get(familySupport.id)?.approvedTerms.amountCents, eur('11000'))
  })

  t.test('the amender who asked for it may not approve it; the creator, who did not ask, may', async (t) => {
    budgetSpec(t)
      .given(raisedToThreshold)
      .when(decideApproval(familySupport, 'approve', teamlead2))
      .thenFails('forbidden', /teamlead-2 asked/)
    const state = budgetSpec(t)
      .given(raisedToThreshold)
      .when(decideApproval(familySupport, 'approve', teamlead1))
      .then([commitmentApproved(familySupport)])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.approvedTerms.amountCents, eur('12000'))
  })

  t.test('a rejection withdraws only the increase: the approved amount is open again, with its invoices', async (t) => {
    const state = budgetSpec(t)
      .given(raisedToThreshold)
      .when(decideApproval(familySupport, 'reject', teamlead1, 'not justified'))
      .then([commitmentRejected(familySupport, eur('4000'), { status: 'open', comment: 'not justified' })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.amountCents, eur('8000'))
    t.equal(commitment?.invoicedCents, eur('1000'))
    t.equal(commitment?.releasedCents, 0n, 'nothing of the approved amount is released')
    t.equal(commitment && remainingCents(commitment), eur('7000'))
    t.equal(commitment?.requestedBy, undefined)
    t.equal(commitment?.lastDecision?.decision, 'reject')
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '7000.00', spent: '1000.00', available: '92000.00' }, 'the line\'s committed is what it was before the increase')

    budgetSpec(t)
      .given([...raisedToThreshold, by(teamlead1.sub, commitmentRejected(familySupport, eur('4000'), { status: 'open' }))])
      .when(bookInvoice(familySupport, 'R-2', eur('7000')))
      .then([invoiceBooked(familySupport, 'R-2', eur('7000'))])
  })

  t.test('the amender may withdraw the increase: the approved amount is open again', async (t) => {
    const state = budgetSpec(t)
      .given(raisedToThreshold)
      .when(decideApproval(familySupport, 'reject', teamlead2, 'asked too early'))
      .then([commitmentRejected(familySupport, eur('4000'), { status: 'open', comment: 'asked too early' })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.amountCents, eur('8000'))
    t.equal(commitment?.releasedCents, 0n)
    t.same(commitment?.approvedTerms, { amountCents: eur('8000'), overBudget: false, overBudgetJustification: undefined })
    t.equal(commitment?.requestedBy, undefined)
    t.same(commitment?.lastDecision, { decision: 'reject', by: teamlead2.sub, at: CONTEXT.recordedAt, comment: 'asked too early' })
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '7000.00', spent: '1000.00', available: '92000.00' })
  })

  t.test('while it waits it cannot be amended, not even lowered, and nothing changes', async (t) => {
    for (const [amendment, actor] of [
      [amendCommitment(familySupport, -eur('5000')), teamlead1.sub],
      [amendCommitment(familySupport, -eur('4000')), teamlead2.sub],
      [amendCommitment(familySupport, eur('0.01')), teamlead2.sub],
      [amendCommitment(familySupport, eur('1000'), { overBudgetJustification: justification }), finance.sub],
    ] as const) {
      budgetSpec(t)
        .given(raisedToThreshold)
        .when(amendment, { by: actor })
        .thenFails('approval-required', /waits for approval and cannot change until it is decided/)
    }
    // (decide leaves the given state unchanged, as the spec checks; what waits is what was asked for)
    const waiting = budgetAfter(raisedToThreshold).commitments.get(familySupport.id)
    t.equal(waiting?.status, 'requested')
    t.equal(waiting?.amountCents, eur('12000'))
    t.equal(waiting?.requestedBy, teamlead2.sub)
    t.equal(waiting?.approvedTerms.amountCents, eur('8000'))
  })

  t.test('after a withdrawal it can be amended again', async (t) => {
    const withdrawn = [...raisedToThreshold, by(teamlead2.sub, commitmentRejected(familySupport, eur('4000'), { status: 'open' }))]
    const state = budgetSpec(t)
      .given(withdrawn)
      .when(amendCommitment(familySupport, eur('1500')), { by: teamlead2.sub })
      .then([commitmentAmended(familySupport, eur('1500'))])
    t.equal(state.commitments.get(familySupport.id)?.status, 'open')
    t.equal(state.commitments.get(familySupport.id)?.approvedTerms.amountCents, eur('9500'))
  })
})

t.test('an increase beyond the line', async (t) => {
  /** 91,000.00 committed elsewhere, 1,000.00 left; the 8,000.00 commitment grows by 1,500.00, 500.00 beyond the line. */
  const nearlyFull: GivenEvent<BudgetEvent>[] = [
    ...openBelowThreshold,
    by(teamlead1.sub, commitmentCreated(erziehungsbeistand, eur('91000'), { status: 'requested' })),
    by(finance.sub, commitmentApproved(erziehungsbeistand)),
  ]
  const raisedOverBudget: GivenEvent<BudgetEvent>[] = [
    ...nearlyFull,
    by(teamlead2.sub, commitmentApprovalRequested(familySupport, { overBudget: true, overBudgetJustification: justification })),
    by(teamlead2.sub, commitmentAmended(familySupport, eur('1500'))),
  ]

  t.test('without a justification fails with insufficient-funds', async (t) => {
    budgetSpec(t)
      .given(nearlyFull)
      .when(amendCommitment(familySupport, eur('1500')), { by: teamlead2.sub })
      .thenFails('insufficient-funds', /needs an over-budget justification/)
  })

  t.test('with a justification waits for approval as over budget, even below the threshold', async (t) => {
    const state = budgetSpec(t)
      .given(nearlyFull)
      .when(amendCommitment(familySupport, eur('1500'), { overBudgetJustification: justification }), { by: teamlead2.sub })
      .then([
        commitmentApprovalRequested(familySupport, { overBudget: true, overBudgetJustification: justification }),
        commitmentAmended(familySupport, eur('1500')),
      ])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'requested')
    t.equal(commitment?.overBudget, true)
    t.equal(commitment?.overBudgetJustification, justification)
    t.same(commitment?.approvedTerms, { amountCents: eur('8000'), overBudget: false, overBudgetJustification: undefined })
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '99500.00', spent: '1000.00', available: '-500.00' })
  })

  t.test('only finance may approve it; a team lead who did not ask may not reject it', async (t) => {
    budgetSpec(t).given(raisedOverBudget).when(decideApproval(familySupport, 'approve', teamlead1)).thenFails('forbidden', /only finance/)
    budgetSpec(t).given(raisedOverBudget).when(decideApproval(familySupport, 'reject', teamlead1)).thenFails('forbidden', /only finance/)
    budgetSpec(t).given(raisedOverBudget).when(decideApproval(familySupport, 'approve', teamlead2)).thenFails('forbidden', /second person/)
    budgetSpec(t).given(raisedOverBudget).when(decideApproval(familySupport, 'approve', finance)).then([commitmentApproved(familySupport)])
  })

  t.test('the team lead who asked for it may withdraw it: back to the approved terms', async (t) => {
    const state = budgetSpec(t)
      .given(raisedOverBudget)
      .when(decideApproval(familySupport, 'reject', teamlead2))
      .then([commitmentRejected(familySupport, eur('1500'), { status: 'open', overBudget: false })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.overBudget, false)
    t.equal(commitment?.amountCents, eur('8000'))
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '98000.00', spent: '1000.00', available: '1000.00' })
  })

  t.test('a rejection goes back to the approved terms, which were not over budget', async (t) => {
    const state = budgetSpec(t)
      .given(raisedOverBudget)
      .when(decideApproval(familySupport, 'reject', finance))
      .then([commitmentRejected(familySupport, eur('1500'), { status: 'open', overBudget: false })])
    const commitment = state.commitments.get(familySupport.id)
    t.equal(commitment?.status, 'open')
    t.equal(commitment?.overBudget, false)
    t.equal(commitment?.overBudgetJustification, undefined)
    t.equal(commitment?.amountCents, eur('8000'))
    t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '98000.00', spent: '1000.00', available: '1000.00' })
  })
})

t.test('a commitment that waits for approval does not change until it is decided', async (t) => {
  t.test('neither by its requester nor by anyone else, neither up nor down', async (t) => {
    const amendments = [
      amendCommitment(familySupport, -eur('1000')),
      amendCommitment(familySupport, eur('500')),
      amendCommitment(familySupport, eur('0.01')),
      amendCommitment(familySupport, -eur('11999.99')),
    ]
    for (const amendment of amendments) {
      for (const actor of [teamlead1.sub, teamlead2.sub, finance.sub]) {
        budgetSpec(t)
          .given(requested)
          .when(amendment, { by: actor })
          .thenFails('approval-required', /waits for approval and cannot change until it is decided; its requester may withdraw/)
      }
    }
  })

  t.test('not even to end an overrun: the requester withdraws it instead', async (t) => {
    budgetSpec(t)
      .given(overBudgetRequested)
      .when(amendCommitment(familySupport, -eur('4000')), { by: teamlead1.sub })
      .thenFails('approval-required')
    budgetSpec(t)
      .given(overBudgetRequested)
      .when(amendCommitment(familySupport, eur('100'), { overBudgetJustification: justification }), { by: teamlead1.sub })
      .thenFails('approval-required')
  })

  t.test('so an approval covers exactly what the requester asked for', async (t) => {
    const state = budgetSpec(t)
      .given(requested)
      .when(decideApproval(familySupport, 'approve', teamlead2))
      .then([commitmentApproved(familySupport)])
    t.same(state.commitments.get(familySupport.id)?.approvedTerms, { amountCents: eur('12000'), overBudget: false, overBudgetJustification: undefined })
  })

  t.test('a withdrawn request stays rejected and takes no amendment', async (t) => {
    budgetSpec(t)
      .given([...requested, by(teamlead1.sub, commitmentRejected(familySupport, eur('12000')))])
      .when(amendCommitment(familySupport, -eur('1000')), { by: teamlead1.sub })
      .thenFails('commitment-closed', /is rejected/)
  })
})

t.test('a release of a requested commitment closes it and frees its funds', async (t) => {
  const state = budgetSpec(t)
    .given(requested)
    .when(releaseCommitment(familySupport, 'withdrawn'), { by: teamlead1.sub })
    .then([commitmentReleased(familySupport, eur('12000'), 'withdrawn')])
  const commitment = state.commitments.get(familySupport.id)
  t.equal(commitment?.status, 'closed')
  t.equal(commitment?.requestedBy, undefined, 'nobody waits for a decision any more')
  t.same(balanceOf(state, 'ambulatory'), { allocated: '100000.00', committed: '0.00', spent: '0.00', available: '100000.00' })
  budgetSpec(t)
    .given([...requested, commitmentReleased(familySupport, eur('12000'))])
    .when(decideApproval(familySupport, 'approve', teamlead2))
    .thenFails('conflict', /is closed/)
})

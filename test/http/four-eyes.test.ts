import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import t from 'tap'
import type { Test } from 'tap'
import { openService } from '../../src/service.js'
import {
  assertProblem,
  assertWritten,
  balance,
  commitmentBody,
  get,
  post,
  seed,
  uuid,
  type ApiResponse,
  type Headers,
  type SeedOptions,
} from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * Four eyes over HTTP (DOMAIN rules 1 and 6): large and over-budget commitments wait for a
 * second person's approval, reserve their funds meanwhile, and a rejection withdraws what was
 * asked for. The requester may not approve, but may withdraw their own request (a rejection); a
 * waiting commitment cannot be amended until it is decided. Every flow ends by reading the
 * commitment back from the read models.
 */

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const JUSTIFICATION = 'Rechtsanspruch nach § 27 SGB VIII'

/** The commitment part of a write's answer: everything but the envelope. */
function commitmentOf(response: ApiResponse): Record<string, unknown> {
  const { position: _position, revision: _revision, budget: _budget, warnings: _warnings, ...commitment } = response.body
  return commitment
}

/** A team lead of the given Sozialräume. */
const lead = (sub: string, ...sozialraeume: string[]): Promise<Headers> =>
  bearer({ sub, role: 'teamlead', sozialraeume })
/** A finance controller: the helpers' default one ('test-finance') unless another sub is given. */
const finance = (sub = 'test-finance'): Promise<Headers> => bearer({ sub, role: 'finance' })
const auditor = (): Promise<Headers> => bearer({ sub: 'auditor-1', role: 'auditor' })

/** Where most flows start: a Sozialraum, two of its team leads, and a commitment lead A asked for. */
interface Flow {
  url: string
  leadA: Headers
  leadB: Headers
  created: ApiResponse
  id: string
  approval: string
  invoices: string
  amendments: string
}

/**
 * Seeds `sr` (its lines as in `budget`), makes team leads lead-a and lead-b of it (lead-b also of
 * `leadBAlso`), and has lead-a create `commitmentBody(commitment)`, asserted written as `message`.
 */
async function flow(
  t: Test,
  app: FastifyInstance,
  sr: string,
  options: { commitment: Record<string, unknown>; budget?: SeedOptions; message?: string; leadBAlso?: string[] },
): Promise<Flow> {
  const { url } = await seed(app, sr, options.budget)
  const leadA = await lead('lead-a', sr)
  const leadB = await lead('lead-b', sr, ...(options.leadBAlso ?? []))
  const created = await post(app, `${url}/commitments`, commitmentBody(options.commitment), leadA)
  assertWritten(t, created, options.message)
  const id = created.body.id as string
  const commitment = `${url}/commitments/${id}`
  return {
    url,
    leadA,
    leadB,
    created,
    id,
    approval: `${commitment}/approval`,
    invoices: `${commitment}/invoices`,
    amendments: `${commitment}/amendments`,
  }
}

/**
 * Read models agree with write answers: GET …/commitments/:id?minPosition=<position of `last`>
 * equals the commitment in `last`, the last write to that commitment. When `last` is also the
 * latest write to its budget (the default), GET of the budget equals the budget it answered with.
 */
async function assertReadAgrees(
  t: Test,
  app: FastifyInstance,
  url: string,
  last: ApiResponse,
  message = 'read model equals the last write',
  { latestOfBudget = true } = {},
): Promise<void> {
  const read = await get(app, `${url}/commitments/${String(last.body.id)}`, last.body.position as string)
  t.equal(read.status, 200, `${message}: 200`)
  t.same(read.body, commitmentOf(last), message)
  if (!latestOfBudget) return
  const budget = await get(app, url, last.body.position as string)
  t.same(budget.body, last.body.budget, `${message}: the budget too`)
}

t.test('four eyes over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const head = () => service.store.headPosition()

  t.test('rule 6: at or above the threshold a commitment is requested and reserves its funds', async (t) => {
    const sr = 'threshold-default'
    const { url } = await seed(app, sr)
    const leadA = await lead('lead-a', sr)

    const below = await post(app, `${url}/commitments`, commitmentBody({ amount: '9999.99' }), leadA)
    assertWritten(t, below, 'below the threshold')
    t.match(below.body, { amount: '9999.99', status: 'open', overBudget: false, createdBy: 'lead-a' })
    t.equal(below.body.lastDecision, undefined, 'no decision on an open commitment')

    const at = await post(app, `${url}/commitments`, commitmentBody({ amount: '10000.00', caseRef: 'CASE-0002' }), leadA)
    assertWritten(t, at, 'at the threshold')
    t.match(at.body, {
      amount: '10000.00',
      invoiced: '0.00',
      released: '0.00',
      remaining: '10000.00',
      status: 'requested',
      overBudget: false,
      createdBy: 'lead-a',
    })
    t.equal(at.body.lastDecision, undefined)
    t.same(
      at.body.budget.lines.ambulatory,
      balance('100000.00', '19999.99', '0.00', '80000.01'),
      'the requested commitment already reserves its funds',
    )
    t.same(at.body.budget.overBudget, { commitments: 0, amount: '0.00' })
    t.same((await get(app, url, at.body.position)).body, at.body.budget, 'GET budget shows the reservation')

    const before = await head()
    for (const headers of [leadA, await finance()]) {
      assertProblem(
        t,
        await post(
          app,
          `${url}/commitments/${at.body.id}/invoices`,
          { invoiceNo: 'RE-1', amount: '100.00', invoiceDate: '2025-02-28' },
          headers,
        ),
        409,
        'approval-required',
        'an invoice on a requested commitment',
      )
    }
    t.equal(await head(), before, 'nothing written')

    const listed = await get(app, `${url}/commitments?status=requested`, at.body.position)
    t.same(
      listed.body.items.map((item: { id: string }) => item.id),
      [at.body.id],
      'the list of requested commitments',
    )

    const invoiced = await post(
      app,
      `${url}/commitments/${below.body.id}/invoices`,
      { invoiceNo: 'RE-1', amount: '100.00', invoiceDate: '2025-02-28' },
      leadA,
    )
    assertWritten(t, invoiced, 'an open commitment takes invoices')
    await assertReadAgrees(t, app, url, at, 'the requested commitment', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, invoiced)
  })

  t.test('rule 6: the requester may not approve; a second team lead of the Sozialraum may', async (t) => {
    const sr = 'second-person'
    const { url, leadA, leadB, created, id, approval, invoices } = await flow(t, app, sr, {
      commitment: { amount: '12000.00' },
      leadBAlso: ['somewhere-else'],
    })
    t.equal(created.body.status, 'requested')

    const before = await head()
    const byRequester = await post(app, approval, { decision: 'approve' }, leadA)
    assertProblem(t, byRequester, 403, 'forbidden', 'the requester approves')
    t.match(byRequester.body?.detail, /lead-a asked for commitment .*a second person must approve/, 'the detail says why')
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve', comment: 'eilig' }, { ...leadA, 'if-match': `"${String(created.body.revision)}"` }),
      403,
      'forbidden',
      'the requester approves with a current If-Match',
    )
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve' }, await lead('lead-x', 'other-sozialraum')),
      403,
      'forbidden',
      'a team lead of another Sozialraum',
    )
    assertProblem(t, await post(app, approval, { decision: 'approve' }, await auditor()), 403, 'forbidden', 'an auditor')
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve' }, await bearer({ sub: 'lead-a', role: 'finance' })),
      403,
      'forbidden',
      'the requester (same sub) with a finance token',
    )
    assertProblem(t, await post(app, approval, { decision: 'reject' }, await auditor()), 403, 'forbidden', 'an auditor rejects')
    assertProblem(t, await post(app, approval, { decision: 'maybe' }, leadB), 400, 'validation', 'an unknown decision')
    assertProblem(t, await post(app, approval, { decision: 'approve', by: 'lead-b' }, leadB), 400, 'validation', 'an unknown field')
    assertProblem(t, await post(app, approval, { comment: 'ok' }, leadB), 400, 'validation', 'no decision')
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve' }, { ...leadB, 'if-match': '"1"' }),
      412,
      'precondition-failed',
      'a stale If-Match',
    )
    t.equal(await head(), before, 'nothing written')
    t.match((await get(app, `${url}/commitments/${id}`, created.body.position)).body, { status: 'requested' }, 'still requested')

    const approved = await post(
      app,
      approval,
      { decision: 'approve', comment: 'im Team beraten' },
      { ...leadB, 'if-match': `"${String(created.body.revision)}"` },
    )
    assertWritten(t, approved, 'the second team lead approves')
    t.match(approved.body, { id, amount: '12000.00', remaining: '12000.00', status: 'open', createdBy: 'lead-a' })
    t.match(approved.body.lastDecision, { decision: 'approve', by: 'lead-b', comment: 'im Team beraten' })
    t.match(approved.body.lastDecision?.at, ISO_TIMESTAMP, 'lastDecision.at is a timestamp')
    t.same(Object.keys(approved.body.lastDecision).sort(), ['at', 'by', 'comment', 'decision'])
    t.same(
      approved.body.budget.lines.ambulatory,
      balance('100000.00', '12000.00', '0.00', '88000.00'),
      'approval does not change the reservation',
    )
    t.equal(BigInt(approved.body.position), before + 1n, 'one event')
    await assertReadAgrees(t, app, url, approved, 'after the approval')

    const invoiced = await post(app, invoices, { invoiceNo: 'RE-1', amount: '1000.00', invoiceDate: '2025-02-28' }, leadA)
    assertWritten(t, invoiced, 'the requester books an invoice once approved')
    t.match(invoiced.body, { status: 'open', invoiced: '1000.00', remaining: '11000.00' })
    t.match(invoiced.body.lastDecision, { decision: 'approve', by: 'lead-b' }, 'the decision stays on record')
    t.same(invoiced.body.budget.lines.ambulatory, balance('100000.00', '11000.00', '1000.00', '88000.00'))
    await assertReadAgrees(t, app, url, invoiced)
  })

  t.test('rule 6: the requester may withdraw their own request by rejecting it, as any rejection', async (t) => {
    const sr = 'withdrawal'
    const {
      url,
      leadA,
      leadB,
      created: withdrawnAsk,
      approval: withdrawnApproval,
      amendments: withdrawnAmendments,
    } = await flow(t, app, sr, { commitment: { amount: '15000.00', caseRef: 'W-1' } })
    const rejectedAsk = await post(app, `${url}/commitments`, commitmentBody({ amount: '15000.00', caseRef: 'W-2' }), leadA)
    assertWritten(t, rejectedAsk)
    t.same(rejectedAsk.body.budget.lines.ambulatory, balance('100000.00', '30000.00', '0.00', '70000.00'), 'both reserve')

    const before = await head()
    const withdrawn = await post(
      app,
      withdrawnApproval,
      { decision: 'reject', comment: 'Antrag zurückgezogen' },
      { ...leadA, 'if-match': `"${String(rejectedAsk.body.revision)}"` },
    )
    assertWritten(t, withdrawn, 'the requester withdraws')
    t.equal(BigInt(withdrawn.body.position), before + 1n, 'one event')
    t.match(withdrawn.body, {
      id: withdrawnAsk.body.id,
      amount: '15000.00',
      invoiced: '0.00',
      released: '15000.00',
      remaining: '0.00',
      status: 'rejected',
      overBudget: false,
      createdBy: 'lead-a',
    })
    t.match(withdrawn.body.lastDecision, { decision: 'reject', by: 'lead-a', comment: 'Antrag zurückgezogen' })
    t.match(withdrawn.body.lastDecision?.at, ISO_TIMESTAMP)
    t.same(withdrawn.body.budget.lines.ambulatory, balance('100000.00', '15000.00', '0.00', '85000.00'), 'its reservation is freed')

    const rejected = await post(app, `${url}/commitments/${String(rejectedAsk.body.id)}/approval`, { decision: 'reject', comment: 'Antrag zurückgezogen' }, leadB)
    assertWritten(t, rejected, 'a second team lead rejects the other one')
    t.same(rejected.body.budget.lines.ambulatory, balance('100000.00', '0.00', '0.00', '100000.00'))
    // The same effect as a rejection by someone else: only who decided, and when, differ.
    const effect = (response: ApiResponse) => {
      const { id: _id, caseRef: _caseRef, createdAt: _createdAt, lastDecision, ...rest } = commitmentOf(response)
      const { by: _by, at: _at, ...decision } = lastDecision as Record<string, unknown>
      return { ...rest, lastDecision: decision }
    }
    t.same(effect(withdrawn), effect(rejected), 'a withdrawal is a rejection like any other')

    const events = await get(app, `/v1/audit/events?type=CommitmentRejected&sozialraum=${sr}`, rejected.body.position)
    t.same(
      events.body.items.map((item: { actor: unknown; data: { commitmentId: string; amountCents: number; status: string } }) => [
        item.actor,
        item.data.commitmentId,
        item.data.amountCents,
        item.data.status,
      ]),
      [
        [{ sub: 'lead-a', role: 'teamlead' }, withdrawnAsk.body.id, 1500000, 'rejected'],
        [{ sub: 'lead-b', role: 'teamlead' }, rejectedAsk.body.id, 1500000, 'rejected'],
      ],
      'the audit trail records both as CommitmentRejected, each by who decided',
    )

    const decided = await head()
    assertProblem(t, await post(app, withdrawnApproval, { decision: 'approve' }, leadB), 409, 'conflict', 'approving a withdrawn request')
    assertProblem(t, await post(app, withdrawnApproval, { decision: 'reject' }, leadA), 409, 'conflict', 'withdrawing it twice')
    assertProblem(
      t,
      await post(app, withdrawnAmendments, { amount: '1.00', reason: 'x' }, leadA),
      409,
      'commitment-closed',
      'amending a withdrawn request',
    )
    t.equal(await head(), decided, 'nothing written')
    await assertReadAgrees(t, app, url, withdrawn, 'after the withdrawal', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, rejected)

    // An increase that waits is withdrawn the same way: back to the approved terms.
    const small = await post(app, `${url}/commitments`, commitmentBody({ amount: '6000.00', caseRef: 'W-3' }), leadA)
    assertWritten(t, small)
    const raised = await post(app, `${url}/commitments/${String(small.body.id)}/amendments`, { amount: '5000.00', reason: 'länger' }, leadB)
    assertWritten(t, raised, 'lead-b asks for an increase')
    t.match(raised.body, { amount: '11000.00', status: 'requested', createdBy: 'lead-a', requestedBy: 'lead-b' })
    await assertReadAgrees(t, app, url, raised, 'the read model names who asked for the increase, not who created it', { latestOfBudget: false })
    const listed = await get(app, `${url}/commitments?status=requested`, raised.body.position as string)
    t.same(
      listed.body.items.filter((item: { id: string }) => item.id === small.body.id).map((item: { requestedBy: unknown }) => item.requestedBy),
      ['lead-b'],
      'so does the list of waiting commitments',
    )
    const increaseApproval = `${url}/commitments/${String(small.body.id)}/approval`
    const waiting = await head()
    assertProblem(t, await post(app, increaseApproval, { decision: 'approve' }, leadB), 403, 'forbidden', 'who asked for the increase approves')
    t.equal(await head(), waiting, 'nothing written')
    const withdrawnIncrease = await post(app, increaseApproval, { decision: 'reject' }, leadB)
    assertWritten(t, withdrawnIncrease, 'who asked for the increase withdraws it')
    t.match(withdrawnIncrease.body, { amount: '6000.00', released: '0.00', remaining: '6000.00', status: 'open', overBudget: false, requestedBy: null })
    t.match(withdrawnIncrease.body.lastDecision, { decision: 'reject', by: 'lead-b' })
    t.same(withdrawnIncrease.body.budget.lines.ambulatory, balance('100000.00', '6000.00', '0.00', '94000.00'), 'committed as approved')
    await assertReadAgrees(t, app, url, withdrawnIncrease, 'after withdrawing the increase')
  })

  t.test('rule 1: on an over-budget request, a team lead who did not ask decides nothing; its requester may withdraw it', async (t) => {
    const sr = 'over-budget-withdrawal'
    const { url, leadA, leadB, created, approval } = await flow(t, app, sr, {
      budget: { ambulatory: '3000.00', flexible: '1000.00' },
      commitment: { amount: '5000.00', overBudget: { justification: JUSTIFICATION } },
    })
    t.match(created.body, { status: 'requested', overBudget: true })
    t.same(created.body.budget.overBudget, { commitments: 1, amount: '5000.00' }, 'the request is counted while it waits')

    const before = await head()
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadB), 403, 'forbidden', 'another team lead approves')
    assertProblem(t, await post(app, approval, { decision: 'reject' }, leadB), 403, 'forbidden', 'another team lead rejects')
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadA), 403, 'forbidden', 'the requester approves')
    assertProblem(t, await post(app, approval, { decision: 'reject' }, await auditor()), 403, 'forbidden', 'an auditor rejects')
    t.equal(await head(), before, 'nothing written')

    const withdrawn = await post(app, approval, { decision: 'reject', comment: 'doch nicht nötig' }, leadA)
    assertWritten(t, withdrawn, 'the requester withdraws their over-budget request')
    t.match(withdrawn.body, { amount: '5000.00', released: '5000.00', remaining: '0.00', status: 'rejected', overBudget: true })
    t.match(withdrawn.body.lastDecision, { decision: 'reject', by: 'lead-a', comment: 'doch nicht nötig' })
    t.same(withdrawn.body.budget.lines.ambulatory, balance('3000.00', '0.00', '0.00', '3000.00'), 'the line is whole again')
    t.same(withdrawn.body.budget.overBudget, { commitments: 0, amount: '0.00' }, 'a withdrawn request is not counted')
    const budget = await get(app, url, withdrawn.body.position)
    t.same(budget.body, withdrawn.body.budget, 'GET budget agrees')
    const year = await get(app, '/v1/budgets/2025', withdrawn.body.position)
    t.same(
      year.body.items.find((item: { sozialraum: string }) => item.sozialraum === sr)?.overBudget,
      { commitments: 0, amount: '0.00' },
      'GET /v1/budgets/2025 does not count it either',
    )
    const report = await get(app, '/v1/reports/2025/over-budget-commitments?status=rejected', withdrawn.body.position)
    t.same(
      report.body.items.filter((item: { id: string }) => item.id === created.body.id),
      [commitmentOf(withdrawn)],
      'the report still lists it, as rejected',
    )
    await assertReadAgrees(t, app, url, withdrawn)

    // What still binds or was spent counts; what was released does not (amount − released).
    const approvedOver = await post(
      app,
      `${url}/commitments`,
      commitmentBody({ amount: '4000.00', caseRef: 'OB-2', overBudget: { justification: JUSTIFICATION } }),
      leadA,
    )
    assertWritten(t, approvedOver)
    assertWritten(t, await post(app, `${url}/commitments/${String(approvedOver.body.id)}/approval`, { decision: 'approve' }, await finance('fin-b')), 'finance approves')
    const invoiced = await post(
      app,
      `${url}/commitments/${String(approvedOver.body.id)}/invoices`,
      { invoiceNo: 'RE-1', amount: '1000.00', invoiceDate: '2025-03-01' },
      leadA,
    )
    assertWritten(t, invoiced)
    t.same(invoiced.body.budget.overBudget, { commitments: 1, amount: '4000.00' }, 'an approved one counts whole')
    const released = await post(app, `${url}/commitments/${String(approvedOver.body.id)}/release`, { reason: 'Hilfe beendet' }, leadA)
    assertWritten(t, released, 'the rest is released')
    t.match(released.body, { amount: '4000.00', invoiced: '1000.00', released: '3000.00', status: 'closed' })
    t.same(released.body.budget.overBudget, { commitments: 1, amount: '1000.00' }, 'once released, what was spent still counts')
    await assertReadAgrees(t, app, url, released)
  })

  t.test("rule 1: an over-budget commitment is requested and needs a finance controller's approval", async (t) => {
    const sr = 'over-budget-approval'
    const { url, leadA, leadB, created, approval, invoices } = await flow(t, app, sr, {
      budget: { ambulatory: '3000.00', flexible: '1000.00' },
      commitment: { amount: '5000.00', overBudget: { justification: JUSTIFICATION } },
      message: 'over budget, below the threshold',
    })
    t.match(created.body, {
      amount: '5000.00',
      status: 'requested',
      overBudget: true,
      overBudgetJustification: JUSTIFICATION,
    })
    t.same(created.body.budget.lines.ambulatory, balance('3000.00', '5000.00', '0.00', '-2000.00'))
    t.same(created.body.budget.overBudget, { commitments: 1, amount: '5000.00' }, 'the write counts it')

    const before = await head()
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve' }, leadB),
      403,
      'forbidden',
      'a second team lead may not approve an over-budget commitment',
    )
    assertProblem(
      t,
      await post(app, approval, { decision: 'reject' }, leadB),
      403,
      'forbidden',
      'nor reject it',
    )
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadA), 403, 'forbidden', 'the requester may not approve it')
    assertProblem(
      t,
      await post(app, invoices, { invoiceNo: 'RE-1', amount: '1.00', invoiceDate: '2025-03-01' }, leadA),
      409,
      'approval-required',
    )
    t.equal(await head(), before, 'nothing written')

    const approved = await post(app, approval, { decision: 'approve' }, await finance('fin-b'))
    assertWritten(t, approved, 'finance approves')
    t.match(approved.body, { status: 'open', overBudget: true, overBudgetJustification: JUSTIFICATION })
    t.match(approved.body.lastDecision, { decision: 'approve', by: 'fin-b' })
    t.equal(approved.body.lastDecision.comment, undefined, 'no comment given, none shown')
    t.same(approved.body.budget.overBudget, { commitments: 1, amount: '5000.00' }, 'still over budget once approved')

    const budget = await get(app, url, approved.body.position)
    t.equal(budget.status, 200)
    t.same(budget.body.overBudget, { commitments: 1, amount: '5000.00' }, 'GET budget counts it')
    t.same(budget.body, approved.body.budget)
    const year = await get(app, '/v1/budgets/2025', approved.body.position)
    const item = year.body.items.find((candidate: { sozialraum: string }) => candidate.sozialraum === sr)
    t.same(item?.overBudget, { commitments: 1, amount: '5000.00' }, 'GET /v1/budgets/2025 counts it')
    t.same(item, approved.body.budget)
    const scoped = await get(app, '/v1/budgets/2025', approved.body.position, leadA)
    t.same(scoped.body.items, [approved.body.budget], "a team lead sees the summary of their own budget")

    const flexibleBefore = await head()
    assertProblem(
      t,
      await post(
        app,
        `${url}/commitments`,
        commitmentBody({ line: 'flexible', amount: '1000.01', overBudget: { justification: JUSTIFICATION } }),
        leadA,
      ),
      422,
      'insufficient-funds',
      'the flexible line never goes over budget, justified or not',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments`, commitmentBody({ amount: '0.01' }), leadA),
      422,
      'insufficient-funds',
      'an ambulatory commitment beyond the line without justification',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments`, commitmentBody({ amount: '0.01' }), await finance()),
      422,
      'insufficient-funds',
      'not even finance commits beyond the line without justification',
    )
    t.equal(await head(), flexibleBefore, 'nothing written')

    const invoiced = await post(app, invoices, { invoiceNo: 'RE-1', amount: '1000.00', invoiceDate: '2025-03-01' }, leadA)
    assertWritten(t, invoiced, 'invoices once approved')
    t.same(invoiced.body.budget.lines.ambulatory, balance('3000.00', '4000.00', '1000.00', '-2000.00'))
    t.same(invoiced.body.budget.overBudget, { commitments: 1, amount: '5000.00' }, 'invoiced money still counts')
    await assertReadAgrees(t, app, url, invoiced)
  })

  t.test('rule 1: the report of over-budget commitments', async (t) => {
    // Its own service, so that the year's report holds exactly this flow's commitments.
    const own = await startTestService(t)
    const app = own.app
    const a = await seed(app, 'report-a', { ambulatory: '1000.00' })
    const b = await seed(app, 'report-b', { ambulatory: '1000.00' })
    const leadA = await lead('lead-a', 'report-a')
    const leadB = await lead('lead-b', 'report-b')
    const justified = (amount: string, caseRef: string) =>
      commitmentBody({ amount, caseRef, overBudget: { justification: JUSTIFICATION } })

    const openA = await post(app, `${a.url}/commitments`, justified('2000.00', 'A-1'), leadA)
    assertWritten(t, openA)
    const approvedA = await post(app, `${a.url}/commitments/${openA.body.id}/approval`, { decision: 'approve' })
    assertWritten(t, approvedA)
    const requestedA = await post(app, `${a.url}/commitments`, justified('500.00', 'A-2'), leadA)
    assertWritten(t, requestedA)
    const withinB = await post(app, `${b.url}/commitments`, commitmentBody({ amount: '500.00', caseRef: 'B-0' }), leadB)
    t.match(withinB.body, { status: 'open', overBudget: false })
    const rejectedB = await post(app, `${b.url}/commitments`, justified('1500.00', 'B-1'), leadB)
    assertWritten(t, rejectedB)
    const rejection = await post(app, `${b.url}/commitments/${rejectedB.body.id}/approval`, { decision: 'reject' })
    assertWritten(t, rejection)
    t.match(rejection.body, { status: 'rejected', overBudget: true })
    t.same(rejection.body.budget.overBudget, { commitments: 0, amount: '0.00' }, 'a rejected one is not counted')
    const position = rejection.body.position as string

    const report = (query: string, headers: Headers = {}) =>
      get(app, `/v1/reports/2025/over-budget-commitments${query}`, position, headers)
    const ids = (response: ApiResponse): string[] => response.body.items.map((item: { id: string }) => item.id)

    const all = await report('')
    t.equal(all.status, 200)
    t.equal(all.body.year, 2025)
    t.same(ids(all), [openA.body.id, requestedA.body.id, rejection.body.id], 'every over-budget commitment, both Sozialräume')
    t.same(
      all.body.items,
      [commitmentOf(approvedA), commitmentOf(requestedA), commitmentOf(rejection)],
      'each as its last write left it',
    )
    t.same(ids(await report('', await auditor())), ids(all), 'an auditor sees the same')
    t.same(ids(await report('', await finance('fin-b'))), ids(all), 'another finance controller too')

    t.same(ids(await report('?status=open')), [openA.body.id])
    t.same(ids(await report('?status=requested')), [requestedA.body.id])
    t.same(ids(await report('?status=rejected')), [rejection.body.id])
    t.same(ids(await report('?status=closed')), [])
    t.same(ids(await report('?status=requested', await auditor())), [requestedA.body.id])

    t.same(ids(await report('', leadA)), [openA.body.id, requestedA.body.id], 'a team lead sees their own Sozialraum')
    t.same(ids(await report('', leadB)), [rejection.body.id])
    t.same(ids(await report('?status=open', leadB)), [], 'filters combine with the scope')
    t.same(
      ids(await report('', await lead('lead-ab', 'report-a', 'report-b'))),
      ids(all),
      'a team lead of both sees both',
    )
    t.same(ids(await report('', await lead('lead-x', 'elsewhere'))), [], 'a team lead of neither sees none')

    assertProblem(t, await report('?status=pending'), 400, 'validation', 'an unknown status')
    t.same(ids(await get(app, '/v1/reports/2024/over-budget-commitments', position)), [], 'another year is empty')

    const budgets = await get(app, '/v1/budgets/2025', position)
    t.same(
      budgets.body.items.map((item: { sozialraum: string; overBudget: unknown }) => [item.sozialraum, item.overBudget]),
      [
        ['report-a', { commitments: 2, amount: '2500.00' }],
        ['report-b', { commitments: 0, amount: '0.00' }],
      ],
      'budget summaries agree with the report',
    )
    await assertReadAgrees(t, app, a.url, requestedA)
    await assertReadAgrees(t, app, b.url, rejection)
  })

  t.test('rule 6: rejecting a never-approved commitment withdraws it and releases its funds', async (t) => {
    const sr = 'reject-new'
    const { url, leadA, leadB, created, id, approval, invoices, amendments } = await flow(t, app, sr, {
      commitment: { amount: '15000.00' },
    })
    t.same(created.body.budget.lines.ambulatory, balance('100000.00', '15000.00', '0.00', '85000.00'))

    const rejected = await post(app, approval, { decision: 'reject', comment: 'andere Hilfeart prüfen' }, leadB)
    assertWritten(t, rejected, 'rejection')
    t.match(rejected.body, {
      id,
      amount: '15000.00',
      invoiced: '0.00',
      released: '15000.00',
      remaining: '0.00',
      status: 'rejected',
      overBudget: false,
    })
    t.match(rejected.body.lastDecision, { decision: 'reject', by: 'lead-b', comment: 'andere Hilfeart prüfen' })
    t.match(rejected.body.lastDecision?.at, ISO_TIMESTAMP)
    t.same(
      rejected.body.budget.lines.ambulatory,
      balance('100000.00', '0.00', '0.00', '100000.00'),
      "the line's available is restored",
    )
    t.same((await get(app, url, rejected.body.position)).body, rejected.body.budget)

    const open = await post(app, `${url}/commitments`, commitmentBody({ amount: '500.00', caseRef: 'SMALL' }), leadA)
    assertWritten(t, open)
    const before = await head()
    const invoice = { invoiceNo: 'RE-1', amount: '1.00', invoiceDate: '2025-03-01' }
    assertProblem(t, await post(app, invoices, invoice, leadA), 409, 'commitment-closed', 'invoice')
    assertProblem(t, await post(app, amendments, { amount: '1.00', reason: 'x' }, leadA), 409, 'commitment-closed', 'amendment')
    assertProblem(t, await post(app, `${url}/commitments/${id}/release`, { reason: 'x' }, leadA), 409, 'commitment-closed', 'release')
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadB), 409, 'conflict', 'approving a rejected one')
    assertProblem(t, await post(app, approval, { decision: 'reject' }, leadB), 409, 'conflict', 'rejecting it twice')
    assertProblem(t, await post(app, approval, { decision: 'approve' }), 409, 'conflict', 'finance approving a rejected one')
    const openApproval = `${url}/commitments/${open.body.id}/approval`
    assertProblem(t, await post(app, openApproval, { decision: 'approve' }, leadB), 409, 'conflict', 'approving an open one')
    assertProblem(t, await post(app, openApproval, { decision: 'reject' }, leadB), 409, 'conflict', 'rejecting an open one')
    assertProblem(
      t,
      await post(app, `${url}/commitments/${uuid()}/approval`, { decision: 'approve' }, leadB),
      404,
      'not-found',
      'an unknown commitment',
    )
    t.equal(await head(), before, 'nothing written')

    const listed = await get(app, `${url}/commitments?status=rejected`, open.body.position)
    t.same(listed.body.items, [commitmentOf(rejected)], 'the list shows it rejected')
    await assertReadAgrees(t, app, url, rejected, 'after the rejection', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, open)
  })

  t.test('rule 6: an increase to the threshold needs approval again; rejecting it restores the approved terms', async (t) => {
    const sr = 're-approval'
    const { url, leadA, leadB, created, id, approval, invoices, amendments } = await flow(t, app, sr, {
      commitment: { amount: '6000.00' },
    })
    t.equal(created.body.status, 'open')

    const raised = await post(app, amendments, { amount: '5000.00', reason: 'längere Laufzeit' }, leadA)
    assertWritten(t, raised, 'the increase')
    t.match(raised.body, { amount: '11000.00', remaining: '11000.00', status: 'requested', overBudget: false })
    t.same(raised.body.budget.lines.ambulatory, balance('100000.00', '11000.00', '0.00', '89000.00'), 'it reserves the increase')
    t.equal(BigInt(raised.body.position), BigInt(created.body.position) + 2n, 'approval requested and amended: two events')

    const before = await head()
    assertProblem(
      t,
      await post(app, invoices, { invoiceNo: 'RE-1', amount: '100.00', invoiceDate: '2025-03-01' }, leadA),
      409,
      'approval-required',
      'no invoice while the increase waits',
    )
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadA), 403, 'forbidden', 'the one who raised it')
    for (const [name, amount, headers] of [
      ['a further increase by who raised it', '1000.00', leadA],
      ['a decrease by a second team lead', '-1000.00', leadB],
    ] as const) {
      assertProblem(t, await post(app, amendments, { amount, reason: 'x' }, headers), 409, 'approval-required', name)
    }
    t.equal(await head(), before, 'nothing written')

    const rejected = await post(app, approval, { decision: 'reject', comment: 'Laufzeit nicht begründet' }, leadB)
    assertWritten(t, rejected, 'rejecting the increase')
    t.match(rejected.body, {
      id,
      amount: '6000.00',
      invoiced: '0.00',
      released: '0.00',
      remaining: '6000.00',
      status: 'open',
      overBudget: false,
    })
    t.match(rejected.body.lastDecision, { decision: 'reject', by: 'lead-b', comment: 'Laufzeit nicht begründet' })
    t.same(rejected.body.budget.lines.ambulatory, balance('100000.00', '6000.00', '0.00', '94000.00'), 'committed as approved')
    await assertReadAgrees(t, app, url, rejected, 'after rejecting the increase')

    const invoiced = await post(app, invoices, { invoiceNo: 'RE-1', amount: '1000.00', invoiceDate: '2025-03-01' }, leadA)
    assertWritten(t, invoiced, 'invoices work again')
    t.match(invoiced.body, { amount: '6000.00', invoiced: '1000.00', remaining: '5000.00', status: 'open' })

    const again = await post(app, amendments, { amount: '5000.00', reason: 'neu begründet' }, leadA)
    assertWritten(t, again, 'the increase once more')
    t.match(again.body, { amount: '11000.00', invoiced: '1000.00', remaining: '10000.00', status: 'requested' })
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadA), 403, 'forbidden', 'still not the requester')
    const approved = await post(app, approval, { decision: 'approve' }, leadB)
    assertWritten(t, approved, 'approving the increase')
    t.match(approved.body, { amount: '11000.00', invoiced: '1000.00', remaining: '10000.00', status: 'open' })
    t.match(approved.body.lastDecision, { decision: 'approve', by: 'lead-b' })
    t.same(approved.body.budget.lines.ambulatory, balance('100000.00', '10000.00', '1000.00', '89000.00'))
    await assertReadAgrees(t, app, url, approved, 'after approving the increase')

    const more = await post(app, invoices, { invoiceNo: 'RE-2', amount: '10000.00', invoiceDate: '2025-04-01' }, leadA)
    assertWritten(t, more, 'the approved increase can be invoiced')
    t.match(more.body, { invoiced: '11000.00', remaining: '0.00', status: 'closed' })
    await assertReadAgrees(t, app, url, more)
  })

  t.test('rule 6: an increase below the threshold needs no second person', async (t) => {
    const sr = 'small-increase'
    const { url } = await seed(app, sr)
    const leadA = await lead('lead-a', sr)
    const created = await post(app, `${url}/commitments`, commitmentBody({ amount: '6000.00' }), leadA)
    const raised = await post(
      app,
      `${url}/commitments/${created.body.id}/amendments`,
      { amount: '3999.99', reason: 'mehr Stunden' },
      leadA,
    )
    assertWritten(t, raised)
    t.match(raised.body, { amount: '9999.99', status: 'open' })
    t.equal(BigInt(raised.body.position), BigInt(created.body.position) + 1n, 'only the amendment')
    await assertReadAgrees(t, app, url, raised)
  })

  t.test('rule 1: an amendment beyond the available funds is over budget and needs finance', async (t) => {
    const sr = 'amend-over-budget'
    const { url, leadA, leadB, id, amendments, approval } = await flow(t, app, sr, {
      budget: { ambulatory: '5000.00' },
      commitment: { amount: '4000.00' },
    })

    const before = await head()
    assertProblem(
      t,
      await post(app, amendments, { amount: '2000.00', reason: 'Verlängerung' }, leadA),
      422,
      'insufficient-funds',
      'without justification',
    )
    t.equal(await head(), before, 'nothing written')

    const raised = await post(
      app,
      amendments,
      { amount: '2000.00', reason: 'Verlängerung', overBudget: { justification: JUSTIFICATION } },
      leadA,
    )
    assertWritten(t, raised, 'with justification')
    t.match(raised.body, {
      amount: '6000.00',
      status: 'requested',
      overBudget: true,
      overBudgetJustification: JUSTIFICATION,
    })
    t.same(raised.body.budget.lines.ambulatory, balance('5000.00', '6000.00', '0.00', '-1000.00'))
    t.same(raised.body.budget.overBudget, { commitments: 1, amount: '6000.00' })
    await assertReadAgrees(t, app, url, raised, 'while the over-budget increase waits')

    const waiting = await head()
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadB), 403, 'forbidden', 'a team lead approves')
    assertProblem(t, await post(app, approval, { decision: 'reject' }, leadB), 403, 'forbidden', 'a team lead rejects')
    t.equal(await head(), waiting, 'nothing written')

    const rejected = await post(app, approval, { decision: 'reject' })
    assertWritten(t, rejected, 'finance rejects')
    t.match(rejected.body, { amount: '4000.00', remaining: '4000.00', status: 'open', overBudget: false })
    t.equal(rejected.body.overBudgetJustification, undefined, 'the justification goes with the increase')
    t.match(rejected.body.lastDecision, { decision: 'reject', by: 'test-finance' })
    t.same(rejected.body.budget.lines.ambulatory, balance('5000.00', '4000.00', '0.00', '1000.00'))
    t.same(rejected.body.budget.overBudget, { commitments: 0, amount: '0.00' })
    const report = await get(app, '/v1/reports/2025/over-budget-commitments', rejected.body.position)
    t.notOk(
      report.body.items.some((item: { id: string }) => item.id === id),
      'no longer in the over-budget report',
    )
    await assertReadAgrees(t, app, url, rejected, 'after the rejection')

    const raisedAgain = await post(
      app,
      amendments,
      { amount: '2000.00', reason: 'Verlängerung', overBudget: { justification: JUSTIFICATION } },
      leadA,
    )
    assertWritten(t, raisedAgain)
    const approved = await post(app, approval, { decision: 'approve', comment: 'überplanmäßig genehmigt' })
    assertWritten(t, approved, 'finance approves')
    t.match(approved.body, { amount: '6000.00', status: 'open', overBudget: true, overBudgetJustification: JUSTIFICATION })
    t.same(approved.body.budget.overBudget, { commitments: 1, amount: '6000.00' })
    const reported = await get(app, '/v1/reports/2025/over-budget-commitments?status=open', approved.body.position)
    t.same(
      reported.body.items.filter((item: { id: string }) => item.id === id),
      [commitmentOf(approved)],
      'in the report once approved',
    )
    await assertReadAgrees(t, app, url, approved, 'after the approval')
  })

  t.test('rule 6: a requested commitment cannot be amended until it is decided', async (t) => {
    const sr = 'amender'
    const { url, leadA, leadB, created, id, amendments, approval } = await flow(t, app, sr, {
      budget: { ambulatory: '20000.00' },
      commitment: { amount: '12000.00' },
    })
    t.equal(created.body.status, 'requested')

    const before = await head()
    for (const [name, body, headers] of [
      ['the requester raises it', { amount: '500.00', reason: 'mehr' }, leadA],
      ['the requester lowers it', { amount: '-100.00', reason: 'weniger' }, leadA],
      ['a second team lead raises it', { amount: '500.00', reason: 'mehr' }, leadB],
      ['a second team lead lowers it', { amount: '-100.00', reason: 'weniger' }, leadB],
      ['finance raises it', { amount: '1.00', reason: 'Rundung' }, await finance('fin-b')],
      [
        'an over-budget increase with justification',
        { amount: '10000.00', reason: 'Verlängerung', overBudget: { justification: JUSTIFICATION } },
        leadB,
      ],
      ['with a current If-Match', { amount: '500.00', reason: 'mehr' }, { ...leadB, 'if-match': `"${String(created.body.revision)}"` }],
    ] as const) {
      const refused = await post(app, amendments, body, headers)
      assertProblem(t, refused, 409, 'approval-required', name)
      t.match(refused.body?.detail, /waits for approval.*withdraw/, `${name}: the detail says what to do`)
    }
    t.equal(await head(), before, 'nothing written')
    const unchanged = await get(app, `${url}/commitments/${id}`, created.body.position)
    t.same(unchanged.body, commitmentOf(created), 'the commitment is as it was requested')
    t.same((await get(app, url, created.body.position)).body, created.body.budget, 'and so is the budget')

    // What is approved is what was requested, and seen.
    const approved = await post(app, approval, { decision: 'approve' }, leadB)
    assertWritten(t, approved, 'a second person approves')
    t.match(approved.body, { amount: '12000.00', remaining: '12000.00', status: 'open', createdBy: 'lead-a' })
    t.match(approved.body.lastDecision, { decision: 'approve', by: 'lead-b' })
    t.same(approved.body.budget.lines.ambulatory, balance('20000.00', '12000.00', '0.00', '8000.00'))
    await assertReadAgrees(t, app, url, approved)

    // Decided, it can be amended again.
    const lowered = await post(app, amendments, { amount: '-100.00', reason: 'weniger' }, leadA)
    assertWritten(t, lowered, 'a decrease once approved')
    t.match(lowered.body, { amount: '11900.00', status: 'open' })
    t.same(lowered.body.budget.lines.ambulatory, balance('20000.00', '11900.00', '0.00', '8100.00'))
    await assertReadAgrees(t, app, url, lowered)
  })

  t.test('rule 6: FOUR_EYES_THRESHOLD is honoured', async (t) => {
    const own = await startTestService(t, {}, { FOUR_EYES_THRESHOLD: '5000.00' })
    const app = own.app
    const sr = 'threshold-config'
    const { url } = await seed(app, sr)
    const leadA = await lead('lead-a', sr)

    const below = await post(app, `${url}/commitments`, commitmentBody({ amount: '4999.99' }), leadA)
    assertWritten(t, below)
    t.equal(below.body.status, 'open', '4999.99 is open')
    const at = await post(app, `${url}/commitments`, commitmentBody({ amount: '5000.00', caseRef: 'AT' }), leadA)
    assertWritten(t, at)
    t.equal(at.body.status, 'requested', '5000.00 is requested')
    const between = await post(app, `${url}/commitments`, commitmentBody({ amount: '9999.99', caseRef: 'BETWEEN' }), leadA)
    t.equal(between.body.status, 'requested', 'below the default but above the configured threshold')

    const raised = await post(
      app,
      `${url}/commitments/${below.body.id}/amendments`,
      { amount: '0.01', reason: 'Rundung' },
      leadA,
    )
    assertWritten(t, raised)
    t.match(raised.body, { amount: '5000.00', status: 'requested' }, 'an increase to the configured threshold')
    t.same(raised.body.budget.lines.ambulatory, balance('100000.00', '19999.99', '0.00', '80000.01'))

    const approved = await post(app, `${url}/commitments/${at.body.id}/approval`, { decision: 'approve' }, await lead('lead-b', sr))
    assertWritten(t, approved)
    t.equal(approved.body.status, 'open')
    await assertReadAgrees(t, app, url, raised, 'the raised commitment', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, approved)
  })

  t.test('Idempotency-Key on an approval replays the first answer', async (t) => {
    const sr = 'idempotent-approval'
    const { url, leadA, leadB, approval, invoices } = await flow(t, app, sr, { commitment: { amount: '12000.00' } })
    const body = { decision: 'approve', comment: 'ok' }
    const keyed = { ...leadB, 'idempotency-key': 'approve-1' }

    const first = await post(app, approval, body, keyed)
    assertWritten(t, first)
    t.equal(first.headers['idempotent-replayed'], undefined, 'the first answer is no replay')
    const afterFirst = await head()

    const retry = await post(app, approval, body, keyed)
    t.equal(retry.status, 201, 'a retry is no 409')
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(retry.headers.etag, first.headers.etag)
    t.equal(retry.text, first.text, 'identical body')
    t.equal(await head(), afterFirst, 'nothing written')

    const invoiced = await post(app, invoices, { invoiceNo: 'RE-1', amount: '500.00', invoiceDate: '2025-03-01' }, leadA)
    assertWritten(t, invoiced)
    const afterInvoice = await head()
    const late = await post(app, approval, body, keyed)
    t.equal(late.status, 201)
    t.equal(late.headers['idempotent-replayed'], 'true')
    t.equal(late.text, first.text, 'still the first answer after later writes')
    assertProblem(
      t,
      await post(app, approval, { decision: 'reject', comment: 'ok' }, keyed),
      422,
      'idempotency-key-reused',
      'the same key with another body',
    )
    assertProblem(
      t,
      await post(app, approval, body, { ...(await lead('lead-c', sr)), 'idempotency-key': 'approve-1' }),
      409,
      'conflict',
      "another person's key of the same name is no replay",
    )
    t.equal(await head(), afterInvoice, 'nothing written')

    const events = await get(app, `/v1/audit/events?type=CommitmentApproved&sozialraum=${sr}`, String(afterInvoice))
    t.equal(events.body.items.length, 1, 'one approval event')
    await assertReadAgrees(t, app, url, invoiced)
  })

  t.test('audit trail: approvals and rejections record who decided, with their role', async (t) => {
    const sr = 'audit-trail'
    const { url } = await seed(app, sr)
    const leadA = await lead('lead-a', sr)
    const leadB = await lead('lead-b', sr)
    const first = await post(app, `${url}/commitments`, commitmentBody({ amount: '12000.00', caseRef: 'AUD-1' }), leadA)
    const approved = await post(app, `${url}/commitments/${first.body.id}/approval`, { decision: 'approve', comment: 'passt' }, leadB)
    assertWritten(t, approved)
    const second = await post(app, `${url}/commitments`, commitmentBody({ amount: '15000.00', caseRef: 'AUD-2' }), leadA)
    const rejected = await post(
      app,
      `${url}/commitments/${second.body.id}/approval`,
      { decision: 'reject', comment: 'nicht nötig' },
      await finance('fin-b'),
    )
    assertWritten(t, rejected)
    const position = rejected.body.position as string

    for (const [who, headers] of [
      ['finance', await finance()],
      ['auditor', await auditor()],
    ] as const) {
      const approvals = await get(app, `/v1/audit/events?type=CommitmentApproved&sozialraum=${sr}`, position, headers)
      t.equal(approvals.status, 200, `${who}: 200`)
      t.equal(approvals.body.items.length, 1, `${who}: one approval`)
      t.match(approvals.body.items[0], {
        position: approved.body.position,
        streamId: `budget-2025-${sr}`,
        type: 'CommitmentApproved',
        actor: { sub: 'lead-b', role: 'teamlead' },
        data: { year: 2025, sozialraum: sr, commitmentId: first.body.id, line: 'ambulatory', comment: 'passt' },
      })
      t.equal(approvals.body.items[0]?.recordedAt, approved.body.lastDecision.at, `${who}: recordedAt is lastDecision.at`)

      const rejections = await get(app, `/v1/audit/events?type=CommitmentRejected&sozialraum=${sr}`, position, headers)
      t.equal(rejections.body.items.length, 1, `${who}: one rejection`)
      t.match(rejections.body.items[0], {
        position: rejected.body.position,
        type: 'CommitmentRejected',
        actor: { sub: 'fin-b', role: 'finance' },
        data: {
          commitmentId: second.body.id,
          amountCents: 1500000,
          status: 'rejected',
          overBudget: false,
          comment: 'nicht nötig',
        },
      })

      const byActor = await get(app, `/v1/audit/events?sozialraum=${sr}&actor=lead-b`, position, headers)
      t.same(
        byActor.body.items.map((item: { type: string }) => item.type),
        ['CommitmentApproved'],
        `${who}: the approver's only event`,
      )
    }
    assertProblem(
      t,
      await get(app, `/v1/audit/events?type=CommitmentApproved`, position, leadA),
      403,
      'forbidden',
      'a team lead does not read the audit trail',
    )
    await assertReadAgrees(t, app, url, approved, 'the approved commitment', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, rejected)
  })

  t.test('rule 6: two decisions at once are decided on one consistent state', async (t) => {
    const sr = 'concurrent-decisions'
    const { url, approval } = await flow(t, app, sr, { commitment: { amount: '20000.00' } })
    const before = await head()

    const answers = await Promise.all([
      post(app, approval, { decision: 'approve' }, await lead('lead-b', sr)),
      post(app, approval, { decision: 'reject' }, await lead('lead-c', sr)),
      post(app, approval, { decision: 'approve' }, await finance('fin-b')),
    ])
    const won = answers.filter((answer) => answer.status === 201)
    t.equal(won.length, 1, 'exactly one decision is written')
    for (const lost of answers.filter((answer) => answer.status !== 201)) {
      assertProblem(t, lost, 409, 'conflict', 'the others find it decided')
    }
    t.equal(await head(), before + 1n, 'one event')
    const winner = won[0]
    if (!winner) return
    t.ok(['open', 'rejected'].includes(winner.body.status as string))
    t.same(
      winner.body.budget.lines.ambulatory,
      winner.body.status === 'open'
        ? balance('100000.00', '20000.00', '0.00', '80000.00')
        : balance('100000.00', '0.00', '0.00', '100000.00'),
    )
    await assertReadAgrees(t, app, url, winner)
  })

  t.test('rule 6: who asked is remembered across a restart', async (t) => {
    const first = await startTestService(t)
    const sr = 'restart'
    const { url, leadA, leadB, created, approval, amendments } = await flow(t, first.app, sr, {
      commitment: { amount: '12000.00' },
    })
    // An increase that lead-b asks for: lead-b, not the creator, is its requester.
    const small = await post(first.app, `${url}/commitments`, commitmentBody({ amount: '6000.00', caseRef: 'SMALL' }), leadA)
    assertWritten(t, small)
    const raised = await post(first.app, `${url}/commitments/${String(small.body.id)}/amendments`, { amount: '5000.00', reason: 'mehr' }, leadB)
    assertWritten(t, raised)
    t.match(raised.body, { amount: '11000.00', status: 'requested', createdBy: 'lead-a' })
    const other = await post(first.app, `${url}/commitments`, commitmentBody({ amount: '15000.00', caseRef: 'OTHER' }), leadA)
    const otherApproval = `${url}/commitments/${String(other.body.id)}/approval`
    const keyedB = { ...leadB, 'idempotency-key': 'before-restart' }
    const approvedBefore = await post(first.app, otherApproval, { decision: 'approve' }, keyedB)
    assertWritten(t, approvedBefore, 'an approval with an Idempotency-Key before the restart')
    await first.close()

    // The same database (file or schema) and configuration. This teardown runs before the first
    // service's, which deletes the database: teardowns run last in, first out.
    const second = await openService(first.config, pino({ level: 'silent' }), {})
    t.teardown(() => second.close())
    const app = second.app
    const raisedApproval = `${url}/commitments/${String(small.body.id)}/approval`
    const before = await second.store.headPosition()
    assertProblem(t, await post(app, approval, { decision: 'approve' }, leadA), 403, 'forbidden', 'the requester, after a restart')
    assertProblem(
      t,
      await post(app, approval, { decision: 'approve' }, await bearer({ sub: 'lead-a', role: 'finance' })),
      403,
      'forbidden',
      'the requester with a finance token, after a restart',
    )
    assertProblem(t, await post(app, raisedApproval, { decision: 'approve' }, leadB), 403, 'forbidden', 'who asked for the increase, after a restart')
    assertProblem(
      t,
      await post(app, amendments, { amount: '1.00', reason: 'mehr' }, leadB),
      409,
      'approval-required',
      'an amendment while it waits, after a restart',
    )
    const replayed = await post(app, otherApproval, { decision: 'approve' }, keyedB)
    t.equal(replayed.status, 201, 'the retry after a restart')
    t.equal(replayed.headers['idempotent-replayed'], 'true')
    t.equal(replayed.text, approvedBefore.text, 'replays the first answer')
    t.equal(await second.store.headPosition(), before, 'nothing written')
    await assertReadAgrees(t, app, url, created, 'the read models survive the restart', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, raised, 'the increase survives the restart', { latestOfBudget: false })
    await assertReadAgrees(t, app, url, approvedBefore, 'the approval before the restart')

    const keyed = { ...(await lead('lead-c', sr)), 'idempotency-key': 'restart-approval' }
    const approved = await post(app, approval, { decision: 'approve' }, keyed)
    assertWritten(t, approved, 'a third person approves')
    t.match(approved.body, { amount: '12000.00', status: 'open' })
    t.match(approved.body.lastDecision, { decision: 'approve', by: 'lead-c' })
    await assertReadAgrees(t, app, url, approved)

    const withdrawn = await post(app, raisedApproval, { decision: 'reject', comment: 'zurückgezogen' }, leadB)
    assertWritten(t, withdrawn, 'who asked for the increase withdraws it, after a restart')
    t.match(withdrawn.body, { amount: '6000.00', status: 'open' })
    t.match(withdrawn.body.lastDecision, { decision: 'reject', by: 'lead-b' })
    await assertReadAgrees(t, app, url, withdrawn)
  })
})

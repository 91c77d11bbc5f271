import t from 'tap'
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
} from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The commitment part of a write's answer: everything but the envelope. */
function commitmentOf(response: ApiResponse): Record<string, unknown> {
  const { position: _position, revision: _revision, budget: _budget, warnings: _warnings, ...commitment } = response.body
  return commitment
}

t.test('commitments over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('create, read, amend, invoice and release one commitment', async (t) => {
    const { url } = await seed(app, 'lifecycle', { ambulatory: '10000.00', flexible: '1000.00' })
    const id = uuid()

    const created = await post(app, `${url}/commitments`, commitmentBody({ id, amount: '1200', decisionRef: 'KB-7' }))
    assertWritten(t, created, 'create')
    t.match(created.body, {
      id,
      year: 2025,
      sozialraum: 'lifecycle',
      line: 'ambulatory',
      provider: 'Träger Beispiel gGmbH',
      caseRef: 'CASE-0001',
      helpType: 'SGB VIII § 31',
      period: { from: '2025-01-01', to: '2025-12-31' },
      decisionRef: 'KB-7',
      amount: '1200.00',
      invoiced: '0.00',
      released: '0.00',
      remaining: '1200.00',
      status: 'open',
      overBudget: false,
      createdBy: 'test-finance',
      invoices: [],
    })
    t.equal(created.body.overBudgetJustification, undefined)
    t.same(created.body.budget.lines.ambulatory, balance('10000.00', '1200.00', '0.00', '8800.00'))
    t.same(created.body.budget.lines.flexible, balance('1000.00', '0.00', '0.00', '1000.00'))

    const read = await get(app, `${url}/commitments/${id}`, created.body.position)
    t.equal(read.status, 200)
    t.same(read.body, commitmentOf(created), 'GET shows the commitment as written')
    t.same((await get(app, url, created.body.position)).body, created.body.budget, 'GET budget equals the write')

    const raised = await post(app, `${url}/commitments/${id}/amendments`, { amount: '300.00', reason: 'längere Laufzeit' })
    assertWritten(t, raised, 'positive amendment')
    t.match(raised.body, { id, amount: '1500.00', remaining: '1500.00', status: 'open' })
    t.same(raised.body.budget.lines.ambulatory, balance('10000.00', '1500.00', '0.00', '8500.00'))

    const invoiced = await post(app, `${url}/commitments/${id}/invoices`, {
      invoiceNo: 'RE-2025-001',
      amount: '400.00',
      invoiceDate: '2025-02-28',
    })
    assertWritten(t, invoiced, 'invoice')
    t.match(invoiced.body, {
      amount: '1500.00',
      invoiced: '400.00',
      remaining: '1100.00',
      status: 'open',
      invoices: [{ invoiceNo: 'RE-2025-001', amount: '400.00', invoiceDate: '2025-02-28' }],
    })
    t.same(invoiced.body.budget.lines.ambulatory, balance('10000.00', '1100.00', '400.00', '8500.00'))

    const lowered = await post(app, `${url}/commitments/${id}/amendments`, { amount: '-100', reason: 'weniger Stunden' })
    assertWritten(t, lowered, 'negative amendment')
    t.match(lowered.body, { amount: '1400.00', invoiced: '400.00', remaining: '1000.00' })
    t.same(lowered.body.budget.lines.ambulatory, balance('10000.00', '1000.00', '400.00', '8600.00'))

    const released = await post(app, `${url}/commitments/${id}/release`, { reason: 'Hilfe beendet' })
    assertWritten(t, released, 'release')
    t.match(released.body, { amount: '1400.00', invoiced: '400.00', released: '1000.00', remaining: '0.00', status: 'closed' })
    t.same(released.body.budget.lines.ambulatory, balance('10000.00', '0.00', '400.00', '9600.00'), 'the remainder returns')

    const after = await get(app, `${url}/commitments/${id}`, released.body.position)
    t.same(after.body, commitmentOf(released), 'GET shows the released commitment')
    t.same((await get(app, url, released.body.position)).body, released.body.budget)

    const head = await service.store.headPosition()
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'RE-late', amount: '1.00', invoiceDate: '2025-06-01' }),
      409,
      'commitment-closed',
      'invoice on a released commitment',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/release`, { reason: 'again' }),
      409,
      'commitment-closed',
      'release twice',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/amendments`, { amount: '1.00', reason: 'x' }),
      409,
      'commitment-closed',
      'amendment on a closed commitment',
    )
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('a fully invoiced commitment closes and takes no further invoice', async (t) => {
    const { url } = await seed(app, 'full-invoice')
    const created = await post(app, `${url}/commitments`, commitmentBody({ amount: '500.00' }))
    const id = created.body.id as string
    t.match(id, UUID, 'the server chose a UUID')
    const first = await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'A', amount: '200', invoiceDate: '2025-01-31' })
    assertWritten(t, first)
    const last = await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'B', amount: '300', invoiceDate: '2025-02-28' })
    assertWritten(t, last)
    t.match(last.body, { invoiced: '500.00', remaining: '0.00', status: 'closed' })
    t.equal(last.body.invoices.length, 2)
    t.same(last.body.budget.lines.ambulatory, balance('100000.00', '0.00', '500.00', '99500.00'))
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'C', amount: '0.01', invoiceDate: '2025-03-31' }),
      409,
      'commitment-closed',
    )
  })

  t.test('an invoice number is one number, whether its letters come composed or decomposed', async (t) => {
    const { url } = await seed(app, 'invoice-nfc')
    const id = (await post(app, `${url}/commitments`, commitmentBody({ amount: '100.00' }))).body.id as string
    const composed = await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'Tr\u00e4ger-1', amount: '10', invoiceDate: '2025-01-31' })
    assertWritten(t, composed)
    t.equal(composed.body.invoices[0].invoiceNo, 'Tr\u00e4ger-1')
    const decomposed = await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'Tra\u0308ger-1', amount: '10', invoiceDate: '2025-01-31' })
    assertProblem(t, decomposed, 409, 'conflict', 'the same number, written decomposed')
  })

  t.test('invoice problems: above the remainder, duplicate invoiceNo; amendment below invoiced', async (t) => {
    const { url } = await seed(app, 'invoice-rules', { ambulatory: '2000.00' })
    const created = await post(app, `${url}/commitments`, commitmentBody({ amount: '1000.00' }))
    const id = created.body.id as string
    const booked = await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'RE-1', amount: '600', invoiceDate: '2025-01-31' })
    assertWritten(t, booked)
    const head = await service.store.headPosition()

    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'RE-2', amount: '400.01', invoiceDate: '2025-02-28' }),
      422,
      'exceeds-commitment',
      'invoice above the remainder',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/invoices`, { invoiceNo: 'RE-1', amount: '1.00', invoiceDate: '2025-02-28' }),
      409,
      'conflict',
      'duplicate invoiceNo',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/amendments`, { amount: '-400.01', reason: 'zu viel' }),
      422,
      'exceeds-commitment',
      'amendment below what is invoiced',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${id}/amendments`, { amount: '1000.01', reason: 'zu viel' }),
      422,
      'insufficient-funds',
      'amendment beyond the available funds',
    )
    t.equal(await service.store.headPosition(), head, 'nothing written')

    const read = await get(app, `${url}/commitments/${id}`, booked.body.position)
    t.match(read.body, { amount: '1000.00', invoiced: '600.00', remaining: '400.00', status: 'open' })
  })

  t.test('client-chosen ids: duplicates are 409', async (t) => {
    const { url } = await seed(app, 'duplicate-id')
    const id = uuid()
    assertWritten(t, await post(app, `${url}/commitments`, commitmentBody({ id })))
    const head = await service.store.headPosition()
    assertProblem(t, await post(app, `${url}/commitments`, commitmentBody({ id, caseRef: 'OTHER' })), 409, 'conflict')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('a commitment on the flexible line', async (t) => {
    const { url } = await seed(app, 'flexible-commitment', { flexible: '300.00' })
    const created = await post(app, `${url}/commitments`, commitmentBody({ line: 'flexible', amount: '250.00' }))
    assertWritten(t, created)
    t.equal(created.body.line, 'flexible')
    t.same(created.body.budget.lines.flexible, balance('300.00', '250.00', '0.00', '50.00'))
    t.same(created.body.budget.lines.ambulatory, balance('100000.00', '0.00', '0.00', '100000.00'))
  })

  t.test('GET …/commitments with ?status=', async (t) => {
    const { url } = await seed(app, 'listing')
    const open = await post(app, `${url}/commitments`, commitmentBody({ caseRef: 'OPEN' }))
    const closing = await post(app, `${url}/commitments`, commitmentBody({ caseRef: 'CLOSED' }))
    const released = await post(app, `${url}/commitments/${closing.body.id}/release`, { reason: 'nicht benötigt' })
    const requested = await post(
      app,
      `${url}/commitments`,
      commitmentBody({ caseRef: 'REQUESTED', amount: '200000.00', overBudget: { justification: 'Rechtsanspruch § 27' } }),
    )
    assertWritten(t, requested)
    const position = requested.body.position as string

    const all = await get(app, `${url}/commitments`, position)
    t.equal(all.status, 200)
    t.same(
      all.body.items.map((item: { caseRef: string }) => item.caseRef).sort(),
      ['CLOSED', 'OPEN', 'REQUESTED'],
      'all three without a filter',
    )
    const byStatus = async (status: string) =>
      (await get(app, `${url}/commitments?status=${status}`, position)).body.items.map((item: { id: string }) => item.id)
    t.same(await byStatus('open'), [open.body.id])
    t.same(await byStatus('closed'), [released.body.id])
    t.same(await byStatus('requested'), [requested.body.id])
    t.same(await byStatus('rejected'), [])
    t.same(
      all.body.items.find((item: { id: string }) => item.id === released.body.id),
      commitmentOf(released),
      'the list shows each commitment as its last write left it',
    )
    assertProblem(t, await get(app, `${url}/commitments?status=pending`), 400, 'validation', 'an unknown status')
  })

  t.test('404s: unknown commitment, budget without allocation', async (t) => {
    const { url } = await seed(app, 'not-found')
    const unknown = uuid()
    const head = await service.store.headPosition()
    assertProblem(t, await get(app, `${url}/commitments/${unknown}`), 404, 'not-found', 'GET unknown')
    assertProblem(
      t,
      await post(app, `${url}/commitments/${unknown}/amendments`, { amount: '1', reason: 'x' }),
      404,
      'not-found',
      'amend unknown',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments/${unknown}/invoices`, { invoiceNo: 'X', amount: '1', invoiceDate: '2025-01-01' }),
      404,
      'not-found',
      'invoice unknown',
    )
    assertProblem(t, await post(app, `${url}/commitments/${unknown}/release`, { reason: 'x' }), 404, 'not-found', 'release unknown')

    const created = await post(app, `${url}/commitments`, commitmentBody())
    assertProblem(
      t,
      await get(app, `/v1/budgets/2026/not-found/commitments/${created.body.id}`, created.body.position),
      404,
      'not-found',
      'the commitment belongs to another year',
    )
    assertProblem(t, await get(app, '/v1/budgets/2026/not-found/commitments'), 404, 'not-found', 'list before allocation')
    assertProblem(
      t,
      await post(app, '/v1/budgets/2025/unregistered/commitments', commitmentBody()),
      404,
      'not-found',
      'create in an unregistered Sozialraum',
    )
    t.equal(await service.store.headPosition(), BigInt(created.body.position), 'only the one commitment was written')
    t.ok(BigInt(created.body.position) === head + 1n)
  })

  t.test('over budget: an ambulatory commitment may exceed the line only with a justification', async (t) => {
    const { url } = await seed(app, 'over-budget', { ambulatory: '1000.00', flexible: '100.00' })
    const head = await service.store.headPosition()

    const unjustified = await post(app, `${url}/commitments`, commitmentBody({ amount: '1000.01' }))
    assertProblem(t, unjustified, 422, 'insufficient-funds', 'without justification')
    t.equal(await service.store.headPosition(), head, 'nothing written')

    const justified = await post(
      app,
      `${url}/commitments`,
      commitmentBody({ amount: '1500.00', overBudget: { justification: 'Rechtsanspruch nach § 27 SGB VIII' } }),
    )
    assertWritten(t, justified, 'with justification')
    t.match(justified.body, {
      amount: '1500.00',
      status: 'requested',
      overBudget: true,
      overBudgetJustification: 'Rechtsanspruch nach § 27 SGB VIII',
    })
    t.same(justified.body.budget.lines.ambulatory, balance('1000.00', '1500.00', '0.00', '-500.00'), 'available goes negative')
    t.same(justified.body.budget.total, balance('1100.00', '1500.00', '0.00', '-400.00'))

    const read = await get(app, `${url}/commitments/${justified.body.id}`, justified.body.position)
    t.match(read.body, { status: 'requested', overBudget: true, overBudgetJustification: 'Rechtsanspruch nach § 27 SGB VIII' })
    t.same((await get(app, url, justified.body.position)).body.lines.ambulatory, balance('1000.00', '1500.00', '0.00', '-500.00'))

    const headAfter = await service.store.headPosition()
    assertProblem(
      t,
      await post(app, `${url}/commitments/${justified.body.id}/invoices`, {
        invoiceNo: 'RE-1',
        amount: '100.00',
        invoiceDate: '2025-02-01',
      }),
      409,
      'approval-required',
      'invoice while requested',
    )
    assertProblem(
      t,
      await post(
        app,
        `${url}/commitments`,
        commitmentBody({ line: 'flexible', amount: '100.01', overBudget: { justification: 'Rechtsanspruch' } }),
      ),
      422,
      'insufficient-funds',
      'a flexible commitment never exceeds its line, justified or not',
    )
    assertProblem(
      t,
      await post(app, `${url}/commitments`, commitmentBody({ amount: '0.01' })),
      422,
      'insufficient-funds',
      'nothing more fits once the line is below zero',
    )
    t.equal(await service.store.headPosition(), headAfter, 'nothing written')

    const withinLine = await post(
      app,
      `${url}/commitments`,
      commitmentBody({ line: 'flexible', amount: '100.00', overBudget: { justification: 'not needed' } }),
    )
    assertWritten(t, withinLine, 'a justification on a commitment that fits')
    t.match(withinLine.body, { status: 'open', overBudget: false })
    t.equal(withinLine.body.overBudgetJustification, undefined, 'the justification is kept only when it is used')
  })

  t.test('Idempotency-Key on commitments created without a client id', async (t) => {
    const { url } = await seed(app, 'idempotent-commitment')
    const body = commitmentBody({ amount: '750.00' })
    const first = await post(app, `${url}/commitments`, body, { 'idempotency-key': 'commit-1' })
    assertWritten(t, first)
    const head = await service.store.headPosition()

    const retry = await post(app, `${url}/commitments`, body, { 'idempotency-key': 'commit-1' })
    t.equal(retry.status, 201)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(retry.body.id, first.body.id, 'the same server-chosen id')
    t.equal(retry.text, first.text, 'identical body')
    t.equal(await service.store.headPosition(), head, 'nothing written twice')

    const list = await get(app, `${url}/commitments`, first.body.position)
    t.equal(list.body.items.length, 1, 'one commitment')
    t.same((await get(app, url, first.body.position)).body.lines.ambulatory, balance('100000.00', '750.00', '0.00', '99250.00'))

    assertProblem(
      t,
      await post(app, `${url}/commitments`, { ...body, amount: '751.00' }, { 'idempotency-key': 'commit-1' }),
      422,
      'idempotency-key-reused',
    )
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('Idempotency-Key on an invoice', async (t) => {
    const { url } = await seed(app, 'idempotent-invoice')
    const created = await post(app, `${url}/commitments`, commitmentBody({ amount: '1000.00' }))
    const invoice = { invoiceNo: 'RE-9', amount: '100.00', invoiceDate: '2025-04-30' }
    const first = await post(app, `${url}/commitments/${created.body.id}/invoices`, invoice, { 'idempotency-key': 'inv-9' })
    assertWritten(t, first)
    const head = await service.store.headPosition()
    const retry = await post(app, `${url}/commitments/${created.body.id}/invoices`, invoice, { 'idempotency-key': 'inv-9' })
    t.equal(retry.status, 201, 'a retry is no duplicate invoice')
    t.equal(retry.text, first.text)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(await service.store.headPosition(), head)
    const without = await post(app, `${url}/commitments/${created.body.id}/invoices`, invoice)
    assertProblem(t, without, 409, 'conflict', 'without the key the same invoice is a duplicate')
  })
})

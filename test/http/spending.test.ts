import t from 'tap'
import { assertProblem, assertWritten, balance, get, post, seed, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/** The spending part of a write's answer: everything but the envelope. */
function spendingOf(response: ApiResponse): Record<string, unknown> {
  const { position: _position, revision: _revision, budget: _budget, warnings: _warnings, ...spending } = response.body
  return spending
}

t.test('flexible spending over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('record, list and reverse a spending', async (t) => {
    const { url } = await seed(app, 'spending', { flexible: '500.00' })
    const id = uuid()
    const recorded = await post(app, `${url}/spending`, spendingBody({ id, amount: '120.5' }))
    assertWritten(t, recorded, 'record')
    t.match(recorded.body, {
      id,
      year: 2025,
      sozialraum: 'spending',
      line: 'flexible',
      amount: '120.50',
      purpose: 'Gruppenangebot Kita',
      category: 'group',
      receiptRef: 'R-0001',
      date: '2025-03-01',
      reversed: false,
      createdBy: 'test-finance',
    })
    t.same(recorded.body.budget.lines.flexible, balance('500.00', '0.00', '120.50', '379.50'))
    t.same(recorded.body.budget.lines.ambulatory, balance('100000.00', '0.00', '0.00', '100000.00'))

    const second = await post(app, `${url}/spending`, spendingBody({ amount: '79.50', category: undefined, receiptRef: 'R-2' }))
    assertWritten(t, second)
    t.equal(second.body.category, undefined, 'no category when none was given')
    t.same(second.body.budget.lines.flexible, balance('500.00', '0.00', '200.00', '300.00'))

    const list = await get(app, `${url}/spending`, second.body.position)
    t.equal(list.status, 200)
    t.equal(list.body.items.length, 2)
    t.same(
      list.body.items.find((item: { id: string }) => item.id === id),
      spendingOf(recorded),
      'the list shows the spending as written',
    )
    t.same((await get(app, url, second.body.position)).body, second.body.budget, 'GET budget equals the write')

    const reversed = await post(app, `${url}/spending/${id}/reversal`, { reason: 'Fehlbuchung' })
    assertWritten(t, reversed, 'reversal')
    t.match(reversed.body, { id, amount: '120.50', reversed: true })
    t.same(reversed.body.budget.lines.flexible, balance('500.00', '0.00', '79.50', '420.50'), 'the money returns')

    const after = await get(app, `${url}/spending`, reversed.body.position)
    t.match(after.body.items.find((item: { id: string }) => item.id === id), { reversed: true, amount: '120.50' })
    t.equal(after.body.items.length, 2, 'nothing is deleted')

    const head = await service.store.headPosition()
    assertProblem(t, await post(app, `${url}/spending/${id}/reversal`, { reason: 'again' }), 409, 'conflict', 'reversal twice')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('the flexible line never goes below zero', async (t) => {
    const { url } = await seed(app, 'hard-limit', { flexible: '100.00' })
    const head = await service.store.headPosition()
    assertProblem(t, await post(app, `${url}/spending`, spendingBody({ amount: '100.01' })), 422, 'insufficient-funds')
    t.equal(await service.store.headPosition(), head, 'nothing written')
    const exact = await post(app, `${url}/spending`, spendingBody({ amount: '100' }))
    assertWritten(t, exact, 'exactly what is available')
    t.same(exact.body.budget.lines.flexible, balance('100.00', '0.00', '100.00', '0.00'))
    assertProblem(t, await post(app, `${url}/spending`, spendingBody({ amount: '0.01' })), 422, 'insufficient-funds', 'one cent more')
  })

  t.test('duplicate spending id is 409; unknown spending is 404', async (t) => {
    const { url } = await seed(app, 'spending-ids')
    const id = uuid()
    assertWritten(t, await post(app, `${url}/spending`, spendingBody({ id })))
    const head = await service.store.headPosition()
    assertProblem(t, await post(app, `${url}/spending`, spendingBody({ id, receiptRef: 'R-other' })), 409, 'conflict')
    assertProblem(t, await post(app, `${url}/spending/${uuid()}/reversal`, { reason: 'x' }), 404, 'not-found')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('404 before registration and before the first allocation', async (t) => {
    const head = await service.store.headPosition()
    assertProblem(t, await post(app, '/v1/budgets/2025/nobody/spending', spendingBody()), 404, 'not-found', 'unregistered')
    const registered = await post(app, '/v1/sozialraeume', { id: 'spending-empty', name: 'Empty' })
    assertProblem(
      t,
      await post(app, '/v1/budgets/2025/spending-empty/spending', spendingBody()),
      404,
      'not-found',
      'no allocation yet',
    )
    assertProblem(
      t,
      await get(app, '/v1/budgets/2025/spending-empty/spending', registered.body.position),
      404,
      'not-found',
      'list before the first allocation',
    )
    t.equal(await service.store.headPosition(), head + 1n, 'only the registration was written')
  })

  t.test('Idempotency-Key on spending without a client id', async (t) => {
    const { url } = await seed(app, 'idempotent-spending', { flexible: '100.00' })
    const body = spendingBody({ amount: '60.00' })
    const first = await post(app, `${url}/spending`, body, { 'idempotency-key': 'spend-1' })
    assertWritten(t, first)
    const head = await service.store.headPosition()
    const retry = await post(app, `${url}/spending`, body, { 'idempotency-key': 'spend-1' })
    t.equal(retry.status, 201, 'a retry is not refused for lack of funds')
    t.equal(retry.text, first.text, 'identical body, same server-chosen id')
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(await service.store.headPosition(), head, 'nothing written twice')
    const list = await get(app, `${url}/spending`, first.body.position)
    t.equal(list.body.items.length, 1)
    t.same((await get(app, url, first.body.position)).body.lines.flexible, balance('100.00', '0.00', '60.00', '40.00'))
  })
})

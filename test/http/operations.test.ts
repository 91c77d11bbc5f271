import { randomUUID } from 'node:crypto'
import pino from 'pino'
import t from 'tap'
import { openService } from '../../src/service.js'
import { assertProblem, get, post, seed } from '../helpers/api.js'
import { startTestService, TEST_STORE } from '../helpers/service.js'

t.test('operations endpoints', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('GET /health', async (t) => {
    const response = await get(app, '/health')
    t.equal(response.status, 200)
    t.same(response.body, { status: 'ok' })
  })

  t.test('GET /ready shows the projection position, head and lag', async (t) => {
    const empty = await get(app, '/ready')
    t.equal(empty.status, 200)
    t.same(empty.body, { status: 'ready', projections: { position: '0', head: '0', lag: '0', projecting: true, replaying: [] } }, 'an empty store')

    const seeded = await seed(app, 'ready')
    t.equal(seeded.position, '3')
    t.ok(await service.runner.waitFor(BigInt(seeded.position), 5000))
    const caughtUp = await get(app, '/ready')
    t.equal(caughtUp.status, 200)
    t.same(caughtUp.body, { status: 'ready', projections: { position: '3', head: '3', lag: '0', projecting: true, replaying: [] } })
    t.equal(String(await service.store.headPosition()), caughtUp.body.projections.head, 'head is the store head')
  })

  t.test('GET /openapi.json documents the v1 API', async (t) => {
    const response = await get(app, '/openapi.json')
    t.equal(response.status, 200)
    t.match(String(response.headers['content-type']), /^application\/json/)
    t.match(response.body.openapi, /^3\./)
    const paths = Object.keys(response.body.paths)
    for (const path of [
      '/v1/sozialraeume',
      '/v1/sozialraeume/{id}/status',
      '/v1/budgets/{year}',
      '/v1/budgets/{year}/{sozialraum}',
      '/v1/budgets/{year}/{sozialraum}/allocations',
      '/v1/budgets/{year}/{sozialraum}/adjustments',
      '/v1/budgets/{year}/{sozialraum}/transfers',
      '/v1/budgets/{year}/{sozialraum}/commitments',
      '/v1/budgets/{year}/{sozialraum}/commitments/{id}',
      '/v1/budgets/{year}/{sozialraum}/commitments/{id}/amendments',
      '/v1/budgets/{year}/{sozialraum}/commitments/{id}/invoices',
      '/v1/budgets/{year}/{sozialraum}/commitments/{id}/release',
      '/v1/budgets/{year}/{sozialraum}/spending',
      '/v1/budgets/{year}/{sozialraum}/spending/{id}/reversal',
      '/v1/audit/events',
      '/health',
      '/ready',
    ]) {
      t.ok(paths.includes(path), `documents ${path}`)
    }
    t.ok(response.body.paths['/v1/budgets/{year}/{sozialraum}/allocations'].post, 'allocations is a POST')
    t.ok(response.body.paths['/v1/budgets/{year}/{sozialraum}/commitments'].get, 'commitments has a GET')
  })

  t.test('GET /docs serves the interactive documentation', async (t) => {
    const response = await get(app, '/docs')
    t.equal(response.status, 200)
    t.match(String(response.headers['content-type']), /^text\/html/)
    t.match(response.text, /<html/i)
  })

  t.test('unknown routes are 404 problems', async (t) => {
    assertProblem(t, await get(app, '/v1/nothing-here'), 404, 'not-found', 'GET unknown path')
    assertProblem(t, await post(app, '/v1/budgets/2025', {}), 404, 'not-found', 'POST on a read-only path')
    const deleted = await app.inject({ method: 'DELETE', url: '/v1/sozialraeume' })
    t.equal(deleted.statusCode, 404, 'DELETE: nothing is ever deleted')
    t.match(String(deleted.headers['content-type']), /^application\/problem\+json/)
  })

  t.test('a well-formed x-request-id is echoed', async (t) => {
    const offered = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'req-42' } })
    t.equal(offered.headers['x-request-id'], 'req-42')
    const none = await app.inject({ method: 'GET', url: '/health' })
    t.match(String(none.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a UUID when none is offered')
  })

  t.test('a malformed x-request-id is replaced by a UUID', async (t) => {
    for (const offered of ['no spaces allowed', 'x'.repeat(10_000), 'quote"and<angle>']) {
      const response = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': offered } })
      t.match(String(response.headers['x-request-id']), /^[0-9a-f-]{36}$/, `${offered.slice(0, 20)} is replaced`)
    }
  })

  t.test('?minPosition= beyond the head of the log: 400 at once, naming minPosition (no write will reach it)', async (t) => {
    const head = await service.store.headPosition()
    for (const minPosition of [String(head + 1n), '9223372036854775807']) {
      const started = Date.now()
      const response = await get(app, '/v1/sozialraeume', minPosition)
      assertProblem(t, response, 400, 'validation', `minPosition ${minPosition}`)
      t.same(response.body.errors, [{ path: 'querystring.minPosition', message: `is beyond the last event of the log (position ${head})` }])
      t.ok(Date.now() - started < 2000, 'not waited for')
    }
    const written = await post(app, '/v1/sozialraeume', { id: 'am-kopf', name: 'Am Kopf' })
    t.equal(written.status, 201)
    const atHead = await get(app, '/v1/sozialraeume', written.body.position)
    t.equal(atHead.status, 200, 'the position of the last write, the head, is waited for and read')
    t.ok(atHead.body.items.some((item: { id: string }) => item.id === 'am-kopf'))
  })

  t.test('?minPosition= that is not a position is 400 on API routes', async (t) => {
    assertProblem(t, await get(app, '/v1/sozialraeume?minPosition=abc'), 400, 'validation')
    assertProblem(t, await get(app, '/v1/budgets/2025?minPosition=-1'), 400, 'validation')
  })

  t.test('?minPosition= means nothing on operations routes and never breaks them', async (t) => {
    for (const url of ['/health?minPosition=abc', '/ready?minPosition=1.5', '/openapi.json?minPosition=x', '/health?minPosition=999999', '/ready?minPosition=999999']) {
      const response = await get(app, url)
      t.equal(response.status, 200, `${url}: 200, got ${response.status}`)
    }
  })
})

t.test(
  "?minPosition= of another process's write is waited for, not refused: the head is the store's",
  { skip: TEST_STORE === 'postgres' ? false : 'two services on one database: PostgreSQL only (TEST_STORE=postgres)' },
  async (t) => {
    const first = await startTestService(t)
    await seed(first.app, 'erster')
    // Teardowns run last in, first out: this one closes before the first service drops the schema.
    const second = await openService(first.config, pino({ level: 'silent' }), {})
    t.teardown(() => second.close())
    t.equal((await get(second.app, '/v1/sozialraeume', String(await first.store.headPosition()))).status, 200, 'the second reads once')
    for (let i = 0; i < 3; i++) {
      const written = await post(first.app, '/v1/sozialraeume', { id: `im-ersten-${i}`, name: `Im ersten ${i}` })
      t.equal(written.status, 201)
      const read = await get(second.app, '/v1/sozialraeume', written.body.position)
      t.equal(read.status, 200, `the other process's write at ${written.body.position} (got ${read.status} ${read.body?.detail})`)
      t.ok(read.body.items.some((item: { id: string }) => item.id === `im-ersten-${i}`))
    }
  },
)

t.test('GET /ready is 503 degraded while a projection cannot read the log', async (t) => {
  const service = await startTestService(t)
  // An event this version cannot read, as after a rollback to an older release.
  await service.store.append(
    'sozialraum-from-the-future',
    [{ id: randomUUID(), type: 'SomethingNew', data: {}, metadata: {} }],
    'no_stream',
  )
  const deadline = Date.now() + 5000
  let response = await service.app.inject({ method: 'GET', url: '/ready' })
  while (response.statusCode !== 503 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    response = await service.app.inject({ method: 'GET', url: '/ready' })
  }
  t.equal(response.statusCode, 503)
  const body = response.json()
  t.equal(body.status, 'degraded')
  t.equal(body.projections.head, '1')
  t.equal(body.projections.lag, '1')
  t.match(body.projections.error, /SomethingNew/)

  // A position in the log that the read models cannot reach: 503 with Retry-After, after the wait.
  const started = Date.now()
  const stuck = await get(service.app, '/v1/sozialraeume', '1')
  assertProblem(t, stuck, 503, 'unavailable')
  t.equal(stuck.headers['retry-after'], '1')
  t.ok(Date.now() - started >= 4000, 'it waited for the read models first')
})

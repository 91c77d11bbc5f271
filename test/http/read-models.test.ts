import Fastify from 'fastify'
import t from 'tap'
import type { Position } from '../../src/eventstore/port.js'
import { readModelPlugin, type ReadModelProgress } from '../../src/http/read-models.js'

/**
 * The gate between routes and projections: a projection that replays serves no reads, the other
 * routes keep serving, and `?minPosition=` waits only for the projections a route reads. The
 * progress is a plain object here; test/projections/ runs the real runner through a rebuild.
 */

function progress(replaying: string[]) {
  const waited: Array<{ position: Position; names: readonly string[] | undefined }> = []
  const value: ReadModelProgress = {
    isServing: (name) => !replaying.includes(name),
    waitFor: async (position, _timeoutMs, names) => {
      waited.push({ position, names })
      return true
    },
    status: () => ({
      position: 10n,
      error: undefined,
      projecting: true,
      projections: ['sozialraeume', 'audit', 'idempotency-keys'].map((name) => ({
        name,
        position: replaying.includes(name) ? 10n : 99n,
        target: 99n,
        serving: !replaying.includes(name),
      })),
    }),
  }
  return { value, waited }
}

async function appWith(progress: ReadModelProgress, headPosition: () => Promise<Position> = async () => 1000n) {
  const app = Fastify()
  await app.register(readModelPlugin, { progress, readYourWritesTimeoutMs: 100, headPosition })
  app.get('/v1/sozialraeume', async () => ({ items: [] }))
  app.get('/v1/audit/events', async () => ({ items: [] }))
  app.post('/v1/sozialraeume', async () => ({ written: true }))
  await app.ready()
  return app
}

t.test('a replaying projection answers 503 on its routes only', async (t) => {
  const app = await appWith(progress(['audit']).value)
  t.teardown(() => app.close())
  const audit = await app.inject({ method: 'GET', url: '/v1/audit/events' })
  t.equal(audit.statusCode, 503)
  t.match(audit.headers['content-type'], /^application\/problem\+json/)
  t.equal(audit.headers['retry-after'], '1')
  t.match(audit.json(), { type: 'urn:sojus-ledger:problem:unavailable', detail: /audit at position 10 of 99/ })
  t.equal((await app.inject({ method: 'GET', url: '/v1/sozialraeume' })).statusCode, 200, 'the others keep serving')
  t.equal((await app.inject({ method: 'HEAD', url: '/v1/audit/events' })).statusCode, 503, 'HEAD as GET')
})

t.test('?minPosition= waits only for the projections the route reads', async (t) => {
  const { value, waited } = progress(['audit'])
  const app = await appWith(value)
  t.teardown(() => app.close())
  const read = await app.inject({ method: 'GET', url: '/v1/sozialraeume?minPosition=42' })
  t.equal(read.statusCode, 200)
  t.same(waited, [{ position: 42n, names: ['sozialraeume'] }])
})

t.test('?minPosition= beyond the head of the log is 400 at once; at the head it waits', async (t) => {
  // Every projection serves, at position 99.
  const { value, waited } = progress([])
  let head = 120n
  let headReads = 0
  const app = await appWith(value, async () => {
    headReads += 1
    return head
  })
  t.teardown(() => app.close())
  const beyond = await app.inject({ method: 'GET', url: '/v1/sozialraeume?minPosition=121' })
  t.equal(beyond.statusCode, 400)
  t.match(beyond.json(), {
    type: 'urn:sojus-ledger:problem:validation',
    detail: 'minPosition 121 is beyond the last event of the log (position 120)',
    errors: [{ path: 'querystring.minPosition', message: 'is beyond the last event of the log (position 120)' }],
  })
  t.same(waited, [], 'not waited for')
  t.equal((await app.inject({ method: 'GET', url: '/v1/sozialraeume?minPosition=120' })).statusCode, 200, 'the head itself')
  t.same(waited, [{ position: 120n, names: ['sozialraeume'] }], 'is waited for')
  head = 121n
  t.equal((await app.inject({ method: 'GET', url: '/v1/sozialraeume?minPosition=121' })).statusCode, 200, 'the head is read anew: another process wrote')
  t.equal(headReads, 3)
  t.equal((await app.inject({ method: 'GET', url: '/v1/audit/events?minPosition=99' })).statusCode, 200, 'read models there already')
  t.equal(headReads, 3, 'the store is not asked when the read models are there')
})

t.test('writes go on while the index of idempotency keys replays: the store claims the keys', async (t) => {
  const app = await appWith(progress(['idempotency-keys', 'sozialraeume']).value)
  t.teardown(() => app.close())
  const keyed = await app.inject({ method: 'POST', url: '/v1/sozialraeume', headers: { 'idempotency-key': 'k-1' } })
  t.equal(keyed.statusCode, 200, 'a write with a key')
  t.equal((await app.inject({ method: 'POST', url: '/v1/sozialraeume' })).statusCode, 200, 'and one without')
})

t.test('a read route that does not say which projections it reads stops the service at start', async (t) => {
  const app = Fastify()
  await app.register(readModelPlugin, { progress: progress([]).value, readYourWritesTimeoutMs: 100, headPosition: async () => 0n })
  t.throws(() => app.get('/v1/unlisted', async () => ({})), /not in READ_MODELS/)
  await app.close()
})

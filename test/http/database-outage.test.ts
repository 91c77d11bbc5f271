import { createServer, connect, type Server, type Socket } from 'node:net'
import pg from 'pg'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { openService } from '../../src/service.js'
import { lockKey } from '../../src/sql/pg-pool.js'
import { recordUndeclaredAnswers } from '../helpers/service.js'
import { bearer, DEFAULT_ACTOR, TEST_JWT_SECRET } from '../helpers/tokens.js'
import { createTestSchema, skipWithoutPostgres, TEST_POSTGRES_URL } from '../helpers/postgres.js'

/**
 * The database goes away under a running service: a TCP proxy between the service and
 * PostgreSQL is cut, as a network failure or a database restart would cut it. Writes answer 503
 * problem+json and store nothing; /ready answers 503 naming the database; once the proxy is back,
 * the service recovers by itself, without a restart. And the database is there but busy: a write
 * that waits past the statement timeout is a 503 too, not a 500.
 */

const skip = await skipWithoutPostgres()

/** Forwards connections to PostgreSQL until cut; cutting also breaks the connections open through it. */
class CuttableProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  async open(): Promise<void> {
    const target = new URL(TEST_POSTGRES_URL)
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => socket.destroy())
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('the proxy has no port')
    this.port = address.port
    this.server = server
  }

  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server) await new Promise((resolve) => server.close(resolve))
  }
}

t.test('a lost database: 503 on writes and on /ready, nothing half written, recovery without a restart', { skip }, async (t) => {
  const schema = await createTestSchema()
  const proxy = new CuttableProxy()
  await proxy.open()
  const url = new URL(schema.url)
  url.port = String(proxy.port)
  const undeclared = new Set<string>()
  const service = await openService(
    parseConfig({ DATABASE_URL: url.toString(), JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) }),
    pino({ level: 'silent' }),
    { onApp: (app) => recordUndeclaredAnswers(app, undeclared) },
  )
  t.teardown(async () => {
    await proxy.cut()
    await service.close()
    await schema.drop()
  })
  const headers = { ...(await bearer(DEFAULT_ACTOR)), 'content-type': 'application/json' }
  const register = (id: string) =>
    service.app.inject({ method: 'POST', url: '/v1/sozialraeume', headers, payload: JSON.stringify({ id, name: id }) })

  t.equal((await register('vorher')).statusCode, 201, 'a write before the outage')
  const before = await service.store.headPosition()

  await proxy.cut()
  const refused = await register('waehrend')
  t.equal(refused.statusCode, 503, 'a write while the database is away: 503')
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.match(refused.json(), { type: /unavailable$/, status: 503, detail: /database/ })
  t.ok(refused.headers['retry-after'], 'with Retry-After')
  const ready = await service.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready: 503')
  t.match(ready.json(), { status: 'unavailable', detail: /database/ }, '/ready names the database')
  t.notMatch(ready.body, new RegExp(`ECONN|127\\.0\\.0\\.1|${proxy.port}`), "/ready, open to anyone, does not show the driver's message")

  await proxy.open()
  // The pool makes new connections by itself; the first ones after the outage may still meet a
  // broken idle connection, so the service is given a few tries.
  let after = await register('nachher')
  for (let attempt = 0; after.statusCode === 503 && attempt < 20; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    after = await register('nachher')
  }
  t.equal(after.statusCode, 201, 'the service writes again once the database is back, without a restart')
  const events = await service.store.readAll({ after: before, maxCount: 100 })
  t.same(
    events.map((event) => (event.data as { sozialraumId: string }).sozialraumId),
    ['nachher'],
    'the refused write stored nothing',
  )
  // The dedicated session (notifications, the projector's lease) reconnects with a backoff of up to 5 s.
  let readyAgain = await service.app.inject({ method: 'GET', url: '/ready' })
  const caughtUp = () => readyAgain.statusCode === 200 && /"projecting":true/.test(readyAgain.body) && /"lag":"0"/.test(readyAgain.body)
  for (let attempt = 0; !caughtUp() && attempt < 40; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    readyAgain = await service.app.inject({ method: 'GET', url: '/ready' })
  }
  t.equal(readyAgain.statusCode, 200, '/ready: 200 again within 10 s', { body: readyAgain.body })
  t.match(readyAgain.json(), { projections: { projecting: true, lag: '0' } }, 'projecting again, and caught up')
  t.same([...undeclared], [], 'every answer is declared')
})

t.test('a write that waits past the statement timeout: 503 busy with Retry-After, nothing stored, its retry taken', { skip }, async (t) => {
  const schema = await createTestSchema()
  const undeclared = new Set<string>()
  const service = await openService(
    parseConfig({ DATABASE_URL: schema.url, DATABASE_STATEMENT_TIMEOUT_MS: '300', JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) }),
    pino({ level: 'silent' }),
    { onApp: (app) => recordUndeclaredAnswers(app, undeclared) },
  )
  const holder = new pg.Client({ connectionString: TEST_POSTGRES_URL })
  await holder.connect()
  t.teardown(async () => {
    await holder.end()
    await service.close()
    await schema.drop()
  })
  const headers = { ...(await bearer(DEFAULT_ACTOR)), 'content-type': 'application/json', 'idempotency-key': 'register-busy-1' }
  const register = () =>
    service.app.inject({ method: 'POST', url: '/v1/sozialraeume', headers, payload: JSON.stringify({ id: 'busy', name: 'Busy' }) })
  const before = await service.store.headPosition()

  // Another process holds the append lock for longer than the statement timeout.
  await holder.query('BEGIN')
  await holder.query('SELECT pg_advisory_xact_lock($1)', [lockKey(schema.schema, 'append').toString()])
  const refused = await register()
  t.equal(refused.statusCode, 503, 'a write behind the held lock: 503, not 500')
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.match(refused.json(), { type: /unavailable$/, status: 503, detail: /busy: a statement did not finish in time/ })
  t.ok(refused.headers['retry-after'], 'with Retry-After')
  await holder.query('ROLLBACK')

  const retried = await register()
  t.equal(retried.statusCode, 201, 'the same request with the same Idempotency-Key is taken once the lock is free')
  t.equal((await register()).headers['idempotent-replayed'], 'true', 'and answered as a replay after that')
  const events = await service.store.readAll({ after: before, maxCount: 100 })
  t.equal(events.length, 1, 'the refused write stored nothing: one registration in all')
  t.same([...undeclared], [], 'every answer is declared')
})

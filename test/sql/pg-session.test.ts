import { once } from 'node:events'
import pg from 'pg'
import { pino } from 'pino'
import t from 'tap'
import { clientConfig } from '../../src/sql/pg-pool.js'
import { PgSession } from '../../src/sql/pg-session.js'
import { createTestSchema, openSession, skipWithoutPostgres } from '../helpers/postgres.js'
import { until } from '../helpers/process.js'

/**
 * The process's dedicated session takes one query at a time: the projector lease's tries, the
 * keepalive and the LISTENs overlap, and node-postgres 8 queues overlapping queries itself but
 * warns that pg 9 will refuse them.
 */

const skip = await skipWithoutPostgres()

t.test('overlapping queries on the session run one after another, in order, without the driver\'s warning', { skip }, async (t) => {
  const schema = await createTestSchema()
  const session = await openSession(schema.url)
  t.teardown(async () => {
    await session.close()
    await schema.drop()
  })
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
  process.on('warning', onWarning)
  t.teardown(() => void process.off('warning', onWarning))
  // The driver warns once per process at most: count the queries it is given at once as well.
  const query = pg.Client.prototype.query
  let running = 0
  let most = 0
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    most = Math.max(most, ++running)
    const answer = (query as (...args: unknown[]) => unknown).apply(this, args)
    void Promise.resolve(answer).finally(() => (running -= 1)).catch(() => undefined)
    return answer
  } as typeof query
  t.teardown(() => void (pg.Client.prototype.query = query))

  const finished: number[] = []
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      session.query<{ n: number }>('SELECT pg_sleep($1::float / 1000), $2::int AS n', [20 - i, i]).then((rows) => {
        finished.push(i)
        return rows[0]?.n
      }),
    ),
  )
  await session.listen('pg_session_test')
  t.same(answers, Array.from({ length: 20 }, (_, i) => i), 'each query answers its own')
  t.same(finished, Array.from({ length: 20 }, (_, i) => i), 'in the order asked, though the first ones sleep longest')
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.filter((warning) => warning.includes('pg@9')), [], 'node-postgres did not warn of overlapping queries')
  t.equal(most, 1, 'it was given one query at a time')
})

t.test('a failed query does not hold up the next one', { skip }, async (t) => {
  const schema = await createTestSchema()
  const session = await openSession(schema.url)
  t.teardown(async () => {
    await session.close()
    await schema.drop()
  })
  const failing = session.query('SELECT no_such_column FROM no_such_table')
  const next = session.query<{ one: number }>('SELECT 1 AS one')
  await t.rejects(failing, /no_such_table/)
  t.same(await next, [{ one: 1 }])
})

t.test('a query the server does not answer within query_timeout ends the connection, and the session reconnects', { skip }, async (t) => {
  const schema = await createTestSchema()
  const logger = pino({ level: 'silent' })
  // The server's statement_timeout off, the client's query_timeout short: as a network gone silent looks to the client.
  const config = { ...clientConfig({ url: schema.url, poolSize: 1, statementTimeoutMs: 30_000, logger }), statement_timeout: 0, query_timeout: 300 }
  const session = new PgSession(config, logger)
  await session.start()
  t.teardown(async () => {
    await session.close()
    await schema.drop()
  })
  const disconnected = once(session, 'disconnected')
  const stuck = session.query('SELECT pg_sleep(5)')
  const behind = session.query('SELECT 1 AS one')
  await t.rejects(stuck, /Query read timeout/)
  await disconnected
  t.pass('the session dropped the connection')
  await t.rejects(behind, 'a query waiting behind it on that connection fails too')
  await until(() => session.connected, 5_000, 'the session reconnects')
  t.same(await session.query('SELECT 1 AS one'), [{ one: 1 }], 'the new connection answers at once')
})

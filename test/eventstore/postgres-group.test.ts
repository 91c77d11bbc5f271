import { randomUUID } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { START, StoreTimeoutError } from '../../src/eventstore/port.js'
import { lockKey } from '../../src/sql/pg-pool.js'
import { createTestSchema, openStoreOn, skipWithoutPostgres, TEST_POSTGRES_URL } from '../helpers/postgres.js'

/**
 * What the PostgreSQL group commit does beyond the contract suite: its one write statement
 * notifies the other processes, and a group that times out waiting for the append lock fails
 * whole instead of retrying each append alone.
 */

const skip = await skipWithoutPostgres()
const event = () => ({ id: randomUUID(), type: 'Noted', data: { at: Date.now() }, metadata: {} })

if (skip) t.test('postgres group commit', { skip }, () => {})
else {
  t.test("an append wakes another process's subscription through its notification, not its poll", async (t) => {
    const schema = await createTestSchema()
    // A poll of a minute: only the notification can deliver within the test's ten seconds.
    const writer = await openStoreOn(schema.url, { pollIntervalMs: 60_000 })
    const reader = await openStoreOn(schema.url, { pollIntervalMs: 60_000, afterClose: schema.drop })
    t.teardown(async () => {
      await writer.close()
      await reader.close()
    })
    const subscription = reader.subscribeToAll({ after: START })
    const next = subscription[Symbol.asyncIterator]().next()
    // The reader has read the empty log and waits (if it had not, the test would pass without a notification, never fail).
    await new Promise((resolve) => setTimeout(resolve, 300))
    const appended = event()
    await writer.append('notes-1', [appended], 'no_stream')
    let timer: NodeJS.Timeout | undefined
    const delivered = await Promise.race([
      next.then((result) => (result.done ? undefined : result.value.id)),
      new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000))),
    ])
    clearTimeout(timer)
    subscription.close()
    t.equal(delivered, appended.id, 'delivered on the notification')
  })

  t.test('a group that times out waiting for the append lock fails whole, at once', async (t) => {
    const schema = await createTestSchema()
    const store = await openStoreOn(schema.url, { statementTimeoutMs: 400, afterClose: schema.drop })
    const holder = new pg.Client({ connectionString: TEST_POSTGRES_URL })
    await holder.connect()
    t.teardown(async () => {
      await holder.end()
      await store.close()
    })
    // Another process holds the append lock for longer than the store's statement_timeout.
    await holder.query('BEGIN')
    await holder.query('SELECT pg_advisory_xact_lock($1)', [lockKey(schema.schema, 'append').toString()])

    // The first append goes out alone; the four behind it wait and go out as one group.
    const settled: Array<{ index: number; code: unknown }> = []
    const appends = Array.from({ length: 5 }, (_, index) =>
      store.append(`notes-${index}`, [event()], 'no_stream').then(
        () => settled.push({ index, code: 'stored' }),
        (error: unknown) =>
          settled.push({ index, code: error instanceof StoreTimeoutError ? (error.cause as { code?: unknown }).code : error }),
      ),
    )
    await Promise.race([appends[1], appends[2], appends[3], appends[4]])
    await nextTurn()
    // One by one, each of the other three would still wait for its own statement timeout here.
    t.same(
      settled.map((entry) => entry.index).sort(),
      [0, 1, 2, 3, 4],
      'the four of the group failed together, right after the first alone',
    )
    t.ok(
      settled.every((entry) => entry.code === '57014'),
      'each failed on the statement timeout (a StoreTimeoutError)',
    )
    await holder.query('ROLLBACK')
    t.same(await store.readAll({ after: START, maxCount: 10 }), [], 'nothing was stored')
    await store.append('notes-0', [event()], 'no_stream')
    t.equal((await store.readAll({ after: START, maxCount: 10 })).length, 1, 'the lock free, appends go on')
  })
}

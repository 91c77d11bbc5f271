import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import t from 'tap'
import type { Projection } from '../../projections/index.js'
import { ProjectionRunner, resetProjection } from '../../projections/runner.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { openTestStores } from '../helpers/stores.js'
import { registrationEvent } from '../helpers/events.js'

/** The stores on a fresh database of the store TEST_STORE names, migrated, with a table `seen`. */
async function setup(t: { teardown(fn: () => unknown): void }) {
  const { store, db } = await openTestStores(t)
  await migrate(db, await loadMigrations())
  await db.transaction([{ script: 'CREATE TABLE seen (position BIGINT PRIMARY KEY)' }])
  return { store, db }
}


t.test('a failing batch is retried from the checkpoint, and nothing is applied twice', async (t) => {
  const { store, db } = await setup(t)
  let failuresLeft = 2
  const flaky: Projection = {
    name: 'flaky',
    tables: ['seen'],
    project: ({ position }) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1
        throw new Error('simulated failure')
      }
      // The primary key makes a second application of the same event fail loudly.
      return [{ sql: 'INSERT INTO seen (position) VALUES (?)', params: [position] }]
    },
  }
  const runner = new ProjectionRunner({ store, db, projections: [flaky], logger: pino({ level: 'silent' }), maxRetryDelayMs: 50 })
  const positions: number[] = []
  for (const id of ['a', 'b', 'c']) positions.push(Number((await store.append(`sozialraum-${id}`, [registrationEvent(id)], 'no_stream')).position))
  await runner.start()
  t.ok(await runner.waitFor(BigInt(positions[2] ?? 0), 5000), 'the runner recovers and reaches the head')
  t.equal(runner.status().error, undefined, 'the error clears after a good batch')
  const rows = await db.query<{ position: number }>('SELECT position FROM seen ORDER BY position')
  t.same(rows.map((row) => row.position), positions, 'each event once')
  await runner.stop()
})

t.test('an unreadable event stops the projections where they are and shows in the status', async (t) => {
  const { store, db } = await setup(t)
  await store.append('sozialraum-a', [registrationEvent('a')], 'no_stream')
  const unknown = await store.append('sozialraum-x', [{ ...registrationEvent('x'), type: 'SomethingUnknown' }], 'no_stream')
  const runner = new ProjectionRunner({ store, db, projections: [], logger: pino({ level: 'silent' }), maxRetryDelayMs: 50 })
  await runner.start()
  t.notOk(await runner.waitFor(unknown.position, 300), 'the position of the unknown event is never reached')
  t.match(runner.status().error, /SomethingUnknown/)
  await runner.stop()
})

t.test('waitFor answers false after its timeout, and stop releases every waiter', async (t) => {
  const { store, db } = await setup(t)
  const runner = new ProjectionRunner({ store, db, projections: [], logger: pino({ level: 'silent' }) })
  await runner.start()
  t.equal(await runner.waitFor(0n, 10), true, 'position 0 is always reached')
  t.equal(await runner.waitFor(5n, 20), false)
  const pending = runner.waitFor(5n, 60_000)
  await runner.stop()
  t.equal(await pending, false)
})

/** A projection that writes nothing and notes the size of each batch it is given. */
function batchCounter(): Projection & { batches: number[] } {
  const batches: number[] = []
  return { name: 'counter', tables: [], batches, project: () => [], projectBatch: (events) => (batches.push(events.length), []) }
}

/** Until the runner has processed `position`, asked without waitFor (which would hurry it). */
async function processed(runner: ProjectionRunner, position: bigint): Promise<void> {
  while (runner.status().position < position) await new Promise((resolve) => setTimeout(resolve, 5))
}

t.test('following under a steady load, events gather into fewer batches; the first after a quiet spell goes at once', async (t) => {
  const { store, db } = await setup(t)
  const counter = batchCounter()
  // Four seconds: the appends below, 10 ms apart, take far less even on a slow machine.
  const runner = new ProjectionRunner({ store, db, projections: [counter], logger: pino({ level: 'silent' }), followIntervalMs: 4_000 })
  await runner.start()
  t.teardown(() => runner.stop())
  const quiet = await store.append('sozialraum-first', [registrationEvent('first')], 'no_stream')
  const started = performance.now()
  await processed(runner, quiet.position)
  t.ok(performance.now() - started < 3_000, 'the first event after a quiet spell is projected without the pause')
  const before = counter.batches.length
  let last = quiet.position
  for (const id of ['a', 'b', 'c', 'd', 'e']) {
    last = (await store.append(`sozialraum-${id}`, [registrationEvent(id)], 'no_stream')).position
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await processed(runner, last)
  t.ok(counter.batches.length - before <= 2, `five events in at most two batches (${counter.batches.slice(before).join(', ')})`)
  t.equal(counter.batches.slice(before).reduce((sum, size) => sum + size, 0), 5, 'each event once')
})

t.test('a reader waiting for a position is not kept waiting by the gathering', async (t) => {
  const { store, db } = await setup(t)
  const runner = new ProjectionRunner({ store, db, projections: [batchCounter()], logger: pino({ level: 'silent' }), followIntervalMs: 60_000 })
  await runner.start()
  t.teardown(() => runner.stop())
  const first = await store.append('sozialraum-first', [registrationEvent('first')], 'no_stream')
  await processed(runner, first.position)
  // The runner now gathers for a minute after the next event; a reader of a later one cuts that short.
  await store.append('sozialraum-second', [registrationEvent('second')], 'no_stream')
  await new Promise((resolve) => setTimeout(resolve, 20))
  const third = await store.append('sozialraum-third', [registrationEvent('third')], 'no_stream')
  t.ok(await runner.waitFor(third.position, 10_000), 'a write made during the pause, then a read of it, is answered within the timeout')
})

t.test('a stop does not wait for the gathering to end', async (t) => {
  const { store, db } = await setup(t)
  const runner = new ProjectionRunner({ store, db, projections: [batchCounter()], logger: pino({ level: 'silent' }), followIntervalMs: 60_000 })
  await runner.start()
  const first = await store.append('sozialraum-first', [registrationEvent('first')], 'no_stream')
  await processed(runner, first.position)
  await store.append('sozialraum-second', [registrationEvent('second')], 'no_stream')
  await new Promise((resolve) => setTimeout(resolve, 20))
  const stopped = await Promise.race([runner.stop().then(() => 'stopped'), new Promise((resolve) => setTimeout(resolve, 10_000, 'still gathering'))])
  t.equal(stopped, 'stopped', 'the stop ends the pause')
})

/** A projection that records each position it sees in its own table, whose key refuses a second application. */
function recorder(name: string, failFirst = 0): Projection & { failuresLeft: number } {
  const projection = {
    name,
    tables: [`seen_${name}`],
    failuresLeft: failFirst,
    project: ({ position }: { position: bigint }) => {
      if (projection.failuresLeft > 0) {
        projection.failuresLeft -= 1
        throw new Error(`${name} cannot project yet (injected)`)
      }
      return [{ sql: `INSERT INTO seen_${name} (position) VALUES (?)`, params: [position] }]
    },
  }
  return projection
}

t.test('a projection reset for a rebuild catches up on its own while the others keep serving', async (t) => {
  const { store, db } = await setup(t)
  await db.transaction([{ script: 'CREATE TABLE seen_a (position BIGINT PRIMARY KEY); CREATE TABLE seen_b (position BIGINT PRIMARY KEY)' }])
  const logger = pino({ level: 'silent' })
  let appended = 0
  const append = async (count: number) => {
    for (let index = 0; index < count; index++) {
      await store.append(`sozialraum-${randomUUID()}`, [registrationEvent('r')], 'no_stream')
      appended += 1
    }
    return store.headPosition()
  }
  const a = recorder('a')
  const b = recorder('b')
  const first = new ProjectionRunner({ store, db, projections: [a, b], logger, batchSize: 7 })
  await first.start()
  t.ok(await first.waitFor(await append(40), 5000))
  await first.stop()

  await resetProjection(db, b)
  b.failuresLeft = 3 // the replay stalls for a while, as a long rebuild would
  const second = new ProjectionRunner({ store, db, projections: [a, b], logger, batchSize: 7, maxRetryDelayMs: 200 })
  await second.start()
  t.ok(second.isServing('a'), 'the projection that was up to date serves at once')
  t.notOk(second.isServing('b'), 'the reset one does not serve until it has caught up')
  const head = await append(15)
  t.ok(await second.waitFor(head, 5000, ['a']), 'new events reach the serving projection while the other replays')
  t.notOk(second.isServing('b'), 'still replaying')
  t.match(second.status().projections, [
    { name: 'a', serving: true },
    { name: 'b', serving: false },
  ])
  const writing = append(30) // writes go on while it catches up and joins
  t.ok(await second.waitFor(await writing, 10_000), 'both reach the head')
  t.ok(second.isServing('b'), 'the rebuilt projection serves once it has caught up')
  const last = await append(5)
  t.ok(await second.waitFor(last, 5000, ['b']), 'and follows the log after joining')
  await second.stop()

  for (const table of ['seen_a', 'seen_b']) {
    const rows = await db.query<{ count: number; top: number }>(`SELECT COUNT(*) AS count, MAX(position) AS top FROM ${table}`)
    t.same(rows[0], { count: appended, top: Number(last) }, `${table} holds every event exactly once`)
  }
})

t.test('a long replay leaves the event loop free between batches', async (t) => {
  const { store, db } = await setup(t)
  await db.transaction([{ script: 'CREATE TABLE seen_c (position BIGINT PRIMARY KEY)' }])
  const events = Array.from({ length: 3000 }, () => registrationEvent('r'))
  for (let index = 0; index < events.length; index += 500) {
    await store.append(`sozialraum-bulk-${index}`, events.slice(index, index + 500), 'no_stream')
  }
  const head = await store.headPosition()
  // A replay takes batches as large as its time budget allows (catchUpBatchSize at most): capped
  // at 50 here, so that 3,000 quick events still make 60 batches.
  const runner = new ProjectionRunner({ store, db, projections: [recorder('c')], logger: pino({ level: 'silent' }), batchSize: 50, catchUpBatchSize: 50 })
  let ticks = 0
  const timer = setInterval(() => (ticks += 1), 1)
  await runner.start()
  t.ok(await runner.waitFor(head, 20_000), 'the replay reaches the head')
  clearInterval(timer)
  await runner.stop()
  t.ok(ticks >= 5, `timers fire while 60 batches are applied (${ticks} ticks)`)
})

t.test('a replay holds the event loop about as long as its time budget per batch, whatever an event costs', async (t) => {
  const { store, db } = await setup(t)
  await db.transaction([{ script: 'CREATE TABLE seen_slow (position BIGINT PRIMARY KEY)' }])
  for (let index = 0; index < 4000; index += 500) {
    await store.append(`sozialraum-slow-${index}`, Array.from({ length: 500 }, () => registrationEvent('r')), 'no_stream')
  }
  const head = await store.headPosition()
  // 0.05 ms of work per event: 4,000 events are 200 ms, in batches of about 20 ms.
  const slow = recorder('slow')
  const project = slow.project
  slow.project = (stored) => {
    const until = performance.now() + 0.05
    while (performance.now() < until);
    return project(stored)
  }
  const runner = new ProjectionRunner({ store, db, projections: [slow], logger: pino({ level: 'silent' }), batchBudgetMs: 20 })
  const gaps: number[] = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    gaps.push(now - last)
    last = now
  }, 1)
  await runner.start()
  t.ok(await runner.waitFor(head, 30_000), 'the replay reaches the head')
  clearInterval(timer)
  await runner.stop()
  const longest = Math.max(...gaps)
  // Generous: a loaded machine stretches every batch; without the pacer one batch would be 200 ms.
  t.ok(longest < 120, `the longest the event loop waited: ${longest.toFixed(0)} ms (budget 20 ms)`)
  t.ok(gaps.length >= 5, `timers fired ${gaps.length} times`)
})

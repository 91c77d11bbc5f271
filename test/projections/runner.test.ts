import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import type { Projection } from '../../projections/index.js'
import { CURRENT_SCHEMA_VERSION } from '../../src/domain/events.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { ProjectionRunner } from '../../src/projections/runner.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-runner-'))
  const path = join(dir, 'ledger.db')
  const store = new SqliteEventStore(path)
  const db = new SqliteDatabase(path)
  await migrate(db, await loadMigrations())
  await db.transaction([{ script: 'CREATE TABLE seen (position BIGINT PRIMARY KEY)' }])
  t.teardown(async () => {
    await store.close()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { store, db }
}

const registration = (id: string) => ({
  id: randomUUID(),
  type: 'SozialraumRegistered',
  data: { sozialraumId: id, name: id, status: 'pilot' },
  metadata: {
    schemaVersion: CURRENT_SCHEMA_VERSION,
    actor: { sub: 'test', role: 'finance' },
    recordedAt: '2025-01-01T00:00:00.000Z',
    correlationId: 'c',
    causationId: 'c',
    idempotencyKey: null,
    requestHash: null,
  },
})

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
  for (const id of ['a', 'b', 'c']) await store.append(`sozialraum-${id}`, [registration(id)], 'no_stream')
  await runner.start()
  t.ok(await runner.waitFor(3n, 5000), 'the runner recovers and reaches the head')
  t.equal(runner.status().error, undefined, 'the error clears after a good batch')
  const rows = await db.query<{ position: number }>('SELECT position FROM seen ORDER BY position')
  t.same(rows.map((row) => row.position), [1, 2, 3])
  await runner.stop()
})

t.test('an unreadable event stops the projections where they are and shows in the status', async (t) => {
  const { store, db } = await setup(t)
  await store.append('sozialraum-a', [registration('a')], 'no_stream')
  await store.append('sozialraum-x', [{ ...registration('x'), type: 'SomethingUnknown' }], 'no_stream')
  const runner = new ProjectionRunner({ store, db, projections: [], logger: pino({ level: 'silent' }), maxRetryDelayMs: 50 })
  await runner.start()
  t.notOk(await runner.waitFor(2n, 300), 'position 2 is never reached')
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

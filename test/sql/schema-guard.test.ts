import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import t, { type Test } from 'tap'
import type { Projection } from '../../projections/index.js'
import { ProjectionRunner } from '../../projections/runner.js'
import { parseConfig } from '../../src/config.js'
import { migrateStores, openStores, type Stores } from '../../src/service.js'
import { loadMigrations, migrateExclusively, schemaGuard, type Migration } from '../../src/sql/migrate.js'
import { lockKey } from '../../src/sql/pg-pool.js'
import { get } from '../helpers/api.js'
import { appendRegistrations } from '../helpers/events.js'
import { adminQuery, createTestSchema, openServiceOn, openSession, skipWithoutPostgres } from '../helpers/postgres.js'
import { until } from '../helpers/process.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * During a rolling upgrade on PostgreSQL, processes of the old version still run when the new one
 * migrates. The old projector must not write into the newer schema: each batch waits while any
 * process migrates and rolls back on a newer schema; the runner then gives its lease to a process
 * that knows the schema, and says why in /ready.
 */

const skip = await skipWithoutPostgres()
const logger = pino({ level: 'silent' })
const migrations = await loadMigrations()
/** What a newer version would bring: one migration more. */
const newer: Migration[] = [...migrations, { version: 999, name: '999_newer.sql', sql: 'CREATE TABLE newer_table (x INTEGER)' }]

/** Records every event it applies; the primary key makes a second application fail loudly. */
const counting: Projection = {
  name: 'counting',
  tables: ['applied'],
  project: ({ position }) => [{ sql: 'INSERT INTO applied (position) VALUES (?)', params: [position] }],
}

async function processes(t: Test, count: number) {
  const schema = await createTestSchema()
  const config = parseConfig({ DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET })
  const opened: Stores[] = []
  for (let i = 0; i < count; i++) opened.push(await openStores(config, 'test', { logger }))
  const first = opened[0]
  if (!first) throw new Error('no stores')
  await migrateExclusively(first.db, migrations)
  await first.db.transaction([{ script: 'CREATE TABLE applied (position BIGINT PRIMARY KEY)' }])
  const runners: ProjectionRunner[] = []
  t.teardown(async () => {
    for (const runner of runners) await runner.stop()
    for (const stores of opened) await stores.close()
    await schema.drop()
  })
  /** A runner of the version that knows `known`. */
  const runnerOn = (stores: Stores, known: readonly Migration[], runnerLogger: Logger = logger) => {
    const guard = schemaGuard(stores.db, known)
    if (guard === undefined) throw new Error('PostgreSQL has a schema guard')
    const runner = new ProjectionRunner({ ...stores, projections: [counting], logger: runnerLogger, maxRetryDelayMs: 50, schemaGuard: guard })
    runners.push(runner)
    return runner
  }
  return { schema, opened, runnerOn }
}

/** A logger that keeps the messages it logs. */
function capturing(): { logger: Logger; messages: string[] } {
  const messages: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      messages.push((JSON.parse(String(chunk)) as { msg: string }).msg)
      done()
    },
  })
  return { logger: pino({ level: 'info' }, sink), messages }
}

async function applied(stores: Stores): Promise<number[]> {
  return (await stores.db.query<{ position: number }>('SELECT position FROM applied ORDER BY position')).map((row) => Number(row.position))
}

async function checkpoint(stores: Stores): Promise<bigint> {
  const [row] = await stores.db.query<{ position: string }>("SELECT CAST(position AS TEXT) AS position FROM projection_checkpoints WHERE name = 'counting'")
  return BigInt(row?.position ?? -1)
}

t.test('an old projector stops once a newer version migrated; the newer one takes over and applies each event once', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 3)
  const [a, b, c] = opened
  if (!a || !b || !c) throw new Error('three processes expected')
  const old = runnerOn(a, migrations)
  const oldFollower = runnerOn(c, migrations)
  await old.start()
  await oldFollower.start()
  const before = await appendRegistrations(a.store, 5)
  t.ok(await old.waitFor(before, 10_000), 'the old version projects while the schema is its own')
  t.ok(await oldFollower.waitFor(before, 10_000), 'its follower follows')

  // The newer version starts: it migrates (under the lock), then waits for the lease.
  await migrateExclusively(b.db, newer)
  const current = runnerOn(b, newer)
  await current.start()
  t.equal(current.status().projecting, false, 'the old process still holds the lease')

  const after = await appendRegistrations(a.store, 5)
  await until(() => !old.status().projecting, 10_000, 'the old projector gives up')
  t.match(old.status().error, /migrated by a newer sojus-ledger \(migrations 999_newer\.sql are unknown/, 'it says why (in /ready)')
  await until(() => current.status().projecting, 10_000, 'the newer process takes the lease')
  t.ok(await current.waitFor(after, 10_000), 'the newer process projects what came after the migration')
  t.same(await applied(b), Array.from({ length: 10 }, (_, i) => Number(before) - 4 + i), 'every event applied once')
  await until(() => oldFollower.status().error !== undefined, 15_000, 'the old follower notices too')
  t.match(oldFollower.status().error, /newer sojus-ledger/, 'the old follower says so as well')

  // The old ones never take the lease back, even when the newer one stops.
  await current.stop()
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  t.equal(old.status().projecting, false, 'the old projector does not take the lease back')
  t.equal(oldFollower.status().projecting, false, 'nor does the old follower')
})

t.test('a batch waits while another process migrates, and rolls back when that migration is newer', { skip }, async (t) => {
  const { schema, opened, runnerOn } = await processes(t, 1)
  const [a] = opened
  if (!a) throw new Error('one process expected')
  const runner = runnerOn(a, migrations)
  await runner.start()
  const first = await appendRegistrations(a.store, 1)
  t.ok(await runner.waitFor(first, 10_000))

  // A newer process migrating: it holds the migrations lock, as migrateExclusively does.
  const migrating = await openSession(schema.url)
  t.teardown(() => migrating.close())
  await migrating.query('SELECT pg_advisory_lock($1)', [lockKey(schema.schema, 'migrations').toString()])
  await appendRegistrations(a.store, 3)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(await checkpoint(a), first, 'the batch waits for the migration to end')

  await adminQuery(`INSERT INTO ${schema.schema}.schema_migrations (version, name, applied_at) VALUES (999, '999_newer.sql', now()::text)`)
  await migrating.query('SELECT pg_advisory_unlock($1)', [lockKey(schema.schema, 'migrations').toString()])
  await until(() => runner.status().error !== undefined && !runner.status().projecting, 10_000, 'the runner gives up')
  t.equal(await checkpoint(a), first, 'the batch that waited rolled back: the checkpoint did not move')
  t.same(await applied(a), [Number(first)], 'and nothing of it was applied')
})

t.test('the service wires the guard: after a newer migration its /ready is degraded, with the reason', { skip }, async (t) => {
  const schema = await createTestSchema()
  const service = await openServiceOn(schema.url)
  t.teardown(async () => {
    await service.close()
    await schema.drop()
  })
  t.equal((await get(service.app, '/ready')).status, 200, 'ready on its own schema')
  await migrateExclusively(service.db, newer)
  await appendRegistrations(service.store, 1)
  await until(() => service.runner.status().error !== undefined, 10_000, 'the projector gives up')
  const ready = await get(service.app, '/ready')
  t.equal(ready.status, 503)
  t.match(ready.body, { status: 'degraded', projections: { projecting: false, error: /999_newer\.sql/ } })
})

t.test('an idle old projector stops as soon as a newer version migrated: the migration is announced', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 2)
  const [a, b] = opened
  if (!a || !b) throw new Error('two processes expected')
  const old = runnerOn(a, migrations)
  await old.start()
  const before = await appendRegistrations(a.store, 5)
  t.ok(await old.waitFor(before, 10_000))
  // As migration 009 did to its projection: reset the checkpoint and empty the table. No write follows.
  const resetting: Migration[] = [
    ...migrations,
    { version: 999, name: '999_newer.sql', sql: "UPDATE projection_checkpoints SET position = 0 WHERE name = 'counting'; DELETE FROM applied" },
  ]
  await migrateStores(b, resetting)
  const current = runnerOn(b, resetting)
  await current.start()
  await until(() => current.status().projecting, 5_000, 'the newer process takes the lease without a write')
  await until(() => current.isServing('counting'), 5_000, 'and replays the reset projection')
  t.same(await applied(b), Array.from({ length: 5 }, (_, i) => Number(before) - 4 + i), 'each event applied once, by the newer process')
  t.match(old.status(), { projecting: false, error: /999_newer\.sql/ })
})

t.test('a batch the guard refuses, though the newer schema would break its statements, is not reported as failed', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 1)
  const [a] = opened
  if (!a) throw new Error('one process expected')
  const { logger: runnerLogger, messages } = capturing()
  const old = runnerOn(a, migrations, runnerLogger)
  await old.start()
  t.ok(await old.waitFor(await appendRegistrations(a.store, 2), 10_000))
  // A newer version as 0.12.7 migrated: without an announcement; its migration renames a column the old projection writes.
  await migrateExclusively(a.db, [...migrations, { version: 999, name: '999_newer.sql', sql: 'ALTER TABLE applied RENAME COLUMN position TO pos' }])
  await appendRegistrations(a.store, 1)
  await until(() => old.status().error !== undefined, 10_000, 'the runner retires')
  t.match(old.status(), { projecting: false, error: /999_newer\.sql/ }, 'with the reason, not the SQL error')
  t.notOk(messages.includes('projection batch failed; retrying from the checkpoints'), 'no batch was reported failed')
  t.ok(messages.some((message) => message.startsWith('a newer version migrated the database')), 'it says why in the log')
})

t.test('an old follower notices a newer schema within seconds of the last announcement, though it looked just before', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 2)
  const [b, c] = opened
  if (!b || !c) throw new Error('two processes expected')
  // The newer version projects (it knows the schema before and after its migration); the
  // follower is old, and looks at the schema on the first announcement.
  const current = runnerOn(b, newer)
  await current.start()
  const follower = runnerOn(c, migrations)
  await follower.start()
  t.ok(await follower.waitFor(await appendRegistrations(b.store, 1), 10_000), 'the follower heard the first batch')
  t.equal(follower.status().error, undefined, 'the schema is its own still')
  // Migrated without an announcement, as 0.12.7 does; one batch within 5 s of the follower's look, then nothing.
  await migrateExclusively(b.db, newer)
  const started = Date.now()
  t.ok(await follower.waitFor(await appendRegistrations(b.store, 1), 10_000), 'the follower heard the second batch')
  await until(() => follower.status().error !== undefined, 8_000, 'the follower looks again once 5 s are up')
  t.ok(Date.now() - started < 7_000, 'within about 5 s of that batch')
  t.match(follower.status().error, /999_newer\.sql/)
})

t.test('an idle old projector stops on an announced migration that resets nothing', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 2)
  const [a, b] = opened
  if (!a || !b) throw new Error('two processes expected')
  const old = runnerOn(a, migrations)
  await old.start()
  t.ok(await old.waitFor(await appendRegistrations(a.store, 2), 10_000))
  await migrateStores(b, newer)
  const current = runnerOn(b, newer)
  await current.start()
  await until(() => current.status().projecting, 5_000, 'the newer process takes the lease without a write')
  t.match(old.status(), { projecting: false, error: /999_newer\.sql/ })
})

t.test('an old runner that takes the lease on a newer schema gives it up without a write', { skip }, async (t) => {
  const { opened, runnerOn } = await processes(t, 1)
  const [a] = opened
  if (!a) throw new Error('one process expected')
  await migrateExclusively(a.db, newer)
  const old = runnerOn(a, migrations)
  await old.start()
  await until(() => old.status().error !== undefined, 3_000, 'the old runner retires at its term\'s start')
  t.match(old.status(), { projecting: false, error: /999_newer\.sql/ })
})

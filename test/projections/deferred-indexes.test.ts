import { pino } from 'pino'
import t, { type Test } from 'tap'
import { deferIndexes } from '../../projections/deferred-indexes.js'
import type { Projection } from '../../projections/projection.js'
import { ProjectionRunner } from '../../projections/runner.js'
import type { Position } from '../../src/eventstore/port.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import type { SqlDatabase } from '../../src/sql/port.js'
import { registrationEvent } from '../helpers/events.js'
import { openTestStores } from '../helpers/stores.js'

/**
 * A replay from the start far behind the head drops its tables' secondary indexes and builds them
 * again before the projection serves (projections/deferred-indexes.ts); on SQLite only.
 */

const INDEX = 'seen_by_indexed'
/** Whether the index exists, as an SQL expression of the store's dialect. */
const indexExists = (db: SqlDatabase): string =>
  db.dialect === 'sqlite'
    ? `(SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '${INDEX}')`
    : `(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = '${INDEX}')`

/** Writes, per event, whether its table's index existed when the event was projected. */
const probe = (db: SqlDatabase): Projection => ({
  name: 'probe',
  tables: ['seen'],
  project: ({ position }) => [{ sql: `INSERT INTO seen (position, indexed) SELECT ?, ${indexExists(db)}`, params: [position] }],
})

async function setup(t: Parameters<typeof openTestStores>[0], events: number) {
  const { store, db } = await openTestStores(t)
  await migrate(db, await loadMigrations())
  await db.transaction([{ script: `CREATE TABLE seen (position BIGINT PRIMARY KEY, indexed INTEGER NOT NULL); CREATE INDEX ${INDEX} ON seen (indexed)` }])
  let head: Position = 0n
  for (let n = 0; n < events; n += 1) head = (await store.append(`sozialraum-s${n}`, [registrationEvent(`s${n}`)], 'no_stream')).position
  return { store, db, head }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** A runner of the probe alone, in batches of 5 events, deferring indexes from `behind` events on. */
const runnerOf = ({ store, db }: Setup, behind: Position) =>
  new ProjectionRunner({
    store,
    db,
    projections: [probe(db)],
    logger: pino({ level: 'silent' }),
    deferIndexesBehind: behind,
    batchSize: 5,
    catchUpBatchSize: 5,
  })

async function indexedWhileProjected(db: SqlDatabase): Promise<number[]> {
  return (await db.query<{ indexed: number | string }>('SELECT indexed FROM seen ORDER BY position')).map((row) => Number(row.indexed))
}

async function indexNow(db: SqlDatabase): Promise<boolean> {
  return Number((await db.query<{ n: number | string }>(`SELECT ${indexExists(db)} AS n`))[0]?.n) === 1
}

async function deferredRows(db: SqlDatabase): Promise<number> {
  return Number((await db.query<{ n: number | string }>('SELECT count(*) AS n FROM deferred_indexes'))[0]?.n)
}

/** Resolves once the projection serves, checking at every turn that it never serves without its index. */
async function servingWithIndex(t: Test, runner: ProjectionRunner, db: SqlDatabase): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!runner.isServing('probe')) {
    if (Date.now() > deadline) throw new Error('the probe never served')
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(await indexNow(db), 'the index exists when the projection serves')
}

/** Projects the log as it stands with the index kept up to date (no deferral), and stops. */
async function projectWithIndex(t: Test, stores: Setup): Promise<void> {
  const runner = runnerOf(stores, 1_000_000n)
  await runner.start()
  t.ok(await runner.waitFor(stores.head, 5_000), 'the log was projected with the index')
  await runner.stop()
}

t.test('a replay from the start far behind the head projects without its indexes and builds them before it serves', async (t) => {
  const stores = await setup(t, 30)
  const runner = runnerOf(stores, 10n)
  await runner.start()
  await servingWithIndex(t, runner, stores.db)
  t.ok(await runner.waitFor(stores.head, 5_000), 'it reached the head')
  const expected = stores.db.dialect === 'sqlite' ? 0 : 1
  t.same(await indexedWhileProjected(stores.db), Array(30).fill(expected), stores.db.dialect === 'sqlite' ? 'every event was projected without the index' : 'PostgreSQL keeps its indexes')
  t.equal(await deferredRows(stores.db), 0, 'no definition is left behind')
  await runner.stop()
})

t.test('a replay from the start closer to the head than the limit keeps its indexes', async (t) => {
  const stores = await setup(t, 30)
  const runner = runnerOf(stores, 31n)
  await runner.start()
  t.ok(await runner.waitFor(stores.head, 5_000), 'it reached the head')
  t.same(await indexedWhileProjected(stores.db), Array(30).fill(1), 'every event was projected with the index')
  await runner.stop()
})

t.test('indexes a crash left deferred are built at the next start, before the projection serves', async (t) => {
  const stores = await setup(t, 30)
  await projectWithIndex(t, stores)
  // As if the process had died between the replay's last batch and the build: dropped, kept, not built.
  const dropped = await deferIndexes(stores.db, probe(stores.db))
  if (stores.db.dialect !== 'sqlite') {
    t.equal(dropped, 0, 'PostgreSQL defers no index')
    return
  }
  t.equal(dropped, 1, 'the index was dropped')
  t.notOk(await indexNow(stores.db), 'and is gone')
  t.equal(await deferredRows(stores.db), 1, 'its definition is kept')
  const second = runnerOf(stores, 1_000n)
  await second.start()
  await servingWithIndex(t, second, stores.db)
  t.equal(await deferredRows(stores.db), 0, 'the definition is gone once the index is built')
  t.same(await indexedWhileProjected(stores.db), Array(30).fill(1), 'no event was projected twice or again')
  await second.stop()
})

t.test('a replay stopped half-way with its indexes deferred goes on without them at the next start, and builds them at its end', async (t) => {
  const stores = await setup(t, 10)
  await projectWithIndex(t, stores)
  // The state a replay leaves when it stops half-way: indexes deferred, the checkpoint short of the head.
  await deferIndexes(stores.db, probe(stores.db))
  let head = stores.head
  for (let n = 10; n < 30; n += 1) head = (await stores.store.append(`sozialraum-s${n}`, [registrationEvent(`s${n}`)], 'no_stream')).position
  const second = runnerOf(stores, 10n)
  await second.start()
  await servingWithIndex(t, second, stores.db)
  t.ok(await second.waitFor(head, 5_000), 'it reached the head')
  const sqlite = stores.db.dialect === 'sqlite'
  t.same(await indexedWhileProjected(stores.db), [...Array(10).fill(1), ...Array(20).fill(sqlite ? 0 : 1)], 'the rest was projected without the index (SQLite)')
  t.equal(await deferredRows(stores.db), 0, 'no definition is left behind')
  await second.stop()
})

t.test('a deferred definition a later migration made moot is dropped, and the projection serves', async (t) => {
  const stores = await setup(t, 10)
  if (stores.db.dialect !== 'sqlite') return t.pass('PostgreSQL defers no index')
  await projectWithIndex(t, stores)
  await stores.db.transaction([
    // The index was made anew by a migration under the same name (here as it was), …
    { sql: 'INSERT INTO deferred_indexes (name, projection, definition) VALUES (?, ?, ?)', params: [INDEX, 'probe', `CREATE INDEX ${INDEX} ON seen (position)`] },
    // … and another's table is gone.
    { sql: 'INSERT INTO deferred_indexes (name, projection, definition) VALUES (?, ?, ?)', params: ['gone_by_x', 'probe', 'CREATE INDEX gone_by_x ON gone (x)'] },
  ])
  const second = runnerOf(stores, 1_000n)
  await second.start()
  await servingWithIndex(t, second, stores.db)
  t.equal(await deferredRows(stores.db), 0, 'both definitions are dropped')
  const definition = await stores.db.query<{ sql: string }>("SELECT sql FROM sqlite_master WHERE name = ?", [INDEX])
  t.match(definition[0]?.sql, /ON seen \(indexed\)/, 'the index the migration made stays as it is')
  t.equal(second.status().error, undefined, 'no error')
  await second.stop()
})

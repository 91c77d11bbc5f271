/**
 * A projection rebuild in this process, to profile: copies a seeded SQLite store (one kept by
 * `BENCH_KEEP=1 npx tsx bench/rebuild.ts`), resets every projection and replays the log through
 * the ProjectionRunner until it has reached the head, with the projection thread's settings (its
 * catch-up budget and write-ahead log size; `BENCH_WAL_PAGES=1000` and `BENCH_BATCH_MS=25` give
 * the event loop's; `BENCH_DEFER_INDEXES=0` keeps the indexes up to date during the replay instead of
 * building them at its end). Prints events/s.
 *
 * Given a PostgreSQL URL instead (its `search_path` naming a schema of the bench's own), it replays
 * there in place, as the service's runner on the event loop does on PostgreSQL (batches of 25 ms of
 * JavaScript, indexes kept), after seeding the schema with about BENCH_EVENTS (200,000) events
 * through the deciders if it holds none (`sojus-ledger seed`, 20 Sozialräume × 10 years).
 *
 * `BENCH_ONLY=<name>[,<name>…]` replays only those projections, to see what each costs beside the
 * reading and checking that every replay pays.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-rebuild.ts <ledger.db>
 *   npx tsx bench/profile-rebuild.ts 'postgres://root@127.0.0.1/test?options=-c%20search_path%3Dbench_rebuild'
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pino } from 'pino'
import { projections } from '../projections/index.js'
import { ProjectionRunner, resetProjection } from '../projections/runner.js'
import { DEFER_INDEXES_BEHIND } from '../projections/deferred-indexes.js'
import { CATCH_UP_BATCH_MS, WAL_AUTOCHECKPOINT_PAGES } from '../projections/thread-runner.js'
import { seedLedger } from '../src/cli/seed.js'
import { parseConfig } from '../src/config.js'
import type { EventStore } from '../src/eventstore/port.js'
import { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { openStores } from '../src/service.js'
import { loadMigrations, migrate } from '../src/sql/migrate.js'
import type { SqlDatabase } from '../src/sql/port.js'
import { SqliteDatabase } from '../src/sql/sqlite.js'
import { seedOptionsFor, wholeNumberFromEnvironment } from './common.js'

const source = process.argv[2]
if (source === undefined) throw new Error('usage: profile-rebuild.ts <ledger.db> | <postgres URL>')
const onPostgres = source.startsWith('postgres://') || source.startsWith('postgresql://')
const walPages = wholeNumberFromEnvironment('BENCH_WAL_PAGES', WAL_AUTOCHECKPOINT_PAGES, 1, 1_000_000)
const batchMs = wholeNumberFromEnvironment('BENCH_BATCH_MS', onPostgres ? 25 : CATCH_UP_BATCH_MS, 1, 10_000)
// BENCH_MAX_BATCH=<n>: at most n events to a transaction, to see what the small batches of a runner following the head cost.
const maxBatch = process.env.BENCH_MAX_BATCH === undefined ? undefined : wholeNumberFromEnvironment('BENCH_MAX_BATCH', 500, 1, 10_000)
const { store, db, close } = onPostgres ? await openPostgres(source) : openSqliteCopy(source)
// As the service would on its start: a store kept by an older version lacks the newer tables.
await migrate(db, await loadMigrations())
const only = process.env.BENCH_ONLY?.split(',')
const replayed = only === undefined ? projections : projections.filter((projection) => only.includes(projection.name))
if (only !== undefined && replayed.length !== only.length) throw new Error(`BENCH_ONLY names no projection of ${projections.map((p) => p.name).join(', ')}`)
for (const projection of replayed) await resetProjection(db, projection)
const head = await store.headPosition()
const deferring = !onPostgres && process.env.BENCH_DEFER_INDEXES !== '0'
const runner = new ProjectionRunner({
  store,
  db,
  projections: replayed,
  logger: pino({ level: 'warn' }),
  batchBudgetMs: batchMs,
  ...(maxBatch === undefined ? {} : { batchSize: maxBatch, catchUpBatchSize: maxBatch }),
  ...(deferring ? { deferIndexesBehind: DEFER_INDEXES_BEHIND } : {}),
})
const started = performance.now()
await runner.start()
while (!(await runner.waitFor(head, 1_000))) process.stderr.write(`  at ${runner.status().position}\r`)
// Deferred indexes are built once the head is reached: the replay ends when every projection serves.
while (!replayed.every((projection) => runner.isServing(projection.name))) await new Promise((resolve) => setTimeout(resolve, 10))
const seconds = (performance.now() - started) / 1_000
const settings = onPostgres ? 'PostgreSQL' : `WAL ${walPages} pages`
console.log(
  `${head} events in ${seconds.toFixed(2)} s: ${Math.round(Number(head) / seconds)} events/s (${settings}, batches of ${batchMs} ms, indexes ${deferring ? 'built at the end' : 'kept up to date'}${maxBatch === undefined ? '' : `, at most ${maxBatch} events a batch`})`,
)
await runner.stop()
await close()

function openSqliteCopy(file: string): { store: EventStore; db: SqlDatabase; close: () => Promise<void> } {
  const path = join(mkdtempSync(join(tmpdir(), 'prof-rebuild-')), 'ledger.db')
  copyFileSync(file, path)
  const store = new SqliteEventStore(path, { writer: 'inline' })
  const db = new SqliteDatabase(path, { walAutocheckpointPages: walPages })
  return {
    store,
    db,
    close: async () => {
      await store.close()
      await db.close()
      rmSync(dirname(path), { recursive: true, force: true })
    },
  }
}

async function openPostgres(url: string): Promise<{ store: EventStore; db: SqlDatabase; close: () => Promise<void> }> {
  const config = parseConfig({ DATABASE_URL: url, JWT_SECRET: 'profile-rebuild-'.repeat(4) })
  const stores = await openStores(config, 'bench-profile-rebuild')
  await migrate(stores.db, await loadMigrations())
  if ((await stores.store.headPosition()) === 0n) {
    const events = wholeNumberFromEnvironment('BENCH_EVENTS', 200_000, 1_000, 20_000_000)
    const options = seedOptionsFor(events, { sozialraeume: 20, years: 10, fourEyesThresholdCents: config.fourEyesThresholdCents })
    const seeded = await seedLedger(stores.store, { ...options, onProgress: ({ events }) => process.stderr.write(`  seeding: ${events}\r`) })
    process.stderr.write(`seeded ${seeded.events} events\n`)
  }
  return stores
}

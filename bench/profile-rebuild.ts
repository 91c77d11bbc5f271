/**
 * A projection rebuild in this process, to profile: copies a seeded SQLite store (one kept by
 * `BENCH_KEEP=1 npx tsx bench/rebuild.ts`), resets every projection and replays the log through
 * the ProjectionRunner until it has reached the head, with the projection thread's settings (its
 * catch-up budget and write-ahead log size; `BENCH_WAL_PAGES=1000` and `BENCH_BATCH_MS=25` give
 * the event loop's; `BENCH_DEFER_INDEXES=0` keeps the indexes up to date during the replay instead of
 * building them at its end). Prints events/s.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-rebuild.ts <ledger.db>
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pino } from 'pino'
import { projections } from '../projections/index.js'
import { ProjectionRunner, resetProjection } from '../projections/runner.js'
import { DEFER_INDEXES_BEHIND } from '../projections/deferred-indexes.js'
import { CATCH_UP_BATCH_MS, WAL_AUTOCHECKPOINT_PAGES } from '../projections/thread-runner.js'
import { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { loadMigrations, migrate } from '../src/sql/migrate.js'
import { SqliteDatabase } from '../src/sql/sqlite.js'
import { wholeNumberFromEnvironment } from './common.js'

const source = process.argv[2]
if (source === undefined) throw new Error('usage: profile-rebuild.ts <ledger.db>')
const walPages = wholeNumberFromEnvironment('BENCH_WAL_PAGES', WAL_AUTOCHECKPOINT_PAGES, 1, 1_000_000)
const batchMs = wholeNumberFromEnvironment('BENCH_BATCH_MS', CATCH_UP_BATCH_MS, 1, 10_000)
const path = join(mkdtempSync(join(tmpdir(), 'prof-rebuild-')), 'ledger.db')
copyFileSync(source, path)
const store = new SqliteEventStore(path, { writer: 'inline' })
const db = new SqliteDatabase(path, { walAutocheckpointPages: walPages })
// As the service would on its start: a store kept by an older version lacks the newer tables.
await migrate(db, await loadMigrations())
for (const projection of projections) await resetProjection(db, projection)
const head = await store.headPosition()
const deferring = process.env.BENCH_DEFER_INDEXES !== '0'
const runner = new ProjectionRunner({
  store,
  db,
  projections,
  logger: pino({ level: 'warn' }),
  batchBudgetMs: batchMs,
  ...(deferring ? { deferIndexesBehind: DEFER_INDEXES_BEHIND } : {}),
})
const started = performance.now()
await runner.start()
while (!(await runner.waitFor(head, 1_000))) process.stderr.write(`  at ${runner.status().position}\r`)
const seconds = (performance.now() - started) / 1_000
console.log(`${head} events in ${seconds.toFixed(2)} s: ${Math.round(Number(head) / seconds)} events/s (WAL ${walPages} pages, batches of ${batchMs} ms, indexes ${deferring ? 'built at the end' : 'kept up to date'})`)
await runner.stop()
await store.close()
await db.close()
rmSync(dirname(path), { recursive: true, force: true })

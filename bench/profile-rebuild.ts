/**
 * A CPU profile of a projection rebuild, in this process: copies a seeded SQLite store (one kept
 * by `BENCH_KEEP=1 npx tsx bench/rebuild.ts`), resets every projection and replays the log
 * through the ProjectionRunner until it has reached the head. Prints events/s.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-rebuild.ts <ledger.db>
 */
import { copyFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { projections } from '../projections/index.js'
import { ProjectionRunner, resetProjection } from '../projections/runner.js'
import { parseConfig } from '../src/config.js'
import { openStores } from '../src/service.js'

const source = process.argv[2]
if (source === undefined) throw new Error('usage: profile-rebuild.ts <ledger.db>')
const path = join(mkdtempSync(join(tmpdir(), 'prof-rebuild-')), 'ledger.db')
copyFileSync(source, path)
const stores = await openStores(parseConfig({ DATABASE_URL: `sqlite:${path}`, JWT_SECRET: 'x'.repeat(43) }), 'profile')
for (const projection of projections) await resetProjection(stores.db, projection)
const head = await stores.store.headPosition()
const runner = new ProjectionRunner({ store: stores.store, db: stores.db, projections, logger: pino({ level: 'warn' }) })
const started = performance.now()
await runner.start()
while (!(await runner.waitFor(head, 1_000))) process.stdout.write(`  at ${runner.status().position}\r`)
const seconds = (performance.now() - started) / 1_000
console.log(`${head} events in ${seconds.toFixed(2)} s: ${Math.round(Number(head) / seconds)} events/s`)
await runner.stop()
await stores.close()

/**
 * A CPU profile of the write path: the service on a temporary SQLite file (or BENCH_DATABASE_URL)
 * in this process, 32 autocannon connections writing spendings to BUDGETS budgets (20) for SECONDS
 * (10) from a worker thread. Run it under the profiler, and read the largest .cpuprofile (the
 * event loop's) with Chrome's DevTools or any .cpuprofile reader:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-writes.ts
 *
 * or PROFILE_OUT=/tmp/writes.cpuprofile npx tsx bench/profile-writes.ts for the event loop under
 * load alone, without the start-up.
 *
 * BENCH_PROJECTION_THREAD=0 runs the embedded store's projections on the event loop instead of
 * their thread. BENCH_STORE=<file> writes to the 20 budgets of 2025 in a copy of a store seeded
 * before (`sojus-ledger seed --sozialraeume 20 --years 1 --first-year 2025 --commitments 420
 * --spendings 400`, about 4,900 events per budget, as bench/http.ts does) instead of new ones.
 * BENCH_DATABASE_URL=<postgres://…> writes to that database instead of a temporary SQLite file
 * (an empty schema of the caller's, named by `options=-c search_path=…`).
 */
import autocannon from 'autocannon'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { signToken } from '../src/auth/tokens.js'
import { sozialraumOf } from '../src/cli/seed.js'
import { parseConfig } from '../src/config.js'
import { openService } from '../src/service.js'
import { cpuPerRequest, cpuSnapshot } from './common.js'

const SECRET = randomBytes(32).toString('base64url')
const AUTH = `Bearer ${await signToken(SECRET, { sub: 'bench', role: 'finance' }, '1h')}`
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
const budgets = Number(process.env.BUDGETS ?? 20)
const seeded = process.env.BENCH_STORE
if (seeded !== undefined) copyFileSync(seeded, join(dir, 'p.db'))
const threadsBeforeService = cpuSnapshot()
const database = process.env.BENCH_DATABASE_URL
if (database !== undefined && seeded !== undefined) throw new Error('BENCH_STORE is a SQLite file: it cannot go with BENCH_DATABASE_URL')
const target = database === undefined ? { DATABASE_URL: `sqlite:${join(dir, 'p.db')}` } : { DATABASE_URL: database, AUDIT_SEAL_KEY: randomBytes(32).toString('base64url') }
const service = await openService(
  parseConfig({ ...target, JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: '100000000', PORT: '0' }),
  pino({ level: 'silent' }),
  // BENCH_PROJECTION_THREAD=0 projects on the event loop, to compare.
  { projectionThread: process.env.BENCH_PROJECTION_THREAD !== '0' },
)
const url = await service.app.listen({ port: 0, host: '127.0.0.1' })
const ids = Array.from({ length: budgets }, (_, i) => (seeded === undefined ? `p-${i}` : sozialraumOf(i, undefined).id))
if (seeded !== undefined) await service.runner.waitFor(await service.store.headPosition(), 600_000)
for (const id of ids) {
  // A seeded budget is there; its first write (the allocation that pays for the spendings) folds its stream.
  if (seeded === undefined) await service.app.inject({ method: 'POST', url: '/v1/sozialraeume', payload: { id, name: id }, headers: { authorization: AUTH } })
  await service.app.inject({ method: 'POST', url: `/v1/budgets/2025/${id}/allocations`, payload: { line: 'flexible', amount: '10000000.00', decisionRef: 'b' }, headers: { authorization: AUTH } })
}
const load = (seconds: number) =>
  autocannon({
    url, connections: 32, duration: seconds, workers: 1, initialContext: { sozialraeume: ids },
    headers: { authorization: AUTH },
    requests: [{ method: 'POST', path: '/v1/budgets/2025/{sozialraum}/spending', setupRequest: fileURLToPath(new URL('./round-robin-request.cjs', import.meta.url)) }],
  })
// WARMUP=<seconds> (0): load that is not measured first, until the JIT has compiled the hot path.
const warmup = Number(process.env.WARMUP ?? 0)
if (warmup > 0) await load(warmup)
// PROFILE_OUT=<file.cpuprofile>: profile the event loop under load only, without the start-up.
const profiler = process.env.PROFILE_OUT === undefined ? undefined : new Session()
if (profiler !== undefined) {
  profiler.connect()
  await profiler.post('Profiler.enable')
  await profiler.post('Profiler.start')
  // Where the event loop allocates, sampled every 32 KB: what the garbage collectors chase.
  await profiler.post('HeapProfiler.startSampling', { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
}
// ROUNDS=<n> (1): measure n times in a row, to see whether a write costs more as the store grows.
for (let round = 1; round <= Number(process.env.ROUNDS ?? 1); round++) {
  const threadsBefore = cpuSnapshot()
  const result = await load(Number(process.env.SECONDS ?? 10))
  const threadsAfter = cpuSnapshot()
  if (profiler !== undefined && round === 1) {
    const { profile } = await profiler.post('Profiler.stop')
    writeFileSync(process.env.PROFILE_OUT!, JSON.stringify(profile))
    const { profile: allocations } = await profiler.post('HeapProfiler.stopSampling')
    writeFileSync(process.env.PROFILE_OUT!.replace(/(\.cpuprofile)?$/, '.heapprofile'), JSON.stringify(allocations))
  }
  const head = await service.store.headPosition()
  console.log(`round ${round}: req/s ${result.requests.average} p50 ${result.latency.p50} p99 ${result.latency.p99} non2xx ${result.non2xx}, ${head} events stored`)
  console.log(cpuPerRequest(threadsBeforeService, threadsBefore, threadsAfter, result.requests.total))
}
await service.close()
process.exit(0)

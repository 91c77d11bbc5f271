/**
 * The projections' rebuild and the service's cold start on a large log (issue 13, "Speed").
 *
 * Seeds a fresh SQLite store through the deciders (src/cli/seed.ts: 20 Sozialräume × 10 years,
 * about BENCH_EVENTS events), resets every projection as `sojus-ledger rebuild all` does, and then
 * measures the service itself, run as a child process (`node --import tsx src/main.ts`, logging at
 * its default level into a file), so that its RSS is the service's alone:
 *
 * (a) the rebuild: the child starts on the reset store and replays every projection. The parent
 *     asks GET /health every 50 ms (one request at a time) and reports the worst latency, asks
 *     GET /ready every 250 ms (it must say `catching-up` with the lag while the projections
 *     replay), and samples the child's RSS every 100 ms (/proc/<pid>/status; VmHWM is its peak).
 *     Events/s is counted from the positions /ready reports, between its first and its last
 *     catching-up answer, and from the child's spawn to `ready` (start-up included).
 * (b) the cold start: the child is stopped and started again on the caught-up store; the time
 *     from spawn to the first /ready that says `ready`, and the RSS then; then 200 budget reads
 *     (GET /v1/budgets/{year}/{sozialraum}, one at a time) with the whole log stored.
 *
 *   npx tsx bench/rebuild.ts                       # about 1,000,000 events (minutes)
 *   BENCH_EVENTS=100000 npx tsx bench/rebuild.ts   # smaller
 *
 * BENCH_RUNTIME=dist runs the service compiled (tsc into the temporary folder, as `npm run build`
 * would into dist/, `node dist/src/main.js` as `npm start` runs it) instead of from the sources
 * through tsx, whose compiler adds to the start-up time and the RSS.
 *
 * Other knobs: BENCH_STORE=<file> copies that SQLite store (seeded before, service stopped)
 * instead of seeding; BENCH_KEEP=1 keeps the temporary folder and prints where it is. The bench
 * measures the code of the checkout it lies in, so that a copy of it in an older worktree
 * measures the older code on the same store.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { projections } from '../projections/index.js'
import { resetProjection } from '../projections/runner.js'
import { DEFAULT_SEED_OPTIONS, seedLedger, sozialraumOf } from '../src/cli/seed.js'
import { signToken } from '../src/auth/tokens.js'
import { parseConfig, type Config } from '../src/config.js'
import { openStores } from '../src/service.js'
import { loadMigrations, migrate } from '../src/sql/migrate.js'
import { addToSummary, printMeasures, seedOptionsFor, wholeNumberFromEnvironment } from './common.js'

const EVENTS = wholeNumberFromEnvironment('BENCH_EVENTS', 1_000_000, 1_000, 20_000_000)
const SOZIALRAEUME = 20
const YEARS = 10
const KEEP = process.env.BENCH_KEEP === '1'
const FROM_STORE = process.env.BENCH_STORE
const RUNTIME = process.env.BENCH_RUNTIME === 'dist' ? 'dist' : 'tsx'
/** What the seed's default counts write per budget, about (src/cli/seed.ts). */
const HEALTH_EVERY_MS = 50
/** Budget reads measured once the service is ready. */
const BUDGET_READS = 200
const READY_EVERY_MS = 250
const RSS_EVERY_MS = 100
/** Longest any phase may take: a bench that hangs says so. */
const PHASE_LIMIT_MS = 3_600_000
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const count = (value: number): string => Math.round(value).toLocaleString('en-US')
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const rows: Array<{ measure: string; value: string }> = []
function report(measure: string, value: string): void {
  rows.push({ measure, value })
  process.stderr.write(`  ${measure}: ${value}\n`)
}

async function seed(config: Config): Promise<void> {
  const stores = await openStores(config, 'bench-seed')
  try {
    const result = await seedLedger(stores.store, {
      ...seedOptionsFor(EVENTS, { sozialraeume: SOZIALRAEUME, years: YEARS, fourEyesThresholdCents: config.fourEyesThresholdCents }),
      onProgress: ({ events }) => process.stderr.write(`\r  seeding: ${count(events)} events   `),
    })
    process.stderr.write('\n')
    report('seed', `${count(result.events)} events in ${seconds(result.elapsedMs)}`)
  } finally {
    await stores.close()
  }
}

/** Empties every projection's tables and resets its checkpoint, as `sojus-ledger rebuild all` does. */
async function resetAll(config: Config): Promise<number> {
  const stores = await openStores(config, 'bench-rebuild')
  try {
    await stores.db.exclusive('migrations', async () => migrate(stores.db, await loadMigrations()))
    for (const projection of projections) await resetProjection(stores.db, projection, stores.lease.announce)
    return Number(await stores.store.headPosition())
  } finally {
    await stores.close()
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** The child's RSS and its peak so far, in kB, from /proc (Linux). */
function memoryOf(pid: number): { rssKb: number; peakKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return { rssKb: field('VmRSS'), peakKb: field('VmHWM') }
}

interface ReadyAnswer {
  status: string
  projections?: { position: string; lag: string }
}

interface Run {
  child: ChildProcess
  /** Where the service listens: http://127.0.0.1:<port>. */
  base: string
  spawnedAt: number
  /** When the service first answered /health or /ready. */
  listeningAt: number | undefined
  healthLatencies: number[]
  /** /ready answers while the projections replayed: time and position. */
  catchingUp: Array<{ at: number; position: number; lag: number }>
  readyAt: number | undefined
  rssKb: number
  peakRssKb: number
  rssSamples: number
  /** Every sample, to show whether the RSS climbs with the events replayed or stays flat. */
  rssSeries: Array<{ at: number; kb: number }>
  stopped: boolean
}

/**
 * Compiles the service into `dir`/dist as `npm run build` does, beside links to the migrations,
 * node_modules and package.json, and answers the arguments that run it. Type errors elsewhere do not stop the
 * emit (other work in progress); a missing entry point does.
 */
function compile(dir: string): string[] {
  const build = join(dir, 'build')
  mkdirSync(build)
  for (const name of ['migrations', 'node_modules', 'package.json']) symlinkSync(join(ROOT, name), join(build, name))
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(build, 'dist')], {
    cwd: ROOT,
    stdio: 'ignore',
  })
  const main = join(build, 'dist/src/main.js')
  if (!existsSync(main)) throw new Error('the build wrote no dist/src/main.js')
  return [main]
}

let serviceArguments = ['--import', 'tsx', join(ROOT, 'src/main.ts')]

function startService(config: { url: string; secret: string }, port: number, log: string): Run {
  const out = openSync(log, 'a')
  const child = spawn(process.execPath, serviceArguments, {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: config.url, JWT_SECRET: config.secret, PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_PER_MINUTE: '0' },
    stdio: ['ignore', out, out],
  })
  const run: Run = {
    child,
    base: `http://127.0.0.1:${port}`,
    spawnedAt: performance.now(),
    listeningAt: undefined,
    healthLatencies: [],
    catchingUp: [],
    readyAt: undefined,
    rssKb: 0,
    peakRssKb: 0,
    rssSamples: 0,
    rssSeries: [],
    stopped: false,
  }
  child.once('exit', () => (run.stopped = true))
  return run
}

/** Polls /health one request at a time, every HEALTH_EVERY_MS, until the run stops. */
async function pollHealth(run: Run, base: string): Promise<void> {
  while (!run.stopped) {
    const started = performance.now()
    try {
      const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
      if (response.status === 200) {
        if (run.listeningAt === undefined) run.listeningAt = performance.now()
        else run.healthLatencies.push(performance.now() - started)
      }
    } catch {
      // Not listening yet (or stopping): only answered requests count.
    }
    await sleep(Math.max(0, HEALTH_EVERY_MS - (performance.now() - started)))
  }
}

/** Polls /ready until it says `ready` (with the read models at the head), recording the lag meanwhile. */
async function pollReady(run: Run, base: string): Promise<void> {
  const deadline = performance.now() + PHASE_LIMIT_MS
  while (!run.stopped && performance.now() < deadline) {
    try {
      const response = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(10_000) })
      const body = (await response.json()) as ReadyAnswer
      const at = performance.now()
      if (run.listeningAt === undefined) run.listeningAt = at
      const position = Number(body.projections?.position ?? 0)
      const lag = Number(body.projections?.lag ?? 0)
      if (response.status === 200 && body.status === 'ready' && lag === 0) {
        run.readyAt = at
        return
      }
      run.catchingUp.push({ at, position, lag })
    } catch {
      // Not listening yet.
    }
    await sleep(run.listeningAt === undefined ? 10 : READY_EVERY_MS)
  }
  throw new Error(run.stopped ? 'the service stopped before it was ready' : 'the service was not ready within an hour')
}

function sampleRss(run: Run): NodeJS.Timeout {
  return setInterval(() => {
    try {
      const { rssKb, peakKb } = memoryOf(run.child.pid ?? 0)
      run.rssKb = rssKb
      run.peakRssKb = Math.max(run.peakRssKb, peakKb)
      run.rssSamples += 1
      run.rssSeries.push({ at: performance.now(), kb: rssKb })
    } catch {
      // The child has exited.
    }
  }, RSS_EVERY_MS)
}

async function stopService(run: Run): Promise<void> {
  if (run.stopped) return
  const exited = new Promise((resolve) => run.child.once('exit', resolve))
  run.child.kill('SIGTERM')
  await exited
}

/** Starts the service, waits for `ready`, and leaves it running with its pollers; the caller stops it. */
async function serveUntilReady(config: { url: string; secret: string }, log: string): Promise<{ run: Run; health: Promise<void> }> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const run = startService(config, port, log)
  const sampler = sampleRss(run)
  const health = pollHealth(run, base)
  try {
    await pollReady(run, base)
    // One more sample at the moment of readiness.
    const { rssKb, peakKb } = memoryOf(run.child.pid ?? 0)
    run.rssKb = rssKb
    run.peakRssKb = Math.max(run.peakRssKb, peakKb)
  } finally {
    clearInterval(sampler)
  }
  return { run, health }
}

/** The RSS sampled nearest to each fraction of the time from spawn to ready. */
function rssAtFractions(run: Run): number[] {
  const span = (run.readyAt ?? run.spawnedAt) - run.spawnedAt
  return [0.1, 0.25, 0.5, 0.75, 0.9].map((fraction) => {
    const at = run.spawnedAt + fraction * span
    let nearest = run.rssSeries[0]
    for (const sample of run.rssSeries) if (Math.abs(sample.at - at) < Math.abs((nearest?.at ?? 0) - at)) nearest = sample
    return nearest?.kb ?? 0
  })
}

function percentile(values: readonly number[], quantile: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] ?? 0
}

async function rebuild(config: { url: string; secret: string }, events: number, log: string): Promise<void> {
  const { run, health } = await serveUntilReady(config, log)
  await stopService(run)
  await health
  const readyMs = (run.readyAt ?? 0) - run.spawnedAt
  report('rebuild: spawn → ready', `${seconds(readyMs)} (${count(events / (readyMs / 1000))} events/s, start-up included)`)
  const first = run.catchingUp.find((sample) => sample.lag > 0)
  if (first !== undefined && run.readyAt !== undefined) {
    const replayed = events - first.position
    report('rebuild: events/s while catching up', `${count(replayed / ((run.readyAt - first.at) / 1000))} (${count(replayed)} events after the first /ready)`)
  }
  const saidLag = run.catchingUp.filter((sample) => sample.lag > 0).length
  report('rebuild: /ready answers not ready with a lag', `${saidLag} of ${run.catchingUp.length + 1}`)
  report('rebuild: peak RSS (VmHWM)', `${mb(run.peakRssKb)} (${run.rssSamples} samples every ${RSS_EVERY_MS} ms)`)
  report('rebuild: RSS at 10 / 25 / 50 / 75 / 90 % of the time, at ready', `${rssAtFractions(run).map(mb).join(' / ')} / ${mb(run.rssKb)}`)
  const latencies = run.healthLatencies
  const worstHealth = Math.max(0, ...latencies)
  report(
    'rebuild: /health latency max / p99 / p50',
    `${worstHealth.toFixed(0)} / ${percentile(latencies, 0.99).toFixed(0)} / ${percentile(latencies, 0.5).toFixed(1)} ms (${latencies.length} requests)`,
  )
  const perSecond = events / (readyMs / 1000)
  addToSummary([
    {
      measure: `rebuild of ${count(events)} events (SQLite, spawn → ready)`,
      figure: `${seconds(readyMs)}, ${count(perSecond)} events/s`,
      target: '≥ 150,000 events/s (1,000,000 in ≤ 7 s)',
      met: perSecond >= 150_000,
    },
    { measure: 'rebuild: peak RSS', figure: mb(run.peakRssKb), target: '≤ 300 MB throughout', met: run.peakRssKb <= 300 * 1024 },
    {
      measure: 'rebuild: slowest /health meanwhile',
      figure: `${worstHealth.toFixed(0)} ms (${latencies.length} requests)`,
      target: '≤ 100 ms',
      met: latencies.length > 0 && worstHealth <= 100,
    },
  ])
}

async function coldStart(config: { url: string; secret: string }, log: string): Promise<void> {
  const { run, health } = await serveUntilReady(config, log)
  await budgetReads(run, config.secret)
  await stopService(run)
  await health
  report('cold start: spawn → listening', seconds((run.listeningAt ?? 0) - run.spawnedAt))
  const readyMs = (run.readyAt ?? 0) - run.spawnedAt
  report('cold start: spawn → ready', seconds(readyMs))
  report('cold start: RSS at ready / peak', `${mb(run.rssKb)} / ${mb(run.peakRssKb)}`)
  addToSummary([
    {
      measure: 'cold start on that log: spawn → ready, RSS at ready',
      figure: `${seconds(readyMs)}, ${mb(run.rssKb)}`,
      target: '≤ 2 s, ≤ 200 MB',
      met: run.readyAt !== undefined && readyMs <= 2_000 && run.rssKb <= 200 * 1024,
    },
  ])
}

/** Reads of single budgets (GET /v1/budgets/{year}/{sozialraum}) with the whole log stored, one at a time. */
async function budgetReads(run: Run, secret: string): Promise<void> {
  const authorization = `Bearer ${await signToken(secret, { sub: 'bench', role: 'finance' }, '1h')}`
  const { firstYear } = DEFAULT_SEED_OPTIONS
  const latencies: number[] = []
  for (let n = 0; n < BUDGET_READS; n++) {
    const year = firstYear + (n % YEARS)
    const url = `${run.base}/v1/budgets/${year}/${sozialraumOf(n % SOZIALRAEUME, undefined).id}`
    const started = performance.now()
    const response = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(10_000) })
    await response.arrayBuffer()
    if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`)
    latencies.push(performance.now() - started)
  }
  const figure = `${percentile(latencies, 0.5).toFixed(1)} / ${percentile(latencies, 0.99).toFixed(1)} / ${Math.max(...latencies).toFixed(1)} ms`
  report(`budget reads, ${count(BUDGET_READS)} one at a time: p50 / p99 / max`, figure)
  addToSummary([{ measure: `budget reads with the log stored, ${count(BUDGET_READS)} one at a time: p50 / p99 / max`, figure }])
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-bench-rebuild-'))
  const file = join(dir, 'ledger.db')
  const secret = randomBytes(32).toString('hex')
  const service = { url: `sqlite:${file}`, secret }
  const config = parseConfig({ DATABASE_URL: service.url, JWT_SECRET: secret, LOG_LEVEL: 'silent' })
  process.stderr.write(`bench/rebuild: ${FROM_STORE ?? `about ${count(EVENTS)} events`} in ${dir}, code in ${ROOT} (${RUNTIME})\n`)
  try {
    if (RUNTIME === 'dist') serviceArguments = compile(dir)
    report('service run by', RUNTIME === 'dist' ? 'node, compiled' : 'node --import tsx, from the sources')
    if (FROM_STORE === undefined) await seed(config)
    else for (const suffix of ['', '-wal']) if (existsSync(FROM_STORE + suffix)) copyFileSync(FROM_STORE + suffix, file + suffix)
    const events = await resetAll(config)
    report('events in the log', count(events))
    await rebuild(service, events, join(dir, 'rebuild.log'))
    await coldStart(service, join(dir, 'cold-start.log'))
    printMeasures(rows)
  } finally {
    if (KEEP) process.stderr.write(`kept ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})

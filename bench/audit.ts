/**
 * The auditor's side on a realistic history: seeds a fresh SQLite store through the deciders
 * (src/cli/seed.ts: 20 Sozialräume × 10 years, about 1,000,000 events), starts the service on it
 * (listening on 127.0.0.1, port 0), waits for the projections to catch up, and measures:
 *
 * - the seed, in events per second;
 * - the projections' catch-up from an empty read side, in events per second;
 * - the export of one year (`GET /v1/audit/export`, CSV and JSONL) over HTTP, in events per second,
 *   with the process's RSS before and after and sampled during the export (flat memory: the
 *   export streams bounded pages), and the process's peak RSS over the whole run;
 * - where the routes exist: the latency (p50/p99) of `GET /v1/audit/balances?year=…&position=…`
 *   at random positions, and `POST /v1/audit/verify` in events per second.
 *
 *   npm run bench:audit                                   # about 1,000,000 events (minutes)
 *   BENCH_AUDIT_EVENTS=100000 npm run bench:audit         # smaller: fewer events per budget
 *
 * Other knobs: BENCH_AUDIT_SOZIALRAEUME (20), BENCH_AUDIT_YEARS (10), BENCH_AUDIT_CALLS (200
 * balance requests), BENCH_AUDIT_SEED ("sojus"), BENCH_AUDIT_KEEP=1 keeps the store and prints
 * where it is. The client runs in this process, so the RSS figures include it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { signToken } from '../src/auth/tokens.js'
import { DEFAULT_SEED_OPTIONS, Random, seedLedger } from '../src/cli/seed.js'
import { parseConfig, type Config } from '../src/config.js'
import { openService, openStores, type Service } from '../src/service.js'
import { printMeasures, seedOptionsFor, wholeNumberFromEnvironment } from './common.js'

const SOZIALRAEUME = wholeNumberFromEnvironment('BENCH_AUDIT_SOZIALRAEUME', 20, 1, 500)
const YEARS = wholeNumberFromEnvironment('BENCH_AUDIT_YEARS', 10, 1, 50)
const EVENTS = wholeNumberFromEnvironment('BENCH_AUDIT_EVENTS', 1_000_000, 1_000, 20_000_000)
const CALLS = wholeNumberFromEnvironment('BENCH_AUDIT_CALLS', 200, 10, 100_000)
const SEED = process.env.BENCH_AUDIT_SEED || 'sojus'
const KEEP = process.env.BENCH_AUDIT_KEEP === '1'
/** What the seed's default counts (370 commitments, 1,000 spendings) write per budget, about. */
const LONG_WAIT_MS = 3_600_000

const MB = 1024 * 1024
const rssMb = (): number => process.memoryUsage.rss() / MB
const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024
const perSecond = (count: number, ms: number): number => Math.round(count / (ms / 1000))

interface Row {
  measure: string
  value: string
}
const rows: Row[] = []
const report = (measure: string, value: string): void => {
  rows.push({ measure, value })
  process.stderr.write(`  ${measure}: ${value}\n`)
}
const count = (value: number): string => value.toLocaleString('en-US')
const mb = (value: number): string => `${value.toFixed(0)} MB`

/** Samples the RSS while `work` runs: the highest seen, every 20 ms. */
async function withRssPeak<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = rssMb()
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb())
  }, 20)
  try {
    const result = await work()
    return { result, peakMb: Math.max(peak, rssMb()) }
  } finally {
    clearInterval(timer)
  }
}

async function seed(config: Config): Promise<number> {
  const stores = await openStores(config, 'bench-seed')
  try {
    const result = await seedLedger(stores.store, {
      ...seedOptionsFor(EVENTS, { sozialraeume: SOZIALRAEUME, years: YEARS, seed: SEED, fourEyesThresholdCents: config.fourEyesThresholdCents }),
      onProgress: ({ events, elapsedMs }) =>
        process.stderr.write(`\r  seeding: ${count(events)} events, ${count(perSecond(events, elapsedMs))} events/s   `),
    })
    process.stderr.write('\n')
    report('seed: events written', `${count(result.events)} in ${count(result.streams)} streams, ${count(result.appends)} appends`)
    report('seed: events/s', `${count(perSecond(result.events, result.elapsedMs))} (${(result.elapsedMs / 1000).toFixed(1)} s)`)
    return result.events
  } finally {
    await stores.close()
  }
}

async function catchUp(service: Service, startedAt: number): Promise<bigint> {
  const head = await service.store.headPosition()
  if (!(await service.runner.waitFor(head, LONG_WAIT_MS))) throw new Error('the projections did not catch up within an hour')
  const ms = performance.now() - startedAt
  const events = Number(head)
  report('projections: catch-up events/s', `${count(perSecond(events, ms))} (${(ms / 1000).toFixed(1)} s for ${count(events)} events, all projections)`)
  return head
}

/** Streams an export over HTTP and counts it without keeping it: bytes, and lines for JSONL. */
async function exportOnce(base: string, token: string, year: number, format: 'csv' | 'jsonl', events: number | undefined): Promise<number> {
  const rssBefore = rssMb()
  const started = performance.now()
  const { result, peakMb } = await withRssPeak(async () => {
    const response = await fetch(`${base}/v1/audit/export?year=${year}&format=${format}`, { headers: { authorization: `Bearer ${token}` } })
    if (response.status !== 200 || response.body === null) throw new Error(`export ${format}: ${response.status} ${await response.text()}`)
    let bytes = 0
    let lines = 0
    for await (const chunk of response.body) {
      bytes += chunk.byteLength
      // indexOf, not a loop over each byte in JavaScript: the client shares the service's event loop.
      for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines += 1
    }
    return { bytes, lines }
  })
  const ms = performance.now() - started
  const exported = events ?? result.lines
  report(
    `export ${year} ${format.toUpperCase()}: events/s`,
    `${count(perSecond(exported, ms))} (${count(exported)} events, ${(result.bytes / MB).toFixed(1)} MB in ${(ms / 1000).toFixed(1)} s)`,
  )
  report(`export ${year} ${format.toUpperCase()}: RSS before / peak during / after`, `${mb(rssBefore)} / ${mb(peakMb)} / ${mb(rssMb())}`)
  return exported
}

async function balances(base: string, token: string, head: bigint): Promise<void> {
  const random = new Random(`${SEED}/bench`)
  const probe = await fetch(`${base}/v1/audit/balances?year=${DEFAULT_SEED_OPTIONS.firstYear}&position=1`, { headers: { authorization: `Bearer ${token}` } })
  await probe.arrayBuffer()
  if (probe.status === 404) return report('balances as of a position', 'route not served (skipped)')
  const latencies: number[] = []
  for (let call = 0; call < CALLS; call++) {
    const year = DEFAULT_SEED_OPTIONS.firstYear + random.int(0, YEARS - 1)
    const position = 1 + Math.floor(random.next() * Number(head))
    const started = performance.now()
    const response = await fetch(`${base}/v1/audit/balances?year=${year}&position=${position}`, { headers: { authorization: `Bearer ${token}` } })
    await response.arrayBuffer()
    latencies.push(performance.now() - started)
    if (response.status !== 200) throw new Error(`balances: ${response.status}`)
  }
  latencies.sort((a, b) => a - b)
  const at = (quantile: number): string => `${(latencies[Math.min(latencies.length - 1, Math.floor(quantile * latencies.length))] ?? 0).toFixed(1)} ms`
  report('balances as of a position: p50 / p99', `${at(0.5)} / ${at(0.99)} (${count(CALLS)} calls, one at a time)`)
}

async function verify(base: string, token: string): Promise<void> {
  const started = performance.now()
  const response = await fetch(`${base}/v1/audit/verify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  })
  const body = (await response.json()) as { ok?: boolean; eventsChecked?: number }
  if (response.status === 404) return report('verify', 'route not served (skipped)')
  if (response.status !== 200 || body.eventsChecked === undefined) throw new Error(`verify: ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
  const ms = performance.now() - started
  const checked = body.eventsChecked
  report('verify: events/s', `${count(perSecond(checked, ms))} (${count(checked)} events in ${(ms / 1000).toFixed(1)} s, ok: ${String(body.ok)})`)
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-bench-audit-'))
  const secret = randomBytes(32).toString('hex')
  const config = parseConfig({
    DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`,
    JWT_SECRET: secret,
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'silent',
  })
  process.stderr.write(`bench:audit: ${SOZIALRAEUME} Sozialräume × ${YEARS} years, about ${count(EVENTS)} events, in ${dir}\n`)
  try {
    report('RSS at start', mb(rssMb()))
    const written = await seed(config)
    report('RSS after the seed', mb(rssMb()))
    report('store size after the seed', mb(statSync(join(dir, 'ledger.db')).size / MB))

    const startedAt = performance.now()
    const service = await openService(config, pino({ level: 'silent' }))
    try {
      const address = await service.app.listen({ host: '127.0.0.1', port: 0 })
      const head = await catchUp(service, startedAt)
      if (head < BigInt(written)) throw new Error(`the log holds ${head} events, the seed wrote ${written}`)
      report('RSS after the catch-up', mb(rssMb()))
      report('store size with the read models', mb(statSync(join(dir, 'ledger.db')).size / MB))

      const token = await signToken(secret, { sub: 'bench-auditor', role: 'auditor' }, '8h')
      const year = DEFAULT_SEED_OPTIONS.firstYear + Math.floor(YEARS / 2)
      const events = await exportOnce(address, token, year, 'jsonl', undefined)
      await exportOnce(address, token, year, 'csv', events)
      await balances(address, token, head)
      await verify(address, token)
      report('peak RSS of the process (maxRSS, whole run)', mb(maxRssMb()))
    } finally {
      await service.close()
    }
  } finally {
    if (KEEP) process.stderr.write(`kept ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
  printMeasures(rows)
}

await main()

/**
 * HTTP benchmark of the service on loopback, with autocannon: flexible spending writes spread over
 * 20 budgets and to one budget, budget reads, and for comparison a bare Fastify 5 + zod route that
 * validates a similar body (the ratio column is a row's writes/s over the bare route's). Each runs on
 * SQLite (twice: with the projections on their own thread, as the service runs them, and on the
 * event loop, to compare) and, when it is reachable (BENCH_POSTGRES_URL, default the local `test` database), on
 * PostgreSQL, and on PostgreSQL again with two service processes sharing the load. Then writes to 20
 * budgets that hold about 5,000 events each (a year of the seed: `sojus-ledger seed`), started cold,
 * with the time of the first write to each. The servers run in this process; autocannon's clients
 * run in worker threads, so that the load generator does not share the servers' event loop.
 *
 *   npm run bench                      # 10 s per scenario
 *   BENCH_SECONDS=3 npm run bench      # shorter
 *
 * Other knobs: BENCH_CONNECTIONS (32), BENCH_WORKERS (1 on two cores, else 2; 0 runs autocannon
 * on the main thread), BENCH_WARMUP_SECONDS (1), BENCH_BIG_BUDGETS (1; 0 leaves the budgets of
 * 5,000 events out, whose seeding takes a minute or two).
 */
import autocannon from 'autocannon'
import { spawn } from 'node:child_process'
import pg from 'pg'
import Fastify, { type FastifyInstance } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { z } from 'zod'
import { signToken } from '../src/auth/tokens.js'
import { parseConfig } from '../src/config.js'
import { sozialraumOf } from '../src/cli/seed.js'
import { openService, type Service, type ServiceOverrides } from '../src/service.js'
import { addToSummary, cpuPerRequest, cpuSnapshot, type SummaryRow } from './common.js'

const YEAR = 2025
const SOZIALRAUM_COUNT = 20
const FLEXIBLE_ALLOCATION = '10000000.00'
const SETUP_REQUEST = fileURLToPath(new URL('./round-robin-request.cjs', import.meta.url))
const ROOT = fileURLToPath(new URL('../', import.meta.url))

function positiveIntegerFromEnvironment(name: string, fallback: number, max: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new Error(`${name} must be a whole number from 0 to ${max}, not ${JSON.stringify(text)}`)
  }
  return value
}

const seconds = Math.max(1, positiveIntegerFromEnvironment('BENCH_SECONDS', 10, 600))
const warmupSeconds = positiveIntegerFromEnvironment('BENCH_WARMUP_SECONDS', 1, 60)
const bigBudgets = positiveIntegerFromEnvironment('BENCH_BIG_BUDGETS', 1, 1) === 1
const connections = Math.max(1, positiveIntegerFromEnvironment('BENCH_CONNECTIONS', 32, 1024))
// One core or two for the load generator, the rest for the servers on the main thread.
const workers = positiveIntegerFromEnvironment('BENCH_WORKERS', Math.max(1, Math.min(2, availableParallelism() - 1)), 16)

interface Row {
  scenario: string
  result: autocannon.Result
  /** Whether the row writes: its rate is set beside the bare route's. */
  writes?: boolean
  /** Where the CPU went during the run, per request (cpuPerRequest). */
  cpu?: string
}

/** The threads before the service under test started: the ones started since are its own (cpuPerRequest). */
let threadsBeforeService = cpuSnapshot()

/** The comparison: what Fastify and zod alone cost for a body like a spending's. */
async function bareFastify(): Promise<FastifyInstance> {
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.post(
    '/v1/budgets/:year/:sozialraum/spending',
    {
      schema: {
        params: z.strictObject({
          year: z.string().regex(/^(20\d\d|2100)$/),
          sozialraum: z.string().max(64).regex(/^[a-z0-9]+(-[a-z0-9]+)*$/),
        }),
        headers: z.looseObject({ 'idempotency-key': z.string().min(1).max(128).optional() }),
        body: z.strictObject({
          id: z.uuid().optional(),
          amount: z.string().regex(/^\d{1,13}(\.\d{1,2})?$/),
          purpose: z.string().min(1).max(2000),
          category: z.string().min(1).max(200).optional(),
          receiptRef: z.string().min(1).max(200),
          date: z.iso.date(),
        }),
        response: { 201: z.object({ id: z.string(), sozialraum: z.string(), amount: z.string(), date: z.string() }) },
      },
    },
    async (request, reply) => {
      reply.code(201)
      return {
        id: request.body.id ?? randomUUID(),
        sozialraum: request.params.sozialraum,
        amount: request.body.amount,
        date: request.body.date,
      }
    },
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app as unknown as FastifyInstance
}

/** Every request carries a real token that the service verifies, as in production. */
const BENCH_SECRET = randomBytes(32).toString('base64url')
const AUTHORIZATION = `Bearer ${await signToken(BENCH_SECRET, { sub: 'bench', role: 'finance' }, '1h')}`

async function setUpBudgets(service: Service, sozialraeume: readonly string[]): Promise<void> {
  const headers = { authorization: AUTHORIZATION }
  for (const id of sozialraeume) {
    const registered = await service.app.inject({
      method: 'POST',
      url: '/v1/sozialraeume',
      payload: { id, name: `Bench ${id}` },
      headers,
    })
    if (registered.statusCode !== 201) throw new Error(`registering ${id}: ${registered.statusCode} ${registered.body}`)
    const allocated = await service.app.inject({
      method: 'POST',
      url: `/v1/budgets/${YEAR}/${id}/allocations`,
      payload: { line: 'flexible', amount: FLEXIBLE_ALLOCATION, decisionRef: 'bench' },
      headers,
    })
    if (allocated.statusCode !== 201) throw new Error(`allocating ${id}: ${allocated.statusCode} ${allocated.body}`)
  }
}

async function run(
  title: string,
  url: string,
  template: autocannon.RequestTemplate,
  sozialraeume: string[],
  durationSeconds: number,
): Promise<autocannon.Result> {
  return autocannon({
    title,
    url,
    connections,
    duration: durationSeconds,
    ...(workers > 0 ? { workers } : {}),
    timeout: 10,
    initialContext: { sozialraeume },
    headers: { authorization: AUTHORIZATION },
    requests: [{ ...template, setupRequest: SETUP_REQUEST }],
  })
}

async function scenario(
  rows: Row[],
  title: string,
  url: string,
  template: autocannon.RequestTemplate,
  sozialraeume: string[],
  warmup = warmupSeconds,
): Promise<void> {
  if (warmup > 0) await run(`${title} (warm-up)`, url, template, sozialraeume, warmup)
  process.stderr.write(`running: ${title} (${seconds} s)\n`)
  const before = cpuSnapshot()
  const result = await run(title, url, template, sozialraeume, seconds)
  rows.push({ scenario: title, result, writes: template.method === 'POST', cpu: cpuPerRequest(threadsBeforeService, before, cpuSnapshot(), result.requests.total) })
}

function table(rows: Row[]): string {
  const header = ['scenario', 'req/s (mean)', 'of bare', 'p50 ms', 'p99 ms', 'requests', '2xx', 'non-2xx', 'errors']
  const bare = rows[0]?.result.requests.average ?? 0
  const body = rows.map(({ scenario: title, result, writes }) => [
    title,
    result.requests.average.toFixed(0),
    writes && bare > 0 ? `${((100 * result.requests.average) / bare).toFixed(0)} %` : '',
    result.latency.p50.toFixed(2),
    result.latency.p99.toFixed(2),
    String(result.requests.total),
    String(result['2xx']),
    String(result.non2xx),
    String(result.errors + result.timeouts),
  ])
  const widths = header.map((cell, column) => Math.max(cell.length, ...body.map((row) => row[column]?.length ?? 0)))
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join(' | ')} |`
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

/** Where the ledger keeps its data in a scenario; PostgreSQL runs in a schema of its own, dropped afterwards. */
interface Target {
  name: string
  environment: Record<string, string>
  /** Whether the scenario with two service processes runs on it too (PostgreSQL). */
  shared: boolean
  /** How the service is opened (the embedded store once more with its projections on the event loop, for comparison). */
  overrides?: ServiceOverrides
  cleanUp(): Promise<void>
}

const BENCH_POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL, connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

async function postgresTarget(name: string): Promise<Target> {
  const schema = `bench_${randomUUID().replaceAll('-', '')}`
  await adminQuery(`CREATE SCHEMA ${schema}`)
  const url = new URL(BENCH_POSTGRES_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return {
    name,
    environment: { DATABASE_URL: url.toString(), AUDIT_SEAL_KEY: randomBytes(32).toString('base64url') },
    shared: true,
    cleanUp: () => adminQuery(`DROP SCHEMA ${schema} CASCADE`),
  }
}

function serviceEnvironment(target: Target): Record<string, string> {
  return {
    ...target.environment,
    PORT: '0',
    JWT_SECRET: BENCH_SECRET,
    // One token sends everything here: the limit stays on (its cost is measured) but high.
    RATE_LIMIT_PER_MINUTE: '100000000',
  }
}

async function startService(target: Target): Promise<{ service: Service; url: string }> {
  threadsBeforeService = cpuSnapshot()
  const service = await openService(parseConfig(serviceEnvironment(target)), pino({ level: 'silent' }), target.overrides)
  return { service, url: await service.app.listen({ port: 0, host: '127.0.0.1' }) }
}

/** A service in a child process (node --import tsx src/main.ts), for the scenario with two processes. */
async function startProcess(target: Target): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...serviceEnvironment(target), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => reject(new Error('a service process did not start within 60 s')), 60_000)
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const match = /"address":"(http:\/\/[^"]+)"/.exec(buffer)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.on('exit', (code) => reject(new Error(`a service process exited with ${code}`)))
  })
  child.stdout.resume()
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

/**
 * Both processes take writes at once, each from half the connections; one row sums them. First
 * every process writes to every budget (a load balancer that spreads requests evenly), then each
 * to half of them (one that routes by the path's Sozialraum, as README.md "Scaling" advises).
 */
async function twoProcesses(rows: Row[], target: Target, template: autocannon.RequestTemplate, sozialraeume: string[]): Promise<void> {
  const processes = [await startProcess(target), await startProcess(target)]
  const half = Math.max(1, Math.floor(connections / 2))
  const load = (title: string, budgetsOf: (index: number) => string[]) => {
    process.stderr.write(`running: ${title} (${seconds} s)\n`)
    return Promise.all(
      processes.map((child, index) =>
        autocannon({
          url: child.url,
          connections: half,
          duration: seconds,
          timeout: 10,
          initialContext: { sozialraeume: budgetsOf(index) },
          headers: { authorization: AUTHORIZATION },
          requests: [{ ...template, setupRequest: SETUP_REQUEST }],
        }),
      ),
    )
  }
  try {
    for (const [title, budgetsOf] of [
      [`${target.name}, two processes: POST spending`, () => sozialraeume],
      [`${target.name}, two processes, routed by Sozialraum: POST spending`, (index: number) => sozialraeume.filter((_, j) => j % 2 === index)],
    ] as const) {
      rows.push({ scenario: title, result: combine(await load(title, budgetsOf)), writes: true })
    }
  } finally {
    for (const child of processes) await child.stop()
  }
}

/** Sums two runs side by side: request rates and counts add up; the latencies shown are the worse of the two. */
function combine(results: autocannon.Result[]): autocannon.Result {
  const [first, ...others] = results
  if (!first) throw new Error('nothing to combine')
  const sum = (pick: (result: autocannon.Result) => number) => results.reduce((total, result) => total + pick(result), 0)
  const worst = (pick: (result: autocannon.Result) => number) => Math.max(...results.map(pick))
  const statusCodeStats = Object.assign({}, first.statusCodeStats, ...others.map((result) => result.statusCodeStats)) as autocannon.Result['statusCodeStats']
  return {
    ...first,
    requests: { ...first.requests, average: sum((result) => result.requests.average), total: sum((result) => result.requests.total) },
    latency: { ...first.latency, p50: worst((result) => result.latency.p50), p99: worst((result) => result.latency.p99) },
    '2xx': sum((result) => result['2xx']),
    non2xx: sum((result) => result.non2xx),
    errors: sum((result) => result.errors),
    timeouts: sum((result) => result.timeouts),
    statusCodeStats,
  }
}

async function postgresReachable(): Promise<boolean> {
  try {
    await adminQuery('SELECT 1')
    return true
  } catch (error) {
    process.stderr.write(`PostgreSQL at ${BENCH_POSTGRES_URL} is not reachable (${String(error)}): its scenarios are left out\n`)
    return false
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-bench-'))
  const sqlite = (name: string, file: string): Target => ({ name, environment: { DATABASE_URL: `sqlite:${join(dir, file)}` }, shared: false, cleanUp: async () => {} })
  const targets: Target[] = [
    sqlite('sqlite', 'bench.db'),
    { ...sqlite('sqlite, projections on the event loop', 'inline.db'), overrides: { projectionThread: false } },
  ]
  let bare: FastifyInstance | undefined
  try {
    if (await postgresReachable()) {
      targets.push(await postgresTarget('postgres'))
    }
    threadsBeforeService = cpuSnapshot()
    bare = await bareFastify()
    const bareAddress = bare.server.address()
    if (bareAddress === null || typeof bareAddress === 'string') throw new Error('the bare Fastify server has no port')
    const bareUrl = `http://127.0.0.1:${bareAddress.port}`

    process.stderr.write(
      `bench: ${connections} connections, ${workers} autocannon worker(s), ${seconds} s per scenario ` +
        `(+${warmupSeconds} s warm-up), ${SOZIALRAUM_COUNT} budgets, node ${process.version}\n`,
    )
    const rows: Row[] = []
    const spending = { method: 'POST', path: `/v1/budgets/${YEAR}/{sozialraum}/spending` }
    const budgetRead = { method: 'GET', path: `/v1/budgets/${YEAR}/{sozialraum}` }
    const sozialraeume = Array.from({ length: SOZIALRAUM_COUNT }, (_, index) => `bench-${String(index + 1).padStart(2, '0')}`)
    await scenario(rows, 'bare Fastify + zod: POST spending-like body', bareUrl, spending, sozialraeume)
    const recorded: string[] = []
    for (const target of targets) {
      const { service, url } = await startService(target)
      try {
        await setUpBudgets(service, [...sozialraeume, 'bench-one'])
        await scenario(rows, `${target.name}: POST spending, 20 budgets`, url, spending, sozialraeume)
        await scenario(rows, `${target.name}: POST spending, 1 budget`, url, spending, ['bench-one'])
        await scenario(rows, `${target.name}: GET /v1/budgets/Y/S`, url, budgetRead, sozialraeume)
        recorded.push(`${target.name}: ${await spendingsRecorded(service)}`)
      } finally {
        await service.close()
      }
      // PostgreSQL as several processes behind a load balancer run it.
      if (target.shared) await twoProcesses(rows, target, spending, sozialraeume)
    }
    const firstWrites = bigBudgets ? await budgetsOfFiveThousand(rows, dir, spending) : undefined

    process.stdout.write(`\n${table(rows)}\n\n`)
    for (const row of rows) if (row.cpu !== undefined) process.stdout.write(`${row.scenario}: ${row.cpu}\n`)
    process.stdout.write(
      `spendings recorded (warm-up included): ${recorded.join('; ')}; ` +
        `p50/p99 are autocannon's latency percentiles (for two processes, the worse of the two); req/s is the mean of its per-second samples\n`,
    )
    if (firstWrites) process.stdout.write(`${firstWrites.text}\n`)
    addToSummary(summaryRows(rows, firstWrites))
    return report(rows)
  } finally {
    await bare?.close()
    for (const target of targets) await target.cleanUp().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Writes to the 20 budgets of a seeded year (about 5,000 events each: commitments invoiced monthly,
 * spendings), on a service started cold on that store: the first write to each budget folds its
 * stream, then the write scenario runs on them.
 */
async function budgetsOfFiveThousand(
  rows: Row[],
  dir: string,
  template: autocannon.RequestTemplate,
): Promise<{ text: string; medianMs: number; maxMs: number; events: number }> {
  const target: Target = { name: 'sqlite', environment: { DATABASE_URL: `sqlite:${join(dir, 'big.db')}` }, shared: false, cleanUp: async () => {} }
  process.stderr.write('seeding 20 budgets of about 5,000 events each (a minute or two)\n')
  await seedStore(target, ['--sozialraeume', '20', '--years', '1', '--first-year', String(YEAR), '--commitments', '420', '--spendings', '400'])
  const { service, url } = await startService(target)
  try {
    const head = await service.store.headPosition()
    await service.runner.waitFor(head, 600_000)
    const sozialraeume = Array.from({ length: 20 }, (_, index) => sozialraumOf(index, undefined).id)
    const revisions: number[] = []
    const firstWrite: number[] = []
    for (const id of sozialraeume) {
      const started = performance.now()
      const allocated = await service.app.inject({
        method: 'POST',
        url: `/v1/budgets/${YEAR}/${id}/allocations`,
        payload: { line: 'flexible', amount: FLEXIBLE_ALLOCATION, decisionRef: 'bench' },
        headers: { authorization: AUTHORIZATION },
      })
      firstWrite.push(performance.now() - started)
      if (allocated.statusCode !== 201) throw new Error(`allocating ${id}: ${allocated.statusCode} ${allocated.body}`)
      revisions.push(Number(allocated.json<{ revision: string }>().revision))
    }
    await scenario(rows, `sqlite: POST spending, 20 budgets of ${Math.round(mean(revisions)).toLocaleString('en-US')} events`, url, template, sozialraeume)
    const sorted = [...firstWrite].sort((a, b) => a - b)
    const medianMs = sorted[Math.floor(sorted.length / 2)] ?? 0
    const maxMs = sorted.at(-1) ?? 0
    const text =
      `budgets of ${Math.min(...revisions)}–${Math.max(...revisions)} events, started cold: the first write to each took ` +
      `${medianMs.toFixed(1)} ms (median), ${maxMs.toFixed(1)} ms (max)`
    return { text, medianMs, maxMs, events: Math.round(mean(revisions)) }
  } finally {
    await service.close()
  }
}

const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)

/** Runs `sojus-ledger seed` on the target's store, as an operator would. */
async function seedStore(target: Target, args: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'seed', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...target.environment },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`sojus-ledger seed exited with ${code}`)
}

/** What the writes left behind: every 201 is a recorded spending (a few more may land after autocannon stops counting). */
async function spendingsRecorded(service: Service): Promise<number> {
  const head = await service.store.headPosition()
  const listed = await service.app.inject({
    method: 'GET',
    url: `/v1/budgets/${YEAR}?minPosition=${head}`,
    headers: { authorization: AUTHORIZATION },
  })
  const budgets = listed.json<{ items: { revision: string }[] }>()
  return budgets.items.reduce((sum, budget) => sum + Number(budget.revision), 0)
}

/** This bench's lines of the one table `npm run bench` prints, with issue 13's targets for SQLite's writes. */
function summaryRows(rows: readonly Row[], firstWrites: { medianMs: number; maxMs: number; events: number } | undefined): SummaryRow[] {
  const bare = rows[0]?.result.requests.average ?? 0
  const rate = (row: Row | undefined) => row?.result.requests.average ?? 0
  const newBudgets = rows.find((row) => row.scenario === 'sqlite: POST spending, 20 budgets')
  const summary = rows.map((row): SummaryRow => {
    const { average, total } = row.result.requests
    const ofBare = bare > 0 ? average / bare : 0
    const figure =
      `${average.toFixed(0)} req/s, p50 ${row.result.latency.p50} ms, p99 ${row.result.latency.p99} ms` +
      (row.writes && row !== rows[0] ? `, ${(100 * ofBare).toFixed(0)} % of bare` : '') +
      (total === 0 ? ' (nothing answered)' : '')
    const line: SummaryRow = { measure: `HTTP ${row.scenario}`, figure }
    if (row === newBudgets) {
      return { ...line, target: '≥ 10,000/s, ≥ 40 % of bare, p99 ≤ 20 ms', met: average >= 10_000 && ofBare >= 0.4 && row.result.latency.p99 <= 20 }
    }
    if (row.scenario === 'sqlite: POST spending, 1 budget') return { ...line, target: '≥ 5,000/s', met: average >= 5_000 }
    if (row.scenario.startsWith('sqlite: POST spending, 20 budgets of')) {
      const ofNew = rate(newBudgets) > 0 ? average / rate(newBudgets) : 0
      return { ...line, figure: `${figure}, ${(100 * ofNew).toFixed(0)} % of 20 new budgets`, target: 'within 10 % of new budgets', met: ofNew >= 0.9 }
    }
    return line
  })
  for (const row of [rows[0], newBudgets]) {
    if (row?.cpu !== undefined) summary.push({ measure: `HTTP ${row.scenario}, where the CPU went`, figure: row.cpu.replace(/^CPU per request: /, '') })
  }
  if (firstWrites) {
    summary.push({
      measure: `HTTP sqlite: first write to a budget of ${firstWrites.events.toLocaleString('en-US')} events after a cold start`,
      figure: `median ${firstWrites.medianMs.toFixed(0)} ms, max ${firstWrites.maxMs.toFixed(0)} ms`,
    })
  }
  return summary
}

function report(rows: Row[]): number {
  let failures = 0
  for (const { scenario: title, result } of rows) {
    const other = Object.entries(result.statusCodeStats).filter(([status]) => !status.startsWith('2'))
    if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
      failures++
      process.stdout.write(
        `NOT CLEAN: ${title}: ${result.non2xx} non-2xx ${JSON.stringify(Object.fromEntries(other))}, ` +
          `${result.errors} errors, ${result.timeouts} timeouts\n`,
      )
    }
  }
  return failures === 0 ? 0 : 1
}

process.exitCode = await main()

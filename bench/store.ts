/**
 * The embedded event store against Emmett's: appends the same events through Emmett's SQLite event
 * store (@event-driven-io/emmett-sqlite 0.38.5, on node-sqlite3) and through this project's
 * SqliteEventStore (src/eventstore/sqlite.ts, better-sqlite3, group commit), in the same run, and
 * prints one table: events per second and p50/p99 append latency, for
 *
 * (a) 32 concurrent appenders over 20 streams (`budget-<year>-<sozialraum>`), and
 * (b) serialised appends: one at a time, each awaited before the next.
 *
 * Each append is one SpendingRecorded-like event (about 300 bytes of JSON data, with the metadata
 * the service writes: actor, correlation, idempotency key, hash chain), expected version "any" (no
 * concurrency check: the concurrent appenders share streams). Both stores run in WAL mode with
 * synchronous=FULL; the table says what each store's connection reports. A failed append is
 * counted and its message shown, not thrown; the rows each file holds afterwards are counted too.
 * Every store gets a fresh file in a temp dir, removed at the end, and an untimed warm-up (one
 * append per stream: the schema and the streams exist before the clock starts).
 *
 * Emmett is not a dependency of the project (its peer uuid@^10 conflicts with our uuid@14): it
 * lives in bench/emmett (package.json and package-lock.json, pinned), and this script installs it
 * there with `npm ci --prefix bench/emmett` when bench/emmett/node_modules is missing. Its peer
 * sqlite3 builds from source (no prebuilt binary is downloaded here): the first run takes a few
 * minutes and needs python3, make and a C++ compiler.
 *
 *   npx tsx bench/store.ts                                  # about 2 minutes (more on the first run)
 *   BENCH_STORE_APPENDS=50000 npx tsx bench/store.ts        # more concurrent appends
 *
 * Other knobs: BENCH_STORE_APPENDS (10,000 concurrent appends per store), BENCH_STORE_SERIAL_APPENDS
 * (1,000), BENCH_STORE_APPENDERS (32), BENCH_STORE_STREAMS (20), BENCH_STORE_MAX_SECONDS (60: a
 * scenario starts no new append after that; Emmett's concurrent one needs it, its failing appends
 * take seconds each), BENCH_STORE_TIMEOUT_MS (30,000: an append not answered by then counts as
 * failed). To install Emmett again: rm -rf bench/emmett/node_modules.
 */
import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { addToSummary, wholeNumberFromEnvironment } from './common.js'

const CONCURRENT_APPENDS = wholeNumberFromEnvironment('BENCH_STORE_APPENDS', 10_000, 100, 1_000_000)
const SERIAL_APPENDS = wholeNumberFromEnvironment('BENCH_STORE_SERIAL_APPENDS', 1_000, 10, 1_000_000)
const APPENDERS = wholeNumberFromEnvironment('BENCH_STORE_APPENDERS', 32, 2, 1_000)
const STREAMS = wholeNumberFromEnvironment('BENCH_STORE_STREAMS', 20, 1, 10_000)
const TIMEOUT_MS = wholeNumberFromEnvironment('BENCH_STORE_TIMEOUT_MS', 30_000, 100, 3_600_000)
const MAX_SECONDS = wholeNumberFromEnvironment('BENCH_STORE_MAX_SECONDS', 60, 1, 86_400)

const EMMETT_DIR = fileURLToPath(new URL('./emmett/', import.meta.url))
const EMMETT_SQLITE = '@event-driven-io/emmett-sqlite'

// ---------------------------------------------------------------------------------------------
// Emmett, installed on demand in bench/emmett and imported from there

/** The part of Emmett's SQLite store this bench uses (its index.d.ts: getSQLiteEventStore, appendToStream). */
interface EmmettEvent {
  type: string
  data: Record<string, unknown>
  metadata: Record<string, unknown>
}
interface EmmettSqliteEventStore {
  appendToStream(
    streamName: string,
    events: EmmettEvent[],
    options?: { expectedStreamVersion?: bigint | 'STREAM_EXISTS' | 'STREAM_DOES_NOT_EXIST' | 'NO_CONCURRENCY_CHECK' },
  ): Promise<{ nextExpectedStreamVersion: bigint; lastEventGlobalPosition: bigint; createdNewStream: boolean }>
}
interface EmmettSqliteConnection {
  close(): void
  querySingle<T>(sql: string, values?: unknown[]): Promise<T | null>
}
interface EmmettSqliteModule {
  getSQLiteEventStore(options: { fileName: string }): EmmettSqliteEventStore
  sqliteConnection(options: { fileName: string }): EmmettSqliteConnection
}
interface EmmettModule {
  NO_CONCURRENCY_CHECK: 'NO_CONCURRENCY_CHECK'
}

function installEmmett(): void {
  if (existsSync(join(EMMETT_DIR, 'node_modules'))) return
  process.stderr.write(`bench/store: installing Emmett in ${EMMETT_DIR} (npm ci; sqlite3 builds from source, a few minutes)…\n`)
  const started = performance.now()
  // npm's output goes to stderr: stdout holds the table only.
  const result = spawnSync('npm', ['ci', '--prefix', EMMETT_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] })
  if (result.error) throw new Error(`could not run npm ci in ${EMMETT_DIR}: ${result.error.message}`)
  if (result.status !== 0) {
    rmSync(join(EMMETT_DIR, 'node_modules'), { recursive: true, force: true })
    throw new Error(`npm ci --prefix ${EMMETT_DIR} failed (exit ${result.status ?? result.signal}); see its output above`)
  }
  process.stderr.write(`bench/store: Emmett installed in ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
}

/** The ES module entry of a package installed in bench/emmett (package.json exports["."].import). */
function esmEntry(packageName: string): string {
  const directory = join(EMMETT_DIR, 'node_modules', ...packageName.split('/'))
  const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
    version: string
    exports?: { '.'?: { import?: string | { default?: string } } }
    module?: string
    main?: string
  }
  const imported = manifest.exports?.['.']?.import
  const entry = (typeof imported === 'string' ? imported : imported?.default) ?? manifest.module ?? manifest.main
  if (!entry) throw new Error(`${packageName} in ${directory} names no entry point`)
  return pathToFileURL(join(directory, entry)).href
}

function installedVersion(packageName: string): string {
  const path = join(EMMETT_DIR, 'node_modules', ...packageName.split('/'), 'package.json')
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
}

async function loadEmmett(): Promise<{ sqlite: EmmettSqliteModule; core: EmmettModule; versions: string }> {
  installEmmett()
  const binding = join(EMMETT_DIR, 'node_modules', 'sqlite3', 'build', 'Release', 'node_sqlite3.node')
  if (!existsSync(binding)) {
    throw new Error(
      `sqlite3's native module was not built (${binding} is missing): its install script did not run or failed. ` +
        'Remove bench/emmett/node_modules and run again, and check the compiler output of npm ci.',
    )
  }
  const sqlite = (await import(esmEntry(EMMETT_SQLITE))) as EmmettSqliteModule
  const core = (await import(esmEntry('@event-driven-io/emmett'))) as EmmettModule
  const versions = `emmett-sqlite ${installedVersion(EMMETT_SQLITE)}, emmett ${installedVersion('@event-driven-io/emmett')}, sqlite3 ${installedVersion('sqlite3')}`
  return { sqlite, core, versions }
}

// ---------------------------------------------------------------------------------------------
// The events: SpendingRecorded as the service writes it

interface BenchEvent {
  id: string
  type: string
  data: Record<string, unknown>
  metadata: Record<string, unknown>
}

const YEAR = 2026
const streamNames = Array.from({ length: STREAMS }, (_, index) => `budget-${YEAR}-sozialraum-${String(index + 1).padStart(2, '0')}`)
const PURPOSES = [
  'Ferienfreizeit Jugendtreff Nord: Busanmietung, Eintritt Kletterhalle und Verpflegung für 14 Teilnehmende',
  'Gruppenangebot Mädchenarbeit: Materialkosten Werkstatt (Holz, Farben, Werkzeugverschleiß) Quartal II',
  'Honorar Honorarkraft Sprachförderung, 12 Termine à 90 Minuten, Stadtteilzentrum am Markt',
]
const hex64 = (): string => randomBytes(32).toString('hex')

function spendingRecorded(index: number): BenchEvent {
  const sozialraum = `sozialraum-${String((index % STREAMS) + 1).padStart(2, '0')}`
  const idempotencyKey = randomUUID()
  return {
    id: randomUUID(),
    type: 'SpendingRecorded',
    data: {
      year: YEAR,
      sozialraum,
      spendingId: randomUUID(),
      amountCents: 1_000 + ((index * 7_919) % 250_000),
      purpose: PURPOSES[index % PURPOSES.length],
      category: 'sachkosten',
      receiptRef: `RE-${YEAR}-${String(index).padStart(6, '0')}`,
      date: `${YEAR}-${String((index % 12) + 1).padStart(2, '0')}-${String((index % 28) + 1).padStart(2, '0')}`,
    },
    metadata: {
      schemaVersion: 1,
      actor: { sub: 'finance-officer-7', role: 'finance' },
      recordedAt: new Date(Date.UTC(YEAR, 0, 1) + index * 60_000).toISOString(),
      correlationId: randomUUID(),
      causationId: randomUUID(),
      idempotencyKey,
      requestHash: hex64(),
      previousHash: hex64(),
      hash: hex64(),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The stores behind one interface

interface StoreUnderTest {
  name: string
  /** What the store's connection says about its durability, once it has appended. */
  durability(): Promise<string>
  append(streamName: string, event: BenchEvent): Promise<unknown>
  /** Rows in the store's events table. */
  storedEvents(): number
  close(): Promise<void>
}

function countRows(path: string, table: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n)
  } finally {
    db.close()
  }
}

const SYNCHRONOUS = ['OFF', 'NORMAL', 'FULL', 'EXTRA']
const describeSync = (journal: unknown, synchronous: unknown): string =>
  `journal_mode=${String(journal)}, synchronous=${SYNCHRONOUS[Number(synchronous)] ?? String(synchronous)}`

function openProjectStore(path: string): StoreUnderTest {
  const store = new SqliteEventStore(path)
  return {
    name: 'SqliteEventStore',
    durability: async () => {
      // synchronous is a property of the connection: ask the store's own (a private field).
      const db = (store as unknown as { db?: Database.Database }).db
      if (!db || typeof db.pragma !== 'function') return 'WAL, synchronous=FULL (as src/eventstore/sqlite.ts sets them)'
      return describeSync(db.pragma('journal_mode', { simple: true }), db.pragma('synchronous', { simple: true }))
    },
    append: (streamName, event) => store.append(streamName, [{ id: event.id, type: event.type, data: event.data, metadata: event.metadata }], 'any'),
    storedEvents: () => countRows(path, 'events'),
    close: () => store.close(),
  }
}

function openEmmettStore(emmett: { sqlite: EmmettSqliteModule; core: EmmettModule }, path: string): StoreUnderTest {
  const store = emmett.sqlite.getSQLiteEventStore({ fileName: path })
  const noCheck = emmett.core.NO_CONCURRENCY_CHECK
  return {
    name: 'Emmett SQLite',
    durability: async () => {
      // Emmett opens a connection per operation and sets journal_mode=WAL on it, nothing else; its
      // options have no durability setting. Ask a connection opened the same way.
      const connection = emmett.sqlite.sqliteConnection({ fileName: path })
      try {
        const journal = await connection.querySingle<{ journal_mode: string }>('PRAGMA journal_mode')
        const synchronous = await connection.querySingle<{ synchronous: number }>('PRAGMA synchronous')
        return `${describeSync(journal?.journal_mode, synchronous?.synchronous)} (SQLite's default; Emmett has no option)`
      } finally {
        connection.close()
      }
    },
    // Emmett assigns its own message id; the event is otherwise the same.
    append: (streamName, event) =>
      store.appendToStream(streamName, [{ type: event.type, data: event.data, metadata: event.metadata }], { expectedStreamVersion: noCheck }),
    storedEvents: () => countRows(path, 'emt_messages'),
    // Emmett's store has no close: it closes its connection after each operation.
    close: async () => {},
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Outcome {
  store: string
  scenario: string
  appends: number
  /** Appends started: fewer than `appends` when the time budget ran out. */
  attempted: number
  ok: number
  failed: number
  seconds: number
  latenciesMs: number[]
  errors: Map<string, number>
  /** Rows the file holds afterwards, less the warm-up's. */
  stored: number
}

/** Messages printed or thrown out of band while a store runs (Emmett's console.log of errors, 'error' events). */
interface OutOfBand {
  logged: number
  uncaught: Map<string, number>
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code
    const message = error.message.replace(/\s+/g, ' ').slice(0, 140)
    return `${error.name}${typeof code === 'string' && !message.includes(code) ? ` ${code}` : ''}: ${message}`
  }
  return String(error)
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function run(store: StoreUnderTest, scenario: string, events: readonly BenchEvent[], appenders: number, warmedUp: number): Promise<Outcome> {
  const latenciesMs: number[] = []
  const errors = new Map<string, number>()
  let next = 0
  let failed = 0
  // Past the time budget no appender starts another append (Emmett's failing appends take seconds).
  const deadline = performance.now() + MAX_SECONDS * 1000
  const appender = async (): Promise<void> => {
    for (let index = next++; index < events.length && performance.now() < deadline; index = next++) {
      const event = events[index]!
      const streamName = streamNames[index % streamNames.length]!
      const started = performance.now()
      try {
        await withTimeout(store.append(streamName, event))
        latenciesMs.push(performance.now() - started)
      } catch (error) {
        failed += 1
        const message = describeError(error)
        errors.set(message, (errors.get(message) ?? 0) + 1)
      }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: appenders }, appender))
  const seconds = (performance.now() - started) / 1000
  return {
    store: store.name,
    scenario,
    appends: events.length,
    attempted: latenciesMs.length + failed,
    ok: latenciesMs.length,
    failed,
    seconds,
    latenciesMs,
    errors,
    stored: store.storedEvents() - warmedUp,
  }
}

/** One append per stream, each tried up to three times (Emmett fails now and then even serially). */
async function warmUp(store: StoreUnderTest): Promise<void> {
  for (const [index, streamName] of streamNames.entries()) {
    for (let attempt = 1; ; attempt++) {
      try {
        await withTimeout(store.append(streamName, spendingRecorded(index)))
        break
      } catch (error) {
        if (attempt === 3) throw new Error(`${store.name}: the warm-up append to ${streamName} failed 3 times: ${describeError(error)}`)
      }
    }
  }
}

/** Runs one store on a fresh file; Emmett's out-of-band output is caught and counted, not printed. */
async function measure(
  open: (path: string) => StoreUnderTest,
  directory: string,
  label: string,
  scenario: string,
  events: readonly BenchEvent[],
  appenders: number,
  outOfBand: OutOfBand,
): Promise<{ outcome: Outcome; durability: string }> {
  const path = join(directory, `${label}.db`)
  const log = console.log
  const onUncaught = (error: unknown): void => {
    const message = describeError(error)
    outOfBand.uncaught.set(message, (outOfBand.uncaught.get(message) ?? 0) + 1)
  }
  console.log = () => {
    outOfBand.logged += 1
  }
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
  const store = open(path)
  try {
    await warmUp(store)
    const warmedUp = store.storedEvents()
    const outcome = await run(store, scenario, events, appenders, warmedUp)
    // Let late callbacks of a failed run land while the handlers still catch them.
    await new Promise((resolve) => setTimeout(resolve, 200))
    return { outcome, durability: await store.durability() }
  } finally {
    await store.close()
    console.log = log
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onUncaught)
  }
}

function percentile(sorted: readonly number[], fraction: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]
}

function perSecond(count: number, seconds: number): string {
  const rate = count / seconds
  return rate < 10 ? rate.toFixed(1) : Math.round(rate).toLocaleString('en-US')
}

function formatRow(outcome: Outcome): string[] {
  const sorted = [...outcome.latenciesMs].sort((a, b) => a - b)
  const ms = (value: number | undefined): string => (value === undefined ? '–' : value.toFixed(value < 10 ? 2 : 1))
  return [
    outcome.scenario,
    outcome.store,
    `${outcome.ok}/${outcome.attempted}${outcome.attempted < outcome.appends ? '*' : ''}`,
    outcome.seconds.toFixed(1),
    perSecond(outcome.ok, outcome.seconds),
    ms(percentile(sorted, 0.5)),
    ms(percentile(sorted, 0.99)),
    String(outcome.stored),
    String(outcome.failed),
  ]
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((cell, column) => (column >= 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')
  return [line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...rows.map(line)].join('\n')
}

/** Every distinct failure message of a run, most frequent first. */
function failureLines(outcome: Outcome): string[] {
  return [...outcome.errors.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([message, count]) => `  ${outcome.store}, ${outcome.scenario}: ${count}× ${message}`)
}

async function main(): Promise<void> {
  const emmett = await loadEmmett()
  const directory = mkdtempSync(join(tmpdir(), 'sojus-store-bench-'))
  try {
    const TMPFS = 0x01021994
    const onTmpfs = statfsSync(directory).type === TMPFS
    const concurrentEvents = Array.from({ length: CONCURRENT_APPENDS }, (_, index) => spendingRecorded(index))
    const serialEvents = Array.from({ length: SERIAL_APPENDS }, (_, index) => spendingRecorded(index))
    const sample = concurrentEvents[0]!
    const scenarios = [
      { scenario: `(a) ${APPENDERS} concurrent`, events: concurrentEvents, appenders: APPENDERS },
      { scenario: '(b) serialised', events: serialEvents, appenders: 1 },
    ]
    const stores = [
      { label: 'emmett', open: (path: string) => openEmmettStore(emmett, path) },
      { label: 'sojus', open: openProjectStore },
    ]
    const rows: string[][] = []
    const failures: string[] = []
    const outcomes: Outcome[] = []
    const durability = new Map<string, string>()
    const outOfBand = new Map<string, OutOfBand>()
    for (const [index, { scenario, events, appenders }] of scenarios.entries()) {
      for (const { label, open } of stores) {
        const caught: OutOfBand = { logged: 0, uncaught: new Map() }
        process.stderr.write(`bench/store: ${label}, ${scenario}…\n`)
        const { outcome, durability: setting } = await measure(open, directory, `${label}-${index}`, scenario, events, appenders, caught)
        outcomes.push(outcome)
        rows.push(formatRow(outcome))
        failures.push(...failureLines(outcome))
        durability.set(outcome.store, setting)
        const seen = outOfBand.get(outcome.store) ?? { logged: 0, uncaught: new Map<string, number>() }
        seen.logged += caught.logged
        for (const [message, count] of caught.uncaught) seen.uncaught.set(message, (seen.uncaught.get(message) ?? 0) + count)
        outOfBand.set(outcome.store, seen)
      }
    }

    const out: string[] = []
    out.push(
      `Event store append benchmark: ${CONCURRENT_APPENDS.toLocaleString('en-US')} appends with ${APPENDERS} concurrent appenders, ` +
        `${SERIAL_APPENDS.toLocaleString('en-US')} serialised; ${STREAMS} streams; 1 event per append, expected version any`,
    )
    out.push(
      `Event: ${sample.type}, data ${JSON.stringify(sample.data).length} B + metadata ${JSON.stringify(sample.metadata).length} B of JSON; ` +
        `fresh file per store and scenario in ${directory}${onTmpfs ? ' (tmpfs: fsync is free, durability costs nothing here)' : ''}; ` +
        `untimed warm-up of ${STREAMS} appends each`,
    )
    out.push(`Node ${process.version}; Emmett: ${emmett.versions}; SqliteEventStore: better-sqlite3 ${betterSqliteVersion()}`)
    for (const [store, setting] of durability) out.push(`Durability, ${store}: ${setting}`)
    out.push('')
    out.push(table(['scenario', 'store', 'ok/tried', 'wall s', 'events/s', 'p50 ms', 'p99 ms', 'stored', 'failed'], rows))
    out.push('')
    out.push('events/s: acknowledged events over the wall time of the scenario; p50/p99: latency of acknowledged appends;')
    out.push('stored: rows the file holds afterwards, without the warm-up (should equal ok).')
    for (const outcome of outcomes) {
      if (outcome.attempted < outcome.appends) {
        out.push(`* ${outcome.store}, ${outcome.scenario}: stopped at the time budget (BENCH_STORE_MAX_SECONDS=${MAX_SECONDS}) after ${outcome.attempted} of ${outcome.appends} appends.`)
      }
      if (outcome.stored !== outcome.ok) {
        out.push(`${outcome.store}, ${outcome.scenario}: ${outcome.ok} appends acknowledged, but the file holds ${outcome.stored} events beyond the warm-up (counted after the run).`)
      }
    }
    if (failures.length > 0) out.push('Failed appends, by message:', ...failures)
    for (const [store, caught] of outOfBand) {
      if (caught.logged > 0) out.push(`${store} printed ${caught.logged} line(s) with console.log (its withTransaction logs every error it rethrows); suppressed.`)
      for (const [message, count] of caught.uncaught) out.push(`${store}: ${count}× uncaught out of band (no caller to reject): ${message}`)
    }
    console.log(out.join('\n'))
    addToSummary(
      outcomes.map((outcome) => {
        const [, , okOfTried, , perSecondText, p50, p99, stored] = formatRow(outcome)
        return {
          measure: `store appends, ${outcome.scenario}: ${outcome.store}`,
          figure: `${perSecondText} events/s, ${okOfTried} acknowledged of tried, ${stored} stored, p50 ${p50} ms, p99 ${p99} ms`,
        }
      }),
    )
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

function betterSqliteVersion(): string {
  const path = fileURLToPath(new URL('../node_modules/better-sqlite3/package.json', import.meta.url))
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
  } catch {
    return '(version unknown)'
  }
}

await main()

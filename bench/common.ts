import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { DEFAULT_SEED_OPTIONS, type SeedOptions } from '../src/cli/seed.js'

/** What the benchmarks share: their knobs from the environment, how they print, the seed's size. */

/** A whole number from the environment for a bench's knob: `fallback` when unset, refused outside [min, max]. */
export function wholeNumberFromEnvironment(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`)
  }
  return value
}

/** Prints measures as a two-column table: what was measured, and its figure. */
export function printMeasures(rows: ReadonlyArray<{ measure: string; value: string }>): void {
  const width = Math.max(...rows.map((row) => row.measure.length))
  const line = `${'-'.repeat(width + 2)}+${'-'.repeat(Math.max(...rows.map((row) => row.value.length)) + 2)}`
  process.stdout.write(`\n${line}\n`)
  for (const row of rows) process.stdout.write(` ${row.measure.padEnd(width)} | ${row.value}\n`)
  process.stdout.write(`${line}\n`)
}

/** One line of the table `npm run bench` prints at its end (bench/all.ts): a figure, and the target issue 13 sets for it, if any. */
export interface SummaryRow {
  measure: string
  figure: string
  target?: string
  met?: boolean
}

/** Adds rows to the run's one table, in the file BENCH_SUMMARY names (bench/all.ts sets it); nothing when a bench runs alone. */
export function addToSummary(rows: readonly SummaryRow[]): void {
  const file = process.env.BENCH_SUMMARY
  if (file === undefined || file === '') return
  appendFileSync(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(''))
}

/** The rows the benches added to the file, as one Markdown table: measure, figure, target, and ✓ or ✗ where there is a target. */
export function summaryTable(file: string): string {
  const text = readFileSync(file, { encoding: 'utf8', flag: 'a+' })
  const rows = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SummaryRow)
  const cells = rows.map((row) => [row.measure, row.figure, row.target ?? '', row.met === undefined ? '' : row.met ? '✓' : '✗'])
  const header = ['measure', 'figure', 'target (issue 13)', 'met']
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => (row[column] ?? '').length)))
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...cells.map(line)].join('\n')
}

/** CPU time of each thread of this process so far (by `id@start`), in clock ticks (1/100 s), from Linux's /proc; empty elsewhere. */
export function threadTicks(): Map<string, number> {
  const ticks = new Map<string, number>()
  let threads: string[]
  try {
    threads = readdirSync('/proc/self/task')
  } catch {
    return ticks
  }
  for (const tid of threads) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      // utime and stime, the 14th and 15th fields, and the start time, the 22nd; the 2nd, the name,
      // may hold spaces. A thread is its id and start time: Linux gives an ended thread's id again.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks.set(`${tid}@${fields[19]}`, Number(fields[11]) + Number(fields[12]))
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ticks
}

/** The CPU this process has spent so far: each living thread's (threadTicks), and all of it, ended threads' included. */
export interface CpuSnapshot {
  threads: Map<string, number>
  /** User and system time of the whole process, in µs: it keeps the time of threads that have ended. */
  processMicros: number
}

export function cpuSnapshot(): CpuSnapshot {
  const { user, system } = process.cpuUsage()
  return { threads: threadTicks(), processMicros: user + system }
}

/**
 * Where the CPU of a measured run went, per request, by kind of thread: the event loop (the main
 * thread), the service's own threads (those started since `service`: the SQLite writer, the
 * projections), the runtime's helpers that were there all along (V8's compiler and garbage
 * collector, libuv's pool), and the load generator: the rest of the process's time, spent by
 * autocannon's worker, which may have ended before `after` was taken (and any other thread that
 * started or ended during the run). On the machine's cores their sum bounds the requests per
 * second.
 */
export function cpuPerRequest(service: CpuSnapshot, before: CpuSnapshot, after: CpuSnapshot, requests: number): string {
  if (requests === 0 || before.threads.size === 0) return 'CPU per request: not measured'
  const main = `${process.pid}@`
  const sums = { loop: 0, service: 0, runtime: 0 }
  /** Each of the service's threads, in the order they started (the SQLite writer before the projections). */
  const serviceThreads: number[] = []
  const byStart = [...after.threads].sort(([a], [b]) => Number(a.split('@')[1]) - Number(b.split('@')[1]))
  for (const [thread, now] of byStart) {
    const spent = now - (before.threads.get(thread) ?? 0)
    if (thread.startsWith(main)) sums.loop += spent
    else if (!before.threads.has(thread)) continue // the load generator's: counted in the rest
    else if (!service.threads.has(thread)) {
      sums.service += spent
      if (spent > 0) serviceThreads.push(spent)
    } else sums.runtime += spent
  }
  // A clock tick of /proc is 1/100 s (USER_HZ, 100 on Linux's usual builds): 10,000 µs.
  const micros = (ticks: number) => Math.round((ticks * 10_000) / requests)
  const total = Math.round((after.processMicros - before.processMicros) / requests)
  const load = Math.max(0, total - micros(sums.loop + sums.service + sums.runtime))
  const cores = availableParallelism()
  const each = serviceThreads.length > 1 ? ` (${serviceThreads.map(micros).join(' + ')})` : ''
  return (
    `CPU per request: event loop ${micros(sums.loop)} µs, service threads ${micros(sums.service)} µs${each}, ` +
    `runtime helpers ${micros(sums.runtime)} µs, load generator ${load} µs; ` +
    `in all ${total} µs, which ${cores} cores could give ${Math.round((cores * 1_000_000) / Math.max(1, total))} times a second`
  )
}

/** About how many events a budget of the seed's defaults holds: what scales a seed to a count of events. */
const EVENTS_PER_DEFAULT_BUDGET = 5_000

/** The seed's options for about `events` events over `sozialraeume` × `years` budgets. */
export function seedOptionsFor(
  events: number,
  shape: { sozialraeume: number; years: number; seed?: string; fourEyesThresholdCents: bigint },
): SeedOptions {
  const scale = events / (shape.sozialraeume * shape.years * EVENTS_PER_DEFAULT_BUDGET)
  return {
    ...DEFAULT_SEED_OPTIONS,
    sozialraeume: shape.sozialraeume,
    years: shape.years,
    seed: shape.seed ?? DEFAULT_SEED_OPTIONS.seed,
    commitments: Math.max(1, Math.round(DEFAULT_SEED_OPTIONS.commitments * scale)),
    spendings: Math.max(1, Math.round(DEFAULT_SEED_OPTIONS.spendings * scale)),
    policy: { fourEyesThresholdCents: shape.fourEyesThresholdCents },
  }
}

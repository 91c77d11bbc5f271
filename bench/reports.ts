/**
 * The controlling reports on a year of 20 Sozialräume × 400 commitments × about 12 invoices
 * (docs/reports.md): seeds a fresh SQLite store through the deciders (src/cli/seed.ts, two
 * years, so that the comparison has a previous year), starts the service on it, waits for the
 * projections to catch up, then times every report over HTTP (app.inject, a finance token, one
 * request at a time), as JSON and as CSV, and prints median and p95 per report.
 *
 *   npx tsx bench/reports.ts             # also the last step of `npm run bench`
 *
 * Knobs: BENCH_REPORTS_SOZIALRAEUME (20), BENCH_REPORTS_COMMITMENTS (400 per budget),
 * BENCH_REPORTS_SPENDINGS (1000 per budget), BENCH_REPORTS_CALLS (50 per report and format),
 * BENCH_REPORTS_AS_OF (the forecast's date, 2025-06-30). Not a test: it prints, it asserts
 * nothing but that every answer is 200. The seed writes whole years, so at their end nearly every
 * commitment is closed; the rows marked "(all open)" are a worst case measured after the bench
 * changed its throwaway read model by hand so that every commitment of the year is open.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { signToken } from '../src/auth/tokens.js'
import { DEFAULT_SEED_OPTIONS, seedLedger } from '../src/cli/seed.js'
import { parseConfig } from '../src/config.js'
import { openService, openStores } from '../src/service.js'
import { wholeNumberFromEnvironment } from './common.js'

const SOZIALRAEUME = wholeNumberFromEnvironment('BENCH_REPORTS_SOZIALRAEUME', 20, 1, 500)
const COMMITMENTS = wholeNumberFromEnvironment('BENCH_REPORTS_COMMITMENTS', 400, 1, 2000)
const SPENDINGS = wholeNumberFromEnvironment('BENCH_REPORTS_SPENDINGS', 1000, 0, 5000)
const CALLS = wholeNumberFromEnvironment('BENCH_REPORTS_CALLS', 50, 5, 10_000)
const FIRST_YEAR = 2024
const YEAR = 2025
const AS_OF = process.env.BENCH_REPORTS_AS_OF || `${YEAR}-06-30`
const REPORTS = ['over-budget-commitments', 'monitoring', 'forecast', 'providers', 'help-types', 'comparison', 'monthly', 'stale-commitments']
const TAKES_AS_OF = new Set(['monitoring', 'forecast', 'stale-commitments'])

const count = (value: number): string => value.toLocaleString('en-US')
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-bench-reports-'))
  const secret = randomBytes(32).toString('hex')
  const config = parseConfig({ DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: secret, RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent' })
  process.stderr.write(`bench:reports: ${SOZIALRAEUME} Sozialräume × ${COMMITMENTS} commitments × ~12 invoices, years ${FIRST_YEAR}–${YEAR}, in ${dir}\n`)
  try {
    const stores = await openStores(config, 'bench-seed')
    let seeded
    try {
      seeded = await seedLedger(stores.store, {
        ...DEFAULT_SEED_OPTIONS,
        sozialraeume: SOZIALRAEUME,
        years: YEAR - FIRST_YEAR + 1,
        firstYear: FIRST_YEAR,
        commitments: COMMITMENTS,
        spendings: SPENDINGS,
        policy: { fourEyesThresholdCents: config.fourEyesThresholdCents },
        onProgress: ({ events }) => process.stderr.write(`\r  seeding: ${count(events)} events   `),
      })
    } finally {
      await stores.close()
    }
    process.stderr.write(`\n  seeded ${count(seeded.events)} events in ${(seeded.elapsedMs / 1000).toFixed(1)} s\n`)

    const catchUpStarted = performance.now()
    const service = await openService(config, pino({ level: 'silent' }))
    try {
      const head = await service.store.headPosition()
      if (!(await service.runner.waitFor(head, 3_600_000))) throw new Error('the projections did not catch up')
      process.stderr.write(`  projections caught up in ${((performance.now() - catchUpStarted) / 1000).toFixed(1)} s\n`)
      const [shape] = await service.db.query<{ commitments: number; open: number; invoices: number }>(
        `SELECT COUNT(*) AS commitments, SUM(CASE WHEN status IN ('open', 'requested') THEN 1 ELSE 0 END) AS open,
           (SELECT COUNT(*) FROM commitment_invoices WHERE year = ?) AS invoices
         FROM commitments WHERE year = ?`,
        [YEAR, YEAR],
      )
      const token = await signToken(secret, { sub: 'bench-finance', role: 'finance' }, '1h')
      const rows: string[][] = []
      const measure = async (reports: readonly string[], label = '') => {
        for (const name of reports) {
          for (const format of ['json', 'csv'] as const) {
            if (name === 'over-budget-commitments' && format === 'csv') continue
            const query = [TAKES_AS_OF.has(name) ? `asOf=${AS_OF}` : '', format === 'csv' ? 'format=csv' : ''].filter(Boolean).join('&')
            const url = `/v1/reports/${YEAR}/${name}${query === '' ? '' : `?${query}`}`
            const times: number[] = []
            let bytes = 0
            for (let call = 0; call < CALLS + 3; call++) {
              const started = performance.now()
              const response = await service.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })
              const ms = performance.now() - started
              if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body.slice(0, 300)}`)
              bytes = response.rawPayload.length
              if (call >= 3) times.push(ms) // the first calls warm up statements and code
            }
            times.sort((a, b) => a - b)
            rows.push([`${name}${label}`, format, quantile(times, 0.5).toFixed(1), quantile(times, 0.95).toFixed(1), (times[times.length - 1] ?? 0).toFixed(1), count(bytes)])
          }
        }
      }
      await measure(REPORTS)
      // The seed writes whole years, so by its end nearly every commitment is closed. The forecast
      // and the stale list cost most with every commitment open: a worst case, made by changing
      // the throwaway read model by hand (half of each commitment invoiced, nothing released).
      await service.runner.stop()
      await service.db.transaction([
        {
          sql: `UPDATE commitments SET status = 'open', invoiced_cents = invoiced_cents / 2, released_cents = 0, carried_cents = 0
                WHERE year = ? AND status <> 'rejected'`,
          params: [YEAR],
        },
      ])
      await measure(['monitoring', 'forecast', 'providers', 'stale-commitments'], ' (all open)')
      const headers = ['report', 'format', 'median ms', 'p95 ms', 'max ms', 'bytes']
      const widths = headers.map((header, index) => Math.max(header.length, ...rows.map((row) => (row[index] ?? '').length)))
      const line = (cells: string[]) => `| ${cells.map((cell, index) => (index < 2 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0))).join(' | ')} |`
      process.stdout.write(
        `\nreports of ${YEAR}: ${count(Number(shape?.commitments ?? 0))} commitments (${count(Number(shape?.open ?? 0))} open or requested), ` +
          `${count(Number(shape?.invoices ?? 0))} invoices; ${CALLS} calls each, one at a time, asOf ${AS_OF}\n\n`,
      )
      process.stdout.write(`${line(headers)}\n|${widths.map((width, index) => (index < 2 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|\n`)
      for (const row of rows) process.stdout.write(`${line(row)}\n`)
    } finally {
      await service.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})

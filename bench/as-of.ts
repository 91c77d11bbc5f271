/**
 * Latency of the auditor's as-of balances (`GET /v1/audit/balances`, ReadModels.budgetsAsOf) on
 * a realistic history: 20 Sozialräume × 10 years, 100,000 budget events per year, 1,000,000 in
 * all (docs: "a realistic history for load tests"). The events are synthetic but valid (a few
 * hundred commitments per budget and year, invoiced monthly, flexible spending, now and then an
 * amendment, a release, a reversal, an over-budget commitment approved); they are fed straight
 * through the balance-history projection into a fresh SQLite read-model database, one transaction
 * per batch as the runner does, so the bench also shows what the projection costs per event.
 *
 *   npx tsx bench/as-of.ts                 # 10 years × 100,000 events, 200 calls per scenario
 *   AS_OF_YEARS=2 AS_OF_EVENTS_PER_YEAR=20000 npx tsx bench/as-of.ts   # smaller
 *   AS_OF_CALLS=1000 AS_OF_KEEP=1 npx tsx bench/as-of.ts             # more calls; keep the file
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { balanceHistoryProjection } from '../projections/balance-history.js'
import { budgetStreamId, type StoredEvent } from '../src/application/stored-event.js'
import { EVENT_VERSIONS, type BudgetEvent, type EventMetadata, type Line } from '../src/domain/events.js'
import { ReadModels, type LedgerMoment } from '../src/readmodels/queries.js'
import { loadMigrations, migrate } from '../src/sql/migrate.js'
import type { Statement } from '../src/sql/port.js'
import { SqliteDatabase } from '../src/sql/sqlite.js'
import { wholeNumberFromEnvironment } from './common.js'

const YEAR_COUNT = wholeNumberFromEnvironment('AS_OF_YEARS', 10, 1, 50)
const EVENTS_PER_YEAR = wholeNumberFromEnvironment('AS_OF_EVENTS_PER_YEAR', 100_000, 100, 1_000_000)
const CALLS = wholeNumberFromEnvironment('AS_OF_CALLS', 200, 10, 100_000)
const SOZIALRAUM_COUNT = 20
const FIRST_YEAR = 2016
/** Events applied per transaction, as the projection runner's default batch. */
const BATCH_SIZE = 500
/** The latency the issue asks for. */
const BUDGET_MS = 500

/** A small seeded generator (mulberry32): the same history on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
const next = random(20_130_603)
const between = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))

interface OpenCommitment {
  id: string
  line: Line
  remainingCents: number
  monthlyCents: number
  requested: boolean
}

/** One budget's history as a small state machine: what it may do next, by the domain's rules. */
class BudgetGenerator {
  private revision = -1n
  private readonly open: OpenCommitment[] = []
  private readonly spendings: Array<{ id: string; cents: number }> = []
  private availableCents = { ambulatory: 0, flexible: 0 }

  constructor(
    readonly year: number,
    readonly sozialraum: string,
  ) {}

  nextEvent(): { event: BudgetEvent; revision: bigint } {
    this.revision += 1n
    return { event: this.decide(), revision: this.revision }
  }

  private decide(): BudgetEvent {
    const key = { year: this.year, sozialraum: this.sozialraum }
    if (this.revision === 0n) return this.allocate('ambulatory', between(150_000_000, 300_000_000))
    if (this.revision === 1n) return this.allocate('flexible', between(5_000_000, 15_000_000))
    const roll = next()
    const waiting = this.open.find((commitment) => commitment.requested)
    if (waiting !== undefined && roll < 0.3) {
      waiting.requested = false
      return { type: 'CommitmentApproved', data: { ...key, commitmentId: waiting.id, line: waiting.line } }
    }
    if (roll < 0.07 || this.open.length < 5) return this.commit()
    if (roll < 0.08) return this.allocate('ambulatory', between(1_000_000, 5_000_000))
    if (roll < 0.09) return this.release()
    if (roll < 0.1) return this.amend()
    if (roll < 0.34) return this.spend()
    if (roll < 0.35 && this.spendings.length > 0) return this.reverse()
    return this.invoice()
  }

  private allocate(line: Line, amountCents: number): BudgetEvent {
    this.availableCents[line] += amountCents
    const data = { year: this.year, sozialraum: this.sozialraum, line, amountCents, decisionRef: 'HH', kind: 'allocation' as const }
    return { type: 'BudgetAllocated', data }
  }

  private commit(): BudgetEvent {
    const amountCents = between(100_000, 3_000_000)
    // Now and then over budget (DOMAIN rule 1): ambulatory, with a justification, waiting for approval.
    const overBudget = next() < 0.05
    const commitment: OpenCommitment = {
      id: randomUUID(),
      line: 'ambulatory',
      remainingCents: amountCents,
      monthlyCents: Math.max(1, Math.floor(amountCents / 11)),
      requested: overBudget || amountCents >= 1_000_000,
    }
    this.open.push(commitment)
    this.availableCents.ambulatory -= amountCents
    return {
      type: 'CommitmentCreated',
      data: {
        year: this.year,
        sozialraum: this.sozialraum,
        commitmentId: commitment.id,
        line: 'ambulatory',
        provider: `traeger-${between(1, 40)}`,
        caseRef: `FALL-${this.year}-${between(1, 9999)}`,
        helpType: '§ 31 SPFH',
        amountCents,
        period: { from: `${this.year}-01-01`, to: `${this.year}-12-31` },
        status: commitment.requested ? 'requested' : 'open',
        overBudget,
        ...(overBudget ? { overBudgetJustification: 'Rechtsanspruch nach § 27 SGB VIII' } : {}),
      },
    }
  }

  private openOne(): OpenCommitment | undefined {
    const ready = this.open.filter((commitment) => !commitment.requested)
    return ready[between(0, ready.length - 1)]
  }

  private invoice(): BudgetEvent {
    const commitment = this.openOne()
    if (commitment === undefined) return this.commit()
    const amountCents = Math.min(commitment.monthlyCents, commitment.remainingCents)
    commitment.remainingCents -= amountCents
    if (commitment.remainingCents === 0) this.open.splice(this.open.indexOf(commitment), 1)
    return {
      type: 'InvoiceBooked',
      data: {
        year: this.year,
        sozialraum: this.sozialraum,
        commitmentId: commitment.id,
        line: commitment.line,
        invoiceNo: `RE-${this.revision}`,
        amountCents,
        invoiceDate: `${this.year}-06-01`,
      },
    }
  }

  private amend(): BudgetEvent {
    const commitment = this.openOne()
    if (commitment === undefined) return this.commit()
    const amountCents = between(10_000, 200_000)
    commitment.remainingCents += amountCents
    const data = { year: this.year, sozialraum: this.sozialraum, commitmentId: commitment.id, line: commitment.line, amountCents, reason: 'Verlängerung' }
    return { type: 'CommitmentAmended', data }
  }

  private release(): BudgetEvent {
    const commitment = this.openOne()
    if (commitment === undefined) return this.commit()
    this.open.splice(this.open.indexOf(commitment), 1)
    const data = {
      year: this.year,
      sozialraum: this.sozialraum,
      commitmentId: commitment.id,
      line: commitment.line,
      amountCents: commitment.remainingCents,
      reason: 'Hilfe beendet',
    }
    return { type: 'CommitmentReleased', data }
  }

  private spend(): BudgetEvent {
    const amountCents = between(1_000, 50_000)
    const spending = { id: randomUUID(), cents: amountCents }
    this.spendings.push(spending)
    const data = {
      year: this.year,
      sozialraum: this.sozialraum,
      spendingId: spending.id,
      amountCents,
      purpose: 'Gruppenangebot',
      receiptRef: `B-${this.revision}`,
      date: `${this.year}-05-01`,
    }
    return { type: 'SpendingRecorded', data }
  }

  private reverse(): BudgetEvent {
    const spending = this.spendings.splice(between(0, this.spendings.length - 1), 1)[0]
    if (spending === undefined) return this.spend()
    const data = { year: this.year, sozialraum: this.sozialraum, spendingId: spending.id, amountCents: spending.cents, reason: 'Storno' }
    return { type: 'SpendingReversed', data }
  }
}

function metadataOf(type: BudgetEvent['type'], recordedAt: string): EventMetadata {
  return {
    schemaVersion: EVENT_VERSIONS[type],
    actor: { sub: 'bench', role: 'finance' },
    recordedAt,
    correlationId: 'bench',
    causationId: 'bench',
    idempotencyKey: null,
    requestHash: null,
  }
}

interface YearMarks {
  year: number
  firstPosition: bigint
  lastPosition: bigint
}

/** Projects the synthetic history; answers where each year's events lie in the log. */
async function fill(db: SqliteDatabase): Promise<YearMarks[]> {
  const marks: YearMarks[] = []
  let position = 0n
  const started = performance.now()
  for (let index = 0; index < YEAR_COUNT; index++) {
    const year = FIRST_YEAR + index
    const budgets = Array.from({ length: SOZIALRAUM_COUNT }, (_, n) => new BudgetGenerator(year, `sozialraum-${String(n + 1).padStart(2, '0')}`))
    // The year's events spread evenly over its days, in log order.
    const yearStartMs = Date.UTC(year, 0, 1, 7)
    const stepMs = Math.floor((Date.UTC(year, 11, 31, 18) - yearStartMs) / EVENTS_PER_YEAR)
    const first = position + 1n
    let batch: Statement[] = []
    for (let n = 0; n < EVENTS_PER_YEAR; n++) {
      // Every budget opens in the first days of the year; then the Sozialräume take turns at random.
      const budget = (n < SOZIALRAUM_COUNT * 2 ? budgets[n % SOZIALRAUM_COUNT] : budgets[between(0, SOZIALRAUM_COUNT - 1)]) as BudgetGenerator
      const { event, revision } = budget.nextEvent()
      position += 1n
      const stored: StoredEvent = {
        position,
        streamId: budgetStreamId(year, budget.sozialraum),
        revision,
        eventId: randomUUID(),
        event,
        metadata: metadataOf(event.type, new Date(yearStartMs + n * stepMs).toISOString()),
        recordedData: event.data,
      }
      batch.push(...balanceHistoryProjection.project(stored))
      if (n % BATCH_SIZE === BATCH_SIZE - 1) {
        await db.transaction(batch)
        batch = []
      }
    }
    if (batch.length > 0) await db.transaction(batch)
    marks.push({ year, firstPosition: first, lastPosition: position })
    const seconds = (performance.now() - started) / 1000
    process.stdout.write(`  projected ${year}: ${position.toLocaleString('en')} events, ${Math.round(Number(position) / seconds).toLocaleString('en')} events/s\n`)
  }
  return marks
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN
}

async function measure(name: string, call: (index: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  await call(-1) // one warm-up call
  const timesMs: number[] = []
  for (let index = 0; index < CALLS; index++) {
    const started = process.hrtime.bigint()
    await call(index)
    timesMs.push(Number(process.hrtime.bigint() - started) / 1e6)
  }
  timesMs.sort((a, b) => a - b)
  const result = { p50: percentile(timesMs, 0.5), p99: percentile(timesMs, 0.99) }
  const max = timesMs[timesMs.length - 1] ?? Number.NaN
  process.stdout.write(`  ${name.padEnd(52)} p50 ${result.p50.toFixed(3)} ms   p99 ${result.p99.toFixed(3)} ms   max ${max.toFixed(3)} ms\n`)
  return result
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-as-of-'))
  const path = join(dir, 'read-models.db')
  const db = new SqliteDatabase(path)
  try {
    await migrate(db, await loadMigrations())
    const total = YEAR_COUNT * EVENTS_PER_YEAR
    process.stdout.write(`as-of bench: ${SOZIALRAUM_COUNT} Sozialräume × ${YEAR_COUNT} years × ${EVENTS_PER_YEAR.toLocaleString('en')} events = ${total.toLocaleString('en')} events\n`)
    const marks = await fill(db)
    const [counted] = await db.query<{ rows: number }>('SELECT COUNT(*) AS rows FROM balance_history')
    await db.query('PRAGMA wal_checkpoint(TRUNCATE)')
    process.stdout.write(`  balance_history: ${Number(counted?.rows).toLocaleString('en')} rows; database file ${(statSync(path).size / 1e6).toFixed(0)} MB\n`)

    const readModels = new ReadModels(db)
    const middle = marks[Math.floor(marks.length / 2)] as YearMarks
    const midPosition = (middle.firstPosition + middle.lastPosition) / 2n
    const midYear: LedgerMoment = { position: midPosition }
    const midTime: LedgerMoment = { recordedAt: new Date(Date.UTC(middle.year, 6, 1, 12)).toISOString() }
    const sample = await readModels.budgetsAsOf(middle.year, midYear)
    process.stdout.write(`  as of position ${midPosition} (mid ${middle.year}): ${sample.items.length} budgets, total allocated ${sample.total.allocated}\n`)

    const plans = await Promise.all([
      db.query<{ detail: string }>(
        `EXPLAIN QUERY PLAN SELECT h.sozialraum FROM balance_history_budgets b
         JOIN balance_history h ON h.year = b.year AND h.sozialraum = b.sozialraum AND h.position = (
           SELECT x.position FROM balance_history x WHERE x.year = b.year AND x.sozialraum = b.sozialraum AND x.position <= ?
           ORDER BY x.position DESC LIMIT 1)
         WHERE b.year = ? ORDER BY b.sozialraum`,
        [midPosition, middle.year],
      ),
      db.query<{ detail: string }>(
        `EXPLAIN QUERY PLAN SELECT CAST(position AS TEXT) AS position_text FROM balance_history
         WHERE year = ? AND recorded_up_to <= ? ORDER BY recorded_up_to DESC, position DESC LIMIT 1`,
        [middle.year, 'x'],
      ),
    ])
    process.stdout.write(`  query plans:\n${plans.flat().map((row) => `    ${row.detail}`).join('\n')}\n`)

    process.stdout.write(`latency over ${CALLS} calls each (ReadModels.budgetsAsOf, SQLite, one process):\n`)
    const results = [
      await measure(`mid-year position (${midPosition})`, () => readModels.budgetsAsOf(middle.year, midYear)),
      await measure(`mid-year asOf (${'recordedAt' in midTime ? midTime.recordedAt : ''})`, () => readModels.budgetsAsOf(middle.year, midTime)),
      await measure('random position of a random year', () => {
        const mark = marks[between(0, marks.length - 1)] as YearMarks
        const span = Number(mark.lastPosition - mark.firstPosition)
        return readModels.budgetsAsOf(mark.year, { position: mark.firstPosition + BigInt(between(0, span)) })
      }),
      await measure('random asOf of a random year', () => {
        const mark = marks[between(0, marks.length - 1)] as YearMarks
        return readModels.budgetsAsOf(mark.year, { recordedAt: new Date(Date.UTC(mark.year, between(0, 11), between(1, 28), between(0, 23))).toISOString() })
      }),
    ]
    const worst = Math.max(...results.map((result) => result.p99))
    process.stdout.write(`worst p99 ${worst.toFixed(3)} ms: ${worst <= BUDGET_MS ? 'within' : 'OVER'} the ${BUDGET_MS} ms the issue asks for\n`)
  } finally {
    await db.close()
    if (process.env.AS_OF_KEEP === '1') process.stdout.write(`kept ${path}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()

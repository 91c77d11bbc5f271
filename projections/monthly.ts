import type { StoredEvent } from '../src/application/stored-event.js'
import type { Line } from '../src/domain/events.js'
import { monthInYear } from '../src/domain/reports/dates.js'
import { sql, type Projection } from './projection.js'
import type { Statement } from '../src/sql/port.js'

/** Adds `cents` to what the budget spent in the month on the line (the row is made on first use). */
function addSpent(year: number, sozialraum: string, month: number, line: Line, cents: number | bigint): Statement {
  return sql(
    `INSERT INTO monthly_spent (year, sozialraum, month, line, spent_cents) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (year, sozialraum, month, line) DO UPDATE SET spent_cents = monthly_spent.spent_cents + excluded.spent_cents`,
    year,
    sozialraum,
    month,
    line,
    cents,
  )
}

/** The month a spending counted in, kept for its reversal. */
const spendingMonth = (year: number, sozialraum: string, spendingId: string, month: number): Statement =>
  sql('INSERT INTO monthly_spendings (year, sozialraum, spending_id, month) VALUES (?, ?, ?, ?)', year, sozialraum, spendingId, month)

interface PendingSpent {
  year: number
  sozialraum: string
  month: number
  line: Line
  cents: bigint
}

/**
 * A batch as `project` would write it event by event, with one upsert per budget, month and line
 * and batch (the sum, in bigint: exact) instead of one per invoice or spending. A reversal takes
 * its amount off a month it reads from the table, so what is pending for its budget's flexible
 * line is written before it.
 */
function projectBatch(events: readonly StoredEvent[]): Statement[] {
  const statements: Statement[] = []
  const pending = new Map<string, PendingSpent>()
  const add = (year: number, sozialraum: string, month: number, line: Line, cents: number) => {
    const key = `${year}/${sozialraum}/${line}/${month}`
    const entry = pending.get(key)
    if (entry) entry.cents += BigInt(cents)
    else pending.set(key, { year, sozialraum, month, line, cents: BigInt(cents) })
  }
  const write = (keep: (entry: PendingSpent) => boolean) => {
    for (const [key, entry] of pending) {
      if (!keep(entry)) continue
      statements.push(addSpent(entry.year, entry.sozialraum, entry.month, entry.line, entry.cents))
      pending.delete(key)
    }
  }
  for (const stored of events) {
    const { event } = stored
    if (event.type === 'InvoiceBooked') {
      const { year, sozialraum, line, invoiceDate, amountCents } = event.data
      add(year, sozialraum, monthInYear(invoiceDate, year), line, amountCents)
    } else if (event.type === 'SpendingRecorded') {
      const { year, sozialraum, spendingId, date, amountCents } = event.data
      const month = monthInYear(date, year)
      statements.push(spendingMonth(year, sozialraum, spendingId, month))
      add(year, sozialraum, month, 'flexible', amountCents)
    } else if (event.type === 'SpendingReversed') {
      const { year, sozialraum } = event.data
      write((entry) => entry.year === year && entry.sozialraum === sozialraum && entry.line === 'flexible')
      for (const statement of monthlyProjection.project(stored)) statements.push(statement)
    }
  }
  write(() => true)
  return statements
}

/**
 * What each budget spent per month and line (the monthly report, docs/reports.md): the events
 * that change a line's spent figure (projections/line-changes.ts) and nothing else. An invoice
 * counts in the month of its invoice date, a spending in the month of its date, each moved into
 * the fiscal year (before it: January; after it: December). A reversal has no date: it is taken
 * off the month its spending counted in, which this projection keeps itself (it never reads
 * another projection's tables).
 */
export const monthlyProjection: Projection = {
  name: 'monthly',
  tables: ['monthly_spent', 'monthly_spendings'],
  project({ event }) {
    switch (event.type) {
      case 'InvoiceBooked': {
        const { year, sozialraum, line, invoiceDate, amountCents } = event.data
        return [addSpent(year, sozialraum, monthInYear(invoiceDate, year), line, amountCents)]
      }
      case 'SpendingRecorded': {
        const { year, sozialraum, spendingId, date, amountCents } = event.data
        const month = monthInYear(date, year)
        return [spendingMonth(year, sozialraum, spendingId, month), addSpent(year, sozialraum, month, 'flexible', amountCents)]
      }
      case 'SpendingReversed': {
        const { year, sozialraum, spendingId, amountCents } = event.data
        return [
          sql(
            `UPDATE monthly_spent SET spent_cents = spent_cents - ?
             WHERE year = ? AND sozialraum = ? AND line = 'flexible' AND month = (
               SELECT s.month FROM monthly_spendings s WHERE s.year = ? AND s.sozialraum = ? AND s.spending_id = ?)`,
            amountCents,
            year,
            sozialraum,
            year,
            sozialraum,
            spendingId,
          ),
        ]
      }
      default:
        return []
    }
  },
  projectBatch,
}

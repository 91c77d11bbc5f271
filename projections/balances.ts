import type { StoredEvent } from '../src/application/stored-event.js'
import { isBudgetEvent, LINES, type BudgetEvent, type Line } from '../src/domain/events.js'
import { lineChanges } from './line-changes.js'
import { sql, type Projection } from './projection.js'
import type { Statement } from '../src/sql/port.js'

type Column =
  | 'allocated_cents'
  | 'committed_cents'
  | 'spent_cents'
  | 'carried_in_cents'
  | 'carried_out_cents'
  | 'moved_in_cents'
  | 'moved_out_cents'
  | 'lapsed_cents'
  | 'unspent_carried_cents'

const COLUMNS: readonly Column[] = [
  'allocated_cents',
  'committed_cents',
  'spent_cents',
  'carried_in_cents',
  'carried_out_cents',
  'moved_in_cents',
  'moved_out_cents',
  'lapsed_cents',
  'unspent_carried_cents',
]

interface ColumnChange {
  line: Line
  column: Column
  cents: number
}

function addTo(year: number, sozialraum: string, { line, column, cents }: ColumnChange): Statement {
  return sql(
    `UPDATE budget_lines SET ${column} = ${column} + ? WHERE year = ? AND sozialraum = ? AND line = ?`,
    cents,
    year,
    sozialraum,
    line,
  )
}

/** Where allocated money came from or went beyond allocations and adjustments, and what lapsed at the close. */
function flowChanges(event: BudgetEvent): ColumnChange[] {
  switch (event.type) {
    case 'BudgetAllocated':
      return event.data.kind === 'carry-over' ? [{ line: event.data.line, column: 'carried_in_cents', cents: event.data.amountCents }] : []
    case 'AllocationCarriedOver':
      return [
        { line: event.data.line, column: 'carried_out_cents', cents: event.data.amountCents },
        { line: event.data.line, column: 'unspent_carried_cents', cents: event.data.unspentCents },
      ]
    case 'BudgetMoveDebited':
      return [{ line: event.data.line, column: 'moved_out_cents', cents: event.data.amountCents }]
    case 'BudgetMoveCredited':
      return [{ line: event.data.line, column: 'moved_in_cents', cents: event.data.amountCents }]
    case 'BudgetMoveReverted':
      // The move did not happen: the source is as if it had never sent it.
      return [{ line: event.data.line, column: 'moved_out_cents', cents: -event.data.amountCents }]
    case 'BudgetClosed':
      return [
        { line: 'ambulatory', column: 'lapsed_cents', cents: event.data.lapsed.ambulatory },
        { line: 'flexible', column: 'lapsed_cents', cents: event.data.lapsed.flexible },
      ]
    default:
      return []
  }
}

/** Every change an event makes to its budget's line figures: the balance formulas, then the flows. */
function columnChanges(event: BudgetEvent): ColumnChange[] {
  const changes: ColumnChange[] = lineChanges(event).map(({ line, figure, cents }) => ({ line, column: `${figure}_cents`, cents }))
  for (const change of flowChanges(event)) changes.push(change)
  return changes
}

/** A budget opens with its first allocation, or with commitments carried in from a line that held no money. */
const opensBudget = (event: BudgetEvent): boolean => event.type === 'BudgetAllocated' || event.type === 'CommitmentCarriedIn'

function openBudget(year: number, sozialraum: string, revision: bigint): Statement[] {
  return [
    sql('INSERT INTO budgets (year, sozialraum, revision) VALUES (?, ?, ?) ON CONFLICT (year, sozialraum) DO NOTHING', year, sozialraum, revision),
    ...LINES.map((line) =>
      sql(
        'INSERT INTO budget_lines (year, sozialraum, line) VALUES (?, ?, ?) ON CONFLICT (year, sozialraum, line) DO NOTHING',
        year,
        sozialraum,
        line,
      ),
    ),
  ]
}

const closeBudget = (year: number, sozialraum: string): Statement =>
  sql('UPDATE budgets SET closed = 1 WHERE year = ? AND sozialraum = ?', year, sozialraum)

/**
 * What a batch has changed of one budget and not yet written: its latest revision, whether it
 * closed, and the sum of each line's column changes (bigint: sums of cents stay exact).
 */
interface PendingBudget {
  year: number
  sozialraum: string
  revision: bigint
  closed: boolean
  cents: Map<Line, Map<Column, bigint>>
}

const ADD_ALL_COLUMNS = `UPDATE budget_lines SET ${COLUMNS.map((column) => `${column} = ${column} + ?`).join(', ')}
  WHERE year = ? AND sozialraum = ? AND line = ?`

/** One statement per budget and one per line it touched: the batch's sums. */
function writePending(pending: PendingBudget): Statement[] {
  const { year, sozialraum } = pending
  const statements = [sql('UPDATE budgets SET revision = ? WHERE year = ? AND sozialraum = ?', pending.revision, year, sozialraum)]
  if (pending.closed) statements.push(closeBudget(year, sozialraum))
  for (const [line, sums] of pending.cents) {
    statements.push(sql(ADD_ALL_COLUMNS, ...COLUMNS.map((column) => sums.get(column) ?? 0n), year, sozialraum, line))
  }
  return statements
}

/**
 * A batch of events as `project` would write them one by one, in fewer statements: per budget,
 * the revision once and each line's figures once, by the batch's sums. An event before its budget
 * opened changes no row (its UPDATEs find none), so what is pending for a budget is written before
 * every event that opens it: those changes then find no row, as they would have, or find the row,
 * as they would have.
 */
function projectBatch(events: readonly StoredEvent[]): Statement[] {
  const statements: Statement[] = []
  const pending = new Map<string, PendingBudget>()
  for (const { event, revision } of events) {
    if (!isBudgetEvent(event)) continue
    const { year, sozialraum } = event.data
    const key = `${year}/${sozialraum}`
    if (opensBudget(event)) {
      const before = pending.get(key)
      if (before) statements.push(...writePending(before))
      pending.delete(key)
      statements.push(...openBudget(year, sozialraum, revision))
    }
    let budget = pending.get(key)
    if (!budget) pending.set(key, (budget = { year, sozialraum, revision, closed: false, cents: new Map() }))
    budget.revision = revision
    if (event.type === 'BudgetClosed') budget.closed = true
    for (const { line, column, cents } of columnChanges(event)) {
      let sums = budget.cents.get(line)
      if (!sums) budget.cents.set(line, (sums = new Map()))
      sums.set(column, (sums.get(column) ?? 0n) + BigInt(cents))
    }
  }
  for (const budget of pending.values()) statements.push(...writePending(budget))
  return statements
}

/** Balances per budget and line, and each budget's revision (its ETag). */
export const balancesProjection: Projection = {
  name: 'balances',
  tables: ['budgets', 'budget_lines'],
  project({ event, revision }) {
    if (!isBudgetEvent(event)) return []
    const { year, sozialraum } = event.data
    const changes: Statement[] = opensBudget(event) ? openBudget(year, sozialraum, revision) : []
    changes.push(sql('UPDATE budgets SET revision = ? WHERE year = ? AND sozialraum = ?', revision, year, sozialraum))
    if (event.type === 'BudgetClosed') changes.push(closeBudget(year, sozialraum))
    for (const change of columnChanges(event)) changes.push(addTo(year, sozialraum, change))
    return changes
  },
  projectBatch,
}

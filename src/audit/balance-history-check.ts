import { figureColumn } from '../../projections/balance-history.js'
import type { Figure } from '../../projections/line-changes.js'
import { LINES, type Line } from '../domain/events.js'
import { START, type Position } from '../eventstore/port.js'
import type { SqlDatabase } from '../sql/port.js'

/** A budget's figures right after one of its events, as the replay of the log has them. */
export interface HistoryFigures {
  revision: bigint
  /** Whether the budget is open (allocated, or a commitment carried in): the history has rows from then on. */
  exists: boolean
  closed: boolean
  lines: Record<Line, { allocated: bigint; committed: bigint; spent: bigint }>
}

/** A row of `balance_history` that is not what the events say, or a row on one side only (`row`). */
export interface HistoryMismatch {
  position: string
  field: string
  expected: string
  actual: string
}

const FIGURE_NAMES: readonly Figure[] = ['allocated', 'committed', 'spent']
const FIGURES = LINES.flatMap((line) => FIGURE_NAMES.map((figure) => ({ line, figure, column: figureColumn(line, figure) })))
const COLUMNS = ['revision', 'closed', ...FIGURES.map(({ column }) => column)]
type Row = Record<string, string> & { position: string }

const expectedValues = (figures: HistoryFigures): Record<string, string> => ({
  revision: String(figures.revision),
  closed: figures.closed ? '1' : '0',
  ...Object.fromEntries(FIGURES.map(({ line, figure, column }) => [column, String(figures.lines[line][figure])])),
})

/**
 * Compares `balance_history`, the figures `GET /v1/audit/balances` answers for a past moment,
 * with the replay of the log: each budget event has one row at its position holding the budget's
 * revision, `closed` and line figures right after it (projections/balance-history.ts). The
 * over-budget summary and `recorded_up_to` are not compared.
 *
 * The table has no index by position alone (every write would pay for one), so each stretch of
 * the log the walk hands over is read budget by budget on the primary key (year, sozialraum,
 * position), for the budgets with events in it. A row in a stretch where its budget has no event
 * is found at the end instead: each budget's rows are counted once, and what the stretches did not
 * see is reported as rows without an event. Memory stays bounded by a stretch and the budgets.
 */
export class BalanceHistoryCheck {
  /** Budget key → the positions of its events in the current stretch and the figures after each. */
  private readonly pending = new Map<string, Map<Position, Record<string, string>>>()
  /** Budget key → the rows the stretches read. */
  private readonly seen = new Map<string, number>()
  private comparedTo: Position = START

  constructor(
    private readonly db: SqlDatabase,
    readonly checkpoint: Position,
    private readonly pageSize: number,
    private readonly report: (mismatch: HistoryMismatch) => void,
  ) {}

  expect(year: number, sozialraum: string, position: Position, figures: HistoryFigures): void {
    if (position > this.checkpoint) return
    const key = JSON.stringify([year, sozialraum])
    let positions = this.pending.get(key)
    if (!positions) this.pending.set(key, (positions = new Map()))
    positions.set(position, expectedValues(figures))
  }

  /** Compares the rows of the budgets with events after the last stretch, up to `through` (at most the checkpoint). */
  async compareThrough(through: Position): Promise<void> {
    const to = through < this.checkpoint ? through : this.checkpoint
    if (to <= this.comparedTo) return
    for (const [key, positions] of this.pending) {
      const [year, sozialraum] = JSON.parse(key) as [number, string]
      for (let after = this.comparedTo; ; ) {
        const rows = await this.db.query<Row>(
          `SELECT CAST(position AS TEXT) AS position, ${COLUMNS.map((column) => `CAST(${column} AS TEXT) AS ${column}`).join(', ')}
           FROM balance_history WHERE year = ? AND sozialraum = ? AND balance_history.position > ? AND balance_history.position <= ?
           ORDER BY balance_history.position LIMIT ?`,
          [year, sozialraum, after, to, this.pageSize],
        )
        this.seen.set(key, (this.seen.get(key) ?? 0) + rows.length)
        for (const row of rows) this.compareRow(row, positions)
        const last = rows[rows.length - 1]
        if (rows.length < this.pageSize || last === undefined) break
        after = BigInt(last.position)
      }
      for (const position of positions.keys()) this.add(position, 'row', 'present', 'missing')
    }
    this.pending.clear()
    this.comparedTo = to
  }

  /**
   * The last stretch, then the rows no stretch read: in a stretch where their budget had no event.
   * Counted budget by budget in pages (in the primary key's order), so that budgets made up by
   * the thousand cost no more memory than a page.
   */
  async finish(): Promise<void> {
    await this.compareThrough(this.checkpoint)
    let after: { year: number; sozialraum: string } = { year: -1, sozialraum: '' }
    for (;;) {
      const counts = await this.db.query<{ year: string; sozialraum: string; count: string }>(
        `SELECT CAST(year AS TEXT) AS year, sozialraum, CAST(COUNT(*) AS TEXT) AS count FROM balance_history
         WHERE (year > ? OR (year = ? AND sozialraum > ?)) AND balance_history.position <= ?
         GROUP BY year, sozialraum ORDER BY year, sozialraum LIMIT ?`,
        [after.year, after.year, after.sozialraum, this.checkpoint, this.pageSize],
      )
      for (const { year, sozialraum, count } of counts) {
        const unseen = Number(count) - (this.seen.get(JSON.stringify([Number(year), sozialraum])) ?? 0)
        if (unseen > 0) this.add(this.checkpoint, `rows of ${year}/${sozialraum} without an event`, '0', String(unseen))
      }
      const last = counts[counts.length - 1]
      if (counts.length < this.pageSize || last === undefined) return
      after = { year: Number(last.year), sozialraum: last.sozialraum }
    }
  }

  private compareRow(row: Row, positions: Map<Position, Record<string, string>>): void {
    const position = BigInt(row.position)
    const expected = positions.get(position)
    if (expected === undefined) return this.add(position, 'row', 'missing', 'present')
    positions.delete(position)
    for (const column of COLUMNS) if (row[column] !== expected[column]) this.add(position, column, expected[column] ?? '', row[column] ?? 'null')
  }

  private add(position: Position, field: string, expected: string, actual: string): void {
    this.report({ position: position.toString(), field, expected, actual })
  }
}

import { isBudgetEvent, type BudgetEvent, type Line } from '../src/domain/events.js'
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

function addTo(year: number, sozialraum: string, line: Line, column: Column, cents: number): Statement {
  return sql(
    `UPDATE budget_lines SET ${column} = ${column} + ? WHERE year = ? AND sozialraum = ? AND line = ?`,
    cents,
    year,
    sozialraum,
    line,
  )
}

/** Where allocated money came from or went beyond allocations and adjustments, and what lapsed at the close. */
function flowChanges(event: BudgetEvent): Statement[] {
  const { year, sozialraum } = event.data
  switch (event.type) {
    case 'BudgetAllocated':
      return event.data.kind === 'carry-over' ? [addTo(year, sozialraum, event.data.line, 'carried_in_cents', event.data.amountCents)] : []
    case 'AllocationCarriedOver':
      return [
        addTo(year, sozialraum, event.data.line, 'carried_out_cents', event.data.amountCents),
        addTo(year, sozialraum, event.data.line, 'unspent_carried_cents', event.data.unspentCents),
      ]
    case 'BudgetMoveDebited':
      return [addTo(year, sozialraum, event.data.line, 'moved_out_cents', event.data.amountCents)]
    case 'BudgetMoveCredited':
      return [addTo(year, sozialraum, event.data.line, 'moved_in_cents', event.data.amountCents)]
    case 'BudgetMoveReverted':
      // The move did not happen: the source is as if it had never sent it.
      return [addTo(year, sozialraum, event.data.line, 'moved_out_cents', -event.data.amountCents)]
    case 'BudgetClosed':
      return [
        sql('UPDATE budgets SET closed = 1 WHERE year = ? AND sozialraum = ?', year, sozialraum),
        addTo(year, sozialraum, 'ambulatory', 'lapsed_cents', event.data.lapsed.ambulatory),
        addTo(year, sozialraum, 'flexible', 'lapsed_cents', event.data.lapsed.flexible),
      ]
    default:
      return []
  }
}

/** Balances per budget and line, and each budget's revision (its ETag). */
export const balancesProjection: Projection = {
  name: 'balances',
  tables: ['budgets', 'budget_lines'],
  project({ event, revision }) {
    if (!isBudgetEvent(event)) return []
    const { year, sozialraum } = event.data
    const changes: Statement[] = []
    // A budget opens with its first allocation, or with commitments carried in from a line that held no money.
    if (event.type === 'BudgetAllocated' || event.type === 'CommitmentCarriedIn') {
      changes.push(
        sql(
          'INSERT INTO budgets (year, sozialraum, revision) VALUES (?, ?, ?) ON CONFLICT (year, sozialraum) DO NOTHING',
          year,
          sozialraum,
          revision,
        ),
      )
      for (const line of ['ambulatory', 'flexible'] as const) {
        changes.push(
          sql(
            'INSERT INTO budget_lines (year, sozialraum, line) VALUES (?, ?, ?) ON CONFLICT (year, sozialraum, line) DO NOTHING',
            year,
            sozialraum,
            line,
          ),
        )
      }
    }
    changes.push(sql('UPDATE budgets SET revision = ? WHERE year = ? AND sozialraum = ?', revision, year, sozialraum))

    for (const { line, figure, cents } of lineChanges(event)) {
      changes.push(addTo(year, sozialraum, line, `${figure}_cents`, cents))
    }
    changes.push(...flowChanges(event))
    return changes
  },
}

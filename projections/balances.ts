import { isBudgetEvent, type Line } from '../src/domain/events.js'
import { lineChanges } from './line-changes.js'
import { sql, type Projection } from './projection.js'
import type { Statement } from '../src/sql/port.js'

type Column = 'allocated_cents' | 'committed_cents' | 'spent_cents'

function addTo(year: number, sozialraum: string, line: Line, column: Column, cents: number): Statement {
  return sql(
    `UPDATE budget_lines SET ${column} = ${column} + ? WHERE year = ? AND sozialraum = ? AND line = ?`,
    cents,
    year,
    sozialraum,
    line,
  )
}

/** Balances per budget and line, and each budget's revision (its ETag). */
export const balancesProjection: Projection = {
  name: 'balances',
  tables: ['budgets', 'budget_lines'],
  project({ event, revision }) {
    if (!isBudgetEvent(event)) return []
    const { year, sozialraum } = event.data
    const changes: Statement[] = []
    if (event.type === 'BudgetAllocated') {
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
    return changes
  },
}

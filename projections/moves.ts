import { sql, type Projection } from './projection.js'

/**
 * Moves between Sozialräume (docs/domain.md rule 9) and how far each got. The move process
 * (src/application/processes.ts) finishes those `in-transit` or `refused`.
 */
export const movesProjection: Projection = {
  name: 'moves',
  tables: ['budget_moves'],
  project({ event, metadata }) {
    const settle = (status: string, why: string | null, year: number, moveId: string) =>
      sql(
        'UPDATE budget_moves SET status = ?, why = COALESCE(?, why), settled_at = ? WHERE year = ? AND id = ?',
        status,
        why,
        metadata.recordedAt,
        year,
        moveId,
      )
    switch (event.type) {
      case 'BudgetMoveDebited': {
        const data = event.data
        return [
          sql(
            `INSERT INTO budget_moves (year, id, from_sozialraum, from_line, to_sozialraum, to_line, amount_cents, reason, status,
               requested_by, requested_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'in-transit', ?, ?)
             ON CONFLICT (year, id) DO NOTHING`,
            data.year,
            data.moveId,
            data.sozialraum,
            data.line,
            data.to.sozialraum,
            data.to.line,
            data.amountCents,
            data.reason,
            metadata.actor.sub,
            metadata.recordedAt,
          ),
        ]
      }
      case 'BudgetMoveCredited':
        return [settle('completed', null, event.data.year, event.data.moveId)]
      case 'BudgetMoveRefused':
        return [settle('refused', event.data.why, event.data.year, event.data.moveId)]
      case 'BudgetMoveReverted':
        return [settle('reverted', null, event.data.year, event.data.moveId)]
      default:
        return []
    }
  },
}

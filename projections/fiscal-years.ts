import { isYearEvent } from '../src/domain/events.js'
import { sql, type Projection } from './projection.js'

/** Each fiscal year's close: who asked and decided, and the totals once it is closed (docs/domain.md rule 8). */
export const fiscalYearsProjection: Projection = {
  name: 'fiscal-years',
  tables: ['fiscal_years'],
  project({ event, metadata }) {
    if (!isYearEvent(event)) return []
    const { year } = event.data
    const who = [metadata.actor.sub, metadata.recordedAt] as const
    switch (event.type) {
      case 'YearCloseRequested':
        return [
          sql(
            `INSERT INTO fiscal_years (year, status) VALUES (?, 'open') ON CONFLICT (year) DO NOTHING`,
            year,
          ),
          sql(
            `UPDATE fiscal_years SET status = 'close-requested', reason = ?, carry_unspent = ?, requested_by = ?, requested_at = ?,
               decision = NULL, decided_by = NULL, decided_at = NULL, decision_comment = NULL
             WHERE year = ?`,
            event.data.reason,
            JSON.stringify(event.data.carryUnspent),
            ...who,
            year,
          ),
        ]
      case 'YearCloseApproved':
      case 'YearCloseRejected': {
        const approved = event.type === 'YearCloseApproved'
        return [
          sql(
            `UPDATE fiscal_years SET status = ?, decision = ?, decided_by = ?, decided_at = ?, decision_comment = ? WHERE year = ?`,
            approved ? 'closing' : 'open',
            approved ? 'approve' : 'reject',
            ...who,
            event.data.comment ?? null,
            year,
          ),
        ]
      }
      case 'YearClosed':
        return [
          sql(
            `UPDATE fiscal_years SET status = 'closed', closed_at = ?, budgets = ?, carried_commitments = ?, carried_cents = ?,
               allocation_carried_cents = ?, unspent_carried_cents = ?, lapsed_cents = ?
             WHERE year = ?`,
            metadata.recordedAt,
            event.data.budgets,
            event.data.carriedCommitments,
            event.data.carriedCents,
            event.data.allocationCarriedCents,
            event.data.unspentCarriedCents,
            event.data.lapsedCents,
            year,
          ),
        ]
    }
  },
}

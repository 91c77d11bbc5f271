import { sql, type Projection } from './projection.js'

export const spendingProjection: Projection = {
  name: 'spending',
  tables: ['spendings'],
  project({ event, metadata }) {
    switch (event.type) {
      case 'SpendingRecorded': {
        const data = event.data
        return [
          sql(
            `INSERT INTO spendings (year, sozialraum, id, amount_cents, purpose, category, receipt_ref, spent_on, created_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            data.year,
            data.sozialraum,
            data.spendingId,
            data.amountCents,
            data.purpose,
            data.category ?? null,
            data.receiptRef,
            data.date,
            metadata.actor.sub,
            metadata.recordedAt,
          ),
        ]
      }
      case 'SpendingReversed':
        return [
          sql(
            'UPDATE spendings SET reversed = 1 WHERE year = ? AND sozialraum = ? AND id = ?',
            event.data.year,
            event.data.sozialraum,
            event.data.spendingId,
          ),
        ]
      default:
        return []
    }
  },
}

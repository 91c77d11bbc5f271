import type { EventDataOf, EventMetadata } from '../src/domain/events.js'
import type { Statement } from '../src/sql/port.js'
import { sql, type Projection } from './projection.js'

/**
 * Commitments with their invoices. The status follows the same rule as the decider: a commitment
 * with nothing left (amount = invoiced + released + carried) is closed.
 *
 * `addAndSettle` adds to one of the amounts and settles in the same statement (one statement per
 * invoice instead of two): in an UPDATE every column on the right stands for the row as it was, so
 * the rule is written with the new amount, `column + ?`, in place of the column.
 */
type Amount = 'amount_cents' | 'invoiced_cents'

function addAndSettle(column: Amount, cents: number, data: { year: number; sozialraum: string; commitmentId: string }): Statement {
  const after = (name: Amount) => (name === column ? `(${name} + ?)` : name)
  return sql(
    `UPDATE commitments SET ${column} = ${column} + ?,
       status = CASE WHEN status <> 'rejected' AND ${after('amount_cents')} = ${after('invoiced_cents')} + released_cents + carried_cents
         THEN 'closed' ELSE status END
     WHERE year = ? AND sozialraum = ? AND id = ?`,
    cents,
    cents,
    data.year,
    data.sozialraum,
    data.commitmentId,
  )
}

/** A new commitment's row: created, or carried in from the previous year (`from`). */
function insertCommitment(
  data: EventDataOf<'CommitmentCreated'>,
  metadata: EventMetadata,
  from: { year: number; commitmentId: string } | null,
): Statement {
  return sql(
    `INSERT INTO commitments (year, sozialraum, id, line, provider, case_ref, help_type, period_from, period_to,
       decision_ref, amount_cents, status, over_budget, over_budget_justification, created_by, created_at,
       carried_from_year, carried_from_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    data.year,
    data.sozialraum,
    data.commitmentId,
    data.line,
    data.provider,
    data.caseRef,
    data.helpType ?? null,
    data.period.from,
    data.period.to,
    data.decisionRef ?? null,
    data.amountCents,
    data.status,
    data.overBudget ? 1 : 0,
    data.overBudgetJustification ?? null,
    metadata.actor.sub,
    metadata.recordedAt,
    from?.year ?? null,
    from?.commitmentId ?? null,
  )
}

export const commitmentsProjection: Projection = {
  name: 'commitments',
  tables: ['commitments', 'commitment_invoices'],
  project({ event, metadata, position }) {
    switch (event.type) {
      case 'CommitmentCreated':
        return [insertCommitment(event.data, metadata, null)]
      case 'CommitmentAmended':
        return [addAndSettle('amount_cents', event.data.amountCents, event.data)]
      case 'InvoiceBooked':
        return [
          sql(
            `INSERT INTO commitment_invoices (year, sozialraum, commitment_id, invoice_no, amount_cents, invoice_date, position)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
            event.data.invoiceNo,
            event.data.amountCents,
            event.data.invoiceDate,
            position,
          ),
          addAndSettle('invoiced_cents', event.data.amountCents, event.data),
        ]
      case 'CommitmentApprovalRequested':
        return [
          sql(
            `UPDATE commitments SET status = 'requested', over_budget = ?, over_budget_justification = ?
             WHERE year = ? AND sozialraum = ? AND id = ?`,
            event.data.overBudget ? 1 : 0,
            event.data.overBudgetJustification ?? null,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
          ),
        ]
      case 'CommitmentApproved':
        return [
          sql(
            `UPDATE commitments SET status = 'open', last_decision = 'approve', last_decision_by = ?,
               last_decision_at = ?, last_decision_comment = ?
             WHERE year = ? AND sozialraum = ? AND id = ?`,
            metadata.actor.sub,
            metadata.recordedAt,
            event.data.comment ?? null,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
          ),
        ]
      case 'CommitmentRejected': {
        // Rejected outright: the reservation is released. Else the unapproved increase is taken off.
        const withdrawn = event.data.status === 'rejected'
        return [
          sql(
            `UPDATE commitments SET
               amount_cents = amount_cents - ?, released_cents = released_cents + ?, status = ?,
               over_budget = ?, over_budget_justification = ?,
               last_decision = 'reject', last_decision_by = ?, last_decision_at = ?, last_decision_comment = ?
             WHERE year = ? AND sozialraum = ? AND id = ?`,
            withdrawn ? 0 : event.data.amountCents,
            withdrawn ? event.data.amountCents : 0,
            event.data.status,
            event.data.overBudget ? 1 : 0,
            event.data.overBudgetJustification ?? null,
            metadata.actor.sub,
            metadata.recordedAt,
            event.data.comment ?? null,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
          ),
        ]
      }
      case 'CommitmentCarriedIn':
        return [insertCommitment(event.data, metadata, event.data.from)]
      case 'CommitmentCarriedOver':
        return [
          sql(
            `UPDATE commitments SET carried_cents = carried_cents + ?, carried_to_year = ?, carried_to_id = ?, status = 'closed'
             WHERE year = ? AND sozialraum = ? AND id = ?`,
            event.data.amountCents,
            event.data.toYear,
            event.data.toCommitmentId,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
          ),
        ]
      case 'CommitmentReleased':
        return [
          sql(
            `UPDATE commitments SET released_cents = released_cents + ?, status = 'closed'
             WHERE year = ? AND sozialraum = ? AND id = ?`,
            event.data.amountCents,
            event.data.year,
            event.data.sozialraum,
            event.data.commitmentId,
          ),
        ]
      default:
        return []
    }
  },
}

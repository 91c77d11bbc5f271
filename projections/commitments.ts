import type { StoredEvent } from '../src/application/stored-event.js'
import type { EventDataOf, EventMetadata } from '../src/domain/events.js'
import type { SqlValue, Statement } from '../src/sql/port.js'
import { rowsInBulk, sql, tuples, type Projection } from './projection.js'

/**
 * Commitments with their invoices. The status follows the same rule as the decider: a commitment
 * with nothing left (amount = invoiced + released + carried) is closed.
 *
 * `addAndSettle` adds to one of the amounts and settles in the same statement (one statement per
 * invoice instead of two; a batch settles runs of invoices together, see `projectBatch`): in an UPDATE every column on the right stands for the row as it was, so
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
    // A bigint: SQLite adds a JavaScript number as a float, inexact beyond 2^53; the batch's sums are bigints.
    BigInt(cents),
    BigInt(cents),
    data.year,
    data.sozialraum,
    data.commitmentId,
  )
}

const INVOICE_COLUMNS = ['year', 'sozialraum', 'commitment_id', 'invoice_no', 'amount_cents', 'invoice_date', 'position']
const insertInvoices = rowsInBulk((count) => `INSERT INTO commitment_invoices (${INVOICE_COLUMNS.join(', ')}) VALUES ${tuples(count, INVOICE_COLUMNS.length)}`)

const invoiceRow = (data: EventDataOf<'InvoiceBooked'>, position: bigint): SqlValue[] => [
  data.year,
  data.sozialraum,
  data.commitmentId,
  data.invoiceNo,
  data.amountCents,
  data.invoiceDate,
  position,
]

/**
 * A new commitment's row: created, or carried in from the previous year (`from`). One that waits
 * for approval names its requester: whoever created it, or for one carried in whoever asked for
 * it in the year before (the decider's rule, src/domain/budget/carry-over.ts).
 */
function insertCommitment(
  data: EventDataOf<'CommitmentCreated'> & { requestedBy?: string | undefined },
  metadata: EventMetadata,
  from: { year: number; commitmentId: string } | null,
): Statement {
  return sql(
    `INSERT INTO commitments (year, sozialraum, id, line, provider, case_ref, help_type, period_from, period_to,
       decision_ref, amount_cents, status, over_budget, over_budget_justification, created_by, created_at,
       carried_from_year, carried_from_id, requested_by)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    data.status === 'requested' ? (data.requestedBy ?? metadata.actor.sub) : null,
  )
}

export const commitmentsProjection: Projection = {
  name: 'commitments',
  tables: ['commitments', 'commitment_invoices'],
  project: projectOne,
  projectBatch,
}

/** Who decided when and why, and on which commitment: the last values of an approval's or a rejection's UPDATE. */
const decision = (metadata: EventMetadata, data: CommitmentKey & { comment?: string | undefined }): SqlValue[] => [
  metadata.actor.sub,
  metadata.recordedAt,
  data.comment ?? null,
  data.year,
  data.sozialraum,
  data.commitmentId,
]

function projectOne({ event, metadata, position }: StoredEvent): Statement[] {
  switch (event.type) {
    case 'CommitmentCreated':
      return [insertCommitment(event.data, metadata, null)]
    case 'CommitmentAmended':
      return [addAndSettle('amount_cents', event.data.amountCents, event.data)]
    case 'InvoiceBooked':
      return [...insertInvoices([invoiceRow(event.data, position)]), addAndSettle('invoiced_cents', event.data.amountCents, event.data)]
    case 'CommitmentApprovalRequested':
      return [
        sql(
          `UPDATE commitments SET status = 'requested', requested_by = ?, over_budget = ?, over_budget_justification = ?
           WHERE year = ? AND sozialraum = ? AND id = ?`,
          metadata.actor.sub,
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
          `UPDATE commitments SET status = 'open', requested_by = NULL, last_decision = 'approve', last_decision_by = ?,
             last_decision_at = ?, last_decision_comment = ?
           WHERE year = ? AND sozialraum = ? AND id = ?`,
          ...decision(metadata, event.data),
        ),
      ]
    case 'CommitmentRejected': {
      // Rejected outright: the reservation is released. Else the unapproved increase is taken off.
      const withdrawn = event.data.status === 'rejected'
      return [
        sql(
          `UPDATE commitments SET
             amount_cents = amount_cents - ?, released_cents = released_cents + ?, status = ?, requested_by = NULL,
             over_budget = ?, over_budget_justification = ?,
             last_decision = 'reject', last_decision_by = ?, last_decision_at = ?, last_decision_comment = ?
           WHERE year = ? AND sozialraum = ? AND id = ?`,
          withdrawn ? 0 : event.data.amountCents,
          withdrawn ? event.data.amountCents : 0,
          event.data.status,
          event.data.overBudget ? 1 : 0,
          event.data.overBudgetJustification ?? null,
          ...decision(metadata, event.data),
        ),
      ]
    }
    case 'CommitmentCarriedIn':
      return [insertCommitment(event.data, metadata, event.data.from)]
    case 'CommitmentCarriedOver':
      return [
        sql(
          `UPDATE commitments SET carried_cents = carried_cents + ?, carried_to_year = ?, carried_to_id = ?, status = 'closed',
             requested_by = NULL
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
          `UPDATE commitments SET released_cents = released_cents + ?, status = 'closed', requested_by = NULL
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
}

/** Most invoices of one commitment settled together (each a value the statement compares with). */
const MAX_INVOICES_PER_SETTLE = 8
const SUMS = Array.from({ length: MAX_INVOICES_PER_SETTLE }, (_, index) => `s${index + 1}`)
const SETTLE_VALUES = ['year', 'sozialraum', 'id', 'total', ...SUMS]

/**
 * Runs of invoices, each of one commitment and booked with no other event of it in between, many
 * runs to a statement (each commitment at most once in it): `invoiced_cents` grows by the run's sum,
 * and the commitment closes if it would have closed after any one of its invoices, as
 * `addAndSettle` applied to each in turn would do. Within a run only `invoiced_cents` moves, so it
 * would have closed after the i-th invoice exactly when amount − invoiced − released − carried, as
 * the row stood before the run, equals the sum of the first i (and it was not rejected; a closed
 * one stays closed). Unused sums are NULL, which equals nothing. (The columns of a VALUES list take
 * their type from its values, and have no affinity in SQLite: each is cast where it is used.)
 */
const settleRuns = rowsInBulk(
  (count) => `WITH v (${SETTLE_VALUES.join(', ')}) AS (VALUES ${tuples(count, SETTLE_VALUES.length)})
  UPDATE commitments SET invoiced_cents = invoiced_cents + CAST(v.total AS BIGINT),
    status = CASE WHEN status <> 'rejected' AND amount_cents - invoiced_cents - released_cents - carried_cents
      IN (${SUMS.map((sum) => `CAST(v.${sum} AS BIGINT)`).join(', ')}) THEN 'closed' ELSE status END
  FROM v WHERE commitments.year = CAST(v.year AS INTEGER) AND commitments.sozialraum = CAST(v.sozialraum AS TEXT)
    AND commitments.id = CAST(v.id AS TEXT)`,
)

interface InvoiceRun {
  key: CommitmentKey
  /** The running sums of its invoices' amounts: the first, the first two, … */
  sums: bigint[]
}

function settleRow({ key, sums }: InvoiceRun): SqlValue[] {
  return [key.year, key.sozialraum, key.commitmentId, sums[sums.length - 1] ?? 0n, ...SUMS.map((_, index) => sums[index] ?? null)]
}

interface CommitmentKey {
  year: number
  sozialraum: string
  commitmentId: string
}

const runId = ({ year, sozialraum, commitmentId }: CommitmentKey): string => JSON.stringify([year, sozialraum, commitmentId])

/**
 * A batch as `project` would write it event by event, with fewer statements: the invoices' rows
 * many to an INSERT at the end (no statement here reads them), and each commitment's runs of
 * invoices settled together, before the next other event of that commitment or, with the other
 * commitments' runs, at the end (statements on different commitments touch different rows, so
 * their order among one another does not matter).
 */
function projectBatch(events: readonly StoredEvent[]): Statement[] {
  const statements: Statement[] = []
  const invoices: SqlValue[][] = []
  const runs = new Map<string, InvoiceRun>()
  const settle = (id: string) => {
    const run = runs.get(id)
    if (run) statements.push(...settleRuns([settleRow(run)]))
    runs.delete(id)
  }
  for (const stored of events) {
    const { event } = stored
    if (event.type === 'InvoiceBooked') {
      const { year, sozialraum, commitmentId, amountCents } = event.data
      invoices.push(invoiceRow(event.data, stored.position))
      const id = runId(event.data)
      const run = runs.get(id) ?? { key: { year, sozialraum, commitmentId }, sums: [] }
      runs.set(id, run)
      run.sums.push((run.sums[run.sums.length - 1] ?? 0n) + BigInt(amountCents))
      if (run.sums.length >= MAX_INVOICES_PER_SETTLE) settle(id)
      continue
    }
    const changes = projectOne(stored)
    // Every other event this projection writes changes the row of the commitment its data names.
    if (changes.length > 0 && 'commitmentId' in event.data) settle(runId(event.data))
    for (const statement of changes) statements.push(statement)
  }
  statements.push(...settleRuns([...runs.values()].map(settleRow)))
  statements.push(...insertInvoices(invoices))
  return statements
}

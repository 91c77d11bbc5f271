import type { LineBalance } from '../domain/budget/index.js'
import { centsFromStorage, formatCents } from '../domain/money.js'
import type { Line } from '../domain/events.js'
import type { Query, SqlDatabase, SqlValue } from '../sql/port.js'
import {
  balanceView,
  budgetView,
  sumBalances,
  type BalanceView,
  type BudgetView,
  type CommitmentView,
  type SozialraumView,
  type SpendingView,
} from '../application/views.js'

/** The read side: queries over the projections' tables, answering in docs/api.md's shapes. */

type Integer = number | string | bigint

/**
 * Cents as SQL gives them when cast to TEXT: a string of digits, exact at any size. A driver gives
 * a BIGINT beyond 2^53 as an inexact number (better-sqlite3) and a sum as NUMERIC text (pg), so
 * every amount and every sum of amounts is read through `centsText`.
 */
type CentsText = string

/** Selects a cents column or sum as exact text under the name `alias`. */
const centsText = (expression: string, alias: string): string => `CAST(${expression} AS TEXT) AS ${alias}`

interface BudgetRow {
  year: Integer
  sozialraum: string
  revision: Integer
  closed: Integer
  line: Line
  allocated_cents: CentsText
  committed_cents: CentsText
  spent_cents: CentsText
}

interface CommitmentRow {
  year: Integer
  sozialraum: string
  id: string
  line: Line
  provider: string
  case_ref: string
  help_type: string | null
  period_from: string
  period_to: string
  decision_ref: string | null
  amount_cents: CentsText
  invoiced_cents: CentsText
  released_cents: CentsText
  status: CommitmentView['status']
  over_budget: Integer
  over_budget_justification: string | null
  created_by: string
  created_at: string
  last_decision: 'approve' | 'reject' | null
  last_decision_by: string | null
  last_decision_at: string | null
  last_decision_comment: string | null
  carried_cents: CentsText
  carried_to_year: Integer | null
  carried_to_id: string | null
  carried_from_year: Integer | null
  carried_from_id: string | null
  requested_by: string | null
}

interface OverBudgetRow {
  year: Integer
  sozialraum: string
  commitments: Integer
  amount_cents: CentsText | null
}

interface InvoiceRow {
  sozialraum: string
  commitment_id: string
  invoice_no: string
  amount_cents: CentsText
  invoice_date: string
}

interface SpendingRow {
  year: Integer
  sozialraum: string
  id: string
  amount_cents: CentsText
  purpose: string
  category: string | null
  receipt_ref: string
  spent_on: string
  reversed: Integer
  created_by: string
  created_at: string
}

interface AuditRow {
  position: Integer
  stream_id: string
  revision: Integer
  event_id: string
  type: string
  version: Integer
  recorded_at: string
  actor_sub: string
  actor_role: string
  data: string
}

export interface AuditEntry {
  position: string
  streamId: string
  revision: string
  eventId: string
  type: string
  version: number
  recordedAt: string
  actor: { sub: string; role: string }
  data: unknown
}

export interface AuditFilter {
  year?: number | undefined
  sozialraum?: string | undefined
  type?: string | undefined
  actor?: string | undefined
  from?: string | undefined
  to?: string | undefined
  after?: bigint | undefined
  limit: number
}

const COMMITMENT_COLUMNS = `year, sozialraum, id, line, provider, case_ref, help_type, period_from, period_to, decision_ref,
  ${centsText('amount_cents', 'amount_cents')}, ${centsText('invoiced_cents', 'invoiced_cents')},
  ${centsText('released_cents', 'released_cents')}, status, over_budget, over_budget_justification, created_by, created_at,
  last_decision, last_decision_by, last_decision_at, last_decision_comment, ${centsText('carried_cents', 'carried_cents')},
  carried_to_year, carried_to_id, carried_from_year, carried_from_id, requested_by`

const LINE_CENTS = [
  centsText('l.allocated_cents', 'allocated_cents'),
  centsText('l.committed_cents', 'committed_cents'),
  centsText('l.spent_cents', 'spent_cents'),
].join(', ')

/** Every budget line with its budget's revision and closing; the caller adds the WHERE. */
const BUDGET_LINES = `SELECT b.year, b.sozialraum, b.revision, b.closed, l.line, ${LINE_CENTS}
  FROM budgets b JOIN budget_lines l ON l.year = b.year AND l.sozialraum = b.sozialraum`

const budgetKey = (year: Integer, sozialraum: string): string => `${year}/${sozialraum}`

function lineBalance(row: BudgetRow): LineBalance {
  return {
    allocatedCents: centsFromStorage(row.allocated_cents),
    committedCents: centsFromStorage(row.committed_cents),
    spentCents: centsFromStorage(row.spent_cents),
  }
}

function groupBudgets(rows: readonly BudgetRow[], overBudget: readonly OverBudgetRow[]): BudgetView[] {
  const overBudgetByKey = new Map(overBudget.map((row) => [budgetKey(row.year, row.sozialraum), row]))
  const budgets = new Map<string, { first: BudgetRow; lines: Partial<Record<Line, LineBalance>> }>()
  for (const row of rows) {
    const key = budgetKey(row.year, row.sozialraum)
    const entry = budgets.get(key) ?? { first: row, lines: {} }
    entry.lines[row.line] = lineBalance(row)
    budgets.set(key, entry)
  }
  const empty: LineBalance = { allocatedCents: 0n, committedCents: 0n, spentCents: 0n }
  return [...budgets.values()].map(({ first, lines }) => {
    const summary = overBudgetByKey.get(budgetKey(first.year, first.sozialraum))
    return budgetView(
      {
        year: Number(first.year),
        sozialraum: first.sozialraum,
        revision: BigInt(first.revision),
        closed: Number(first.closed) === 1,
      },
      { ambulatory: lines.ambulatory ?? empty, flexible: lines.flexible ?? empty },
      {
        commitments: summary ? Number(summary.commitments) : 0,
        amountCents: summary?.amount_cents == null ? 0n : centsFromStorage(summary.amount_cents),
      },
    )
  })
}

/** A column the projection always fills together with another; null means a corrupt row. */
function required(value: string | null, column: string): string {
  if (value === null) throw new Error(`read model corrupt: commitments.${column} is null`)
  return value
}

function commitmentFromRow(row: CommitmentRow, invoices: readonly InvoiceRow[]): CommitmentView {
  const amount = centsFromStorage(row.amount_cents)
  const invoiced = centsFromStorage(row.invoiced_cents)
  const released = centsFromStorage(row.released_cents)
  const carried = centsFromStorage(row.carried_cents)
  return {
    id: row.id,
    year: Number(row.year),
    sozialraum: row.sozialraum,
    line: row.line,
    provider: row.provider,
    caseRef: row.case_ref,
    ...(row.help_type === null ? {} : { helpType: row.help_type }),
    period: { from: row.period_from, to: row.period_to },
    ...(row.decision_ref === null ? {} : { decisionRef: row.decision_ref }),
    amount: formatCents(amount),
    invoiced: formatCents(invoiced),
    released: formatCents(released),
    remaining: formatCents(amount - invoiced - released - carried),
    carried: formatCents(carried),
    ...(row.carried_to_year === null || row.carried_to_id === null
      ? {}
      : { carriedTo: { year: Number(row.carried_to_year), commitmentId: row.carried_to_id } }),
    ...(row.carried_from_year === null || row.carried_from_id === null
      ? {}
      : { carriedFrom: { year: Number(row.carried_from_year), commitmentId: row.carried_from_id } }),
    status: row.status,
    overBudget: Number(row.over_budget) === 1,
    ...(row.over_budget_justification === null ? {} : { overBudgetJustification: row.over_budget_justification }),
    createdBy: row.created_by,
    createdAt: row.created_at,
    // Only a waiting commitment has a requester (the projection clears it with the decision). A
    // row a 0.12.4 process wrote after migration 009 (a rolling upgrade on PostgreSQL) has none:
    // null then, rather than a 500 for every list that holds it; `rebuild commitments` fills it.
    requestedBy: row.status === 'requested' ? row.requested_by : null,
    invoices: invoices.map((invoice) => ({
      invoiceNo: invoice.invoice_no,
      amount: formatCents(centsFromStorage(invoice.amount_cents)),
      invoiceDate: invoice.invoice_date,
    })),
    ...(row.last_decision === null
      ? {}
      : {
          lastDecision: {
            decision: row.last_decision,
            by: required(row.last_decision_by, 'last_decision_by'),
            at: required(row.last_decision_at, 'last_decision_at'),
            ...(row.last_decision_comment === null ? {} : { comment: row.last_decision_comment }),
          },
        }),
  }
}

/**
 * A past moment of the ledger: right after the event at `position` (inclusive), or right after
 * the last event of the year recorded at or before `recordedAt` (an ISO 8601 UTC timestamp as
 * toISOString() writes it, so that text order is time order). Exactly: after the longest run of
 * the year's events, from its first in log order, all recorded at or before that time; so an
 * event stamped by a clock running behind never brings in the events logged before it that were
 * recorded after the time.
 */
export type LedgerMoment = { position: bigint } | { recordedAt: string }

interface HistoryRow {
  sozialraum: string
  revision: string
  closed: Integer
  ambulatory_allocated_cents: CentsText
  ambulatory_committed_cents: CentsText
  ambulatory_spent_cents: CentsText
  flexible_allocated_cents: CentsText
  flexible_committed_cents: CentsText
  flexible_spent_cents: CentsText
  over_budget_commitments: Integer
  over_budget_cents: CentsText
}

const HISTORY_COLUMNS = [
  'h.sozialraum',
  centsText('h.revision', 'revision'),
  'h.closed',
  ...['ambulatory', 'flexible'].flatMap((line) =>
    ['allocated', 'committed', 'spent'].map((figure) => centsText(`h.${line}_${figure}_cents`, `${line}_${figure}_cents`)),
  ),
  'h.over_budget_commitments',
  centsText('h.over_budget_cents', 'over_budget_cents'),
].join(', ')

function historyLines(row: HistoryRow): Record<Line, LineBalance> {
  const line = (prefix: Line): LineBalance => ({
    allocatedCents: centsFromStorage(row[`${prefix}_allocated_cents`]),
    committedCents: centsFromStorage(row[`${prefix}_committed_cents`]),
    spentCents: centsFromStorage(row[`${prefix}_spent_cents`]),
  })
  return { ambulatory: line('ambulatory'), flexible: line('flexible') }
}

function budgetOfHistory(year: number, row: HistoryRow, lines: Record<Line, LineBalance>): BudgetView {
  return budgetView(
    { year, sozialraum: row.sozialraum, revision: BigInt(row.revision), closed: Number(row.closed) === 1 },
    lines,
    { commitments: Number(row.over_budget_commitments), amountCents: centsFromStorage(row.over_budget_cents) },
  )
}

export class ReadModels {
  constructor(private readonly db: SqlDatabase) {}

  /** The stream and request an actor's idempotency key was first used for, once projected. */
  async idempotentWrite(actorSub: string, key: string): Promise<{ streamId: string; requestHash: string | null } | undefined> {
    const [row] = await this.db.query<{ stream_id: string; request_hash: string | null }>(
      'SELECT stream_id, request_hash FROM idempotency_keys WHERE actor_sub = ? AND idempotency_key = ?',
      [actorSub, key],
    )
    return row ? { streamId: row.stream_id, requestHash: row.request_hash } : undefined
  }

  async listSozialraeume(): Promise<SozialraumView[]> {
    const rows = await this.db.query<{ id: string; name: string; status: SozialraumView['status']; opened_at: string }>(
      'SELECT id, name, status, opened_at FROM sozialraeume ORDER BY id',
    )
    return rows.map((row) => ({ id: row.id, name: row.name, status: row.status, openedAt: row.opened_at }))
  }

  /** Whether the budget has had its first allocation (a list of its commitments or spending needs that). */
  async budgetExists(year: number, sozialraum: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 AS found FROM budgets WHERE year = ? AND sozialraum = ?', [year, sozialraum])
    return rows.length > 0
  }

  async getBudget(year: number, sozialraum: string): Promise<BudgetView | undefined> {
    const [rows, summaries] = await this.budgetsWithSummaries(
      { sql: `${BUDGET_LINES} WHERE b.year = ? AND b.sozialraum = ?`, params: [year, sozialraum] },
      year,
      sozialraum,
    )
    return rows.length === 0 ? undefined : groupBudgets(rows, summaries)[0]
  }

  /**
   * Budget lines and, per budget, its over-budget commitments that still bind or have spent money,
   * and how much: read together, so that a budget's figures and its summary come from one state.
   */
  private async budgetsWithSummaries(lines: Query, year: number, sozialraum?: string): Promise<[BudgetRow[], OverBudgetRow[]]> {
    return (await this.db.queryTogether([
      lines,
      {
        sql: `SELECT year, sozialraum, COUNT(*) AS commitments, ${centsText('SUM(amount_cents - released_cents - carried_cents)', 'amount_cents')}
         FROM commitments WHERE year = ? AND over_budget = 1 AND amount_cents > released_cents + carried_cents${sozialraum === undefined ? '' : ' AND sozialraum = ?'}
         GROUP BY year, sozialraum`,
        params: sozialraum === undefined ? [year] : [year, sozialraum],
      },
    ])) as [BudgetRow[], OverBudgetRow[]]
  }

  /** Every budget of a year, or only those of the given Sozialräume. */
  async listBudgets(
    year: number,
    onlySozialraeume?: readonly string[],
  ): Promise<{ year: number; items: BudgetView[]; total: BalanceView }> {
    const [rows, summaries] = await this.budgetsWithSummaries({ sql: `${BUDGET_LINES} WHERE b.year = ? ORDER BY b.sozialraum, l.line`, params: [year] }, year)
    const visible = onlySozialraeume ? rows.filter((row) => onlySozialraeume.includes(row.sozialraum)) : rows
    return {
      year,
      items: groupBudgets(visible, summaries),
      total: balanceView(sumBalances(visible.map(lineBalance))),
    }
  }

  async listCommitments(year: number, sozialraum: string, status?: string): Promise<CommitmentView[]> {
    return this.commitmentsWhere('c.year = ? AND c.sozialraum = ?', [year, sozialraum], status)
  }

  /** Every over-budget commitment of a year (docs/domain.md rule 1), or only those of the given Sozialräume. */
  async listOverBudgetCommitments(
    year: number,
    status?: string,
    onlySozialraeume?: readonly string[],
  ): Promise<CommitmentView[]> {
    if (onlySozialraeume === undefined) return this.commitmentsWhere('c.year = ? AND c.over_budget = 1', [year], status)
    if (onlySozialraeume.length === 0) return []
    return this.commitmentsWhere(
      `c.year = ? AND c.over_budget = 1 AND c.sozialraum IN (${onlySozialraeume.map(() => '?').join(', ')})`,
      [year, ...onlySozialraeume],
      status,
    )
  }

  private async commitmentsWhere(where: string, params: SqlValue[], status?: string): Promise<CommitmentView[]> {
    const filter = status === undefined ? '' : ' AND c.status = ?'
    const filterParams = status === undefined ? params : [...params, status]
    // Together: an invoice batch that commits between the two reads would show in one only.
    const [rows, invoices] = (await this.db.queryTogether([
      { sql: `SELECT ${COMMITMENT_COLUMNS} FROM commitments c WHERE ${where}${filter} ORDER BY c.sozialraum, c.created_at, c.id`, params: filterParams },
      {
        sql: `SELECT i.sozialraum, i.commitment_id, i.invoice_no, ${centsText('i.amount_cents', 'amount_cents')}, i.invoice_date
         FROM commitment_invoices i
         JOIN commitments c ON c.year = i.year AND c.sozialraum = i.sozialraum AND c.id = i.commitment_id
         WHERE ${where}${filter} ORDER BY i.position`,
        params: filterParams,
      },
    ])) as [CommitmentRow[], InvoiceRow[]]
    const byCommitment = new Map<string, InvoiceRow[]>()
    for (const invoice of invoices) {
      const key = `${invoice.sozialraum}/${invoice.commitment_id}`
      const list = byCommitment.get(key) ?? []
      list.push(invoice)
      byCommitment.set(key, list)
    }
    return rows.map((row) => commitmentFromRow(row, byCommitment.get(`${row.sozialraum}/${row.id}`) ?? []))
  }

  async getCommitment(year: number, sozialraum: string, id: string): Promise<CommitmentView | undefined> {
    const [[row], invoices] = (await this.db.queryTogether([
      { sql: `SELECT ${COMMITMENT_COLUMNS} FROM commitments WHERE year = ? AND sozialraum = ? AND id = ?`, params: [year, sozialraum, id] },
      {
        sql: `SELECT sozialraum, commitment_id, invoice_no, ${centsText('amount_cents', 'amount_cents')}, invoice_date FROM commitment_invoices
         WHERE year = ? AND sozialraum = ? AND commitment_id = ? ORDER BY position`,
        params: [year, sozialraum, id],
      },
    ])) as [CommitmentRow[], InvoiceRow[]]
    return row === undefined ? undefined : commitmentFromRow(row, invoices)
  }

  async listSpendings(year: number, sozialraum: string): Promise<SpendingView[]> {
    const rows = await this.db.query<SpendingRow>(
      `SELECT year, sozialraum, id, ${centsText('amount_cents', 'amount_cents')}, purpose, category, receipt_ref, spent_on, reversed, created_by, created_at
       FROM spendings WHERE year = ? AND sozialraum = ? ORDER BY created_at, id`,
      [year, sozialraum],
    )
    return rows.map((row) => ({
      id: row.id,
      year: Number(row.year),
      sozialraum: row.sozialraum,
      line: 'flexible' as const,
      amount: formatCents(centsFromStorage(row.amount_cents)),
      purpose: row.purpose,
      ...(row.category === null ? {} : { category: row.category }),
      receiptRef: row.receipt_ref,
      date: row.spent_on,
      reversed: Number(row.reversed) === 1,
      createdBy: row.created_by,
      createdAt: row.created_at,
    }))
  }

  /** Audit entries oldest first; `next` is the cursor for the following page, or null at the end. */
  async auditEvents(filter: AuditFilter): Promise<{ items: AuditEntry[]; next: string | null }> {
    const conditions: string[] = ['position > ?']
    const params: SqlValue[] = [filter.after ?? 0n]
    const add = (condition: string, value: SqlValue | undefined) => {
      if (value === undefined) return
      conditions.push(condition)
      params.push(value)
    }
    add('year = ?', filter.year)
    add('sozialraum = ?', filter.sozialraum)
    add('type = ?', filter.type)
    add('actor_sub = ?', filter.actor)
    add('recorded_at >= ?', filter.from)
    add('recorded_at < ?', filter.to)
    params.push(filter.limit + 1)
    const rows = await this.db.query<AuditRow>(
      `SELECT position, stream_id, revision, event_id, type, version, recorded_at, actor_sub, actor_role, data
       FROM audit_events WHERE ${conditions.join(' AND ')} ORDER BY position LIMIT ?`,
      params,
    )
    const page = rows.slice(0, filter.limit)
    const items = page.map((row) => ({
      position: BigInt(row.position).toString(),
      streamId: row.stream_id,
      revision: BigInt(row.revision).toString(),
      eventId: row.event_id,
      type: row.type,
      version: Number(row.version),
      recordedAt: row.recorded_at,
      actor: { sub: row.actor_sub, role: row.actor_role },
      data: JSON.parse(row.data) as unknown,
    }))
    const last = items[items.length - 1]
    return { items, next: rows.length > filter.limit && last ? last.position : null }
  }

  /**
   * Every budget of a year as it stood at a past moment, in the shape of `listBudgets`: from the
   * balance-history projection, the last row of each budget at or before the moment's position
   * (one seek per budget on its primary key). A budget with no row by then did not exist yet.
   */
  async budgetsAsOf(year: number, moment: LedgerMoment): Promise<{ year: number; items: BudgetView[]; total: BalanceView }> {
    const position = 'position' in moment ? moment.position : await this.positionRecordedBy(year, moment.recordedAt)
    const rows =
      position === undefined
        ? []
        : await this.db.query<HistoryRow>(
            `SELECT ${HISTORY_COLUMNS}
             FROM balance_history_budgets b
             JOIN balance_history h ON h.year = b.year AND h.sozialraum = b.sozialraum AND h.position = (
               SELECT x.position FROM balance_history x
               WHERE x.year = b.year AND x.sozialraum = b.sozialraum AND x.position <= ?
               ORDER BY x.position DESC LIMIT 1)
             WHERE b.year = ? ORDER BY b.sozialraum`,
            [position, year],
          )
    const budgets = rows.map((row) => ({ row, lines: historyLines(row) }))
    return {
      year,
      items: budgets.map(({ row, lines }) => budgetOfHistory(year, row, lines)),
      total: balanceView(sumBalances(budgets.flatMap(({ lines }) => [lines.ambulatory, lines.flexible]))),
    }
  }

  /**
   * The position of the last event of the year recorded at or before `recordedAt`, or undefined
   * before the year's first event. `recorded_up_to` never decreases with the position within a
   * year, so the last row by it is the last by position too: one seek, no scan.
   */
  private async positionRecordedBy(year: number, recordedAt: string): Promise<bigint | undefined> {
    // Named apart from the column: ORDER BY would take the alias, and order positions as text.
    const [row] = await this.db.query<{ position_text: string }>(
      `SELECT CAST(position AS TEXT) AS position_text FROM balance_history
       WHERE year = ? AND recorded_up_to <= ? ORDER BY recorded_up_to DESC, position DESC LIMIT 1`,
      [year, recordedAt],
    )
    return row === undefined ? undefined : BigInt(row.position_text)
  }
}

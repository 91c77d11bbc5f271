import type { Line } from '../domain/events.js'
import { centsFromStorage, formatCents, type Cents } from '../domain/money.js'
import type { YearStatus } from '../domain/year.js'
import type { SqlDatabase } from '../sql/port.js'

/** The read side of the year close and of moves between Sozialräume (docs/domain.md rules 8 and 9). */

type Integer = number | string | bigint

export interface FiscalYearView {
  year: number
  status: YearStatus
  request?: { reason: string; carryUnspent: Line[]; by: string; at: string }
  decision?: { decision: 'approve' | 'reject'; by: string; at: string; comment?: string }
  closedAt?: string
  /** How far the close is: the year's budgets, and how many of them are closed. */
  budgets: { total: number; closed: number }
  /** What the close carried into the next year so far, what the next year received, and what lapsed. */
  carried: { commitments: number; amount: string; allocation: string; unspent: string; received: number; lapsed: string }
}

export interface MoveView {
  id: string
  year: number
  from: { sozialraum: string; line: Line }
  to: { sozialraum: string; line: Line }
  amount: string
  reason: string
  status: 'in-transit' | 'completed' | 'refused' | 'reverted'
  why?: string
  requestedBy: string
  requestedAt: string
  settledAt?: string
}

interface YearRow {
  status: YearStatus
  reason: string | null
  carry_unspent: string | null
  requested_by: string | null
  requested_at: string | null
  decision: 'approve' | 'reject' | null
  decided_by: string | null
  decided_at: string | null
  decision_comment: string | null
  closed_at: string | null
}

interface MoveRow {
  year: Integer
  id: string
  from_sozialraum: string
  from_line: Line
  to_sozialraum: string
  to_line: Line
  amount_cents: string
  reason: string
  status: MoveView['status']
  why: string | null
  requested_by: string
  requested_at: string
  settled_at: string | null
}

const cents = (value: Integer | null): Cents => (value === null ? 0n : centsFromStorage(value))

const MOVE_COLUMNS = `year, id, from_sozialraum, from_line, to_sozialraum, to_line, CAST(amount_cents AS TEXT) AS amount_cents,
  reason, status, why, requested_by, requested_at, settled_at`

function moveFromRow(row: MoveRow): MoveView {
  return {
    id: row.id,
    year: Number(row.year),
    from: { sozialraum: row.from_sozialraum, line: row.from_line },
    to: { sozialraum: row.to_sozialraum, line: row.to_line },
    amount: formatCents(centsFromStorage(row.amount_cents)),
    reason: row.reason,
    status: row.status,
    ...(row.why === null ? {} : { why: row.why }),
    requestedBy: row.requested_by,
    requestedAt: row.requested_at,
    ...(row.settled_at === null ? {} : { settledAt: row.settled_at }),
  }
}

function request(row: YearRow | undefined): Pick<FiscalYearView, 'request' | 'decision' | 'closedAt'> {
  if (!row || row.requested_by === null || row.requested_at === null) return {}
  const carryUnspent = JSON.parse(row.carry_unspent ?? '[]') as Line[]
  return {
    request: { reason: row.reason ?? '', carryUnspent, by: row.requested_by, at: row.requested_at },
    ...(row.decision === null || row.decided_by === null || row.decided_at === null
      ? {}
      : {
          decision: {
            decision: row.decision,
            by: row.decided_by,
            at: row.decided_at,
            ...(row.decision_comment === null ? {} : { comment: row.decision_comment }),
          },
        }),
    ...(row.closed_at === null ? {} : { closedAt: row.closed_at }),
  }
}

export class FiscalYearQueries {
  constructor(private readonly db: SqlDatabase) {}

  async fiscalYear(year: number): Promise<FiscalYearView> {
    // Together: the year's figures from one state of the read models, not from several batches.
    const [[row], [budgets], [lines], [carried], [received]] = (await this.db.queryTogether([
      {
        sql: `SELECT status, reason, carry_unspent, requested_by, requested_at, decision, decided_by, decided_at, decision_comment, closed_at
         FROM fiscal_years WHERE year = ?`,
        params: [year],
      },
      { sql: 'SELECT COUNT(*) AS total, SUM(closed) AS closed FROM budgets WHERE year = ?', params: [year] },
      {
        sql: `SELECT CAST(SUM(carried_out_cents) AS TEXT) AS allocation, CAST(SUM(unspent_carried_cents) AS TEXT) AS unspent,
           CAST(SUM(lapsed_cents) AS TEXT) AS lapsed
         FROM budget_lines WHERE year = ?`,
        params: [year],
      },
      {
        sql: `SELECT COUNT(*) AS commitments, CAST(SUM(carried_cents) AS TEXT) AS amount FROM commitments
         WHERE year = ? AND carried_to_year IS NOT NULL`,
        params: [year],
      },
      { sql: 'SELECT COUNT(*) AS commitments FROM commitments WHERE year = ? AND carried_from_year = ?', params: [year + 1, year] },
    ])) as [
      YearRow[],
      Array<{ total: Integer; closed: Integer | null }>,
      Array<{ allocation: string | null; unspent: string | null; lapsed: string | null }>,
      Array<{ commitments: Integer; amount: string | null }>,
      Array<{ commitments: Integer }>,
    ]
    const carriedCommitments = cents(carried?.amount ?? null)
    return {
      year,
      status: row?.status ?? 'open',
      ...request(row),
      budgets: { total: Number(budgets?.total ?? 0), closed: Number(budgets?.closed ?? 0) },
      carried: {
        commitments: Number(carried?.commitments ?? 0),
        amount: formatCents(carriedCommitments),
        allocation: formatCents(cents(lines?.allocation ?? null)),
        unspent: formatCents(cents(lines?.unspent ?? null)),
        received: Number(received?.commitments ?? 0),
        lapsed: formatCents(cents(lines?.lapsed ?? null)),
      },
    }
  }

  /** The years whose close is approved and not yet complete: the close process finishes them. */
  async closingYears(): Promise<number[]> {
    const rows = await this.db.query<{ year: Integer }>(`SELECT year FROM fiscal_years WHERE status = 'closing' ORDER BY year`)
    return rows.map((row) => Number(row.year))
  }

  /** Whether the year has a budget (from its first allocation on). */
  async hasBudgets(year: number): Promise<boolean> {
    return (await this.db.query('SELECT 1 AS found FROM budgets WHERE year = ? LIMIT 1', [year])).length > 0
  }

  /**
   * The years between the last closed year before `year` and `year` that have a budget and are
   * not closed, oldest first (at most `limit`). Years before a closed year are not among them:
   * they can never close (nothing carries into a closed year), so waiting for them would stop
   * every later close for good.
   */
  async unclosedYearsBefore(year: number, limit = 10): Promise<number[]> {
    const rows = await this.db.query<{ year: Integer }>(
      `SELECT DISTINCT b.year AS year FROM budgets b LEFT JOIN fiscal_years f ON f.year = b.year
       WHERE b.year < ? AND (f.status IS NULL OR f.status <> 'closed')
         AND b.year > COALESCE((SELECT MAX(c.year) FROM fiscal_years c WHERE c.year < ? AND c.status = 'closed'), 0)
       ORDER BY b.year LIMIT ?`,
      [year, year, limit],
    )
    return rows.map((row) => Number(row.year))
  }

  /** The first year after `year` whose close is approved (closing) or done (closed). */
  async closingYearAfter(year: number): Promise<{ year: number; status: YearStatus } | undefined> {
    const [row] = await this.db.query<{ year: Integer; status: YearStatus }>(
      `SELECT year, status FROM fiscal_years WHERE year > ? AND status IN ('closing', 'closed') ORDER BY year LIMIT 1`,
      [year],
    )
    return row === undefined ? undefined : { year: Number(row.year), status: row.status }
  }

  /** The Sozialräume with a budget in the year (from its first allocation on). */
  async budgetsOfYear(year: number): Promise<string[]> {
    const rows = await this.db.query<{ sozialraum: string }>('SELECT sozialraum FROM budgets WHERE year = ? ORDER BY sozialraum', [year])
    return rows.map((row) => row.sozialraum)
  }

  /**
   * Budgets of a closed year that the close did not finish, which can still be finished (the next
   * year and its budget of the Sozialraum are not closed): open (a first allocation that passed
   * its year's check just before the approval, and landed after the close's last round), or
   * closed with a carry-over the next year's budget has not received (the process stopped
   * between the two steps). `year` given: that year's, for the close of the year after it. Else
   * every closed year's, but an open budget only where no later year is closing or closed: one
   * before a closing year is that close's to finish (closeYear), and one before a closed year
   * would open a budget that could never close. At most `limit`, oldest year first.
   */
  async unfinishedBudgetsOfClosedYears(year?: number, limit = 100): Promise<Array<{ year: number; sozialraum: string }>> {
    const ofYear = year === undefined ? '' : 'AND b.year = ?'
    const openMayFinish =
      year === undefined ? `AND NOT EXISTS (SELECT 1 FROM fiscal_years l WHERE l.year > b.year AND l.status IN ('closing', 'closed'))` : ''
    const rows = await this.db.query<{ year: Integer; sozialraum: string }>(
      `SELECT b.year, b.sozialraum FROM budgets b JOIN fiscal_years f ON f.year = b.year
       WHERE f.status = 'closed' ${ofYear}
         AND NOT EXISTS (SELECT 1 FROM fiscal_years nf WHERE nf.year = b.year + 1 AND nf.status = 'closed')
         AND NOT EXISTS (SELECT 1 FROM budgets nb WHERE nb.year = b.year + 1 AND nb.sozialraum = b.sozialraum AND nb.closed = 1)
         AND ((b.closed = 0 ${openMayFinish}) OR (b.closed = 1
           AND (EXISTS (SELECT 1 FROM budget_lines o WHERE o.year = b.year AND o.sozialraum = b.sozialraum AND o.carried_out_cents > 0)
             OR EXISTS (SELECT 1 FROM commitments c WHERE c.year = b.year AND c.sozialraum = b.sozialraum AND c.carried_to_year IS NOT NULL))
           AND NOT EXISTS (SELECT 1 FROM budget_lines i WHERE i.year = b.year + 1 AND i.sozialraum = b.sozialraum AND i.carried_in_cents > 0)
           AND NOT EXISTS (SELECT 1 FROM commitments n WHERE n.year = b.year + 1 AND n.sozialraum = b.sozialraum AND n.carried_from_year = b.year)))
       ORDER BY b.year, b.sozialraum LIMIT ?`,
      year === undefined ? [limit] : [year, limit],
    )
    return rows.map((row) => ({ year: Number(row.year), sozialraum: row.sozialraum }))
  }

  /** Moves that are debited but neither credited nor reverted yet, with their amount in cents: the move process finishes them. */
  async unsettledMoves(year?: number): Promise<Array<MoveView & { amountCents: Cents }>> {
    const rows = await this.db.query<MoveRow>(
      `SELECT ${MOVE_COLUMNS} FROM budget_moves WHERE status IN ('in-transit', 'refused')${year === undefined ? '' : ' AND year = ?'}
       ORDER BY requested_at, id`,
      year === undefined ? [] : [year],
    )
    return rows.map((row) => ({ ...moveFromRow(row), amountCents: centsFromStorage(row.amount_cents) }))
  }

  async listMoves(year: number, onlySozialraeume?: readonly string[]): Promise<MoveView[]> {
    const rows = await this.db.query<MoveRow>(`SELECT ${MOVE_COLUMNS} FROM budget_moves WHERE year = ? ORDER BY requested_at, id`, [year])
    const visible = (row: MoveRow) =>
      onlySozialraeume === undefined || onlySozialraeume.includes(row.from_sozialraum) || onlySozialraeume.includes(row.to_sozialraum)
    return rows.filter(visible).map(moveFromRow)
  }

  async getMove(year: number, id: string): Promise<MoveView | undefined> {
    const [row] = await this.db.query<MoveRow>(`SELECT ${MOVE_COLUMNS} FROM budget_moves WHERE year = ? AND id = ?`, [year, id])
    return row ? moveFromRow(row) : undefined
  }
}

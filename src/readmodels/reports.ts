import { utilisationPercent, warningLevel, type UtilisationThresholds } from '../domain/budget/warnings.js'
import { LINES, type Line } from '../domain/events.js'
import { centsFromStorage, formatCents, type Cents } from '../domain/money.js'
import { daysBefore, daysBetween } from '../domain/reports/dates.js'
import { changePercent, percentOf, perCase } from '../domain/reports/figures.js'
import { forecastAsOf, forecastYear, type CommitmentStatus, type ForecastBudgetInput, type ForecastFigures, type YearForecast } from '../domain/reports/forecast.js'
import type { SqlDatabase, SqlValue } from '../sql/port.js'

/**
 * The controlling reports (docs/reports.md): SQL over the projections' tables (budget_lines,
 * commitments, spendings, monthly_spent), aggregated in the database where it can, never a replay
 * of events. Amounts are read as exact text (CAST … AS TEXT) and held as bigint cents; the
 * derived figures (forecast, percentages, costs per case) come from the pure functions in
 * src/domain/reports/. Answers are in the API's shapes: money as strings with two decimals.
 *
 * Every report takes the Sozialräume the caller may see (`visible`, undefined for all): rows and
 * totals cover those only. Sozialräume are listed in the order of their ids as code units, on
 * both databases (PostgreSQL would sort text by its collation).
 */

type Integer = number | string | bigint
type CentsText = string

const cents = (value: Integer | null | undefined): Cents => (value === null || value === undefined ? 0n : centsFromStorage(value))
const money = formatCents
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
/** Selects a cents column or sum as exact text under the name `alias` (see centsText in queries.ts). */
function centsTextOf(expression: string, alias: string): string {
  return `CAST(${expression} AS TEXT) AS ${alias}`
}

/** `AND <column> IN (…)` for the visible Sozialräume (nothing for all, nothing at all for none). */
function scope(column: string, visible: readonly string[] | undefined): { sql: string; params: SqlValue[] } {
  if (visible === undefined) return { sql: '', params: [] }
  if (visible.length === 0) return { sql: ' AND 1 = 0', params: [] }
  return { sql: ` AND ${column} IN (${visible.map(() => '?').join(', ')})`, params: [...visible] }
}

const REMAINING = 'amount_cents - invoiced_cents - released_cents - carried_cents'
/** What a commitment binds or has spent in its year: all of it but what was released or carried on. */
const COMMITTED = 'amount_cents - released_cents - carried_cents'

// ---------------------------------------------------------------------------------------------
// The shapes of the answers

export interface MonitoringFigures {
  allocated: string
  carriedIn: string
  carriedOut: string
  movedIn: string
  movedOut: string
  lapsed: string
  committed: string
  spent: string
  available: string
  utilisation: string | null
  warningLevel: number | null
  forecastResult: string
}
export interface MonitoringReport {
  year: number
  asOf: string
  thresholds: { ambulatory: number[]; flexible: number[] }
  items: Array<{ sozialraum: string; lines: Record<Line, MonitoringFigures>; total: MonitoringFigures }>
  total: { lines: Record<Line, MonitoringFigures>; total: MonitoringFigures }
}

export interface ForecastFiguresView {
  allocated: string
  spent: string
  expectedCommitments: string
  runRate: string
  forecastSpent: string
  forecastResult: string
}
export interface ForecastReport {
  year: number
  asOf: string
  items: Array<{ sozialraum: string; lines: Record<Line, ForecastFiguresView>; total: ForecastFiguresView }>
  total: { lines: Record<Line, ForecastFiguresView>; total: ForecastFiguresView }
}

export interface GroupFigures {
  committed: string
  invoiced: string
  open: string
  cases: number
  costPerCase: string | null
}
export type Grouping = 'provider' | 'helpType'
export interface GroupReport<K extends Grouping> {
  year: number
  items: Array<{ [key in K]: key extends 'helpType' ? string | null : string } & {
    sozialraeume: Array<{ sozialraum: string } & GroupFigures>
    total: GroupFigures
  }>
  total: GroupFigures
}

export interface ComparisonFigures {
  ambulatoryCommitted: string
  cases: number
  costPerCase: string | null
  flexibleSpent: string
  totalSpent: string
  flexibleShare: string | null
  previous: { costPerCase: string | null; totalSpent: string | null }
  change: { costPerCase: string | null; totalSpent: string | null }
}
export interface ComparisonReport {
  year: number
  previousYear: number
  items: Array<{ sozialraum: string } & ComparisonFigures>
  total: ComparisonFigures
}

export interface MonthFigures {
  ambulatory: string
  flexible: string
  total: string
}
export interface MonthlyReport {
  year: number
  items: Array<{ sozialraum: string; months: Array<{ month: number } & MonthFigures>; total: MonthFigures }>
  total: { months: Array<{ month: number } & MonthFigures>; total: MonthFigures }
}

export interface StaleCommitment {
  id: string
  sozialraum: string
  line: Line
  provider: string
  caseRef: string
  helpType: string | null
  period: { from: string; to: string }
  remaining: string
  daysOverdue: number
}
export interface StaleCommitmentsReport {
  year: number
  asOf: string
  days: number
  items: StaleCommitment[]
  total: { commitments: number; remaining: string }
}

// ---------------------------------------------------------------------------------------------
// Figures in cents, summed before they are shown

interface LineCents {
  allocated: Cents
  carriedIn: Cents
  carriedOut: Cents
  movedIn: Cents
  movedOut: Cents
  lapsed: Cents
  committed: Cents
  spent: Cents
  forecastResult: Cents
}
const LINE_FIGURES = ['allocated', 'carriedIn', 'carriedOut', 'movedIn', 'movedOut', 'lapsed', 'committed', 'spent', 'forecastResult'] as const
const ZERO_LINE: LineCents = Object.freeze({
  allocated: 0n,
  carriedIn: 0n,
  carriedOut: 0n,
  movedIn: 0n,
  movedOut: 0n,
  lapsed: 0n,
  committed: 0n,
  spent: 0n,
  forecastResult: 0n,
})
function addLines(a: LineCents, b: LineCents): LineCents {
  const sum = { ...ZERO_LINE }
  for (const figure of LINE_FIGURES) sum[figure] = a[figure] + b[figure]
  return sum
}

/** A row of monitoring; `thresholds` are the line's, or undefined for both lines together (no warning level). */
function monitoringView(figures: LineCents, thresholds: readonly number[] | undefined): MonitoringFigures {
  const balance = { allocatedCents: figures.allocated, committedCents: figures.committed, spentCents: figures.spent }
  return {
    allocated: money(figures.allocated),
    carriedIn: money(figures.carriedIn),
    carriedOut: money(figures.carriedOut),
    movedIn: money(figures.movedIn),
    movedOut: money(figures.movedOut),
    lapsed: money(figures.lapsed),
    committed: money(figures.committed),
    spent: money(figures.spent),
    available: money(figures.allocated - figures.committed - figures.spent),
    utilisation: utilisationPercent(balance)?.toFixed(2) ?? null,
    warningLevel: thresholds === undefined ? null : warningLevel(balance, thresholds),
    forecastResult: money(figures.forecastResult),
  }
}

function forecastView(figures: ForecastFigures): ForecastFiguresView {
  return {
    allocated: money(figures.allocatedCents),
    spent: money(figures.spentCents),
    expectedCommitments: money(figures.expectedCommitmentsCents),
    runRate: money(figures.runRateCents),
    forecastSpent: money(figures.forecastSpentCents),
    forecastResult: money(figures.forecastResultCents),
  }
}

interface GroupCents {
  committed: Cents
  invoiced: Cents
  open: Cents
  cases: number
}
function groupView(figures: GroupCents): GroupFigures {
  const cost = perCase(figures.committed, figures.cases)
  return {
    committed: money(figures.committed),
    invoiced: money(figures.invoiced),
    open: money(figures.open),
    cases: figures.cases,
    costPerCase: cost === null ? null : money(cost),
  }
}

interface ComparisonCents {
  committed: Cents
  cases: number
  flexibleSpent: Cents
  totalSpent: Cents
  previous: { committed: Cents; cases: number; totalSpent: Cents } | undefined
}
function comparisonView(figures: ComparisonCents): ComparisonFigures {
  const cost = perCase(figures.committed, figures.cases)
  const previousCost = figures.previous === undefined ? null : perCase(figures.previous.committed, figures.previous.cases)
  const previousSpent = figures.previous === undefined ? null : figures.previous.totalSpent
  return {
    ambulatoryCommitted: money(figures.committed),
    cases: figures.cases,
    costPerCase: cost === null ? null : money(cost),
    flexibleSpent: money(figures.flexibleSpent),
    totalSpent: money(figures.totalSpent),
    flexibleShare: percentOf(figures.flexibleSpent, figures.totalSpent),
    previous: {
      costPerCase: previousCost === null ? null : money(previousCost),
      totalSpent: previousSpent === null ? null : money(previousSpent),
    },
    change: {
      // From the costs per case as shown (rounded to the cent), so that the CSV's figures add up.
      costPerCase: cost === null ? null : changePercent(cost, previousCost),
      totalSpent: changePercent(figures.totalSpent, previousSpent),
    },
  }
}

const monthView = (ambulatory: Cents, flexible: Cents): MonthFigures => ({
  ambulatory: money(ambulatory),
  flexible: money(flexible),
  total: money(ambulatory + flexible),
})

// ---------------------------------------------------------------------------------------------
// Rows as the queries give them

interface LineRow {
  sozialraum: string
  line: Line
  allocated_cents: CentsText
  carried_in_cents: CentsText
  carried_out_cents: CentsText
  moved_in_cents: CentsText
  moved_out_cents: CentsText
  lapsed_cents: CentsText
  committed_cents: CentsText
  spent_cents: CentsText
}

interface GroupRow {
  grp: string | null
  sozialraum?: string
  committed_cents: CentsText | null
  invoiced_cents: CentsText | null
  open_cents: CentsText | null
  cases: Integer
}

const groupCents = (row: GroupRow): GroupCents => ({
  committed: cents(row.committed_cents),
  invoiced: cents(row.invoiced_cents),
  open: cents(row.open_cents),
  cases: Number(row.cases),
})

const LINE_COLUMNS = ['allocated', 'carried_in', 'carried_out', 'moved_in', 'moved_out', 'lapsed', 'committed', 'spent']
  .map((figure) => centsTextOf(`${figure}_cents`, `${figure}_cents`))
  .join(', ')

const GROUP_FIGURES = `${centsTextOf(`SUM(${COMMITTED})`, 'committed_cents')}, ${centsTextOf('SUM(invoiced_cents)', 'invoiced_cents')},
  ${centsTextOf(`SUM(CASE WHEN status IN ('open', 'requested') THEN ${REMAINING} ELSE 0 END)`, 'open_cents')},
  COUNT(DISTINCT case_ref) AS cases`

const NO_SPENDING = Object.freeze({ onOrBeforeAsOfCents: 0n, afterAsOfCents: 0n })

/** null sorts after every name: commitments without a help type come last. */
const byGroupName = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : byCodeUnits(a, b))

export class ReportQueries {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Every line of the year's budgets, with where its allocation came from and went, and the
   * forecast from them, the open commitments and the flexible spending: read together, on one state.
   */
  private async linesAndForecast(
    year: number,
    asOf: string,
    visible: readonly string[] | undefined,
  ): Promise<{ lines: LineRow[]; forecast: YearForecast }> {
    const where = scope('sozialraum', visible)
    const params = [year, ...where.params]
    // The run rate extrapolates the spending dated up to asOf; what is dated later is already recorded of the days it forecasts.
    const on = forecastAsOf(year, asOf)
    const [lines, commitments, spendings] = (await this.db.queryTogether([
      { sql: `SELECT sozialraum, line, ${LINE_COLUMNS} FROM budget_lines WHERE year = ?${where.sql}`, params },
      {
        sql: `SELECT sozialraum, line, status, ${centsTextOf(REMAINING, 'remaining_cents')}, period_from, period_to
         FROM commitments WHERE year = ? AND status IN ('open', 'requested')${where.sql}`,
        params,
      },
      {
        sql: `SELECT sozialraum, ${centsTextOf('SUM(CASE WHEN spent_on <= ? THEN amount_cents ELSE 0 END)', 'until_cents')},
         ${centsTextOf('SUM(CASE WHEN spent_on > ? THEN amount_cents ELSE 0 END)', 'after_cents')} FROM spendings
         WHERE year = ? AND reversed = 0${where.sql} GROUP BY sozialraum`,
        params: [on, on, ...params],
      },
    ])) as [
      LineRow[],
      Array<{ sozialraum: string; line: Line; status: CommitmentStatus; remaining_cents: CentsText; period_from: string; period_to: string }>,
      Array<{ sozialraum: string; until_cents: CentsText | null; after_cents: CentsText | null }>,
    ]
    const budgets = new Map<string, ForecastBudgetInput & { commitments: ForecastBudgetInput['commitments'][number][] }>()
    for (const row of lines) {
      let budget = budgets.get(row.sozialraum)
      if (budget === undefined) {
        const empty = { allocatedCents: 0n, spentCents: 0n }
        budget = { sozialraum: row.sozialraum, lines: { ambulatory: empty, flexible: empty }, flexibleSpending: NO_SPENDING, commitments: [] }
        budgets.set(row.sozialraum, budget)
      }
      budget.lines = { ...budget.lines, [row.line]: { allocatedCents: cents(row.allocated_cents), spentCents: cents(row.spent_cents) } }
    }
    for (const row of spendings) {
      const budget = budgets.get(row.sozialraum)
      if (budget) budget.flexibleSpending = { onOrBeforeAsOfCents: cents(row.until_cents), afterAsOfCents: cents(row.after_cents) }
    }
    for (const row of commitments) {
      budgets.get(row.sozialraum)?.commitments.push({
        line: row.line,
        status: row.status,
        remainingCents: cents(row.remaining_cents),
        period: { from: row.period_from, to: row.period_to },
      })
    }
    const ordered = [...budgets.values()].sort((a, b) => byCodeUnits(a.sozialraum, b.sozialraum))
    return { lines, forecast: forecastYear(year, on, ordered) }
  }

  /** Haushaltsüberwachungsliste: every budget's lines with their flows, use, warning level and forecast result. */
  async monitoring(
    year: number,
    asOf: string,
    thresholds: UtilisationThresholds,
    visible: readonly string[] | undefined,
  ): Promise<MonitoringReport> {
    const { lines, forecast } = await this.linesAndForecast(year, asOf, visible)
    const results = new Map(forecast.items.map((item) => [item.sozialraum, item]))
    const budgets = new Map<string, Record<Line, LineCents>>()
    for (const row of lines) {
      const budget = budgets.get(row.sozialraum) ?? { ambulatory: ZERO_LINE, flexible: ZERO_LINE }
      budget[row.line] = {
        allocated: cents(row.allocated_cents),
        carriedIn: cents(row.carried_in_cents),
        carriedOut: cents(row.carried_out_cents),
        movedIn: cents(row.moved_in_cents),
        movedOut: cents(row.moved_out_cents),
        lapsed: cents(row.lapsed_cents),
        committed: cents(row.committed_cents),
        spent: cents(row.spent_cents),
        forecastResult: results.get(row.sozialraum)?.lines[row.line].forecastResultCents ?? 0n,
      }
      budgets.set(row.sozialraum, budget)
    }
    const totals: Record<Line, LineCents> = { ambulatory: ZERO_LINE, flexible: ZERO_LINE }
    const view = (of: Record<Line, LineCents>) => ({
      lines: { ambulatory: monitoringView(of.ambulatory, thresholds.ambulatory), flexible: monitoringView(of.flexible, thresholds.flexible) },
      total: monitoringView(addLines(of.ambulatory, of.flexible), undefined),
    })
    const items = [...budgets.entries()]
      .sort(([a], [b]) => byCodeUnits(a, b))
      .map(([sozialraum, of]) => {
        for (const line of LINES) totals[line] = addLines(totals[line], of[line])
        return { sozialraum, ...view(of) }
      })
    return {
      year,
      asOf: forecast.asOf,
      thresholds: { ambulatory: [...thresholds.ambulatory], flexible: [...thresholds.flexible] },
      items,
      total: view(totals),
    }
  }

  /** Hochrechnung: every budget's year-end forecast by line (src/domain/reports/forecast.ts). */
  async forecast(year: number, asOf: string, visible: readonly string[] | undefined): Promise<ForecastReport> {
    const { forecast } = await this.linesAndForecast(year, asOf, visible)
    const view = (of: { lines: Record<Line, ForecastFigures>; total: ForecastFigures }) => ({
      lines: { ambulatory: forecastView(of.lines.ambulatory), flexible: forecastView(of.lines.flexible) },
      total: forecastView(of.total),
    })
    return {
      year,
      asOf: forecast.asOf,
      items: forecast.items.map((item) => ({ sozialraum: item.sozialraum, ...view(item) })),
      total: view(forecast.total),
    }
  }

  /**
   * The year's commitments by provider or by help type (those without one as null), per
   * Sozialraum and in total; rejected commitments left out. Cases are distinct case references:
   * in a total, a case with commitments in several Sozialräume (or, for the grand total, several
   * groups) counts once, so a total may count fewer cases than its rows together.
   */
  async byGroup<K extends Grouping>(year: number, grouping: K, visible: readonly string[] | undefined): Promise<GroupReport<K>> {
    const column = grouping === 'provider' ? 'provider' : 'help_type'
    const where = scope('sozialraum', visible)
    const from = `FROM commitments WHERE year = ? AND status <> 'rejected'${where.sql}`
    const params = [year, ...where.params]
    // Together, so that the rows add up to their groups and the groups to the total.
    const [rows, groups, [total]] = (await this.db.queryTogether([
      { sql: `SELECT ${column} AS grp, sozialraum, ${GROUP_FIGURES} ${from} GROUP BY ${column}, sozialraum`, params },
      { sql: `SELECT ${column} AS grp, ${GROUP_FIGURES} ${from} GROUP BY ${column}`, params },
      { sql: `SELECT NULL AS grp, ${GROUP_FIGURES} ${from}`, params },
    ])) as [Array<GroupRow & { sozialraum: string }>, GroupRow[], GroupRow[]]
    const bySozialraum = new Map<string | null, Array<GroupRow & { sozialraum: string }>>()
    for (const row of rows) bySozialraum.set(row.grp, [...(bySozialraum.get(row.grp) ?? []), row])
    const items = groups
      .sort((a, b) => byGroupName(a.grp, b.grp))
      .map((group) => ({
        [grouping]: group.grp,
        sozialraeume: (bySozialraum.get(group.grp) ?? [])
          .sort((a, b) => byCodeUnits(a.sozialraum, b.sozialraum))
          .map((row) => ({ sozialraum: row.sozialraum, ...groupView(groupCents(row)) })),
        total: groupView(groupCents(group)),
      }))
    return {
      year,
      items: items as GroupReport<K>['items'],
      total: groupView(total === undefined ? { committed: 0n, invoiced: 0n, open: 0n, cases: 0 } : groupCents(total)),
    }
  }

  /**
   * The year's budgets side by side, with the previous year's cost per case and total spent of
   * the same Sozialraum. The total's previous figures cover the same Sozialräume as its rows.
   */
  async comparison(year: number, visible: readonly string[] | undefined): Promise<ComparisonReport> {
    const previousYear = year - 1
    const where = scope('sozialraum', visible)
    // The Sozialräume listed are those with a budget this year; the commitments counted are theirs.
    const ambulatory = `FROM commitments WHERE year IN (?, ?) AND line = 'ambulatory' AND status <> 'rejected'
      AND sozialraum IN (SELECT sozialraum FROM budget_lines WHERE year = ?${where.sql})`
    const ambulatoryParams = [year, previousYear, year, ...where.params]
    // Together: the spending and the commitments of one state of the read models.
    const [spentRows, committedRows, caseTotals] = (await this.db.queryTogether([
      {
        sql: `SELECT year, sozialraum, line, ${centsTextOf('spent_cents', 'spent_cents')} FROM budget_lines WHERE year IN (?, ?)${where.sql}`,
        params: [year, previousYear, ...where.params],
      },
      {
        sql: `SELECT year, sozialraum, ${centsTextOf(`SUM(${COMMITTED})`, 'committed_cents')}, COUNT(DISTINCT case_ref) AS cases
         ${ambulatory} GROUP BY year, sozialraum`,
        params: ambulatoryParams,
      },
      { sql: `SELECT year, COUNT(DISTINCT case_ref) AS cases ${ambulatory} GROUP BY year`, params: ambulatoryParams },
    ])) as [
      Array<{ year: Integer; sozialraum: string; line: Line; spent_cents: CentsText }>,
      Array<{ year: Integer; sozialraum: string; committed_cents: CentsText | null; cases: Integer }>,
      Array<{ year: Integer; cases: Integer }>,
    ]
    const listed = [...new Set(spentRows.filter((row) => Number(row.year) === year).map((row) => row.sozialraum))].sort(byCodeUnits)
    type Figures = { committed: Cents; cases: number; flexibleSpent: Cents; totalSpent: Cents }
    const figures = new Map<string, Figures>()
    const of = (ofYear: number, sozialraum: string): Figures => {
      const key = `${ofYear}/${sozialraum}`
      let found = figures.get(key)
      if (found === undefined) figures.set(key, (found = { committed: 0n, cases: 0, flexibleSpent: 0n, totalSpent: 0n }))
      return found
    }
    for (const row of spentRows) {
      const target = of(Number(row.year), row.sozialraum)
      const spent = cents(row.spent_cents)
      target.totalSpent += spent
      if (row.line === 'flexible') target.flexibleSpent += spent
    }
    for (const row of committedRows) {
      const target = of(Number(row.year), row.sozialraum)
      target.committed = cents(row.committed_cents)
      target.cases = Number(row.cases)
    }
    const hasBudget = (ofYear: number, sozialraum: string): boolean =>
      spentRows.some((row) => Number(row.year) === ofYear && row.sozialraum === sozialraum)
    const casesOf = (ofYear: number): number => Number(caseTotals.find((row) => Number(row.year) === ofYear)?.cases ?? 0)

    const total = { committed: 0n, flexibleSpent: 0n, totalSpent: 0n }
    const previousTotal = { committed: 0n, totalSpent: 0n, budgets: 0 }
    const items = listed.map((sozialraum) => {
      const current = of(year, sozialraum)
      total.committed += current.committed
      total.flexibleSpent += current.flexibleSpent
      total.totalSpent += current.totalSpent
      let previous: ComparisonCents['previous']
      if (hasBudget(previousYear, sozialraum)) {
        const before = of(previousYear, sozialraum)
        previous = { committed: before.committed, cases: before.cases, totalSpent: before.totalSpent }
        previousTotal.committed += before.committed
        previousTotal.totalSpent += before.totalSpent
        previousTotal.budgets += 1
      }
      return { sozialraum, ...comparisonView({ ...current, previous }) }
    })
    return {
      year,
      previousYear,
      items,
      total: comparisonView({
        ...total,
        cases: casesOf(year),
        previous:
          previousTotal.budgets === 0
            ? undefined
            : { committed: previousTotal.committed, cases: casesOf(previousYear), totalSpent: previousTotal.totalSpent },
      }),
    }
  }

  /** Spent per month and line, per budget and in total (the monthly projection). */
  async monthly(year: number, visible: readonly string[] | undefined): Promise<MonthlyReport> {
    const where = scope('sozialraum', visible)
    const [budgets, rows] = (await this.db.queryTogether([
      { sql: `SELECT sozialraum FROM budgets WHERE year = ?${where.sql}`, params: [year, ...where.params] },
      {
        sql: `SELECT sozialraum, month, line, ${centsTextOf('spent_cents', 'spent_cents')} FROM monthly_spent WHERE year = ?${where.sql}`,
        params: [year, ...where.params],
      },
    ])) as [Array<{ sozialraum: string }>, Array<{ sozialraum: string; month: Integer; line: Line; spent_cents: CentsText }>]
    const empty = (): Array<Record<Line, Cents>> => Array.from({ length: 12 }, () => ({ ambulatory: 0n, flexible: 0n }))
    const bySozialraum = new Map(budgets.map((row) => [row.sozialraum, empty()]))
    const totals = empty()
    for (const row of rows) {
      const month = Number(row.month)
      const spent = cents(row.spent_cents)
      const months = bySozialraum.get(row.sozialraum)
      const cell = months?.[month - 1]
      const totalCell = totals[month - 1]
      if (cell === undefined || totalCell === undefined) continue
      cell[row.line] += spent
      totalCell[row.line] += spent
    }
    const series = (months: ReadonlyArray<Record<Line, Cents>>) => {
      const sum = { ambulatory: 0n, flexible: 0n }
      const list = months.map((month, index) => {
        sum.ambulatory += month.ambulatory
        sum.flexible += month.flexible
        return { month: index + 1, ...monthView(month.ambulatory, month.flexible) }
      })
      return { months: list, total: monthView(sum.ambulatory, sum.flexible) }
    }
    return {
      year,
      items: [...bySozialraum.entries()].sort(([a], [b]) => byCodeUnits(a, b)).map(([sozialraum, months]) => ({ sozialraum, ...series(months) })),
      total: series(totals),
    }
  }

  /**
   * Open commitments (status open) whose period ended more than `days` days before `asOf`
   * and that have money left: the team leads release them. Most overdue first.
   */
  async staleCommitments(year: number, asOf: string, days: number, visible: readonly string[] | undefined): Promise<StaleCommitmentsReport> {
    const where = scope('sozialraum', visible)
    // Ended more than `days` days before asOf: asOf − to > days, that is to < asOf − days.
    const endedBefore = daysBefore(asOf, days)
    const rows = await this.db.query<{
      id: string
      sozialraum: string
      line: Line
      provider: string
      case_ref: string
      help_type: string | null
      period_from: string
      period_to: string
      remaining_cents: CentsText
    }>(
      `SELECT id, sozialraum, line, provider, case_ref, help_type, period_from, period_to, ${centsTextOf(REMAINING, 'remaining_cents')}
       FROM commitments WHERE year = ? AND status = 'open' AND period_to < ? AND ${REMAINING} > 0${where.sql}`,
      [year, endedBefore, ...where.params],
    )
    rows.sort((a, b) => byCodeUnits(a.period_to, b.period_to) || byCodeUnits(a.sozialraum, b.sozialraum) || byCodeUnits(a.id, b.id))
    let remaining = 0n
    const items = rows.map((row) => {
      const left = cents(row.remaining_cents)
      remaining += left
      return {
        id: row.id,
        sozialraum: row.sozialraum,
        line: row.line,
        provider: row.provider,
        caseRef: row.case_ref,
        helpType: row.help_type,
        period: { from: row.period_from, to: row.period_to },
        remaining: money(left),
        daysOverdue: daysBetween(row.period_to, asOf),
      }
    })
    return { year, asOf, days, items, total: { commitments: items.length, remaining: money(remaining) } }
  }
}

import { toStoredEvent } from '../../src/application/stored-event.js'
import type { DomainEvent, Line } from '../../src/domain/events.js'
import { START, type EventStore } from '../../src/eventstore/port.js'
import { DEFAULT_UTILISATION_THRESHOLDS } from '../../src/domain/budget/warnings.js'
import type { ReportName, ReportQuery } from './http-helpers.js'

/**
 * The controlling reports recomputed from the raw event log with plain code, without the read
 * models, the projections or the report code: what each report must answer (docs/reports.md).
 * Amounts are bigint cents; rounding is done here in integers (halves away from zero).
 */

const LINES: readonly Line[] = ['ambulatory', 'flexible']

export async function readEvents(store: EventStore): Promise<DomainEvent[]> {
  const events: DomainEvent[] = []
  let after = START
  for (;;) {
    const page = await store.readAll({ after, maxCount: 5000 })
    for (const recorded of page) events.push(toStoredEvent(recorded).event)
    const last = page[page.length - 1]
    if (last === undefined || page.length < 5000) return events
    after = last.position
  }
}

interface LineFigures {
  allocated: bigint
  committed: bigint
  spent: bigint
  carriedIn: bigint
  carriedOut: bigint
  movedIn: bigint
  movedOut: bigint
  lapsed: bigint
}

interface Commitment {
  year: number
  sozialraum: string
  id: string
  line: Line
  provider: string
  caseRef: string
  helpType: string | null
  from: string
  to: string
  amount: bigint
  invoiced: bigint
  released: bigint
  carried: bigint
  status: 'requested' | 'open' | 'closed' | 'rejected'
}

interface Spending {
  year: number
  sozialraum: string
  amount: bigint
  date: string
  reversed: boolean
}

interface Invoice {
  year: number
  sozialraum: string
  line: Line
  amount: bigint
  date: string
}

export interface Ledger {
  budgets: Map<string, Record<Line, LineFigures>>
  commitments: Map<string, Commitment>
  spendings: Map<string, Spending>
  invoices: Invoice[]
}

const key = (year: number, sozialraum: string): string => `${year}/${sozialraum}`
const emptyLine = (): LineFigures => ({
  allocated: 0n,
  committed: 0n,
  spent: 0n,
  carriedIn: 0n,
  carriedOut: 0n,
  movedIn: 0n,
  movedOut: 0n,
  lapsed: 0n,
})

/** Folds the events into budgets, commitments, spendings and invoices. */
export function recompute(events: readonly DomainEvent[]): Ledger {
  const ledger: Ledger = { budgets: new Map(), commitments: new Map(), spendings: new Map(), invoices: [] }
  // Budget events may come before a budget exists (a refused move): their figures are kept apart.
  const figures = new Map<string, Record<Line, LineFigures>>()
  const linesOf = (year: number, sozialraum: string): Record<Line, LineFigures> => {
    let lines = figures.get(key(year, sozialraum))
    if (!lines) figures.set(key(year, sozialraum), (lines = { ambulatory: emptyLine(), flexible: emptyLine() }))
    return lines
  }
  const commitment = (data: { year: number; sozialraum: string; commitmentId: string }): Commitment => {
    const found = ledger.commitments.get(`${key(data.year, data.sozialraum)}/${data.commitmentId}`)
    if (!found) throw new Error(`unknown commitment ${data.commitmentId}`)
    return found
  }
  const settle = (c: Commitment) => {
    if (c.status !== 'rejected' && c.amount === c.invoiced + c.released + c.carried) c.status = 'closed'
  }
  for (const event of events) {
    if (!('sozialraum' in event.data) || !('year' in event.data)) continue
    const { year, sozialraum } = event.data as { year: number; sozialraum: string }
    const lines = () => linesOf(year, sozialraum)
    switch (event.type) {
      case 'BudgetAllocated': {
        const l = lines()[event.data.line]
        l.allocated += BigInt(event.data.amountCents)
        if (event.data.kind === 'carry-over') l.carriedIn += BigInt(event.data.amountCents)
        ledger.budgets.set(key(year, sozialraum), lines())
        break
      }
      case 'BudgetAdjusted':
        lines()[event.data.line].allocated += BigInt(event.data.amountCents)
        break
      case 'BudgetTransferred':
        lines()[event.data.fromLine].allocated -= BigInt(event.data.amountCents)
        lines()[event.data.toLine].allocated += BigInt(event.data.amountCents)
        break
      case 'CommitmentCreated':
      case 'CommitmentCarriedIn': {
        const d = event.data
        lines()[d.line].committed += BigInt(d.amountCents)
        ledger.commitments.set(`${key(year, sozialraum)}/${d.commitmentId}`, {
          year,
          sozialraum,
          id: d.commitmentId,
          line: d.line,
          provider: d.provider,
          caseRef: d.caseRef,
          helpType: d.helpType ?? null,
          from: d.period.from,
          to: d.period.to,
          amount: BigInt(d.amountCents),
          invoiced: 0n,
          released: 0n,
          carried: 0n,
          status: d.status,
        })
        break
      }
      case 'CommitmentAmended': {
        const c = commitment(event.data)
        lines()[c.line].committed += BigInt(event.data.amountCents)
        c.amount += BigInt(event.data.amountCents)
        settle(c)
        break
      }
      case 'CommitmentApprovalRequested':
        commitment(event.data).status = 'requested'
        break
      case 'CommitmentApproved':
        commitment(event.data).status = 'open'
        break
      case 'CommitmentRejected': {
        const c = commitment(event.data)
        lines()[c.line].committed -= BigInt(event.data.amountCents)
        if (event.data.status === 'rejected') {
          c.released += BigInt(event.data.amountCents)
          c.status = 'rejected'
        } else {
          c.amount -= BigInt(event.data.amountCents)
          c.status = 'open'
        }
        break
      }
      case 'InvoiceBooked': {
        const c = commitment(event.data)
        const amount = BigInt(event.data.amountCents)
        lines()[c.line].committed -= amount
        lines()[c.line].spent += amount
        c.invoiced += amount
        settle(c)
        ledger.invoices.push({ year, sozialraum, line: c.line, amount, date: event.data.invoiceDate })
        break
      }
      case 'CommitmentReleased': {
        const c = commitment(event.data)
        lines()[c.line].committed -= BigInt(event.data.amountCents)
        c.released += BigInt(event.data.amountCents)
        c.status = 'closed'
        break
      }
      case 'CommitmentCarriedOver': {
        const c = commitment(event.data)
        const amount = BigInt(event.data.amountCents)
        lines()[c.line].committed -= amount
        c.carried += amount
        c.status = 'closed'
        break
      }
      case 'AllocationCarriedOver':
        lines()[event.data.line].allocated -= BigInt(event.data.amountCents)
        lines()[event.data.line].carriedOut += BigInt(event.data.amountCents)
        break
      case 'BudgetClosed':
        lines().ambulatory.lapsed += BigInt(event.data.lapsed.ambulatory)
        lines().flexible.lapsed += BigInt(event.data.lapsed.flexible)
        break
      case 'SpendingRecorded':
        lines().flexible.spent += BigInt(event.data.amountCents)
        ledger.spendings.set(`${key(year, sozialraum)}/${event.data.spendingId}`, {
          year,
          sozialraum,
          amount: BigInt(event.data.amountCents),
          date: event.data.date,
          reversed: false,
        })
        break
      case 'SpendingReversed': {
        const spending = ledger.spendings.get(`${key(year, sozialraum)}/${event.data.spendingId}`)
        if (!spending) throw new Error(`unknown spending ${event.data.spendingId}`)
        spending.reversed = true
        lines().flexible.spent -= spending.amount
        break
      }
      case 'BudgetMoveDebited':
        lines()[event.data.line].allocated -= BigInt(event.data.amountCents)
        lines()[event.data.line].movedOut += BigInt(event.data.amountCents)
        break
      case 'BudgetMoveCredited':
        lines()[event.data.line].allocated += BigInt(event.data.amountCents)
        lines()[event.data.line].movedIn += BigInt(event.data.amountCents)
        break
      case 'BudgetMoveReverted':
        lines()[event.data.line].allocated += BigInt(event.data.amountCents)
        lines()[event.data.line].movedOut -= BigInt(event.data.amountCents)
        break
      default:
        break
    }
  }
  return ledger
}

// ---------------------------------------------------------------------------------------------
// Small arithmetic, written out here rather than taken from the code under test

/** n / d rounded to the nearest integer, halves away from zero. */
export function roundDiv(n: bigint, d: bigint): bigint {
  const negative = n < 0n !== d < 0n
  const a = n < 0n ? -n : n
  const b = d < 0n ? -d : d
  const q = (2n * a + b) / (2n * b)
  return negative ? -q : q
}

/** Hundredths (cents, or hundredths of a percent) as text with two decimals. */
export function twoDecimals(value: bigint): string {
  const sign = value < 0n ? '-' : ''
  const a = value < 0n ? -value : value
  return `${sign}${a / 100n}.${String(a % 100n).padStart(2, '0')}`
}

const percent = (part: bigint, whole: bigint): string | null => (whole === 0n ? null : twoDecimals(roundDiv(part * 10000n, whole)))
const change = (current: bigint, previous: bigint | null): string | null =>
  previous === null || previous === 0n ? null : twoDecimals(roundDiv((current - previous) * 10000n, previous))
const perCase = (cents: bigint, cases: number): bigint | null => (cases === 0 ? null : roundDiv(cents, BigInt(cases)))
const orNull = (value: bigint | null): string | null => (value === null ? null : twoDecimals(value))

const DAY = 86_400_000
const dayOf = (date: string): number => Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / DAY

export function clampDate(date: string, year: number): string {
  if (date < `${year}-01-01`) return `${year}-01-01`
  if (date > `${year}-12-31`) return `${year}-12-31`
  return date
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const visibleIn = (visible: readonly string[] | undefined) => (sozialraum: string) => visible === undefined || visible.includes(sozialraum)

/** The budgets of a year the caller sees, by Sozialraum. */
function budgetsOf(ledger: Ledger, year: number, visible: readonly string[] | undefined): Array<[string, Record<Line, LineFigures>]> {
  return [...ledger.budgets.entries()]
    .filter(([k]) => k.startsWith(`${year}/`))
    .map(([k, lines]): [string, Record<Line, LineFigures>] => [k.slice(String(year).length + 1), lines])
    .filter(([sozialraum]) => visibleIn(visible)(sozialraum))
    .sort(([a], [b]) => byCodeUnits(a, b))
}

const commitmentsOf = (ledger: Ledger, year: number, visible: readonly string[] | undefined): Commitment[] =>
  [...ledger.commitments.values()].filter((c) => c.year === year && visibleIn(visible)(c.sozialraum))

// ---------------------------------------------------------------------------------------------
// forecast

interface ForecastCents {
  allocated: bigint
  spent: bigint
  expected: bigint
  runRate: bigint
}

function expectedOf(c: Commitment, year: number, asOf: string): bigint {
  if (c.status !== 'open' && c.status !== 'requested') return 0n
  const remainder = c.amount - c.invoiced - c.released - c.carried
  if (remainder <= 0n) return 0n
  if (c.to < asOf) return remainder
  const start = Math.max(dayOf(asOf), dayOf(c.from))
  const end = Math.min(dayOf(c.to), dayOf(`${year}-12-31`))
  if (end < start) return 0n
  return roundDiv(remainder * BigInt(end - start + 1), BigInt(dayOf(c.to) - start + 1))
}

function forecastCents(ledger: Ledger, year: number, asOf: string, sozialraum: string, lines: Record<Line, LineFigures>): Record<Line, ForecastCents> {
  const spendings = [...ledger.spendings.values()].filter((s) => s.year === year && s.sozialraum === sozialraum && !s.reversed)
  const sum = (list: typeof spendings): bigint => list.reduce((total, s) => total + s.amount, 0n)
  const until = sum(spendings.filter((s) => s.date <= asOf))
  const after = sum(spendings.filter((s) => s.date > asOf))
  const elapsed = dayOf(asOf) - dayOf(`${year}-01-01`) + 1
  const left = dayOf(`${year}-12-31`) - dayOf(asOf)
  // The pace of the spending dated up to asOf, less what is recorded already of the days after it.
  const toCome = left === 0 ? 0n : roundDiv(until * BigInt(left), BigInt(elapsed)) - after
  const runRate = toCome > 0n ? toCome : 0n
  const result = {} as Record<Line, ForecastCents>
  for (const line of LINES) {
    const expected = [...ledger.commitments.values()]
      .filter((c) => c.year === year && c.sozialraum === sozialraum && c.line === line)
      .reduce((sum, c) => sum + expectedOf(c, year, asOf), 0n)
    result[line] = { allocated: lines[line].allocated, spent: lines[line].spent, expected, runRate: line === 'flexible' ? runRate : 0n }
  }
  return result
}

const addForecast = (a: ForecastCents, b: ForecastCents): ForecastCents => ({
  allocated: a.allocated + b.allocated,
  spent: a.spent + b.spent,
  expected: a.expected + b.expected,
  runRate: a.runRate + b.runRate,
})
const ZERO_FORECAST: ForecastCents = { allocated: 0n, spent: 0n, expected: 0n, runRate: 0n }

function forecastView(f: ForecastCents) {
  const forecastSpent = f.spent + f.expected + f.runRate
  return {
    allocated: twoDecimals(f.allocated),
    spent: twoDecimals(f.spent),
    expectedCommitments: twoDecimals(f.expected),
    runRate: twoDecimals(f.runRate),
    forecastSpent: twoDecimals(forecastSpent),
    forecastResult: twoDecimals(f.allocated - forecastSpent),
  }
}

export function expectedForecast(ledger: Ledger, year: number, asOfGiven: string, visible?: readonly string[]) {
  const asOf = clampDate(asOfGiven, year)
  const totals: Record<Line, ForecastCents> = { ambulatory: ZERO_FORECAST, flexible: ZERO_FORECAST }
  const items = budgetsOf(ledger, year, visible).map(([sozialraum, lines]) => {
    const f = forecastCents(ledger, year, asOf, sozialraum, lines)
    for (const line of LINES) totals[line] = addForecast(totals[line], f[line])
    return {
      sozialraum,
      lines: { ambulatory: forecastView(f.ambulatory), flexible: forecastView(f.flexible) },
      total: forecastView(addForecast(f.ambulatory, f.flexible)),
    }
  })
  return {
    year,
    asOf,
    items,
    total: {
      lines: { ambulatory: forecastView(totals.ambulatory), flexible: forecastView(totals.flexible) },
      total: forecastView(addForecast(totals.ambulatory, totals.flexible)),
    },
  }
}

// ---------------------------------------------------------------------------------------------
// monitoring

interface MonitoringCents extends LineFigures {
  forecastResult: bigint
}

function monitoringView(m: MonitoringCents, thresholds: readonly number[] | undefined) {
  const used = m.committed + m.spent
  let level: number | null = null
  if (thresholds !== undefined) {
    for (const threshold of thresholds) {
      const reached = m.allocated <= 0n ? used > 0n : used * 10000n >= BigInt(Math.round(threshold * 100)) * m.allocated
      if (reached && (level === null || threshold > level)) level = threshold
    }
  }
  return {
    allocated: twoDecimals(m.allocated),
    carriedIn: twoDecimals(m.carriedIn),
    carriedOut: twoDecimals(m.carriedOut),
    movedIn: twoDecimals(m.movedIn),
    movedOut: twoDecimals(m.movedOut),
    lapsed: twoDecimals(m.lapsed),
    committed: twoDecimals(m.committed),
    spent: twoDecimals(m.spent),
    available: twoDecimals(m.allocated - m.committed - m.spent),
    // Rounded down (used and allocated are not negative here): a threshold shows reached when it is.
    utilisation: m.allocated <= 0n ? null : twoDecimals((used * 10000n) / m.allocated),
    warningLevel: level,
    forecastResult: twoDecimals(m.forecastResult),
  }
}

function addMonitoring(a: MonitoringCents, b: MonitoringCents): MonitoringCents {
  const sum = { ...a }
  for (const figure of Object.keys(a) as Array<keyof MonitoringCents>) sum[figure] = a[figure] + b[figure]
  return sum
}

export function expectedMonitoring(
  ledger: Ledger,
  year: number,
  asOfGiven: string,
  thresholds: Record<Line, readonly number[]>,
  visible?: readonly string[],
) {
  const asOf = clampDate(asOfGiven, year)
  const zero: MonitoringCents = { ...emptyLine(), forecastResult: 0n }
  const totals: Record<Line, MonitoringCents> = { ambulatory: zero, flexible: zero }
  const view = (of: Record<Line, MonitoringCents>) => ({
    lines: { ambulatory: monitoringView(of.ambulatory, thresholds.ambulatory), flexible: monitoringView(of.flexible, thresholds.flexible) },
    total: monitoringView(addMonitoring(of.ambulatory, of.flexible), undefined),
  })
  const items = budgetsOf(ledger, year, visible).map(([sozialraum, lines]) => {
    const f = forecastCents(ledger, year, asOf, sozialraum, lines)
    const of = {} as Record<Line, MonitoringCents>
    for (const line of LINES) {
      of[line] = { ...lines[line], forecastResult: f[line].allocated - f[line].spent - f[line].expected - f[line].runRate }
      totals[line] = addMonitoring(totals[line], of[line])
    }
    return { sozialraum, ...view(of) }
  })
  return {
    year,
    asOf,
    thresholds: { ambulatory: [...thresholds.ambulatory], flexible: [...thresholds.flexible] },
    items,
    total: view(totals),
  }
}

// ---------------------------------------------------------------------------------------------
// providers and help types

interface GroupCents {
  committed: bigint
  invoiced: bigint
  open: bigint
  cases: Set<string>
}

function groupOf(commitments: readonly Commitment[]): GroupCents {
  const group: GroupCents = { committed: 0n, invoiced: 0n, open: 0n, cases: new Set() }
  for (const c of commitments) {
    group.committed += c.amount - c.released - c.carried
    group.invoiced += c.invoiced
    if (c.status === 'open' || c.status === 'requested') group.open += c.amount - c.invoiced - c.released - c.carried
    group.cases.add(c.caseRef)
  }
  return group
}

const groupView = (g: GroupCents) => ({
  committed: twoDecimals(g.committed),
  invoiced: twoDecimals(g.invoiced),
  open: twoDecimals(g.open),
  cases: g.cases.size,
  costPerCase: orNull(perCase(g.committed, g.cases.size)),
})

export function expectedGroups(ledger: Ledger, year: number, by: 'provider' | 'helpType', visible?: readonly string[]) {
  const commitments = commitmentsOf(ledger, year, visible).filter((c) => c.status !== 'rejected')
  const names = [...new Set(commitments.map((c) => c[by]))].sort((a, b) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : byCodeUnits(a, b)))
  return {
    year,
    items: names.map((name) => {
      const mine = commitments.filter((c) => c[by] === name)
      const sozialraeume = [...new Set(mine.map((c) => c.sozialraum))].sort(byCodeUnits)
      return {
        [by]: name,
        sozialraeume: sozialraeume.map((sozialraum) => ({ sozialraum, ...groupView(groupOf(mine.filter((c) => c.sozialraum === sozialraum))) })),
        total: groupView(groupOf(mine)),
      }
    }),
    total: groupView(groupOf(commitments)),
  }
}

// ---------------------------------------------------------------------------------------------
// comparison

export function expectedComparison(ledger: Ledger, year: number, visible?: readonly string[]) {
  const budgets = budgetsOf(ledger, year, visible)
  const listed = budgets.map(([sozialraum]) => sozialraum)
  const ambulatory = (ofYear: number, sozialraeume: readonly string[]) =>
    [...ledger.commitments.values()].filter(
      (c) => c.year === ofYear && c.line === 'ambulatory' && c.status !== 'rejected' && sozialraeume.includes(c.sozialraum),
    )
  const committedOf = (list: readonly Commitment[]) => list.reduce((sum, c) => sum + c.amount - c.released - c.carried, 0n)
  const casesOf = (list: readonly Commitment[]) => new Set(list.map((c) => c.caseRef)).size
  const spentOf = (lines: Record<Line, LineFigures>) => lines.ambulatory.spent + lines.flexible.spent
  const view = (
    committed: bigint,
    cases: number,
    flexibleSpent: bigint,
    totalSpent: bigint,
    previous: { committed: bigint; cases: number; totalSpent: bigint } | undefined,
  ) => {
    const cost = perCase(committed, cases)
    const previousCost = previous === undefined ? null : perCase(previous.committed, previous.cases)
    return {
      ambulatoryCommitted: twoDecimals(committed),
      cases,
      costPerCase: orNull(cost),
      flexibleSpent: twoDecimals(flexibleSpent),
      totalSpent: twoDecimals(totalSpent),
      flexibleShare: percent(flexibleSpent, totalSpent),
      previous: { costPerCase: orNull(previousCost), totalSpent: previous === undefined ? null : twoDecimals(previous.totalSpent) },
      change: {
        costPerCase: cost === null ? null : change(cost, previousCost),
        totalSpent: change(totalSpent, previous === undefined ? null : previous.totalSpent),
      },
    }
  }
  const withPrevious = listed.filter((sozialraum) => ledger.budgets.has(key(year - 1, sozialraum)))
  const items = budgets.map(([sozialraum, lines]) => {
    const mine = ambulatory(year, [sozialraum])
    const before = ledger.budgets.get(key(year - 1, sozialraum))
    const theirs = ambulatory(year - 1, [sozialraum])
    return {
      sozialraum,
      ...view(
        committedOf(mine),
        casesOf(mine),
        lines.flexible.spent,
        spentOf(lines),
        before === undefined ? undefined : { committed: committedOf(theirs), cases: casesOf(theirs), totalSpent: spentOf(before) },
      ),
    }
  })
  const all = ambulatory(year, listed)
  const allBefore = ambulatory(year - 1, listed)
  const previousSpent = withPrevious.reduce((sum, sozialraum) => sum + spentOf(ledger.budgets.get(key(year - 1, sozialraum)) as Record<Line, LineFigures>), 0n)
  return {
    year,
    previousYear: year - 1,
    items,
    total: view(
      committedOf(all),
      casesOf(all),
      budgets.reduce((sum, [, lines]) => sum + lines.flexible.spent, 0n),
      budgets.reduce((sum, [, lines]) => sum + spentOf(lines), 0n),
      withPrevious.length === 0
        ? undefined
        : { committed: committedOf(allBefore.filter((c) => withPrevious.includes(c.sozialraum))), cases: casesOf(allBefore), totalSpent: previousSpent },
    ),
  }
}

// ---------------------------------------------------------------------------------------------
// monthly

export function expectedMonthly(ledger: Ledger, year: number, visible?: readonly string[]) {
  const monthOf = (date: string): number => (date < `${year}-01-01` ? 1 : date > `${year}-12-31` ? 12 : Number(date.slice(5, 7)))
  const series = (sozialraeume: readonly string[]) => {
    const months = Array.from({ length: 12 }, () => ({ ambulatory: 0n, flexible: 0n }))
    for (const invoice of ledger.invoices) {
      if (invoice.year === year && sozialraeume.includes(invoice.sozialraum)) months[monthOf(invoice.date) - 1]![invoice.line] += invoice.amount
    }
    for (const spending of ledger.spendings.values()) {
      if (spending.year === year && !spending.reversed && sozialraeume.includes(spending.sozialraum)) {
        months[monthOf(spending.date) - 1]!.flexible += spending.amount
      }
    }
    const view = (ambulatory: bigint, flexible: bigint) => ({
      ambulatory: twoDecimals(ambulatory),
      flexible: twoDecimals(flexible),
      total: twoDecimals(ambulatory + flexible),
    })
    return {
      months: months.map((month, index) => ({ month: index + 1, ...view(month.ambulatory, month.flexible) })),
      total: view(
        months.reduce((sum, month) => sum + month.ambulatory, 0n),
        months.reduce((sum, month) => sum + month.flexible, 0n),
      ),
    }
  }
  const listed = budgetsOf(ledger, year, visible).map(([sozialraum]) => sozialraum)
  return { year, items: listed.map((sozialraum) => ({ sozialraum, ...series([sozialraum]) })), total: series(listed) }
}

// ---------------------------------------------------------------------------------------------
// stale commitments

export function expectedStale(ledger: Ledger, year: number, asOfGiven: string, days: number, visible?: readonly string[]) {
  const asOf = clampDate(asOfGiven, year)
  const stale = commitmentsOf(ledger, year, visible)
    .map((c) => ({ c, remaining: c.amount - c.invoiced - c.released - c.carried, overdue: dayOf(asOf) - dayOf(c.to) }))
    .filter(({ c, remaining, overdue }) => c.status === 'open' && remaining > 0n && overdue > days)
    .sort((a, b) => b.overdue - a.overdue || byCodeUnits(a.c.sozialraum, b.c.sozialraum) || byCodeUnits(a.c.id, b.c.id))
  return {
    year,
    asOf,
    days,
    items: stale.map(({ c, remaining, overdue }) => ({
      id: c.id,
      sozialraum: c.sozialraum,
      line: c.line,
      provider: c.provider,
      caseRef: c.caseRef,
      helpType: c.helpType,
      period: { from: c.from, to: c.to },
      remaining: twoDecimals(remaining),
      daysOverdue: overdue,
    })),
    total: { commitments: stale.length, remaining: twoDecimals(stale.reduce((sum, { remaining }) => sum + remaining, 0n)) },
  }
}

/** The recomputation of one report, as the route answers it for `query` (asOf defaults to 2025-06-30 here). */
export function expectedReport(ledger: Ledger, year: number, name: ReportName, query: ReportQuery, visible?: readonly string[]): unknown {
  const asOf = query.asOf ?? '2025-06-30'
  switch (name) {
    case 'monitoring':
      return expectedMonitoring(ledger, year, asOf, DEFAULT_UTILISATION_THRESHOLDS, visible)
    case 'forecast':
      return expectedForecast(ledger, year, asOf, visible)
    case 'providers':
      return expectedGroups(ledger, year, 'provider', visible)
    case 'help-types':
      return expectedGroups(ledger, year, 'helpType', visible)
    case 'comparison':
      return expectedComparison(ledger, year, visible)
    case 'monthly':
      return expectedMonthly(ledger, year, visible)
    case 'stale-commitments':
      return expectedStale(ledger, year, asOf, query.days ?? 30, visible)
  }
}

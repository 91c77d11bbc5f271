import { LINES, type Line } from '../events.js'
import type { Cents } from '../money.js'
import { clampIntoYear, dayNumber, daysInclusive, lastDayOf } from './dates.js'
import { divideRounded } from './figures.js'

/**
 * The year-end forecast (Hochrechnung) of a fiscal year's budgets, as a pure function of what
 * the read models hold: integer cents, no clock (asOf comes in), no I/O.
 *
 * The method, per budget and line (docs/reports.md says the same):
 *
 * 1. `asOf` is moved into the fiscal year: before 1 January it is 1 January, after 31 December
 *    it is 31 December.
 * 2. Expected from commitments: for each commitment that is `open` or `requested` with a
 *    remainder R > 0 (amount − invoiced − released − carried) and a period [from, to]:
 *    - if `to` < asOf, the whole R is expected (the period has ended, the invoices are due);
 *    - otherwise the share of R that falls on the days of [max(asOf, from), min(to, 31 Dec)] out
 *      of the days of [max(asOf, from), to], days counted inclusively: R spread evenly over what
 *      is left of its period, and only the part up to 31 December counts this year. A period that
 *      starts after 31 December adds nothing.
 *    Each commitment's share is rounded to the nearest cent, halves up.
 * 3. Run rate of the flexible line: the flexible spending dated 1 January to asOf (recorded
 *    spending net of reversals; invoices on flexible commitments are forecast by step 2) / the
 *    days from 1 January to asOf (inclusive) × the days after asOf to 31 December, rounded to the
 *    nearest cent, halves up; less the flexible spending already recorded with a date after asOf
 *    (it is in `spent`, and it falls on those days), never below 0. 0 on 31 December. The
 *    ambulatory line has no run rate.
 * 4. forecastSpent = spent (the line's spent: every invoice and spending recorded, whatever its
 *    date) + expected from commitments + run rate; forecastResult = allocated − forecastSpent
 *    (negative: a deficit). asOf sets the horizon of steps 2 and 3; the figures are those recorded
 *    now, not as they stood on asOf.
 *
 * A budget's total, and the total of all budgets, are the sums of their lines, figure by figure.
 */

export type CommitmentStatus = 'requested' | 'open' | 'closed' | 'rejected'

export interface ForecastCommitment {
  line: Line
  status: CommitmentStatus
  /** amount − invoiced − released − carried */
  remainingCents: Cents
  period: { from: string; to: string }
}

export interface ForecastBudgetInput {
  sozialraum: string
  lines: Readonly<Record<Line, { allocatedCents: Cents; spentCents: Cents }>>
  /**
   * The flexible spending recorded, net of reversals, split by its date against asOf (as
   * forecastAsOf moves it into the year): dated on or before asOf is what the run rate
   * extrapolates, dated after it is what the run rate already has of the days it forecasts.
   */
  flexibleSpending: { onOrBeforeAsOfCents: Cents; afterAsOfCents: Cents }
  commitments: readonly ForecastCommitment[]
}

export interface ForecastFigures {
  allocatedCents: Cents
  spentCents: Cents
  expectedCommitmentsCents: Cents
  runRateCents: Cents
  forecastSpentCents: Cents
  forecastResultCents: Cents
}

export interface BudgetForecast {
  sozialraum: string
  lines: Record<Line, ForecastFigures>
  total: ForecastFigures
}

export interface YearForecast {
  year: number
  /** The date the forecast stands on, moved into the fiscal year. */
  asOf: string
  items: BudgetForecast[]
  total: { lines: Record<Line, ForecastFigures>; total: ForecastFigures }
}

/** Step 1: the forecast's date, moved into the fiscal year. */
export const forecastAsOf = (year: number, asOf: string): string => clampIntoYear(asOf, year)

/** Step 2 for one commitment; `asOf` lies in the fiscal year `year`. */
export function expectedFromCommitment(commitment: ForecastCommitment, year: number, asOf: string): Cents {
  if (commitment.status !== 'open' && commitment.status !== 'requested') return 0n
  const remaining = commitment.remainingCents
  if (remaining <= 0n) return 0n
  const { from, to } = commitment.period
  if (to < asOf) return remaining
  const start = from > asOf ? from : asOf
  const yearEnd = lastDayOf(year)
  const end = to < yearEnd ? to : yearEnd
  const inYear = daysInclusive(start, end)
  if (inYear === 0) return 0n
  const left = daysInclusive(start, to)
  return divideRounded(remaining * BigInt(inYear), BigInt(left))
}

/**
 * Step 3: the flexible spending dated up to `asOf` (which lies in the year), extrapolated over the
 * days after it, less what is already recorded with a later date; never below 0.
 */
export function runRateCents(spending: ForecastBudgetInput['flexibleSpending'], year: number, asOf: string): Cents {
  const elapsed = daysInclusive(`${year}-01-01`, asOf)
  const remaining = dayNumber(lastDayOf(year)) - dayNumber(asOf)
  if (elapsed <= 0 || remaining <= 0) return 0n
  const extrapolated = divideRounded(spending.onOrBeforeAsOfCents * BigInt(remaining), BigInt(elapsed))
  const toCome = extrapolated - spending.afterAsOfCents
  return toCome > 0n ? toCome : 0n
}

const ZERO: ForecastFigures = {
  allocatedCents: 0n,
  spentCents: 0n,
  expectedCommitmentsCents: 0n,
  runRateCents: 0n,
  forecastSpentCents: 0n,
  forecastResultCents: 0n,
}

export function addForecasts(a: ForecastFigures, b: ForecastFigures): ForecastFigures {
  return {
    allocatedCents: a.allocatedCents + b.allocatedCents,
    spentCents: a.spentCents + b.spentCents,
    expectedCommitmentsCents: a.expectedCommitmentsCents + b.expectedCommitmentsCents,
    runRateCents: a.runRateCents + b.runRateCents,
    forecastSpentCents: a.forecastSpentCents + b.forecastSpentCents,
    forecastResultCents: a.forecastResultCents + b.forecastResultCents,
  }
}

/** One budget's forecast; `asOf` must lie in the year (see forecastAsOf). */
export function forecastBudget(year: number, asOf: string, input: ForecastBudgetInput): BudgetForecast {
  const expected: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of input.commitments) expected[commitment.line] += expectedFromCommitment(commitment, year, asOf)
  const runRate = runRateCents(input.flexibleSpending, year, asOf)
  const lineForecast = (line: Line): ForecastFigures => {
    const { allocatedCents, spentCents } = input.lines[line]
    const runRateOfLine = line === 'flexible' ? runRate : 0n
    const forecastSpentCents = spentCents + expected[line] + runRateOfLine
    return {
      allocatedCents,
      spentCents,
      expectedCommitmentsCents: expected[line],
      runRateCents: runRateOfLine,
      forecastSpentCents,
      forecastResultCents: allocatedCents - forecastSpentCents,
    }
  }
  const lines = { ambulatory: lineForecast('ambulatory'), flexible: lineForecast('flexible') }
  return { sozialraum: input.sozialraum, lines, total: addForecasts(lines.ambulatory, lines.flexible) }
}

/** Every budget's forecast, and their total, as of `asOf` (moved into the year first). */
export function forecastYear(year: number, asOf: string, budgets: readonly ForecastBudgetInput[]): YearForecast {
  const on = forecastAsOf(year, asOf)
  const items = budgets.map((budget) => forecastBudget(year, on, budget))
  const lines: Record<Line, ForecastFigures> = { ambulatory: ZERO, flexible: ZERO }
  for (const item of items) for (const line of LINES) lines[line] = addForecasts(lines[line], item.lines[line])
  return { year, asOf: on, items, total: { lines, total: addForecasts(lines.ambulatory, lines.flexible) } }
}

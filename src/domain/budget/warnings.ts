import { Decimal } from 'decimal.js'
import { LINES, type Line } from '../events.js'
import type { Cents } from '../money.js'
import type { LineBalance } from './state.js'

/**
 * Graded availability warnings: how much of a line is used (committed + spent of allocated), and
 * which configured threshold that reaches. Over-budget rules stay as they are (rule 1); a warning
 * refuses nothing, it tells the team and finance early.
 */

/** Percent thresholds per line, ascending, each in (0, 1000]. */
export type UtilisationThresholds = Readonly<Record<Line, readonly number[]>>

export const DEFAULT_UTILISATION_THRESHOLDS: UtilisationThresholds = Object.freeze({
  ambulatory: Object.freeze([80, 95]),
  flexible: Object.freeze([80, 95]),
})

/** What is used of the line, committed plus spent. */
const usedCents = (balance: LineBalance): Cents => balance.committedCents + balance.spentCents

/**
 * Utilisation in percent to two decimals, rounded down, or null when nothing is allocated (a line
 * with no money has no share to speak of; a use of it is over budget anyway). Down, not to the
 * nearest: then the figure shows a threshold (of at most two decimals) reached exactly when
 * warningLevel says so. Rounded half up, 79.995 % showed "80.00" without the 80 % warning.
 */
export function utilisationPercent(balance: LineBalance): Decimal | null {
  if (balance.allocatedCents <= 0n) return null
  return new Decimal(usedCents(balance).toString())
    .times(100)
    .dividedBy(balance.allocatedCents.toString())
    .toDecimalPlaces(2, Decimal.ROUND_DOWN)
}

/** The highest threshold the line has reached, or null below the first. A line used with nothing allocated has reached them all. */
export function warningLevel(balance: LineBalance, thresholds: readonly number[]): number | null {
  const used = usedCents(balance)
  let level: number | null = null
  for (const threshold of thresholds) {
    // used / allocated ≥ threshold / 100, in integers: used · 100 ≥ threshold · allocated.
    const reached =
      balance.allocatedCents <= 0n ? used > 0n : used * 100n * 100n >= BigInt(Math.round(threshold * 100)) * balance.allocatedCents
    if (reached) level = threshold
  }
  return level
}

export interface UtilisationWarning {
  line: Line
  /** The threshold this write reached, in percent. */
  threshold: number
  /** The line's utilisation after the write, in percent with two decimals; null when nothing is allocated. */
  utilisation: string | null
}

/** The thresholds a write crossed upwards: one warning per line, for the highest threshold it reached. */
export function crossedThresholds(
  before: Readonly<Record<Line, LineBalance>>,
  after: Readonly<Record<Line, LineBalance>>,
  thresholds: UtilisationThresholds,
): UtilisationWarning[] {
  const warnings: UtilisationWarning[] = []
  for (const line of LINES) {
    const was = warningLevel(before[line], thresholds[line])
    const is = warningLevel(after[line], thresholds[line])
    if (is !== null && (was === null || is > was)) {
      warnings.push({ line, threshold: is, utilisation: utilisationPercent(after[line])?.toFixed(2) ?? null })
    }
  }
  return warnings
}

import { Decimal } from 'decimal.js'
import type { Cents } from '../money.js'

/**
 * The derived figures of the reports: shares and changes in percent, costs per case. Amounts
 * stay integer cents; a quotient is rounded once, to the nearest cent or hundredth of a percent,
 * halves away from zero (ROUND_HALF_UP in decimal.js, which rounds -0.005 to -0.01).
 */

/**
 * decimal.js with enough significant digits that a quotient of any two amounts the ledger can
 * hold (below 2^63 cents) is exact to far beyond the second decimal: rounding it to two places
 * is then the one rounding that happens (the default 20 digits could round twice).
 */
const Exact = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_UP })

/** Two decimals, rounded once; never "-0.00" (a change too small to show is no change). */
function twoPlaces(value: Decimal): string {
  const rounded = value.toDecimalPlaces(2, Decimal.ROUND_HALF_UP)
  return rounded.isZero() ? '0.00' : rounded.toFixed(2)
}

/** a / b in integers, rounded to the nearest integer, halves away from zero. `b` must not be 0. */
export function divideRounded(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new RangeError('division by zero')
  const negative = a < 0n !== b < 0n
  const n = a < 0n ? -a : a
  const d = b < 0n ? -b : b
  const quotient = (2n * n + d) / (2n * d)
  return negative ? -quotient : quotient
}

/** part / whole in percent with two decimals ("12.50"), or null when `whole` is 0 (no share to speak of). */
export function percentOf(part: Cents, whole: Cents): string | null {
  if (whole === 0n) return null
  return twoPlaces(new Exact(part.toString()).times(100).dividedBy(whole.toString()))
}

/**
 * The change from `previous` to `current` in percent with two decimals ("-3.25"), or null when
 * there is no previous figure or it is 0 (no change in percent to speak of).
 */
export function changePercent(current: Cents, previous: Cents | null): string | null {
  if (previous === null || previous === 0n) return null
  return twoPlaces(new Exact((current - previous).toString()).times(100).dividedBy(previous.toString()))
}

/** What each case costs: `cents` / `cases`, rounded to the nearest cent; null without cases. */
export function perCase(cents: Cents, cases: number): Cents | null {
  if (!Number.isSafeInteger(cases) || cases < 0) throw new RangeError(`not a number of cases: ${cases}`)
  return cases === 0 ? null : divideRounded(cents, BigInt(cases))
}

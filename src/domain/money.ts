import { Decimal } from 'decimal.js'

/**
 * Money is EUR held as integer cents in a bigint: exact, and no sum of any length can overflow.
 * Text crosses the boundary as a decimal string ("1250", "1250.5", "1250.50"); decimal.js does the
 * conversion so that no binary float ever touches an amount.
 */
export type Cents = bigint

/** The largest single amount a request may carry: one billion EUR, far above any Sozialraum budget. */
export const MAX_AMOUNT_CENTS: Cents = 100_000_000_000n

/**
 * The largest magnitude of any balance or sum the ledger keeps: a line's allocated, committed,
 * spent and available amounts, and a commitment's amount, invoiced and released. Without it a
 * balance could grow without end in steps of MAX_AMOUNT_CENTS. 10^13 cents is 100 billion EUR,
 * tens of thousands of times the largest Sozialraum budget (docs/domain.md: 1–3 million EUR a year),
 * so no real budget comes near it; yet a single balance stays exact everywhere as a number (below
 * 2^53 ≈ 9.0·10^15), about 900 of them sum exactly even as JS numbers, and about 900,000 of
 * them in a SQL BIGINT (below 2^63 ≈ 9.2·10^18), so totals over all Sozialräume and years stay exact.
 */
export const MAX_BALANCE_CENTS: Cents = 10_000_000_000_000n

/** Plain decimal notation, at most two decimals, no exponent, no leading zeros, no plus sign. */
const AMOUNT_PATTERN = /^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$/

export type AmountParseResult = { ok: true; cents: Cents } | { ok: false; reason: string }

export function parseAmount(text: string): AmountParseResult {
  if (!AMOUNT_PATTERN.test(text)) {
    return {
      ok: false,
      reason: 'must be a decimal string with at most two decimals, e.g. "1250" or "1250.50"',
    }
  }
  // Decimal#toFixed of decimal.js: exact decimal arithmetic, no binary float involved.
  const cents = BigInt(new Decimal(text).times(100).toFixed(0))
  if (cents > MAX_AMOUNT_CENTS || cents < -MAX_AMOUNT_CENTS) {
    return { ok: false, reason: `must not exceed ${formatCents(MAX_AMOUNT_CENTS)} in magnitude` }
  }
  return { ok: true, cents }
}

/** Formats cents with exactly two decimals: 125050n → "1250.50", -5n → "-0.05". */
export function formatCents(cents: Cents): string {
  const negative = cents < 0n
  const magnitude = negative ? -cents : cents
  const euros = magnitude / 100n
  const rest = (magnitude % 100n).toString().padStart(2, '0')
  return `${negative ? '-' : ''}${euros.toString()}.${rest}`
}

/**
 * Events store cents as JSON integers; they are bounded far below 2^53 by MAX_AMOUNT_CENTS (what a
 * request carries) and MAX_BALANCE_CENTS (what a release or rejection gives back).
 */
export function centsToJson(cents: Cents): number {
  if (cents > BigInt(Number.MAX_SAFE_INTEGER) || cents < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`amount of ${cents} cents is beyond what an event can hold exactly`)
  }
  return Number(cents)
}

/** An integer in plain decimal digits, as SQL gives cents cast to TEXT or PostgreSQL gives a BIGINT or NUMERIC sum. */
const INTEGER_TEXT = /^-?[0-9]+$/

/**
 * Reads cents back from an event (integer number) or a SQL row. A number is read only while it is
 * exact; cents of any size cross as a string of digits (the read-model queries cast amounts and
 * sums to TEXT, since a driver gives a BIGINT beyond 2^53 as an inexact number) or a bigint.
 */
export function centsFromStorage(value: number | string | bigint): Cents {
  if (typeof value === 'bigint') return value
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`stored amount ${value} is not an exact integer number of cents; read it as text`)
    }
    return BigInt(value)
  }
  if (!INTEGER_TEXT.test(value)) throw new RangeError(`stored amount "${value}" is not an integer number of cents`)
  return BigInt(value)
}

/**
 * German number and date formats, as the people of a Jugendamt read them ("1.250,50 €",
 * "03.03.2025"). Amounts stay decimal strings from the API to the screen: Intl formats a
 * numeric string exactly (no binary float on the way), and input is turned back into the
 * API's plain notation ("1250.50") as text.
 */
const EURO = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' })
const PERCENT = new Intl.NumberFormat('de-DE', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
const DATE = new Intl.DateTimeFormat('de-DE', { day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'UTC' })
const TIMESTAMP = new Intl.DateTimeFormat('de-DE', { dateStyle: 'medium', timeStyle: 'medium' })

/** Intl formats a decimal string exactly; TypeScript's lib types only numbers and bigints. */
type DecimalFormat = { format(value: string): string }

/** Axis ticks of charts: "1,2 Mio. €" reads better than seven digits beside a bar (drawing only). */
export const COMPACT_EURO = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR', notation: 'compact' })

/** "1250.50" → "1.250,50 €" (a non-breaking space before the sign, as de-DE has it). */
export function euro(amount: string): string {
  return (EURO as unknown as DecimalFormat).format(amount)
}

/** "87.50" → "87,50 %"; null (nothing to divide by) → "–". */
export function percent(value: string | null | undefined): string {
  return value === null || value === undefined ? '–' : `${(PERCENT as unknown as DecimalFormat).format(value)} %`
}

const NUMBER = new Intl.NumberFormat('de-DE', { maximumFractionDigits: 2 })

/** A configured threshold in percent: 80 → "80", 80.5 → "80,5", 95.25 → "95,25" (no "%"). */
export function germanNumber(value: number): string {
  return NUMBER.format(value)
}

/** A utilisation threshold: 80.5 → "80,5 %" (a non-breaking space before the sign). */
export function thresholdPercent(value: number): string {
  return `${germanNumber(value)}\u00a0%`
}

/**
 * The note a year close writes into a carry-over allocation (src/domain/budget/carry-over.ts,
 * `carryOverNote`) is English, with the unspent money in cents, and events are never changed:
 * the dashboard says it in German from its parts. Any other text is shown as written.
 */
const CARRY_OVER_NOTE = /^carry-over of (\d{4}): (\d+) open commitment\(s\) and (-?\d+) cents unspent$/

/** "carry-over of 2026: 2 open commitment(s) and 24128950 cents unspent" → "Übertrag aus 2026: 2 offene Mittelbindungen, 241.289,50 € nicht verbraucht". */
export function germanNote(note: string): string {
  const match = CARRY_OVER_NOTE.exec(note)
  if (match === null) return note
  const [, year, count, cents] = match as unknown as [string, string, string, string]
  const commitments = `${count} offene Mittelbindung${count === '1' ? '' : 'en'}`
  return `Übertrag aus ${year}: ${commitments}, ${euro(amountOfCents(BigInt(cents)))} nicht verbraucht`
}

/** "2025-03-03" → "03.03.2025". */
export function germanDate(date: string): string {
  return DATE.format(new Date(`${date}T00:00:00Z`))
}

/** An ISO timestamp in the browser's time zone: "03.03.2025, 10:30:00". */
export function timestamp(iso: string): string {
  return TIMESTAMP.format(new Date(iso))
}

const GERMAN_AMOUNT = /^(-)?(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?$/
const PLAIN_AMOUNT = /^(-)?(\d+)\.(\d{1,2})$/

/**
 * What a user typed as an amount, in the API's notation: "1.250,50" and "1250,5" → "1250.50",
 * "1250.50" (a point before one or two final digits is a decimal point) too. Undefined when the
 * text is not an amount; the form says so in German before anything is sent.
 */
export function parseEuro(text: string): string | undefined {
  const compact = text.replace(/[\s\u00a0€]/g, '')
  const german = GERMAN_AMOUNT.exec(compact)
  const plain = german === null ? PLAIN_AMOUNT.exec(compact) : null
  const match = german ?? plain
  if (match === null) return undefined
  const [, sign = '', whole = '', cents = ''] = match
  const digits = whole.replace(/\./g, '').replace(/^0+(?=\d)/, '')
  return `${sign}${digits}.${cents.padEnd(2, '0')}`
}

/** The labels of the two budget lines and of the roles, as the team says them. */
export const LINE_LABELS = { ambulatory: 'Ambulante Hilfen', flexible: 'Flexible Hilfen' } as const
export const ROLE_LABELS = { finance: 'Finanzcontrolling', teamlead: 'Teamleitung', auditor: 'Prüfung' } as const
export const COMMITMENT_STATUS_LABELS = {
  requested: 'wartet auf Freigabe',
  open: 'offen',
  closed: 'abgeschlossen',
  rejected: 'abgelehnt',
} as const

const AMOUNT_OUT = /^(-)?(\d+)\.(\d{2})$/

/** The API's amount ("-1250.50") in integer cents; sums stay exact, as the ledger keeps them. */
function centsOf(amount: string): bigint {
  const match = AMOUNT_OUT.exec(amount)
  if (match === null) throw new Error(`not an amount with two decimals: ${amount}`)
  const cents = BigInt(`${match[2]}${match[3]}`)
  return match[1] === '-' ? -cents : cents
}

/** Integer cents in the API's notation, 125050n → "1250.50", by bigint arithmetic. */
export function amountOfCents(cents: bigint): string {
  const magnitude = cents < 0n ? -cents : cents
  return `${cents < 0n ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`
}

/** The exact sum of the API's amounts ("1250.50" + "-0.50" → "1250.00"), never through a float. */
export function addAmounts(...amounts: readonly string[]): string {
  return amountOfCents(amounts.reduce((sum, amount) => sum + centsOf(amount), 0n))
}

/** amount × numerator ÷ denominator, rounded half away from zero to the cent, exactly. */
export function fractionOf(amount: string, numerator: number, denominator: number): string {
  const scaled = centsOf(amount) * BigInt(numerator) * 2n
  const halves = scaled / BigInt(denominator)
  return amountOfCents((halves + (halves < 0n ? -1n : 1n)) / 2n)
}

/** a − b, exactly. */
export function subtractAmount(a: string, b: string): string {
  return amountOfCents(centsOf(a) - centsOf(b))
}

/**
 * What a user typed into a text field, as the API takes a reference (docs/api.md, "Conventions"):
 * composed (NFC), other spaces (a no-break space pasted from a letter) as plain ones, the soft
 * hyphen, zero-width space, word joiner and byte-order mark left out, and nothing invisible at
 * either end. Joiners and marks between letters (Persian, Arabic) stay.
 */
export function typedText(text: string): string {
  return text
    .normalize('NFC')
    .replace(/[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g, ' ')
    .replace(/[\u00AD\u200B\u2060\uFEFF]/g, '')
    .replace(/^[\s\u061C\u200C-\u200F]+|[\s\u061C\u200C-\u200F]+$/g, '')
}

/**
 * Business dates (`YYYY-MM-DD`) as the reports count them: whole days, in UTC, so that no time
 * zone or daylight saving change ever makes a day longer or shorter. Pure: today comes in as a
 * Date from whoever holds the clock.
 */

const DAY_MS = 86_400_000
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

function parts(date: string): [number, number, number] {
  const match = DATE.exec(date)
  if (!match) throw new RangeError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`)
  return [Number(match[1]), Number(match[2]), Number(match[3])]
}

/** The day's number: days since 1970-01-01. */
export function dayNumber(date: string): number {
  const [year, month, day] = parts(date)
  return Date.UTC(year, month - 1, day) / DAY_MS
}

/** The date of a day's number (the inverse of dayNumber). */
export function dateOfDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10)
}

export const firstDayOf = (year: number): string => `${String(year).padStart(4, '0')}-01-01`
export const lastDayOf = (year: number): string => `${String(year).padStart(4, '0')}-12-31`

/** The date moved into the fiscal year: before it, its 1 January; after it, its 31 December. */
export function clampIntoYear(date: string, year: number): string {
  const first = firstDayOf(year)
  const last = lastDayOf(year)
  return date < first ? first : date > last ? last : date
}

/** Days from `from` to `to`, both counted; 0 when `to` is before `from`. */
export function daysInclusive(from: string, to: string): number {
  return Math.max(0, dayNumber(to) - dayNumber(from) + 1)
}

/** Days from `from` to `to`: 1 for the next day, negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from)
}

/** The date `days` days before `date`. */
export function daysBefore(date: string, days: number): string {
  return dateOfDay(dayNumber(date) - days)
}

/** Today's date in UTC: the reports' default `asOf`. */
export function todayOf(now: Date): string {
  return now.toISOString().slice(0, 10)
}

/** The month (1–12) a date counts in for the fiscal year: dates before it count in January, after it in December. */
export function monthInYear(date: string, year: number): number {
  const [dateYear, month] = parts(date)
  return dateYear < year ? 1 : dateYear > year ? 12 : month
}

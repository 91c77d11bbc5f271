import { stringify } from 'csv-stringify/sync'
import type { FastifyReply } from 'fastify'
import { z } from 'zod'
import { decimalComma } from '../domain/reports/csv-format.js'
import { formatCents } from '../domain/money.js'

/**
 * CSV answers for German Excel, shared by the reports: UTF-8 with a BOM (else Excel reads
 * Windows-1252), `;` between fields (Excel's list separator in German locales), CRLF, a header
 * row, numbers with a decimal comma and no thousands separator, so that Excel reads them as
 * numbers. Written by csv-stringify, as the audit export is (src/http/routes/audit-export.ts):
 * fields with `;`, `"` or a line break are quoted, and a text field that Excel would run as a
 * formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a `'` before it
 * (CSV injection, OWASP). Numbers are left alone, so a negative amount stays a number.
 *
 * A cell is text (a string), a figure with two decimals as a bigint in hundredths (an amount in
 * cents, a percentage in hundredths of a percent), a plain number (counts, months, thresholds)
 * or null (an empty cell).
 */
export type CsvCell = string | bigint | number | null

export const CSV_MEDIA_TYPE = 'text/csv; charset=utf-8'

/** The CSV variant of a 200 answer, beside its JSON (see reportAnswer in the routes). */
export const csvSchema = z
  .string()
  .meta({ description: 'With `?format=csv`: UTF-8 with BOM, `;`-separated, CRLF, a header row, decimal comma, no thousands separator' })

/** A figure with exactly two decimals as the answers show it ("1234.56", "-0.05"), in hundredths; null stays null. */
export function hundredths(text: string | null): bigint | null {
  if (text === null) return null
  if (!/^-?\d+\.\d{2}$/.test(text)) throw new RangeError(`not a figure with two decimals: ${JSON.stringify(text)}`)
  return BigInt(text.replace('.', ''))
}

export function csvText(headers: readonly string[], rows: ReadonlyArray<readonly CsvCell[]>): string {
  return stringify(
    rows.map((row) => [...row]),
    {
      columns: headers.map((header, index) => ({ key: String(index), header })),
      header: true,
      bom: true,
      delimiter: ';',
      record_delimiter: 'windows',
      quote_record_delimiter: true,
      escape_formulas: true,
      cast: {
        bigint: (value) => decimalComma(formatCents(value)),
        number: (value) => decimalComma(String(value)),
      },
    },
  )
}

/** Sends `text` as the CSV attachment `<name>-<year>.csv`. */
export function sendCsv(reply: FastifyReply, filename: string, text: string): FastifyReply {
  return reply
    .code(200)
    .header('content-type', CSV_MEDIA_TYPE)
    .header('content-disposition', `attachment; filename="${filename}"`)
    .send(text)
}

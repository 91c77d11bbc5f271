/**
 * Numbers as German Excel reads them from a CSV: a decimal comma and no thousands separator
 * ("1234,56", "-0,05", "12"). Reports hold their amounts and percentages as decimal strings with
 * a point ("1234.56"); this turns one into the other, and refuses anything that is not such a number.
 */

const DECIMAL = /^-?\d+(\.\d+)?$/

export function decimalComma(text: string): string {
  if (!DECIMAL.test(text)) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`)
  return text.replace('.', ',')
}

/** The inverse, for readers of such a CSV: "1234,56" → "1234.56". */
export function decimalPoint(text: string): string {
  const point = text.replace(',', '.')
  if (!DECIMAL.test(point)) throw new RangeError(`not a decimal number with a comma: ${JSON.stringify(text)}`)
  return point
}

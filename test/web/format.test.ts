import fc from 'fast-check'
import t from 'tap'
import { reference } from '../../src/http/schemas.js'
import { carryOverNote } from '../../src/domain/budget/carry-over.js'
import { addAmounts, euro, germanNote, germanNumber, parseEuro, subtractAmount, thresholdPercent, typedText } from '../../web/src/format.js'

/** The dashboard's German amounts (web/src/format.ts): shown exactly, and typed input read exactly. */

/** An amount in the API's notation from integer cents, the way the API writes it. */
const apiAmount = (cents: bigint): string => {
  const magnitude = cents < 0n ? -cents : cents
  return `${cents < 0n ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`
}
const MAX_CENTS = 100_000_000_000n
const cents = fc.bigInt({ min: -MAX_CENTS, max: MAX_CENTS })

/** How a German user may write an amount: with or without thousands points, with a decimal comma. */
function german(cents: bigint, groups: boolean): string {
  const magnitude = cents < 0n ? -cents : cents
  const whole = String(magnitude / 100n)
  const grouped = groups ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, '.') : whole
  return `${cents < 0n ? '-' : ''}${grouped},${String(magnitude % 100n).padStart(2, '0')}`
}

t.test('examples', async (t) => {
  t.equal(euro('1250.50'), '1.250,50\u00a0€')
  t.equal(euro('-0.05'), '-0,05\u00a0€')
  t.equal(euro('1000000000.00'), '1.000.000.000,00\u00a0€')
  const read: [string, string | undefined][] = [
    ['1.250,50', '1250.50'],
    ['1250,5', '1250.50'],
    ['1250', '1250.00'],
    ['1.250', '1250.00'],
    ['1250.50', '1250.50'],
    ['1250.5', '1250.50'],
    ['1.250,50 €', '1250.50'],
    ['-300', '-300.00'],
    ['007', '7.00'],
    ['1,2,3', undefined],
    ['12.50.00', undefined],
    ['1.25.0', undefined],
    ['1e3', undefined],
    ['', undefined],
    ['abc', undefined],
    ['1,234', undefined],
  ]
  for (const [typed, expected] of read) t.equal(parseEuro(typed), expected, JSON.stringify(typed))
  t.equal(addAmounts('1250.50', '-0.50', '0.10'), '1250.10')
  t.equal(subtractAmount('0.10', '0.30'), '-0.20')
})

t.test('utilisation thresholds with decimals read German', async (t) => {
  t.equal(thresholdPercent(80), '80\u00a0%')
  t.equal(thresholdPercent(80.5), '80,5\u00a0%')
  t.equal(thresholdPercent(95.25), '95,25\u00a0%')
  t.equal(germanNumber(1000), '1.000')
})

t.test('the note a year close writes into a carry-over reads German, with euros', async (t) => {
  t.equal(germanNote(carryOverNote(2026, 2, 24128950n)), 'Übertrag aus 2026: 2 offene Mittelbindungen, 241.289,50\u00a0€ nicht verbraucht')
  t.equal(germanNote(carryOverNote(2026, 1, 0n)), 'Übertrag aus 2026: 1 offene Mittelbindung, 0,00\u00a0€ nicht verbraucht')
  t.equal(germanNote('Haushaltsbeschluss 2026/14'), 'Haushaltsbeschluss 2026/14', 'any other note as written')
  fc.assert(
    fc.property(fc.integer({ min: 2000, max: 2999 }), fc.nat({ max: 10_000 }), cents, (year, count, unspent) => {
      const shown = germanNote(carryOverNote(year, count, unspent))
      return shown === `Übertrag aus ${year}: ${count} offene Mittelbindung${count === 1 ? '' : 'en'}, ${euro(apiAmount(unspent))} nicht verbraucht`
    }),
  )
  fc.assert(fc.property(fc.string(), (note) => note.startsWith('carry-over of ') || germanNote(note) === note))
})

t.test('what the page shows reads back as the same amount', async () => {
  fc.assert(fc.property(cents, (value) => parseEuro(euro(apiAmount(value))) === apiAmount(value)))
})

t.test('German input with or without thousands points is read exactly', async () => {
  fc.assert(fc.property(cents, fc.boolean(), (value, groups) => parseEuro(german(value, groups)) === apiAmount(value)))
})

t.test('sums are exact: no binary float on the way', async () => {
  fc.assert(
    fc.property(fc.array(cents, { maxLength: 20, size: 'max' }), (values) =>
      addAmounts(...values.map(apiAmount)) === apiAmount(values.reduce((sum, value) => sum + value, 0n)),
    ),
  )
  fc.assert(fc.property(cents, cents, (a, b) => subtractAmount(apiAmount(a), apiAmount(b)) === apiAmount(a - b)))
})

t.test('typed text: whatever one types into a one-line field, the API takes as a reference', async (t) => {
  // Letters of several scripts, digits, punctuation, and what pasting brings along: spaces of
  // every kind, soft hyphens, zero-width spaces and joiners, marks, the byte-order mark, and
  // letters written decomposed (a + combining diaeresis).
  const piece = fc.constantFrom(
    'a', 'Z', 'ä', 'a\u0308', 'ß', '7', '-', '/', '.', '😀', 'م', 'ی', ' ', '\u00a0', '\u202f', '\u3000',
    '\u00ad', '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2060', '\ufeff',
  )
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
      const cleaned = typedText(pieces.join(''))
      const parsed = reference.safeParse(cleaned)
      // Empty, or only joiners between nothing: the form asks for it instead.
      if (!/[^\s\u200c-\u200f]/.test(cleaned)) return true
      if (!parsed.success) throw new Error(`${JSON.stringify(cleaned)}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`)
      return parsed.data === cleaned
    }),
    { numRuns: 3000 },
  )
  t.equal(typedText('  RE\u00a02025\u00ad-07\u200b '), 'RE 2025-07', 'a pasted invoice number')
  t.equal(typedText('Tra\u0308ger'), 'Tr\u00e4ger', 'composed')
})


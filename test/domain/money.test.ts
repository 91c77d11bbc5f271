import fc from 'fast-check'
import t from 'tap'
import {
  MAX_AMOUNT_CENTS,
  centsFromStorage,
  centsToJson,
  formatCents,
  parseAmount,
} from '../../src/domain/money.js'

t.test('parseAmount accepts plain decimal strings with at most two decimals', async (t) => {
  const accepted: Array<[string, bigint]> = [
    ['1250', 125000n],
    ['1250.5', 125050n],
    ['1250.50', 125050n],
    ['0.01', 1n],
    ['0', 0n],
    ['-3.10', -310n],
    ['-0.05', -5n],
    ['1000000000', MAX_AMOUNT_CENTS],
    ['-1000000000.00', -MAX_AMOUNT_CENTS],
  ]
  for (const [text, cents] of accepted) {
    t.same(parseAmount(text), { ok: true, cents }, `"${text}" is ${cents} cents`)
  }
})

t.test('parseAmount rejects everything else with a reason', async (t) => {
  const rejected = [
    '1e3', // exponent notation
    '1E3',
    '1.5e2',
    '1250.505', // more than two decimals
    '0.001',
    '+5', // leading plus
    '+5.00',
    '01', // leading zeros
    '00.50',
    '-01',
    ' 5', // whitespace
    '5 ',
    '1 250',
    '5\n',
    '', // empty
    '-',
    '.5', // no integer digits
    '5.', // no decimals after the point
    '-.5',
    '1,50', // decimal comma
    '1_000',
    '0x10',
    'Infinity',
    'NaN',
    '1000000000.01', // one cent above MAX_AMOUNT_CENTS
    '-1000000000.01',
    '999999999999', // largest the pattern lets through, far above the maximum
    '9999999999999999999999', // absurd magnitude
  ]
  for (const text of rejected) {
    const result = parseAmount(text)
    t.equal(result.ok, false, `${JSON.stringify(text)} is rejected`)
    if (!result.ok) t.ok(result.reason.length > 0, 'with a reason')
  }
})

t.test('formatCents always gives two decimals', async (t) => {
  const formatted: Array<[bigint, string]> = [
    [0n, '0.00'],
    [1n, '0.01'],
    [10n, '0.10'],
    [100n, '1.00'],
    [125050n, '1250.50'],
    [125000n, '1250.00'],
    [-5n, '-0.05'],
    [-310n, '-3.10'],
    [-125050n, '-1250.50'],
    [MAX_AMOUNT_CENTS, '1000000000.00'],
  ]
  for (const [cents, text] of formatted) t.equal(formatCents(cents), text, `${cents} cents → "${text}"`)
})

t.test('formatCents and parseAmount round-trip for every cents value in range', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -MAX_AMOUNT_CENTS, max: MAX_AMOUNT_CENTS }), (cents) => {
      const text = formatCents(cents)
      const parsed = parseAmount(text)
      return /^-?\d+\.\d\d$/.test(text) && parsed.ok && parsed.cents === cents
    }),
    { numRuns: 2000 },
  )
  t.pass('round-trips')
})

t.test('parseAmount never accepts a value beyond MAX_AMOUNT_CENTS', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: MAX_AMOUNT_CENTS + 1n, max: 10n ** 20n }), fc.boolean(), (magnitude, negative) => {
      return !parseAmount(formatCents(negative ? -magnitude : magnitude)).ok
    }),
  )
  t.pass('bounded')
})

t.test('centsToJson keeps safe integers and refuses anything beyond', async (t) => {
  const maxSafe = BigInt(Number.MAX_SAFE_INTEGER)
  t.equal(centsToJson(0n), 0)
  t.equal(centsToJson(-310n), -310)
  t.equal(centsToJson(MAX_AMOUNT_CENTS), 100_000_000_000)
  t.equal(centsToJson(maxSafe), Number.MAX_SAFE_INTEGER)
  t.equal(centsToJson(-maxSafe), -Number.MAX_SAFE_INTEGER)
  t.throws(() => centsToJson(maxSafe + 1n), RangeError)
  t.throws(() => centsToJson(-maxSafe - 1n), RangeError)
  t.throws(() => centsToJson(10n ** 30n), RangeError)
})

t.test('centsFromStorage reads integers from events and SQL rows', async (t) => {
  t.equal(centsFromStorage(125050), 125050n)
  t.equal(centsFromStorage('125050'), 125050n)
  t.equal(centsFromStorage('-310'), -310n)
  t.equal(centsFromStorage(7n), 7n)
  t.throws(() => centsFromStorage(12.5), RangeError)
  t.throws(() => centsFromStorage(Number.MAX_SAFE_INTEGER + 2), RangeError)
  t.throws(() => centsFromStorage(Number.NaN), RangeError)
})

t.test('centsFromStorage reads cents beyond 2^53 exactly from text or bigint', async (t) => {
  // 2^53 + 1 cents: the first integer a JS number cannot hold (it would read as 2^53).
  const text = '9007199254740993'
  t.equal(centsFromStorage(text), 9_007_199_254_740_993n, 'text from SQL CAST(… AS TEXT)')
  t.equal(formatCents(centsFromStorage(text)), '90071992547409.93', 'formatted exactly, to the cent')
  t.equal(centsFromStorage(`-${text}`), -9_007_199_254_740_993n)
  // A sum of a million line balances at the limit, as PostgreSQL's NUMERIC sum or SQLite's text gives it.
  t.equal(formatCents(centsFromStorage('10000000000000000000')), '100000000000000000.00')
  t.equal(centsFromStorage(2n ** 70n), 2n ** 70n, 'a bigint passes as it is')
  t.throws(() => centsFromStorage(2 ** 53 + 2), RangeError, 'an inexact number is refused, never rounded')
})

t.test('centsFromStorage refuses text that is not an integer of cents', async (t) => {
  for (const text of ['', ' 12', '12 ', '1.5', '1e20', '0x10', '+5', '--1', '12a']) {
    t.throws(() => centsFromStorage(text), RangeError, JSON.stringify(text))
  }
})

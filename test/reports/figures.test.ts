import fc from 'fast-check'
import t from 'tap'
import { decimalComma, decimalPoint } from '../../src/domain/reports/csv-format.js'
import { clampIntoYear, daysBefore, daysBetween, daysInclusive, monthInYear, todayOf } from '../../src/domain/reports/dates.js'
import { changePercent, divideRounded, percentOf, perCase } from '../../src/domain/reports/figures.js'

t.test('rounding: to the nearest, halves away from zero', async (t) => {
  t.equal(divideRounded(5n, 2n), 3n)
  t.equal(divideRounded(-5n, 2n), -3n)
  t.equal(divideRounded(4n, 3n), 1n)
  t.equal(divideRounded(-4n, 3n), -1n)
  t.equal(divideRounded(5n, -2n), -3n)
  t.throws(() => divideRounded(1n, 0n))
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (a, b) => {
      const q = divideRounded(a, b)
      // |a/b − q| ≤ 1/2, and exactly 1/2 only away from zero.
      const twice = 2n * (a - q * b)
      if (twice > b || twice < -b) return false
      if (twice === b) return a < 0n
      if (twice === -b) return a > 0n
      return true
    }),
  )
})

t.test('percentages, changes and costs per case', async (t) => {
  t.equal(percentOf(1n, 3n), '33.33')
  t.equal(percentOf(2n, 3n), '66.67')
  t.equal(percentOf(1n, 8n), '12.50')
  t.equal(percentOf(1n, 80000n), '0.00', '0.00125 % rounds down')
  t.equal(percentOf(1n, 40000n), '0.00', '0.0025 % rounds down')
  t.equal(percentOf(1n, 20000n), '0.01', '0.005 % rounds up')
  t.equal(percentOf(0n, 0n), null, 'no share of nothing')
  t.equal(changePercent(110n, 100n), '10.00')
  t.equal(changePercent(90n, 100n), '-10.00')
  t.equal(changePercent(199_999n, 200_000n), '0.00', 'a change too small to show is 0.00, never -0.00')
  t.equal(changePercent(199_990n, 200_000n), '-0.01', '-0.005 % rounds away from zero')
  t.equal(percentOf(-1n, 300_000n), '0.00', 'never -0.00')
  t.equal(changePercent(100n, null), null, 'no previous figure')
  t.equal(changePercent(100n, 0n), null, 'no change from nothing in percent')
  t.equal(perCase(1000n, 3), 333n)
  t.equal(perCase(1001n, 2), 501n, 'half a cent rounds up')
  t.equal(perCase(0n, 1), 0n)
  t.equal(perCase(100n, 0), null)
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 15n }), (part, whole) => {
      // Two decimals of a percent in integers: round(part · 10000 / whole).
      const hundredths = divideRounded(part * 10000n, whole)
      return percentOf(part, whole) === `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')}`
    }),
  )
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 15n }), (current, previous) => {
      const hundredths = divideRounded((current - previous) * 10000n, previous)
      const magnitude = hundredths < 0n ? -hundredths : hundredths
      const text = `${hundredths < 0n ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`
      return changePercent(current, previous) === text
    }),
  )
})

t.test('decimal comma', async (t) => {
  t.equal(decimalComma('1234.56'), '1234,56')
  t.equal(decimalComma('-0.05'), '-0,05')
  t.equal(decimalComma('12'), '12')
  t.equal(decimalPoint('1234,56'), '1234.56')
  for (const bad of ['1,234.56', '1e3', '', ' 1.00', '1.2.3', 'NaN']) t.throws(() => decimalComma(bad), `refuses ${JSON.stringify(bad)}`)
})

t.test('dates', async (t) => {
  t.equal(clampIntoYear('2024-12-31', 2025), '2025-01-01')
  t.equal(clampIntoYear('2025-02-28', 2025), '2025-02-28')
  t.equal(clampIntoYear('2026-01-01', 2025), '2025-12-31')
  t.equal(daysInclusive('2025-01-01', '2025-12-31'), 365)
  t.equal(daysInclusive('2024-01-01', '2024-12-31'), 366)
  t.equal(daysInclusive('2025-03-01', '2025-02-28'), 0)
  t.equal(daysBetween('2025-03-30', '2025-03-31'), 1, 'across the change to summer time, still one day')
  t.equal(daysBefore('2025-03-01', 1), '2025-02-28')
  t.equal(daysBefore('2024-03-01', 1), '2024-02-29')
  t.equal(monthInYear('2024-12-31', 2025), 1)
  t.equal(monthInYear('2025-07-15', 2025), 7)
  t.equal(monthInYear('2026-01-01', 2025), 12)
  t.equal(todayOf(new Date('2025-06-30T23:59:59.999Z')), '2025-06-30')
  t.throws(() => daysInclusive('2025-1-1', '2025-01-02'))
})

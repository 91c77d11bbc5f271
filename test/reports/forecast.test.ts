import fc from 'fast-check'
import t from 'tap'
import type { Line } from '../../src/domain/events.js'
import { dateOfDay, dayNumber } from '../../src/domain/reports/dates.js'
import {
  expectedFromCommitment,
  forecastAsOf,
  forecastBudget,
  forecastYear,
  runRateCents,
  type CommitmentStatus,
  type ForecastBudgetInput,
  type ForecastCommitment,
} from '../../src/domain/reports/forecast.js'

/** The forecast (Hochrechnung) as a pure function: examples of its method, then properties. */

const YEAR = 2025
const commitment = (remainingCents: bigint, from: string, to: string, status: CommitmentStatus = 'open', line: Line = 'ambulatory'): ForecastCommitment => ({
  line,
  status,
  remainingCents,
  period: { from, to },
})
const budget = (overrides: Partial<ForecastBudgetInput> = {}): ForecastBudgetInput => ({
  sozialraum: 'nord',
  lines: { ambulatory: { allocatedCents: 100_000_00n, spentCents: 20_000_00n }, flexible: { allocatedCents: 10_000_00n, spentCents: 1_810_00n } },
  flexibleSpending: { onOrBeforeAsOfCents: 1_810_00n, afterAsOfCents: 0n },
  commitments: [],
  ...overrides,
})

t.test('asOf is moved into the fiscal year', async (t) => {
  t.equal(forecastAsOf(YEAR, '2024-11-30'), '2025-01-01')
  t.equal(forecastAsOf(YEAR, '2025-06-30'), '2025-06-30')
  t.equal(forecastAsOf(YEAR, '2026-01-01'), '2025-12-31')
  t.equal(forecastYear(YEAR, '2030-05-05', []).asOf, '2025-12-31', 'the answer names the date it stands on')
})

t.test('expected from a commitment', async (t) => {
  const asOf = '2025-06-30'
  t.equal(expectedFromCommitment(commitment(12_345n, '2025-01-01', '2025-06-29'), YEAR, asOf), 12_345n, 'ended before asOf: all of it')
  t.equal(expectedFromCommitment(commitment(12_345n, '2024-01-01', '2024-12-31'), YEAR, asOf), 12_345n, 'ended in the previous year (carried in): all of it')
  t.equal(expectedFromCommitment(commitment(12_345n, '2025-01-01', '2025-06-30'), YEAR, asOf), 12_345n, 'ends on asOf: all of it (one day of one)')
  t.equal(expectedFromCommitment(commitment(12_345n, '2025-01-01', '2025-12-31'), YEAR, asOf), 12_345n, 'ends within the year: all of it')
  // From 1 July 2025 to 30 June 2026: 184 days of 365 in 2025.
  t.equal(expectedFromCommitment(commitment(365_00n, '2025-07-01', '2026-06-30'), YEAR, asOf), 184_00n, 'starts after asOf, runs into 2026: its share up to 31 December')
  // From asOf (30 June) to 29 June 2026: 185 days of 365.
  t.equal(expectedFromCommitment(commitment(365_00n, '2025-01-01', '2026-06-29'), YEAR, asOf), 185_00n, 'running: the share of what is left of the period')
  t.equal(expectedFromCommitment(commitment(365_00n, '2026-01-01', '2026-12-31'), YEAR, '2025-01-01'), 0n, 'starts after 31 December: nothing')
  t.equal(expectedFromCommitment(commitment(1n, '2025-12-31', '2026-01-01'), YEAR, asOf), 1n, 'half a cent rounds up')
  t.equal(expectedFromCommitment(commitment(1n, '2025-12-30', '2026-01-02'), YEAR, asOf), 1n, 'two of four days of a cent: half, rounds up')
  t.equal(expectedFromCommitment(commitment(1n, '2025-12-31', '2026-01-02'), YEAR, asOf), 0n, 'a third of a cent rounds down')
  t.equal(expectedFromCommitment(commitment(2n, '2025-12-31', '2026-01-02'), YEAR, asOf), 1n, 'two thirds of a cent round up')
  t.equal(expectedFromCommitment(commitment(500n, '2025-01-01', '2025-12-31', 'requested'), YEAR, asOf), 500n, 'a requested commitment counts')
  for (const status of ['closed', 'rejected'] as const) {
    t.equal(expectedFromCommitment(commitment(500n, '2025-01-01', '2025-12-31', status), YEAR, asOf), 0n, `a ${status} commitment adds nothing`)
  }
  t.equal(expectedFromCommitment(commitment(0n, '2025-01-01', '2025-12-31'), YEAR, asOf), 0n, 'nothing left, nothing expected')
})

t.test('run rate of the flexible line', async (t) => {
  const upTo = (onOrBeforeAsOfCents: bigint) => ({ onOrBeforeAsOfCents, afterAsOfCents: 0n })
  // 30 June 2025: 181 days elapsed (inclusive), 184 left.
  t.equal(runRateCents(upTo(181_00n), YEAR, '2025-06-30'), 184_00n, 'per day elapsed, times the days left')
  t.equal(runRateCents(upTo(181_00n), YEAR, '2025-12-31'), 0n, 'nothing left on 31 December')
  t.equal(runRateCents(upTo(1_00n), YEAR, '2025-01-01'), 364_00n, 'on 1 January: a day elapsed, 364 left')
  t.equal(runRateCents(upTo(1n), 2024, '2024-12-30'), 0n, 'a leap year: 365 days elapsed, one left, 1/365 of a cent rounds down')
  t.equal(runRateCents(upTo(183n), 2024, '2024-07-01'), 183n, 'a leap year: 183 days elapsed, 183 left')
  t.equal(runRateCents(upTo(0n), YEAR, '2025-06-30'), 0n, 'nothing spent, nothing extrapolated')
  const split = (onOrBeforeAsOfCents: bigint, afterAsOfCents: bigint) => ({ onOrBeforeAsOfCents, afterAsOfCents })
  t.equal(runRateCents(split(0n, 1_000_00n), YEAR, '2025-01-31'), 0n, 'spending dated after asOf is no pace: nothing extrapolated')
  t.equal(runRateCents(split(181_00n, 100_00n), YEAR, '2025-06-30'), 84_00n, 'what is recorded of the days after asOf is taken off')
  t.equal(runRateCents(split(181_00n, 200_00n), YEAR, '2025-06-30'), 0n, 'never below 0: more is recorded than the pace forecasts')
})

t.test('a budget: each line, and both together', async (t) => {
  const result = forecastBudget(YEAR, '2025-06-30', budget({
    commitments: [
      commitment(365_00n, '2025-07-01', '2026-06-30'),
      commitment(1_000_00n, '2025-01-01', '2025-03-31'),
      commitment(50_00n, '2025-02-01', '2025-12-31', 'open', 'flexible'),
    ],
  }))
  t.strictSame(result.lines.ambulatory, {
    allocatedCents: 100_000_00n,
    spentCents: 20_000_00n,
    expectedCommitmentsCents: 1_184_00n,
    runRateCents: 0n,
    forecastSpentCents: 21_184_00n,
    forecastResultCents: 78_816_00n,
  })
  t.strictSame(result.lines.flexible, {
    allocatedCents: 10_000_00n,
    spentCents: 1_810_00n,
    expectedCommitmentsCents: 50_00n,
    runRateCents: 1_840_00n,
    forecastSpentCents: 3_700_00n,
    forecastResultCents: 6_300_00n,
  })
  t.equal(result.total.forecastResultCents, 85_116_00n)
  t.equal(result.total.forecastSpentCents, result.lines.ambulatory.forecastSpentCents + result.lines.flexible.forecastSpentCents)
})

t.test('a deficit is a negative result', async (t) => {
  const result = forecastBudget(YEAR, '2025-03-31', budget({
    lines: { ambulatory: { allocatedCents: 1_000_00n, spentCents: 900_00n }, flexible: { allocatedCents: 0n, spentCents: 0n } },
    commitments: [commitment(500_00n, '2025-01-01', '2025-12-31')],
  }))
  t.equal(result.lines.ambulatory.forecastResultCents, -400_00n)
})

// ---------------------------------------------------------------------------------------------
// Properties

const FIRST = dayNumber('2024-01-01')
const LAST = dayNumber('2026-12-31')
const date = fc.integer({ min: FIRST, max: LAST }).map(dateOfDay)
const period = fc.tuple(date, date).map(([a, b]) => (a <= b ? { from: a, to: b } : { from: b, to: a }))
const cents = fc.bigInt({ min: 0n, max: 10_000_000_00n })
const status = fc.constantFrom<CommitmentStatus>('requested', 'open', 'closed', 'rejected')
const line = fc.constantFrom<Line>('ambulatory', 'flexible')
const forecastCommitment = fc.record({
  line,
  status,
  remainingCents: fc.bigInt({ min: -100n, max: 1_000_000_00n }),
  period,
})
const budgetInput = fc.record({
  sozialraum: fc.constantFrom('nord', 'sued', 'west'),
  lines: fc.record({
    ambulatory: fc.record({ allocatedCents: cents, spentCents: cents }),
    flexible: fc.record({ allocatedCents: cents, spentCents: cents }),
  }),
  flexibleSpending: fc.record({ onOrBeforeAsOfCents: cents, afterAsOfCents: cents }),
  commitments: fc.array(forecastCommitment, { maxLength: 8 }),
})

t.test('properties', async (t) => {
  t.test('the forecast is never below what is spent, and the result is allocated − forecast', async () => {
    fc.assert(
      fc.property(budgetInput, date, (input, asOf) => {
        const forecast = forecastYear(YEAR, asOf, [input])
        for (const item of [...forecast.items, forecast.total]) {
          for (const figures of [item.lines.ambulatory, item.lines.flexible, item.total]) {
            if (figures.forecastSpentCents < figures.spentCents) return false
            if (figures.forecastResultCents !== figures.allocatedCents - figures.forecastSpentCents) return false
            if (figures.forecastSpentCents !== figures.spentCents + figures.expectedCommitmentsCents + figures.runRateCents) return false
          }
          if (item.lines.ambulatory.runRateCents !== 0n) return false
        }
        return true
      }),
    )
  })

  t.test('on 31 December (or any asOf after it) the run rate is 0', async () => {
    fc.assert(
      fc.property(budgetInput, fc.integer({ min: dayNumber('2025-12-31'), max: LAST }).map(dateOfDay), (input, asOf) => {
        const forecast = forecastYear(YEAR, asOf, [input])
        return forecast.asOf === '2025-12-31' && forecast.total.total.runRateCents === 0n
      }),
    )
  })

  t.test('a commitment whose period lies wholly after 31 December adds nothing', async () => {
    fc.assert(
      fc.property(
        forecastCommitment,
        fc.integer({ min: dayNumber('2026-01-01'), max: LAST }),
        fc.nat({ max: 400 }),
        date,
        (c, from, length, asOf) => {
          const later = { ...c, period: { from: dateOfDay(from), to: dateOfDay(from + length) } }
          return expectedFromCommitment(later, YEAR, forecastAsOf(YEAR, asOf)) === 0n
        },
      ),
    )
  })

  t.test('an open or requested commitment that has ended adds its whole remainder', async () => {
    fc.assert(
      fc.property(forecastCommitment, date, fc.constantFrom<CommitmentStatus>('open', 'requested'), (c, asOf, live) => {
        const on = forecastAsOf(YEAR, asOf)
        fc.pre(c.period.to < on && c.remainingCents > 0n)
        return expectedFromCommitment({ ...c, status: live }, YEAR, on) === c.remainingCents
      }),
    )
  })

  t.test('a commitment adds between nothing and its remainder; one that ends within the year adds all of it', async () => {
    fc.assert(
      fc.property(forecastCommitment, date, (c, asOf) => {
        const on = forecastAsOf(YEAR, asOf)
        const expected = expectedFromCommitment(c, YEAR, on)
        const live = (c.status === 'open' || c.status === 'requested') && c.remainingCents > 0n
        if (!live) return expected === 0n
        if (expected < 0n || expected > c.remainingCents) return false
        if (c.period.to <= '2025-12-31') return expected === c.remainingCents
        return true
      }),
    )
  })

  t.test('the later the asOf, the less a commitment running into the next year adds', async () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 1_000_000_00n }),
        fc.integer({ min: dayNumber('2025-01-01'), max: dayNumber('2025-12-31') }),
        fc.integer({ min: dayNumber('2026-01-01'), max: LAST }),
        fc.integer({ min: dayNumber('2025-01-01'), max: dayNumber('2025-12-31') }),
        fc.integer({ min: dayNumber('2025-01-01'), max: dayNumber('2025-12-31') }),
        (remaining, from, to, a, b) => {
          const c = commitment(remaining, dateOfDay(from), dateOfDay(to))
          const [early, late] = a <= b ? [a, b] : [b, a]
          return expectedFromCommitment(c, YEAR, dateOfDay(late)) <= expectedFromCommitment(c, YEAR, dateOfDay(early))
        },
      ),
    )
  })

  t.test('the total is the sum of the budgets, line by line', async () => {
    fc.assert(
      fc.property(fc.array(budgetInput, { maxLength: 5 }), date, (inputs, asOf) => {
        const forecast = forecastYear(YEAR, asOf, inputs)
        for (const figure of ['allocatedCents', 'spentCents', 'expectedCommitmentsCents', 'runRateCents', 'forecastSpentCents', 'forecastResultCents'] as const) {
          for (const which of ['ambulatory', 'flexible'] as const) {
            const sum = forecast.items.reduce((total, item) => total + item.lines[which][figure], 0n)
            if (sum !== forecast.total.lines[which][figure]) return false
          }
          if (forecast.total.lines.ambulatory[figure] + forecast.total.lines.flexible[figure] !== forecast.total.total[figure]) return false
        }
        return true
      }),
    )
  })
})

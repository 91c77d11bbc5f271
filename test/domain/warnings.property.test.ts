import { Decimal } from 'decimal.js'
import fc from 'fast-check'
import t from 'tap'
import { crossedThresholds, utilisationPercent, warningLevel } from '../../src/domain/budget/warnings.js'
import type { LineBalance } from '../../src/domain/budget/index.js'

/** Graded utilisation warnings: the level is the highest threshold reached, exactly; a write warns only when it raises it. */

const cents = fc.bigInt({ min: 0n, max: 10_000_000_000n })
const balance = fc.record({ allocatedCents: cents, committedCents: cents, spentCents: cents })
const thresholds = fc
  .uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 4 })
  .map((values) => values.sort((a, b) => a - b).map((value) => value / 100))

t.test('the level is the highest threshold whose share of the allocation is used, compared exactly', async (t) => {
  fc.assert(
    fc.property(balance, thresholds, (line: LineBalance, list) => {
      const used = new Decimal((line.committedCents + line.spentCents).toString())
      const reached = list.filter((threshold) =>
        line.allocatedCents === 0n ? used.gt(0) : used.times(100).gte(new Decimal(threshold).times(line.allocatedCents.toString())),
      )
      const expected = reached.length === 0 ? null : reached[reached.length - 1]
      return warningLevel(line, list) === expected
    }),
    { numRuns: 2000 },
  )
  t.pass('as decimal.js computes it')
})

t.test('the utilisation shown reaches a threshold exactly when the level does', async (t) => {
  // Lines used within a few cents of the threshold, where rounding decides what is shown.
  const nearThreshold = fc
    .record({ allocated: fc.bigInt({ min: 1n, max: 10_000_000_000n }), hundredths: fc.integer({ min: 1, max: 100_000 }), offset: fc.bigInt({ min: -3n, max: 3n }) })
    .map(({ allocated, hundredths, offset }) => {
      const atThreshold = (BigInt(hundredths) * allocated) / 10_000n
      const used = atThreshold + offset < 0n ? 0n : atThreshold + offset
      return { line: { allocatedCents: allocated, committedCents: used, spentCents: 0n }, threshold: hundredths / 100 }
    })
  fc.assert(
    fc.property(nearThreshold, ({ line, threshold }) => {
      const shown = utilisationPercent(line)
      return shown !== null && shown.gte(threshold) === (warningLevel(line, [threshold]) === threshold)
    }),
    { numRuns: 5000 },
  )
  t.pass('no "80.00" without the 80 % warning, no warning beside "79.99"')
})

t.test('a write warns once per line, for the highest threshold, only when it raises the level', async (t) => {
  fc.assert(
    fc.property(balance, balance, balance, balance, thresholds, (a1, f1, a2, f2, list) => {
      const before = { ambulatory: a1, flexible: f1 }
      const after = { ambulatory: a2, flexible: f2 }
      const warnings = crossedThresholds(before, after, { ambulatory: list, flexible: list })
      for (const line of ['ambulatory', 'flexible'] as const) {
        const was = warningLevel(before[line], list)
        const is = warningLevel(after[line], list)
        const warning = warnings.filter((w) => w.line === line)
        const raised = is !== null && (was === null || is > was)
        if (warning.length !== (raised ? 1 : 0)) return false
        if (raised && warning[0]?.threshold !== is) return false
        if (raised && warning[0]?.utilisation !== (utilisationPercent(after[line])?.toFixed(2) ?? null)) return false
      }
      return crossedThresholds(before, before, { ambulatory: list, flexible: list }).length === 0
    }),
    { numRuns: 2000 },
  )
  t.pass('no write that leaves the level warns')
})

t.test('examples', async (t) => {
  const line = (allocated: bigint, used: bigint): LineBalance => ({ allocatedCents: allocated, committedCents: used, spentCents: 0n })
  t.equal(warningLevel(line(100_000n, 79_999n), [80, 95]), null)
  t.equal(warningLevel(line(100_000n, 80_000n), [80, 95]), 80)
  t.equal(warningLevel(line(100_000n, 95_000n), [80, 95]), 95)
  t.equal(warningLevel(line(0n, 1n), [80, 95]), 95, 'used with nothing allocated: every threshold is reached')
  t.equal(warningLevel(line(0n, 0n), [80, 95]), null)
  t.equal(utilisationPercent(line(300n, 100n))?.toFixed(2), '33.33')
  t.equal(utilisationPercent(line(300n, 200n))?.toFixed(2), '66.66', 'rounded down')
  t.equal(utilisationPercent(line(200_000n, 159_990n))?.toFixed(2), '79.99', '79.995 %: below 80, and shown below it')
  t.equal(utilisationPercent(line(0n, 5n)), null)
})

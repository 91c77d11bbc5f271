import t from 'tap'
import { BatchPacer } from '../../projections/pacer.js'

t.test('the pacer sizes batches to the time budget, within its floor and ceiling', async (t) => {
  const pacer = new BatchPacer({ min: 10, max: 10_000, budgetMs: 40 })
  const first = pacer.size()
  t.ok(first >= 10 && first <= 10_000, `a first guess within the limits (${first})`)
  for (let round = 0; round < 30; round++) pacer.record(1000, 100) // 0.1 ms per event
  t.ok(Math.abs(pacer.size() - 400) <= 4, `40 ms at 0.1 ms per event: about 400 (${pacer.size()})`)
  for (let round = 0; round < 30; round++) pacer.record(1000, 1) // 0.001 ms per event
  t.equal(pacer.size(), 10_000, 'cheap events: the ceiling')
  for (let round = 0; round < 30; round++) pacer.record(10, 1000) // 100 ms per event
  t.equal(pacer.size(), 10, 'dear events: the floor')
  pacer.record(0, 5)
  pacer.record(5, Number.NaN)
  t.equal(pacer.size(), 10, 'a batch without events or without a time teaches nothing')
  t.throws(() => new BatchPacer({ min: 0, max: 10, budgetMs: 40 }), RangeError)
  t.throws(() => new BatchPacer({ min: 20, max: 10, budgetMs: 40 }), RangeError)
})

t.test('a dear stretch shrinks the batches within a few of them', async (t) => {
  const pacer = new BatchPacer({ min: 1, max: 10_000, budgetMs: 40 })
  for (let round = 0; round < 30; round++) pacer.record(4000, 40)
  t.ok(Math.abs(pacer.size() - 4000) <= 40, `about 4,000 (${pacer.size()})`)
  for (let round = 0; round < 5; round++) pacer.record(pacer.size(), pacer.size() * 0.1)
  t.ok(pacer.size() < 1000, `after five dear batches: ${pacer.size()}`)
})

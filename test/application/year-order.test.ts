import t from 'tap'
import { readModelYearOrder, ReadModelsBehindError, type YearOrder } from '../../src/application/year-order.js'

/**
 * The year order asks the read models only once they have reached the head of the log; read
 * models that do not get there in time fail the question (503), never answer it from an older state.
 */

const queries: YearOrder = {
  hasBudgets: async (year) => year === 2025,
  unclosedYearsBefore: async (year) => (year > 2025 ? [2025] : []),
  closingYearAfter: async (year) => (year < 2024 ? { year: 2024, status: 'closed' } : undefined),
}

t.test('answers from the read models once they are at the head', async (t) => {
  const waited: Array<{ position: bigint; names: readonly string[] }> = []
  const order = readModelYearOrder({
    queries,
    headPosition: async () => 42n,
    waitFor: async (position, _timeoutMs, names) => (waited.push({ position, names }), true),
  })
  t.equal(await order.hasBudgets(2025), true)
  t.same(await order.unclosedYearsBefore(2027), [2025])
  t.same(await order.closingYearAfter(2020), { year: 2024, status: 'closed' })
  t.same(waited, Array.from({ length: 3 }, () => ({ position: 42n, names: ['balances', 'fiscal-years'] })), 'each question waited for the head')
})

t.test('read models behind the head: the question fails, it is not answered', async (t) => {
  let asked = 0
  const order = readModelYearOrder({
    queries: { ...queries, hasBudgets: async () => (asked++, true) },
    headPosition: async () => 7n,
    waitFor: async () => false,
  })
  await t.rejects(order.hasBudgets(2025), ReadModelsBehindError)
  t.equal(asked, 0, 'the read models were not asked')
})

import t from 'tap'
import { assertProblem, balance, commitmentBody, get, post, seed, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

t.test('concurrent writers', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('40 concurrent spendings of 50.00 on a 1000.00 flexible line: exactly 20 succeed', async (t) => {
    const { url } = await seed(app, 'rush', { flexible: '1000.00' })
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        post(app, `${url}/spending`, spendingBody({ amount: '50.00', receiptRef: `R-${index}` })),
      ),
    )
    const written = responses.filter((response) => response.status === 201)
    const refused = responses.filter((response) => response.status === 422)
    t.equal(written.length, 20, '20 × 201')
    t.equal(refused.length, 20, '20 × 422')
    for (const response of refused) assertProblem(t, response, 422, 'insufficient-funds')

    const positions = written.map((response) => response.body.position as string)
    t.equal(new Set(positions).size, 20, 'the positions of the 201s are unique')
    const revisions = written.map((response) => BigInt(response.body.revision as string)).sort((a, b) => (a < b ? -1 : 1))
    t.same(
      revisions.map(String),
      Array.from({ length: 20 }, (_, index) => String(index + 2)),
      'revisions 2…21 follow the two allocations without gaps',
    )
    const availables = written.map((response) => response.body.budget.lines.flexible.available as string).sort()
    t.equal(new Set(availables).size, 20, 'each write saw its own budget')
    t.ok(availables.includes('0.00'), 'the last write left 0.00')

    const last = positions.map(BigInt).reduce((a, b) => (a > b ? a : b))
    const budget = await get(app, url, String(last))
    t.same(budget.body.lines.flexible, balance('1000.00', '0.00', '1000.00', '0.00'), 'spent 1000.00, available 0.00')
    const list = await get(app, `${url}/spending`, String(last))
    t.equal(list.body.items.length, 20, '20 spendings recorded')
    t.equal(await service.store.headPosition(), last, 'nothing else was written')
  })

  t.test('concurrent retries with one Idempotency-Key write once', async (t) => {
    const { url, position } = await seed(app, 'retry-storm')
    const head = BigInt(position)
    const body = commitmentBody({ amount: '900.00' })
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post(app, `${url}/commitments`, body, { 'idempotency-key': 'storm-1' })),
    )
    t.same(
      responses.map((response) => response.status),
      Array.from({ length: 10 }, () => 201),
      'all 201',
    )
    t.equal(responses.filter((response) => response.headers['idempotent-replayed'] === 'true').length, 9, '9 replays')
    const first = responses[0]!
    for (const response of responses) t.equal(response.text, first.text, 'identical bodies')
    t.equal(await service.store.headPosition(), head + 1n, 'one event written')
    const list = await get(app, `${url}/commitments`, String(head + 1n))
    t.equal(list.body.items.length, 1)
  })

  t.test('concurrent writes to different budgets all succeed with distinct positions', async (t) => {
    const seeds = await Promise.all(['par-a', 'par-b', 'par-c', 'par-d'].map((id) => seed(app, id, { flexible: '100.00' })))
    const responses = await Promise.all(
      seeds.flatMap(({ url }) =>
        Array.from({ length: 5 }, (_, index) => post(app, `${url}/spending`, spendingBody({ amount: '20.00', receiptRef: `P-${index}` }))),
      ),
    )
    t.same(
      responses.map((response) => response.status),
      Array.from({ length: 20 }, () => 201),
    )
    t.equal(new Set(responses.map((response) => response.body.position)).size, 20, 'unique positions')
    const last = responses.map((response) => BigInt(response.body.position as string)).reduce((a, b) => (a > b ? a : b))
    for (const { url } of seeds) {
      const budget = await get(app, url, String(last))
      t.same(budget.body.lines.flexible, balance('100.00', '0.00', '100.00', '0.00'), `${url}: all spent`)
    }
  })
})

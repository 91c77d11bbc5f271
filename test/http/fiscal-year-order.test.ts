import { randomUUID } from 'node:crypto'
import t from 'tap'
import { Ledger } from '../../src/application/ledger.js'
import { assertProblem, commitmentBody, get, post, seed } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * Years close in order (docs/fiscal-year.md): a close is neither asked for nor approved while the
 * next year is closing or closed, the previous year's close is under way, or any earlier year with
 * budgets is not closed; a year without a budget is not closed; 2100 has no next year; and no
 * budget opens in a year before a closed one. A request retried with its Idempotency-Key after the approval still gets its first answer.
 */

const second = () => bearer({ sub: 'finance-2', role: 'finance' })

async function closed(app: Parameters<typeof get>[0], year: number): Promise<string> {
  const deadline = Date.now() + 15_000
  let status = ''
  while (Date.now() < deadline && status !== 'closed') {
    status = (await get(app, `/v1/years/${year}`)).body?.status ?? ''
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return status
}

t.test('years close in order', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  await seed(app, 'order-a', { year: 2025 })
  await seed(app, 'order-b', { year: 2025 })

  t.equal((await post(app, '/v1/years/2025/close', { reason: 'Abschluss 2025' })).status, 201)
  assertProblem(t, await post(app, '/v1/years/2026/close', { reason: 'zu früh' }), 409, 'conflict')
  t.equal((await get(app, '/v1/years/2026')).body.status, 'open', 'nothing written')
  assertProblem(t, await post(app, '/v1/years/2100/close', { reason: 'das letzte' }), 400, 'validation')

  // A move asked for before the approval, retried after it with the same key: the first answer again.
  const move = { from: { sozialraum: 'order-a', line: 'ambulatory' }, to: { sozialraum: 'order-b', line: 'ambulatory' }, amount: '10', reason: 'Deckung' }
  const moved = await post(app, '/v1/budgets/2025/moves', move, { 'idempotency-key': 'order-move-1' })
  t.equal(moved.status, 201, moved.text)
  t.equal((await post(app, '/v1/years/2025/close/approval', { decision: 'approve' }, await second())).status, 201)
  const retried = await post(app, '/v1/budgets/2025/moves', move, { 'idempotency-key': 'order-move-1' })
  t.equal(retried.status, 201, 'a retry after the approval answers as the first time')
  t.equal(retried.headers['idempotent-replayed'], 'true')
  t.equal(retried.body.id, moved.body.id)
  assertProblem(t, await post(app, '/v1/budgets/2025/moves', move, { 'idempotency-key': 'order-move-2' }), 409, 'year-closed')

  t.equal(await closed(app, 2025), 'closed')

  // Every earlier year with budgets closes first, not only the one before: 2028 has none, 2027 has.
  const c = await seed(app, 'order-c', { year: 2027 })
  const allocate = (year: number) => post(app, `/v1/budgets/${year}/order-c/allocations`, { line: 'flexible', amount: '100', decisionRef: 'HH' })
  t.equal((await allocate(2029)).status, 201, 'a budget in 2029')
  const early = await post(app, '/v1/years/2029/close', { reason: 'vertippt: 2027 gemeint' })
  assertProblem(t, early, 409, 'conflict')
  t.match(early.body.detail, /2027 has budgets and must close first/)
  t.equal((await get(app, '/v1/years/2029')).body.status, 'open', 'nothing written')
  // A year without a budget is not closed: a mistyped year would be closed for good, empty.
  const empty = await post(app, '/v1/years/2031/close', { reason: 'vertippt' })
  assertProblem(t, empty, 409, 'conflict')
  t.match(empty.body.detail, /2031 has no budget/)

  // Asked while the earlier year was open, approved after it was closed (the approval checks again).
  t.equal((await post(app, '/v1/years/2027/close', { reason: 'Abschluss 2027' })).status, 201)
  assertProblem(t, await post(app, '/v1/years/2029/close', { reason: 'zu früh' }), 409, 'conflict')
  t.equal((await post(app, '/v1/years/2027/close/approval', { decision: 'approve' }, await second())).status, 201)
  t.equal(await closed(app, 2027), 'closed')
  t.equal((await post(app, '/v1/years/2029/close', { reason: 'Abschluss 2029' })).status, 201)
  t.equal((await post(app, '/v1/years/2029/close/approval', { decision: 'approve' }, await second())).status, 201)
  t.equal(await closed(app, 2029), 'closed')

  // No budget opens before a closed year: it could never close. Right before one, in a gap, far before.
  for (const year of [2026, 2028, 2020]) {
    const refused = await allocate(year)
    assertProblem(t, refused, 409, 'year-closed')
    t.equal((await get(app, `/v1/budgets/${year}/order-c`)).status, 404, `${year}: nothing written`)
    // Only an allocation opens a budget: anything else on a budget without one is not found, as always.
    assertProblem(t, await post(app, `/v1/budgets/${year}/order-c/commitments`, commitmentBody({ period: { from: `${year}-01-01`, to: `${year}-12-31` } })), 404, 'not-found')
  }
  t.equal((await allocate(2030)).status, 201, 'a year after the closed ones opens budgets')
  t.equal((await post(app, `${c.url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'HH' })).status, 409, 'and 2027 is closed')

  // A budget before a closed year, as a store written before 0.12.4 may hold one (here through a
  // Ledger without the year order): it can never close, so it does not hold up later closes.
  const unchecked = new Ledger({ store: service.store, clock: () => new Date(), newEventId: randomUUID })
  const context = { actor: { sub: 'test-finance', role: 'finance' as const }, correlationId: 'c', causationId: 'c', idempotencyKey: null, requestHash: null, expectedRevision: undefined }
  const stray = await unchecked.executeBudget(2028, 'order-c', { type: 'AllocateBudget', line: 'flexible', amountCents: 100n, decisionRef: 'alt' }, context)
  t.equal(stray.kind, 'written', 'a budget of 2028, before the closed 2029')
  t.equal((await post(app, '/v1/years/2030/close', { reason: 'Abschluss 2030' })).status, 201, '2030 closes after 2029 all the same')
})

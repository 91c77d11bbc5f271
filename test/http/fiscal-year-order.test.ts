import t from 'tap'
import { assertProblem, get, post, seed } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * Years close in order (docs/fiscal-year.md): a close is neither asked for nor approved while the
 * next year is closing or closed, or the previous year's close is under way; 2100 has no next
 * year. A request retried with its Idempotency-Key after the approval still gets its first answer.
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

  // Years without budgets: a close waits for the previous one, and none starts below a closed year.
  t.equal((await post(app, '/v1/years/2031/close', { reason: 'Abschluss' })).status, 201)
  assertProblem(t, await post(app, '/v1/years/2032/close', { reason: 'zu früh' }), 409, 'conflict')
  t.equal((await post(app, '/v1/years/2031/close/approval', { decision: 'reject' }, await second())).status, 201, 'rejected: open again')
  t.equal((await post(app, '/v1/years/2032/close', { reason: 'Abschluss' })).status, 201)
  t.equal((await post(app, '/v1/years/2032/close/approval', { decision: 'approve' }, await second())).status, 201)
  t.equal(await closed(app, 2032), 'closed')
  assertProblem(t, await post(app, '/v1/years/2031/close', { reason: 'zu spät' }), 409, 'conflict')
})

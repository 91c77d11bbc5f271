import t from 'tap'
import { assertProblem, balance, commitmentBody, get, post, seed, spendingBody, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/**
 * Many writers on one budget at once: the command handler decides the commands that queue behind
 * an append together and writes them as one append (src/application/command-handler.ts). Every
 * rule must hold exactly as it does one write at a time.
 */
t.test('concurrent writers on one stream, batched: every rule holds', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const { url, position } = await seed(app, 'batch', { ambulatory: '5000.00', flexible: '1000.00' })
  const seeded = BigInt(position)
  const appends = countAppends(service.store)

  const spendings = Array.from({ length: 60 }, (_, i) => () => post(app, `${url}/spending`, spendingBody({ amount: '25.00', receiptRef: `B-${i}` })))
  const commitment = (i: number) => commitmentBody({ amount: '100.00', caseRef: `CASE-B-${i}` })
  const commitments = Array.from({ length: 30 }, (_, i) => () => post(app, `${url}/commitments`, commitment(i), { 'idempotency-key': `batch-${i}` }))
  const retries = Array.from({ length: 30 }, (_, i) => () => post(app, `${url}/commitments`, commitment(i), { 'idempotency-key': `batch-${i}` }))
  const reused = Array.from({ length: 10 }, (_, i) => () =>
    post(app, `${url}/commitments`, commitmentBody({ amount: '200.00', caseRef: `CASE-X-${i}` }), { 'idempotency-key': `batch-${i}` }),
  )
  // Interleaved, all in flight together.
  const requests = interleave(spendings, commitments, retries, reused)
  const responses = await Promise.all(requests.map((send) => send()))
  const byKind = (kind: string) => responses.filter((_, i) => requests[i]?.name === kind)

  const spent = byKind('spending')
  t.equal(spent.filter((r) => r.status === 201).length, 40, '40 spendings of 25.00 fill the 1000.00 line')
  for (const refused of spent.filter((r) => r.status !== 201)) assertProblem(t, refused, 422, 'insufficient-funds')

  const [first, second] = [byKind('commitment'), byKind('retry')]
  const pairs = first.map((response, i) => [response, second[i]] as const)
  t.ok(pairs.every(([a, b]) => a.status === 201 && b?.status === 201), 'each commitment and its retry: 201')
  t.equal(responses.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 30, 'one of each pair is a replay')
  t.ok(pairs.every(([a, b]) => a.text === b?.text), 'a replay answers exactly what the write answered')
  for (const response of byKind('reused')) assertProblem(t, response, 422, 'idempotency-key-reused')

  const written = responses.filter((r) => r.status === 201 && r.headers['idempotent-replayed'] !== 'true')
  t.equal(written.length, 70, '40 spendings and 30 commitments written')
  const revisions = written.map((r) => BigInt(r.body.revision as string)).sort((a, b) => (a < b ? -1 : 1))
  t.same(revisions.map(String), Array.from({ length: 70 }, (_, i) => String(i + 2)), 'revisions 2…71, each once')
  const positions = written.map((r) => BigInt(r.body.position as string))
  t.equal(new Set(positions).size, 70, 'each write has its own position')
  const head = await service.store.headPosition()
  t.equal(head, seeded + 70n, 'nothing else was written')
  t.ok(appends.count < 70, `batched: ${appends.count} appends carried the 70 writes`)

  const budget = await get(app, url, head.toString())
  t.same(budget.body.lines.flexible, balance('1000.00', '0.00', '1000.00', '0.00'), 'flexible: all spent, none over')
  t.same(budget.body.lines.ambulatory, balance('5000.00', '3000.00', '0.00', '2000.00'), 'ambulatory: 30 × 100.00 committed')
  const availables = spent.filter((r) => r.status === 201).map((r) => r.body.budget.lines.flexible.available as string)
  t.equal(new Set(availables).size, 40, 'each spending answered the budget its own write left')
})

/** Counts the appends the service makes on its (real) store. */
function countAppends(store: { append: (...args: never[]) => Promise<unknown> }): { count: number } {
  const counter = { count: 0 }
  const append = store.append.bind(store)
  store.append = (...args: never[]) => {
    counter.count += 1
    return append(...args)
  }
  return counter
}

/** The requests of each kind, named by kind, taken in turn from each list. */
function interleave(...lists: Array<Array<() => Promise<ApiResponse>>>): Array<() => Promise<ApiResponse>> {
  const names = ['spending', 'commitment', 'retry', 'reused']
  const out: Array<() => Promise<ApiResponse>> = []
  for (let i = 0; lists.some((list) => i < list.length); i++) {
    lists.forEach((list, kind) => {
      const send = list[i]
      if (send) out.push(Object.defineProperty(() => send(), 'name', { value: names[kind] }))
    })
  }
  return out
}

import t from 'tap'
import { assertProblem, assertWritten, commitmentBody, get, post, seed, spendingBody, uuid } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/**
 * A UUID is case-insensitive: the ids of commitments and spendings are taken in either case
 * (body `id` and path `:id`) and kept in lower case, so one UUID is one id. An upper-case
 * repeat of an existing id is a conflict, not a second booking.
 */

t.test('one UUID is one id, whatever its case', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const seeded = await seed(app, 'case-ids')

  t.test('spending: upper case first, then the same id in lower case is a 409', async (t) => {
    const id = uuid()
    const upper = id.toUpperCase()
    const first = await post(app, `${seeded.url}/spending`, spendingBody({ id: upper }))
    assertWritten(t, first, 'booked with an upper-case id')
    t.equal(first.body.id, id, 'answered with the id in lower case')
    const again = await post(app, `${seeded.url}/spending`, spendingBody({ id, receiptRef: 'R-other' }))
    assertProblem(t, again, 409, 'conflict', 'the lower-case repeat')
    const mixed = await post(app, `${seeded.url}/spending`, spendingBody({ id: `${upper.slice(0, 8)}${id.slice(8)}` }))
    assertProblem(t, mixed, 409, 'conflict', 'a mixed-case repeat')

    const list = await get(app, `${seeded.url}/spending`, first.body.position)
    t.equal(list.body.items.filter((item: { id: string }) => item.id === id).length, 1, 'booked once')
    t.same(first.body.budget.lines.flexible.spent, '50.00', 'one spending on the line')

    const reversed = await post(app, `${seeded.url}/spending/${upper}/reversal`, { reason: 'Fehlbuchung' })
    assertWritten(t, reversed, 'reversed by the upper-case id')
    t.equal(reversed.body.id, id)
    t.equal(reversed.body.reversed, true)
    const twice = await post(app, `${seeded.url}/spending/${id}/reversal`, { reason: 'again' })
    assertProblem(t, twice, 409, 'conflict', 'the same spending, by its lower-case id, is reversed already')
  })

  t.test('commitment: lower case first, then upper case is a 409; reads and writes by either case find it', async (t) => {
    const id = uuid()
    const upper = id.toUpperCase()
    const first = await post(app, `${seeded.url}/commitments`, commitmentBody({ id }))
    assertWritten(t, first, 'committed with a lower-case id')
    const again = await post(app, `${seeded.url}/commitments`, commitmentBody({ id: upper }))
    assertProblem(t, again, 409, 'conflict', 'the upper-case repeat')

    const read = await get(app, `${seeded.url}/commitments/${upper}`, first.body.position)
    t.equal(read.status, 200, `GET by the upper-case id (${read.text.slice(0, 200)})`)
    t.equal(read.body.id, id)
    const invoiced = await post(app, `${seeded.url}/commitments/${upper}/invoices`, {
      invoiceNo: 'RE-1',
      amount: '100.00',
      invoiceDate: '2025-03-01',
    })
    assertWritten(t, invoiced, 'an invoice by the upper-case id')
    t.equal(invoiced.body.id, id)
    t.equal(invoiced.body.invoiced, '100.00')
    const list = await get(app, `${seeded.url}/commitments`, invoiced.body.position)
    t.equal(list.body.items.filter((item: { id: string }) => item.id === id).length, 1, 'one commitment')
  })

  t.test('an Idempotency-Key retry in the other case is the same request', async (t) => {
    const id = uuid()
    const headers = { 'idempotency-key': `case-${id}` }
    const first = await post(app, `${seeded.url}/spending`, spendingBody({ id }), headers)
    assertWritten(t, first)
    const retry = await post(app, `${seeded.url}/spending`, spendingBody({ id: id.toUpperCase() }), headers)
    t.equal(retry.status, 201, 'replayed, not idempotency-key-reused')
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(retry.body.position, first.body.position, 'the first answer again')
  })
})

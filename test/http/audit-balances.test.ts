import t from 'tap'
import { assertProblem, balance, commitmentBody, get, post, seed, spendingBody, type Json } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * GET /v1/audit/balances: every budget of a year as it stood at a past position or time, in the
 * shape of GET /v1/budgets/{year}. The property test (test/projections/balance-history.property.test.ts)
 * checks the figures over random histories; this one the HTTP contract on a small known history.
 */

const ZERO = balance('0.00', '0.00', '0.00', '0.00')

t.test('GET /v1/audit/balances', async (t) => {
  // A clock the test moves, so that asOf selects known events.
  let now = new Date('2025-01-10T08:00:00.000Z')
  const service = await startTestService(t, { clock: () => now })
  const app = service.app

  // Day 1: hist-a registered and allocated (positions 1-3); day 2: hist-b (4-6) and an over-budget
  // commitment on hist-a (7); day 3: its approval by a second finance controller (8), an invoice
  // (9) and a spending on hist-b (10).
  await seed(app, 'hist-a', { ambulatory: '1000.00', flexible: '100.00' })
  now = new Date('2025-01-11T08:00:00.000Z')
  await seed(app, 'hist-b', { ambulatory: '500.00', flexible: '50.00' })
  const committed = await post(
    app,
    '/v1/budgets/2025/hist-a/commitments',
    commitmentBody({ amount: '1500.00', overBudget: { justification: 'Rechtsanspruch nach § 27 SGB VIII' } }),
  )
  t.equal(committed.status, 201, committed.text)
  t.equal(committed.body.position, '7')
  now = new Date('2025-01-12T08:00:00.000Z')
  const commitment = `/v1/budgets/2025/hist-a/commitments/${committed.body.id}`
  const approved = await post(app, `${commitment}/approval`, { decision: 'approve' }, await bearer({ sub: 'finance-2', role: 'finance' }))
  t.equal(approved.status, 201, approved.text)
  const invoiced = await post(app, `${commitment}/invoices`, { invoiceNo: 'RE-1', amount: '200.00', invoiceDate: '2025-01-12' })
  t.equal(invoiced.status, 201, invoiced.text)
  const spent = await post(app, '/v1/budgets/2025/hist-b/spending', spendingBody({ amount: '10.00' }))
  t.equal(spent.body.position, '10')
  const head = '10'

  const asOf = async (query: string, headers: Record<string, string> = {}): Promise<Json> => {
    const response = await get(app, `/v1/audit/balances?year=2025&${query}`, undefined, headers)
    // Thrown rather than asserted: this helper runs inside the subtests.
    if (response.status !== 200 || !String(response.headers['content-type']).startsWith('application/json')) {
      throw new Error(`GET /v1/audit/balances ${query}: ${response.status} ${response.text}`)
    }
    return response.body
  }
  const sozialraeume = (list: Json): string[] => list.items.map((item: Json) => item.sozialraum)

  t.test('before the first budget event: no budgets, zero totals', async (t) => {
    const empty = { year: 2025, items: [], total: ZERO }
    t.same(await asOf('position=0'), empty, 'position 0 is before the first event')
    t.same(await asOf('position=1'), empty, 'position 1 registers hist-a: no budget yet')
    t.same(await asOf('asOf=2025-01-09T23:59:59.999Z'), empty, 'a time before the first event')
    t.same(await get(app, '/v1/audit/balances?year=2031&position=10').then((r) => r.body), { year: 2031, items: [], total: ZERO }, 'a year with no events')
  })

  t.test('position: after the event at that position, inclusive', async (t) => {
    const afterFirstAllocation = await asOf('position=2')
    t.same(afterFirstAllocation, {
      year: 2025,
      items: [
        {
          year: 2025,
          sozialraum: 'hist-a',
          revision: '0',
          closed: false,
          lines: { ambulatory: balance('1000.00', '0.00', '0.00', '1000.00'), flexible: ZERO },
          total: balance('1000.00', '0.00', '0.00', '1000.00'),
          overBudget: { commitments: 0, amount: '0.00' },
        },
      ],
      total: balance('1000.00', '0.00', '0.00', '1000.00'),
    })
    t.same(sozialraeume(await asOf('position=4')), ['hist-a'], 'hist-b is registered at 4 but has no budget yet')
    t.same(sozialraeume(await asOf('position=5')), ['hist-a', 'hist-b'])

    const beforeCommitment = await asOf('position=6')
    t.same(beforeCommitment.items[0].overBudget, { commitments: 0, amount: '0.00' })
    t.equal(beforeCommitment.items[0].revision, '1')
    const afterCommitment = await asOf('position=7')
    t.same(afterCommitment.items[0].lines.ambulatory, balance('1000.00', '1500.00', '0.00', '-500.00'))
    t.same(afterCommitment.items[0].overBudget, { commitments: 1, amount: '1500.00' }, 'over budget as it stood then')
    t.equal(afterCommitment.items[0].revision, '2')
    t.same(afterCommitment.items[1], beforeCommitment.items[1], 'the other budget unchanged')
    t.same(afterCommitment.total, balance('1650.00', '1500.00', '0.00', '150.00'))

    const afterInvoice = await asOf('position=9')
    t.same(afterInvoice.items[0].lines.ambulatory, balance('1000.00', '1300.00', '200.00', '-500.00'))
    t.same(afterInvoice.items[0].overBudget, { commitments: 1, amount: '1500.00' }, 'an invoice leaves amount − released as it is')
    t.equal(afterInvoice.items[0].revision, '4')
  })

  t.test('asOf: after the last event recorded at or before the time', async (t) => {
    t.same(await asOf('asOf=2025-01-10T08:00:00.000Z'), await asOf('position=3'), 'exactly at the first day: its events count')
    t.same(await asOf('asOf=2025-01-10T08:00:00Z'), await asOf('position=3'), 'any precision of the same instant')
    t.same(await asOf('asOf=2025-01-10T20:00:00.000Z'), await asOf('position=3'), 'between two days: as of the earlier')
    t.same(await asOf('asOf=2025-01-11T23:00:00.000Z'), await asOf('position=7'))
  })

  t.test('the head, and beyond it', async (t) => {
    const now = (await get(app, '/v1/budgets/2025', head)).body
    t.same(await asOf(`position=${head}`), now, 'as of the head equals GET /v1/budgets/{year}')
    t.same(await asOf('asOf=2099-01-01T00:00:00.000Z'), now, 'a time after the last event: as it stands now')
    const beyond = await get(app, '/v1/audit/balances?year=2025&position=11')
    assertProblem(t, beyond, 400, 'validation', 'a position beyond the head')
    t.same(beyond.body.errors, [{ path: 'querystring.position', message: 'is beyond the last event of the log (position 10)' }])
  })

  t.test('exactly one of position and asOf, each valid', async (t) => {
    for (const query of [
      'year=2025',
      'year=2025&position=3&asOf=2025-01-10T08:00:00.000Z',
      'position=3',
      'year=1999&position=3',
      'year=2101&position=3',
      'year=25&position=3',
      'year=2025&position=-1',
      'year=2025&position=03',
      'year=2025&position=3.0',
      'year=2025&position=abc',
      'year=2025&position=',
      'year=2025&position=9223372036854775808',
      'year=2025&asOf=2025-01-10',
      'year=2025&asOf=2025-01-10T08:00:00+01:00',
      'year=2025&asOf=2025-02-30T08:00:00Z',
      'year=2025&asOf=yesterday',
      'year=2025&asOf=',
      'year=2025&position=3&sozialraum=hist-a',
      'year=2025&position=3&minPosition=x',
    ]) {
      assertProblem(t, await get(app, `/v1/audit/balances?${query}`), 400, 'validation', query)
    }
    const neither = await get(app, '/v1/audit/balances?year=2025')
    t.same(neither.body.errors, [{ path: 'querystring', message: 'give exactly one of position and asOf' }])
  })

  t.test('auditors and finance read it; a team lead never does', async (t) => {
    const expected = await asOf('position=7')
    t.same(await asOf('position=7', await bearer({ sub: 'auditor-1', role: 'auditor' })), expected, 'auditor')
    const lead = await get(app, '/v1/audit/balances?year=2025&position=7', undefined, await bearer({ sub: 'lead-a', role: 'teamlead', sozialraeume: ['hist-a'] }))
    assertProblem(t, lead, 403, 'forbidden', 'a team lead, even of the Sozialraum')
    assertProblem(t, await get(app, '/v1/audit/balances?year=2025&position=7', undefined, { authorization: '' }), 401, 'unauthorized', 'no token')
  })

  t.test('?minPosition= is accepted as on every read', async (t) => {
    t.same(await asOf(`position=2&minPosition=${head}`), await asOf('position=2'))
  })
})

import t from 'tap'
import { assertProblem, get, post, seed, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import type { AuditEntry } from '../../src/readmodels/queries.js'

/** As the API answers it: `data` is a JSON object. */
type Entry = AuditEntry & { data: Record<string, unknown> }

t.test('GET /v1/audit/events', async (t) => {
  // A clock the test moves, so that from/to select known events.
  let now = new Date('2025-01-10T08:00:00.000Z')
  const service = await startTestService(t, { clock: () => now })
  const app = service.app

  // Day 1: two Sozialräume with budgets in 2025; day 2: spending and a 2026 budget; day 3: a reversal.
  await seed(app, 'audit-a', { year: 2025 })
  await seed(app, 'audit-b', { year: 2025 })
  now = new Date('2025-01-11T08:00:00.000Z')
  const spent = await post(app, '/v1/budgets/2025/audit-a/spending', spendingBody({ amount: '10.00' }))
  await post(app, '/v1/budgets/2026/audit-b/allocations', { line: 'ambulatory', amount: '5.00', decisionRef: 'HH-2026' })
  now = new Date('2025-01-12T08:00:00.000Z')
  const reversal = await post(app, `/v1/budgets/2025/audit-a/spending/${spent.body.id}/reversal`, { reason: 'Storno' })
  t.equal(reversal.status, 201)
  const head = reversal.body.position as string
  t.equal(head, '9', 'nine events in all')

  const events = async (query: string): Promise<{ items: Entry[]; next: string | null }> => {
    const response = await get(app, `/v1/audit/events${query}`, head)
    // Thrown rather than asserted: this helper runs inside the subtests, not on the outer test.
    if (response.status !== 200) throw new Error(`GET /v1/audit/events${query}: ${response.status} ${response.text}`)
    return response.body
  }
  const types = (page: { items: Entry[] }) => page.items.map((entry) => entry.type)
  const positions = (page: { items: Entry[] }) => page.items.map((entry) => entry.position)

  t.test('without filters: every event, oldest first', async (t) => {
    const all = await events('')
    t.equal(all.next, null, 'one page')
    t.same(positions(all), ['1', '2', '3', '4', '5', '6', '7', '8', '9'])
    t.same(types(all), [
      'SozialraumRegistered',
      'BudgetAllocated',
      'BudgetAllocated',
      'SozialraumRegistered',
      'BudgetAllocated',
      'BudgetAllocated',
      'SpendingRecorded',
      'BudgetAllocated',
      'SpendingReversed',
    ])
    t.same(all.items[0], {
      position: '1',
      streamId: 'sozialraum-audit-a',
      revision: '0',
      eventId: all.items[0]?.eventId,
      type: 'SozialraumRegistered',
      version: 1,
      recordedAt: '2025-01-10T08:00:00.000Z',
      actor: { sub: 'test-finance', role: 'finance' },
      data: { sozialraumId: 'audit-a', name: 'Sozialraum audit-a', status: 'pilot' },
    })
    t.match(all.items[0]?.eventId, /^[0-9a-f-]{36}$/)
    t.match(all.items[6], {
      streamId: 'budget-2025-audit-a',
      revision: '2',
      type: 'SpendingRecorded',
      recordedAt: '2025-01-11T08:00:00.000Z',
      data: { year: 2025, sozialraum: 'audit-a', spendingId: spent.body.id, amountCents: 1000 },
    })
  })

  t.test('year', async (t) => {
    t.same(positions(await events('?year=2025')), ['2', '3', '5', '6', '7', '9'], 'only budget events of 2025')
    t.same(positions(await events('?year=2026')), ['8'])
    t.same(positions(await events('?year=2030')), [])
  })

  t.test('sozialraum', async (t) => {
    t.same(positions(await events('?sozialraum=audit-b')), ['4', '5', '6', '8'], 'registration and budget events')
    t.same(positions(await events('?sozialraum=audit-b&year=2025')), ['5', '6'], 'combined with year')
  })

  t.test('type', async (t) => {
    t.same(positions(await events('?type=SpendingRecorded')), ['7'])
    t.same(positions(await events('?type=SozialraumRegistered')), ['1', '4'])
    t.same(positions(await events('?type=BudgetAllocated&sozialraum=audit-a')), ['2', '3'])
  })

  t.test('actor', async (t) => {
    t.equal((await events('?actor=test-finance')).items.length, 9, 'every event names the token\'s subject')
    t.equal((await events('?actor=anonymous')).items.length, 0, 'nobody is anonymous')
    t.same((await events('?actor=anna')).items, [])
  })

  t.test('from and to: recordedAt at or after from, before to', async (t) => {
    t.same(positions(await events('?from=2025-01-11T08:00:00.000Z')), ['7', '8', '9'], 'from is inclusive')
    t.same(positions(await events('?to=2025-01-11T08:00:00.000Z')), ['1', '2', '3', '4', '5', '6'], 'to is exclusive')
    t.same(positions(await events('?from=2025-01-11T00:00:00Z&to=2025-01-12T00:00:00Z')), ['7', '8'], 'a window')
    t.same(positions(await events('?from=2025-01-13T00:00:00Z')), [], 'after the last event')
  })

  t.test('after', async (t) => {
    t.same(positions(await events('?after=6')), ['7', '8', '9'])
    t.same(positions(await events('?after=9')), [])
    t.same(positions(await events('?after=0')).length, 9)
  })

  t.test('limit and paging via next', async (t) => {
    const first = await events('?limit=4')
    t.same(positions(first), ['1', '2', '3', '4'])
    t.equal(first.next, '4', 'next is the last position of the page')
    const second = await events(`?limit=4&after=${first.next}`)
    t.same(positions(second), ['5', '6', '7', '8'])
    t.equal(second.next, '8')
    const third = await events(`?limit=4&after=${second.next}`)
    t.same(positions(third), ['9'])
    t.equal(third.next, null, 'null on the last page')

    const exact = await events('?limit=9')
    t.equal(exact.items.length, 9)
    t.equal(exact.next, null, 'no further page when the page ends exactly at the end')

    // Paging through a filtered view collects exactly the filtered events.
    const collected: string[] = []
    let after: string | null = '0'
    while (after !== null) {
      const page: { items: Entry[]; next: string | null } = await events(`?year=2025&limit=2&after=${after}`)
      collected.push(...positions(page))
      after = page.next
    }
    t.same(collected, ['2', '3', '5', '6', '7', '9'])
    t.equal((await events('?limit=1000')).items.length, 9, 'limit 1000 is allowed')
  })

  t.test('a cursor beyond the 64-bit range is a 400, not a 500', async (t) => {
    const response = await get(app, '/v1/audit/events?after=9999999999999999999')
    t.equal(response.status, 400, `got ${response.status}`)
    t.equal((await get(app, '/v1/audit/events?after=9223372036854775807')).status, 200, 'the int64 maximum is fine')
  })

  t.test('bad filters are 400', async (t) => {
    for (const query of [
      '?year=1999',
      '?year=2101',
      '?sozialraum=Audit_A',
      '?type=NoSuchEvent',
      '?actor=',
      // PostgreSQL cannot take a NUL in a query: it was a 500 there.
      '?actor=%00',
      '?actor=a%00b',
      '?from=yesterday',
      '?to=2025-01-11',
      '?after=-1',
      '?after=abc',
      '?limit=0',
      '?limit=1001',
      '?limit=ten',
      '?page=2',
    ]) {
      const response = await get(app, `/v1/audit/events${query}`)
      assertProblem(t, response, 400, 'validation', query)
      t.ok(
        (response.body?.errors ?? []).some((error: { path: string }) => /^querystring/.test(error.path)),
        `${query}: the error names the query string`,
      )
    }
  })
})

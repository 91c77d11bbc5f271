import t from 'tap'
import { assertProblem, assertWritten, balance, budgetUrl, get, post, seed } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

t.test('budgets over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('allocations, adjustments and transfers, each answered with the budget right after it', async (t) => {
    await post(app, '/v1/sozialraeume', { id: 'flow', name: 'Flow' })
    const url = budgetUrl(2025, 'flow')

    const allocated = await post(app, `${url}/allocations`, {
      line: 'ambulatory',
      amount: '1000',
      decisionRef: 'HH-2025-01',
      note: 'first tranche',
    })
    assertWritten(t, allocated, 'allocation')
    t.equal(allocated.body.revision, '0', 'the first event of the budget stream')
    t.match(allocated.body, { line: 'ambulatory', amount: '1000.00', decisionRef: 'HH-2025-01', note: 'first tranche' })
    t.same(allocated.body.budget, {
      year: 2025,
      sozialraum: 'flow',
      revision: '0',
      closed: false,
      lines: {
        ambulatory: balance('1000.00', '0.00', '0.00', '1000.00'),
        flexible: balance('0.00', '0.00', '0.00', '0.00'),
      },
      total: balance('1000.00', '0.00', '0.00', '1000.00'),
      overBudget: { commitments: 0, amount: '0.00' },
    })

    const second = await post(app, `${url}/allocations`, { line: 'flexible', amount: '250.5', decisionRef: 'HH-2025-02' })
    assertWritten(t, second, 'second allocation')
    t.equal(second.body.revision, '1')
    t.equal(second.body.amount, '250.50', 'two decimals in responses')
    t.equal(second.body.note, undefined, 'no note when none was given')
    t.same(second.body.budget.lines.flexible, balance('250.50', '0.00', '0.00', '250.50'))
    t.same(second.body.budget.total, balance('1250.50', '0.00', '0.00', '1250.50'))

    const raised = await post(app, `${url}/adjustments`, { line: 'ambulatory', amount: '100.25', reason: 'Nachtrag' })
    assertWritten(t, raised, 'positive adjustment')
    t.match(raised.body, { line: 'ambulatory', amount: '100.25', reason: 'Nachtrag' })
    t.same(raised.body.budget.lines.ambulatory, balance('1100.25', '0.00', '0.00', '1100.25'))

    const lowered = await post(app, `${url}/adjustments`, { line: 'ambulatory', amount: '-0.25', reason: 'Korrektur' })
    assertWritten(t, lowered, 'negative adjustment')
    t.equal(lowered.body.amount, '-0.25')
    t.same(lowered.body.budget.lines.ambulatory, balance('1100.00', '0.00', '0.00', '1100.00'))

    const moved = await post(app, `${url}/transfers`, {
      fromLine: 'ambulatory',
      toLine: 'flexible',
      amount: '100',
      reason: 'Umschichtung',
    })
    assertWritten(t, moved, 'transfer')
    t.match(moved.body, { fromLine: 'ambulatory', toLine: 'flexible', amount: '100.00', reason: 'Umschichtung' })
    t.same(moved.body.budget.lines, {
      ambulatory: balance('1000.00', '0.00', '0.00', '1000.00'),
      flexible: balance('350.50', '0.00', '0.00', '350.50'),
    })
    t.same(moved.body.budget.total, balance('1350.50', '0.00', '0.00', '1350.50'), 'a transfer leaves the total alone')
    t.equal(moved.body.revision, '4')

    // Read your writes: the read model shows exactly the budget of the write's answer.
    const read = await get(app, url, moved.body.position)
    t.equal(read.status, 200)
    t.same(read.body, moved.body.budget, 'GET equals the budget of the last write')
    t.equal(read.headers.etag, '"4"', 'ETag is the revision')
  })

  t.test('GET /v1/budgets/{year} lists every budget of the year with totals', async (t) => {
    const a = await seed(app, 'year-a', { year: 2031, ambulatory: '1000.00', flexible: '100.00' })
    const b = await seed(app, 'year-b', { year: 2031, ambulatory: '2000.00', flexible: '200.00' })
    await seed(app, 'year-other', { year: 2032 })
    const spent = await post(app, `${a.url}/spending`, {
      amount: '10.00',
      purpose: 'Ausflug',
      receiptRef: 'R-1',
      date: '2031-05-01',
    })
    assertWritten(t, spent)

    const list = await get(app, '/v1/budgets/2031', spent.body.position)
    t.equal(list.status, 200)
    t.equal(list.body.year, 2031)
    t.same(
      list.body.items.map((item: { sozialraum: string }) => item.sozialraum),
      ['year-a', 'year-b'],
      'only the budgets of 2031, ordered by Sozialraum',
    )
    t.same(list.body.items[0], spent.body.budget, 'each item is the budget as written')
    t.same(list.body.items[1].total, balance('2200.00', '0.00', '0.00', '2200.00'))
    t.same(list.body.total, balance('3300.00', '0.00', '10.00', '3290.00'), 'the year total sums both budgets')

    const empty = await get(app, '/v1/budgets/2099', b.position)
    t.equal(empty.status, 200)
    t.same(empty.body, { year: 2099, items: [], total: balance('0.00', '0.00', '0.00', '0.00') })
  })

  t.test('GET /v1/budgets/{year}/{sozialraum} answers with an ETag', async (t) => {
    const seeded = await seed(app, 'etag')
    const read = await get(app, seeded.url, seeded.position)
    t.equal(read.status, 200)
    t.equal(read.body.revision, '1')
    t.equal(read.headers.etag, '"1"')
    t.same(read.body.lines, {
      ambulatory: balance('100000.00', '0.00', '0.00', '100000.00'),
      flexible: balance('10000.00', '0.00', '0.00', '10000.00'),
    })
  })

  t.test('404 before registration and before the first allocation', async (t) => {
    const head = await service.store.headPosition()
    const unregistered = await post(app, `${budgetUrl(2025, 'unregistered')}/allocations`, {
      line: 'ambulatory',
      amount: '10',
      decisionRef: 'x',
    })
    assertProblem(t, unregistered, 404, 'not-found', 'allocation to an unregistered Sozialraum')
    t.equal(await service.store.headPosition(), head, 'nothing written')

    const registered = await post(app, '/v1/sozialraeume', { id: 'no-allocation', name: 'No allocation' })
    const url = budgetUrl(2025, 'no-allocation')
    assertProblem(t, await get(app, url, registered.body.position), 404, 'not-found', 'GET before the first allocation')
    assertProblem(t, await get(app, budgetUrl(2025, 'unregistered')), 404, 'not-found', 'GET of an unregistered one')

    const headAfter = await service.store.headPosition()
    assertProblem(
      t,
      await post(app, `${url}/adjustments`, { line: 'ambulatory', amount: '10', reason: 'x' }),
      404,
      'not-found',
      'adjustment before the first allocation',
    )
    assertProblem(
      t,
      await post(app, `${url}/transfers`, { fromLine: 'ambulatory', toLine: 'flexible', amount: '10', reason: 'x' }),
      404,
      'not-found',
      'transfer before the first allocation',
    )
    t.equal(await service.store.headPosition(), headAfter, 'nothing written')
  })

  t.test('422 insufficient-funds for adjustments and transfers beyond available', async (t) => {
    const seeded = await seed(app, 'short', { ambulatory: '100.00', flexible: '50.00' })
    const head = await service.store.headPosition()
    const adjustment = await post(app, `${seeded.url}/adjustments`, { line: 'flexible', amount: '-50.01', reason: 'too much' })
    assertProblem(t, adjustment, 422, 'insufficient-funds', 'adjustment')
    const transfer = await post(app, `${seeded.url}/transfers`, {
      fromLine: 'ambulatory',
      toLine: 'flexible',
      amount: '100.01',
      reason: 'too much',
    })
    assertProblem(t, transfer, 422, 'insufficient-funds', 'transfer')
    t.equal(await service.store.headPosition(), head, 'nothing written')

    const toZero = await post(app, `${seeded.url}/adjustments`, { line: 'flexible', amount: '-50.00', reason: 'all of it' })
    assertWritten(t, toZero, 'down to exactly zero')
    t.same(toZero.body.budget.lines.flexible, balance('0.00', '0.00', '0.00', '0.00'))
  })

  t.test('If-Match', async (t) => {
    const seeded = await seed(app, 'if-match')
    const current = await get(app, seeded.url, seeded.position)
    const etag = current.headers.etag as string
    t.equal(etag, '"1"')

    const head = await service.store.headPosition()
    const stale = await post(
      app,
      `${seeded.url}/allocations`,
      { line: 'ambulatory', amount: '1', decisionRef: 'stale' },
      { 'if-match': '"0"' },
    )
    assertProblem(t, stale, 412, 'precondition-failed', 'stale revision')
    t.match(stale.body.detail, /"1"/, 'the detail names the current revision')
    t.equal(await service.store.headPosition(), head, 'nothing written')

    const fresh = await post(
      app,
      `${seeded.url}/allocations`,
      { line: 'ambulatory', amount: '1', decisionRef: 'fresh' },
      { 'if-match': etag },
    )
    assertWritten(t, fresh, 'matching revision')
    t.equal(fresh.headers.etag, '"2"')

    const replayedEtag = await post(
      app,
      `${seeded.url}/transfers`,
      { fromLine: 'ambulatory', toLine: 'flexible', amount: '1', reason: 'r' },
      { 'if-match': etag },
    )
    assertProblem(t, replayedEtag, 412, 'precondition-failed', 'the ETag used once is stale afterwards')

    await post(app, '/v1/sozialraeume', { id: 'if-match-empty', name: 'Empty' })
    const noStream = await post(
      app,
      `${budgetUrl(2025, 'if-match-empty')}/allocations`,
      { line: 'ambulatory', amount: '1', decisionRef: 'x' },
      { 'if-match': '"0"' },
    )
    assertProblem(t, noStream, 412, 'precondition-failed', 'If-Match on a budget with no events')
  })

  t.test('Idempotency-Key on allocations', async (t) => {
    const seeded = await seed(app, 'idempotent')
    const body = { line: 'flexible', amount: '500.00', decisionRef: 'HH-idem' }
    const first = await post(app, `${seeded.url}/allocations`, body, { 'idempotency-key': 'alloc-1' })
    assertWritten(t, first)
    t.equal(first.headers['idempotent-replayed'], undefined)
    const head = await service.store.headPosition()

    const retry = await post(app, `${seeded.url}/allocations`, body, { 'idempotency-key': 'alloc-1' })
    t.equal(retry.status, 201)
    t.equal(retry.text, first.text, 'identical body')
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(retry.headers.etag, first.headers.etag)
    t.equal(await service.store.headPosition(), head, 'the retry writes nothing')

    // A later write does not change what the retry answers: the budget right after the first write.
    const later = await post(app, `${seeded.url}/allocations`, { line: 'flexible', amount: '1.00', decisionRef: 'later' })
    assertWritten(t, later)
    const lateRetry = await post(app, `${seeded.url}/allocations`, body, { 'idempotency-key': 'alloc-1' })
    t.equal(lateRetry.text, first.text, 'a late retry answers the first response again')
    t.equal(lateRetry.headers['idempotent-replayed'], 'true')

    const headAfter = await service.store.headPosition()
    const otherBody = await post(app, `${seeded.url}/allocations`, { ...body, amount: '501.00' }, { 'idempotency-key': 'alloc-1' })
    assertProblem(t, otherBody, 422, 'idempotency-key-reused', 'same key, other body')
    const otherRoute = await post(
      app,
      `${seeded.url}/adjustments`,
      { line: 'flexible', amount: '500.00', reason: 'x' },
      { 'idempotency-key': 'alloc-1' },
    )
    assertProblem(t, otherRoute, 422, 'idempotency-key-reused', 'same key, other route of the same budget')
    t.equal(await service.store.headPosition(), headAfter, 'nothing written')

    const read = await get(app, seeded.url, later.body.position)
    t.same(read.body.lines.flexible, balance('10501.00', '0.00', '0.00', '10501.00'), 'allocated once, not twice')
    const trail = await get(app, '/v1/audit/events?sozialraum=idempotent&type=BudgetAllocated', later.body.position)
    t.same(
      trail.body.items.map((entry: { data: { decisionRef: string } }) => entry.data.decisionRef),
      ['seed-ambulatory', 'seed-flexible', 'HH-idem', 'later'],
      'one BudgetAllocated per distinct request',
    )
  })

  t.test('an Idempotency-Key used on another budget is idempotency-key-reused', async (t) => {
    const a = await seed(app, 'key-scope-a')
    const b = await seed(app, 'key-scope-b')
    const body = { line: 'flexible', amount: '1.00', decisionRef: 'scope' }
    assertWritten(t, await post(app, `${a.url}/allocations`, body, { 'idempotency-key': 'scope-1' }))
    const head = await service.store.headPosition()
    // Keys are looked up across streams in a read model: once it has caught up, reuse is refused.
    t.ok(await service.runner.waitFor(head, 5000))
    const elsewhere = await post(app, `${b.url}/allocations`, body, { 'idempotency-key': 'scope-1' })
    t.equal(elsewhere.status, 422, `got ${elsewhere.status}`)
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('one Idempotency-Key sent to two budgets at once writes once', async (t) => {
    const a = await seed(app, 'key-race-a')
    const b = await seed(app, 'key-race-b')
    const head = await service.store.headPosition()
    const [first, second] = await Promise.all([
      post(app, `${a.url}/allocations`, { line: 'flexible', amount: '1.00', decisionRef: 'race' }, { 'idempotency-key': 'race-1' }),
      post(app, `${b.url}/allocations`, { line: 'flexible', amount: '2.00', decisionRef: 'race' }, { 'idempotency-key': 'race-1' }),
    ])
    t.same([first?.status, second?.status].sort(), [201, 422])
    t.equal(await service.store.headPosition(), head + 1n, 'exactly one event written')
  })

  t.test('a retry to the same route with a trailing slash is the same request', async (t) => {
    const a = await seed(app, 'key-slash')
    const body = { line: 'flexible', amount: '3.00', decisionRef: 'slash' }
    const first = await post(app, `${a.url}/allocations`, body, { 'idempotency-key': 'slash-1' })
    assertWritten(t, first)
    const retry = await post(app, `${a.url}/allocations/`, body, { 'idempotency-key': 'slash-1' })
    t.equal(retry.status, 201)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.same(retry.body, first.body)
  })

  t.test('a key that failed to write is free for the corrected request', async (t) => {
    const a = await seed(app, 'key-after-failure', { flexible: '10.00' })
    const refused = await post(app, `${a.url}/adjustments`, { line: 'flexible', amount: '-20.00', reason: 'too much' }, { 'idempotency-key': 'fix-1' })
    t.equal(refused.status, 422)
    const corrected = await post(app, `${a.url}/adjustments`, { line: 'flexible', amount: '-5.00', reason: 'right' }, { 'idempotency-key': 'fix-1' })
    assertWritten(t, corrected)
  })
})

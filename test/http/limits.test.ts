import t from 'tap'
import { formatCents, MAX_AMOUNT_CENTS, MAX_BALANCE_CENTS } from '../../src/domain/money.js'
import { assertProblem, assertWritten, balance, budgetUrl, get, post } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/**
 * The limit on balances (MAX_BALANCE_CENTS) over HTTP: a budget line takes allocations up to
 * exactly the limit, one more step is refused with 422 limit-exceeded and nothing is written, and
 * the reads still answer with exact amounts. The read models read cents of any size exactly, also
 * beyond 2^53 (what a JS number holds exactly).
 */

const LIMIT = formatCents(MAX_BALANCE_CENTS) // '100000000000.00'
const STEP = formatCents(MAX_AMOUNT_CENTS) // '1000000000.00', the largest single amount
const STEPS = Number(MAX_BALANCE_CENTS / MAX_AMOUNT_CENTS) // 100

t.test('the limit on balances over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('a line takes allocations up to the limit; the step beyond it is refused and nothing is written', async (t) => {
    const registered = await post(app, '/v1/sozialraeume', { id: 'grenze', name: 'Grenze' })
    t.equal(registered.status, 201, 'registered')
    const url = budgetUrl(2025, 'grenze')

    let last = registered
    for (let step = 1; step <= STEPS; step++) {
      last = await post(app, `${url}/allocations`, { line: 'ambulatory', amount: STEP, decisionRef: `HH-2025-${step}` })
      if (last.status !== 201) break
    }
    assertWritten(t, last, `allocation ${STEPS}`)
    t.equal(last.body.revision, String(STEPS - 1), `${STEPS} allocations written`)
    t.same(last.body.budget.lines.ambulatory, balance(LIMIT, '0.00', '0.00', LIMIT), 'exactly at the limit')

    const head = await service.store.headPosition()
    const beyond = await post(app, `${url}/allocations`, { line: 'ambulatory', amount: '0.01', decisionRef: 'HH-2025-X' })
    assertProblem(t, beyond, 422, 'limit-exceeded', 'one cent beyond the limit')
    t.equal(beyond.body.title, 'A balance would exceed its limit')
    t.equal(
      beyond.body.detail,
      `the ambulatory line's allocated amount would become 100000000000.01, beyond the limit of ${LIMIT}`,
      'the detail names the line, what it would have become and the limit',
    )
    const step = await post(app, `${url}/allocations`, { line: 'ambulatory', amount: STEP, decisionRef: 'HH-2025-Y' })
    assertProblem(t, step, 422, 'limit-exceeded', 'a whole step beyond the limit')
    t.match(step.body.detail, /would become 101000000000\.00, beyond the limit of 100000000000\.00$/)
    t.equal(await service.store.headPosition(), head, 'nothing was written')

    const read = await get(app, url, last.body.position)
    t.equal(read.status, 200, 'GET /v1/budgets/{year}/{sozialraum}')
    t.equal(read.body.revision, String(STEPS - 1), 'the revision is unchanged')
    t.equal(read.headers.etag, `"${STEPS - 1}"`)
    t.same(read.body.lines, {
      ambulatory: balance(LIMIT, '0.00', '0.00', LIMIT),
      flexible: balance('0.00', '0.00', '0.00', '0.00'),
    })
    t.same(read.body.total, balance(LIMIT, '0.00', '0.00', LIMIT))

    const year = await get(app, '/v1/budgets/2025', last.body.position)
    t.equal(year.status, 200, 'GET /v1/budgets/{year}')
    t.same(year.body.items, [read.body], 'the year lists the budget as read')
    t.same(year.body.total, balance(LIMIT, '0.00', '0.00', LIMIT), 'the year total is exact')

    // Money may leave a line at the limit, and come back up to exactly the limit.
    const moved = await post(app, `${url}/transfers`, { fromLine: 'ambulatory', toLine: 'flexible', amount: '0.01', reason: 'Umschichtung' })
    assertWritten(t, moved, 'a transfer out of the line at the limit')
    const back = await post(app, `${url}/transfers`, { fromLine: 'flexible', toLine: 'ambulatory', amount: '0.01', reason: 'zurück' })
    assertWritten(t, back, 'a transfer back to exactly the limit')
    t.same(back.body.budget.lines.ambulatory, balance(LIMIT, '0.00', '0.00', LIMIT))
  })

  t.test('the read models read cents beyond 2^53 exactly', async (t) => {
    // Rows as a projection would hold them after sums beyond what a JS number holds exactly
    // (2^53 = 9007199254740992): written straight into the read model, for a budget without events.
    const huge = 2n ** 53n + 1n // 90071992547409.93 EUR
    const key = [2031, 'riesig'] as const
    const commitment = '00000000-0000-4000-8000-000000000001'
    await service.db.transaction([
      { sql: 'INSERT INTO budgets (year, sozialraum, revision, closed) VALUES (?, ?, ?, 0)', params: [...key, 7] },
      {
        sql: `INSERT INTO budget_lines (year, sozialraum, line, allocated_cents, committed_cents, spent_cents)
              VALUES (?, ?, 'ambulatory', ?, ?, ?), (?, ?, 'flexible', ?, 0, ?)`,
        params: [...key, huge * 3n, huge, huge, ...key, huge, 1n],
      },
      {
        sql: `INSERT INTO commitments (year, sozialraum, id, line, provider, case_ref, period_from, period_to, amount_cents,
                invoiced_cents, released_cents, status, over_budget, created_by, created_at)
              VALUES (?, ?, ?, 'ambulatory', 'traeger', 'FALL-1', '2031-01-01', '2031-12-31', ?, ?, 0, 'open', 1, 'ben', '2031-01-02T00:00:00.000Z')`,
        params: [...key, commitment, huge * 2n, huge],
      },
      {
        sql: `INSERT INTO commitment_invoices (year, sozialraum, commitment_id, invoice_no, amount_cents, invoice_date, position)
              VALUES (?, ?, ?, 'RE-1', ?, '2031-02-01', 1)`,
        params: [...key, commitment, huge],
      },
    ])

    const read = await get(app, budgetUrl(...key))
    t.equal(read.status, 200, 'GET /v1/budgets/{year}/{sozialraum}')
    t.same(read.body.lines, {
      ambulatory: balance('270215977642229.79', '90071992547409.93', '90071992547409.93', '90071992547409.93'),
      flexible: balance('90071992547409.93', '0.00', '0.01', '90071992547409.92'),
    })
    t.same(read.body.total, balance('360287970189639.72', '90071992547409.93', '90071992547409.94', '180143985094819.85'))
    t.same(read.body.overBudget, { commitments: 1, amount: '180143985094819.86' }, 'the SQL sum is read exactly')

    const year = await get(app, '/v1/budgets/2031')
    t.equal(year.status, 200, 'GET /v1/budgets/{year}')
    t.same(year.body.total, read.body.total, 'the year total is exact')

    const commitments = await get(app, `${budgetUrl(...key)}/commitments`)
    t.equal(commitments.status, 200, 'GET …/commitments')
    t.match(commitments.body.items, [
      {
        amount: '180143985094819.86',
        invoiced: '90071992547409.93',
        remaining: '90071992547409.93',
        invoices: [{ invoiceNo: 'RE-1', amount: '90071992547409.93' }],
      },
    ])
  })
})

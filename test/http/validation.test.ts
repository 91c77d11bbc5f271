import t from 'tap'
import { bearer, DEFAULT_ACTOR } from '../helpers/tokens.js'
import { assertProblem, commitmentBody, get, post, seed, shown, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/**
 * Bad input: every request below is answered with a 4xx problem+json (400s with errors[]) and
 * writes nothing: the store's head and the audit trail are unchanged after each.
 */

interface Case {
  name: string
  /** Sends the request; `url` is the seeded budget's base URL. */
  send: (url: string) => Promise<ApiResponse>
  status?: number
  code?: string
  /** An error path the answer must name (400 only). */
  path?: string | RegExp
}

t.test('bad input writes nothing', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const seeded = await seed(app, 'valid')
  const created = await post(app, `${seeded.url}/commitments`, commitmentBody())
  t.equal(created.status, 201)
  const spent = await post(app, `${seeded.url}/spending`, spendingBody())
  t.equal(spent.status, 201)
  const commitment = `${seeded.url}/commitments/${created.body.id}`

  const allocation = (amount: unknown) => (url: string) =>
    post(app, `${url}/allocations`, { line: 'ambulatory', amount, decisionRef: 'HH-1' })
  const authorization = await bearer(DEFAULT_ACTOR)
  const raw = (url: string, payload: string, contentType: string) =>
    app
      .inject({ method: 'POST', url, payload, headers: { 'content-type': contentType, ...authorization } })
      .then((response) => ({
        status: response.statusCode,
        headers: response.headers,
        body: (() => {
          try {
            return JSON.parse(response.body)
          } catch {
            return undefined
          }
        })(),
        text: response.body,
      }))

  const cases: Case[] = [
    // Bodies that are no JSON object
    { name: 'malformed JSON', send: (url) => post(app, `${url}/allocations`, '{"line": "ambulatory", "amount": ') },
    { name: 'empty JSON body', send: (url) => post(app, `${url}/allocations`, '') },
    { name: 'a JSON array', send: (url) => post(app, `${url}/allocations`, []) },
    { name: 'JSON null', send: (url) => post(app, `${url}/allocations`, 'null') },
    // Amounts
    { name: 'a JSON number as amount', send: allocation(1000), path: 'amount' },
    { name: 'more than two decimals', send: allocation('10.001'), path: 'amount' },
    { name: 'exponent notation', send: allocation('1e3'), path: 'amount' },
    { name: 'absurd magnitude', send: allocation('99999999999999'), path: 'amount' },
    { name: 'just above one billion', send: allocation('1000000000.01'), path: 'amount' },
    { name: 'a plus sign', send: allocation('+10'), path: 'amount' },
    { name: 'a leading zero', send: allocation('010'), path: 'amount' },
    { name: 'a comma as decimal separator', send: allocation('10,50'), path: 'amount' },
    { name: 'whitespace around the amount', send: allocation(' 10 '), path: 'amount' },
    { name: 'an empty amount', send: allocation(''), path: 'amount' },
    { name: 'a zero allocation', send: allocation('0.00'), path: 'amount' },
    { name: 'a negative allocation', send: allocation('-5'), path: 'amount' },
    {
      name: 'a zero adjustment',
      send: (url) => post(app, `${url}/adjustments`, { line: 'flexible', amount: '0', reason: 'nothing' }),
      path: 'amount',
    },
    { name: 'a negative invoice', send: () => post(app, `${commitment}/invoices`, { invoiceNo: 'X', amount: '-1', invoiceDate: '2025-01-01' }), path: 'amount' },
    { name: 'a zero spending', send: (url) => post(app, `${url}/spending`, spendingBody({ amount: '0' })), path: 'amount' },
    { name: 'a null amount', send: allocation(null), path: 'amount' },
    // Text lengths
    {
      name: 'reason over 1000 characters',
      send: (url) => post(app, `${url}/adjustments`, { line: 'flexible', amount: '1', reason: 'x'.repeat(1001) }),
      path: 'reason',
    },
    {
      name: 'name over 200 characters',
      send: () => post(app, '/v1/sozialraeume', { id: 'long-name', name: 'n'.repeat(201) }),
      path: 'name',
    },
    { name: 'an empty name', send: () => post(app, '/v1/sozialraeume', { id: 'empty-name', name: '' }), path: 'name' },
    {
      name: 'decisionRef over 128 characters',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'd'.repeat(129) }),
      path: 'decisionRef',
    },
    { name: 'purpose over 1000 characters', send: (url) => post(app, `${url}/spending`, spendingBody({ purpose: 'p'.repeat(1001) })), path: 'purpose' },
    // Unknown and missing fields, wrong enums
    {
      name: 'an unknown field',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x', approvedBy: 'me' }),
      path: 'approvedBy',
    },
    {
      name: 'an unknown nested field',
      send: (url) =>
        post(app, `${url}/commitments`, commitmentBody({ period: { from: '2025-01-01', to: '2025-02-01', until: 'x' } })),
      path: 'period.until',
    },
    { name: 'an unknown field on registration', send: () => post(app, '/v1/sozialraeume', { id: 'x', name: 'X', budget: '1' }), path: 'budget' },
    { name: 'a missing field', send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1' }), path: 'decisionRef' },
    { name: 'an unknown line', send: (url) => post(app, `${url}/allocations`, { line: 'stationary', amount: '1', decisionRef: 'x' }), path: 'line' },
    {
      name: 'a transfer to the same line',
      send: (url) => post(app, `${url}/transfers`, { fromLine: 'flexible', toLine: 'flexible', amount: '1', reason: 'x' }),
      path: 'toLine',
    },
    { name: 'an unknown Sozialraum status', send: () => post(app, '/v1/sozialraeume/valid/status', { status: 'closed', decisionRef: 'x' }), path: 'status' },
    { name: 'a commitment id that is no UUID', send: (url) => post(app, `${url}/commitments`, commitmentBody({ id: 'c-1' })), path: 'id' },
    { name: 'a spending id that is no UUID', send: (url) => post(app, `${url}/spending`, spendingBody({ id: '12345' })), path: 'id' },
    // Years
    { name: 'year 1999', send: () => allocation('1')('/v1/budgets/1999/valid'), path: /year/ },
    { name: 'year 2101', send: () => allocation('1')('/v1/budgets/2101/valid'), path: /year/ },
    { name: 'year 20x5', send: () => allocation('1')('/v1/budgets/20x5/valid'), path: /year/ },
    { name: 'year 02025', send: () => allocation('1')('/v1/budgets/02025/valid'), path: /year/ },
    // Slugs
    { name: 'slug Unteres_Malstatt', send: () => post(app, '/v1/sozialraeume', { id: 'Unteres_Malstatt', name: 'U' }), path: 'id' },
    { name: 'slug -a', send: () => post(app, '/v1/sozialraeume', { id: '-a', name: 'A' }), path: 'id' },
    { name: 'slug a--b', send: () => post(app, '/v1/sozialraeume', { id: 'a--b', name: 'A' }), path: 'id' },
    { name: 'slug a-', send: () => post(app, '/v1/sozialraeume', { id: 'a-', name: 'A' }), path: 'id' },
    { name: 'slug of 65 characters', send: () => post(app, '/v1/sozialraeume', { id: 'a'.repeat(65), name: 'A' }), path: 'id' },
    { name: 'slug with umlaut', send: () => post(app, '/v1/sozialraeume', { id: 'malstätt', name: 'A' }), path: 'id' },
    { name: 'bad slug in the path', send: () => allocation('1')('/v1/budgets/2025/Unteres_Malstatt'), path: /sozialraum/ },
    { name: 'bad slug in a status path', send: () => post(app, '/v1/sozialraeume/a--b/status', { status: 'permanent', decisionRef: 'x' }), path: /id/ },
    { name: 'a commitment path id that is no UUID', send: (url) => post(app, `${url}/commitments/not-a-uuid/release`, { reason: 'x' }), path: /id/ },
    // Dates and periods
    {
      name: 'an impossible date 2025-02-30',
      send: (url) => post(app, `${url}/spending`, spendingBody({ date: '2025-02-30' })),
      path: 'date',
    },
    {
      name: 'an impossible month 2025-13-01',
      send: (url) => post(app, `${url}/commitments`, commitmentBody({ period: { from: '2025-13-01', to: '2025-12-31' } })),
      path: 'period.from',
    },
    { name: '29 February of a common year', send: (url) => post(app, `${url}/spending`, spendingBody({ date: '2025-02-29' })), path: 'date' },
    { name: 'a timestamp where a date belongs', send: (url) => post(app, `${url}/spending`, spendingBody({ date: '2025-03-01T00:00:00Z' })), path: 'date' },
    {
      name: 'an invoice date in German notation',
      send: () => post(app, `${commitment}/invoices`, { invoiceNo: 'X', amount: '1', invoiceDate: '01.03.2025' }),
      path: 'invoiceDate',
    },
    {
      name: 'a period that ends before it starts',
      send: (url) => post(app, `${url}/commitments`, commitmentBody({ period: { from: '2025-06-01', to: '2025-05-31' } })),
      path: 'period.to',
    },
    // Headers
    {
      name: 'an Idempotency-Key over 128 characters',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x' }, { 'idempotency-key': 'k'.repeat(129) }),
      path: /idempotency-key/,
    },
    {
      // HTTP refuses a NUL in a header but lets a tab and C1 controls through (as Latin-1).
      name: 'an Idempotency-Key with a tab',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x' }, { 'idempotency-key': 'key\tx' }),
      path: /idempotency-key/,
    },
    {
      name: 'an Idempotency-Key with a C1 control',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x' }, { 'idempotency-key': 'key\u0085x' }),
      path: /idempotency-key/,
    },
    {
      name: 'an If-Match that is no quoted revision',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x' }, { 'if-match': 'W/"1"' }),
      path: /if-match/,
    },
    // Size and media type
    {
      name: 'a body over 64 KiB',
      send: (url) => post(app, `${url}/adjustments`, { line: 'flexible', amount: '1', reason: 'r'.repeat(70 * 1024) }),
      status: 413,
      code: 'payload-too-large',
    },
    {
      name: 'application/xml',
      send: (url) => raw(`${url}/allocations`, '<allocation line="flexible" amount="1"/>', 'application/xml'),
      status: 415,
      code: 'unsupported-media-type',
    },
    {
      name: 'a form post',
      send: (url) => raw(`${url}/allocations`, 'line=flexible&amount=1&decisionRef=x', 'application/x-www-form-urlencoded'),
      status: 415,
      code: 'unsupported-media-type',
    },
    // Query strings
    { name: 'an unknown query parameter', send: () => get(app, '/v1/budgets/2025?foo=1'), path: /foo/ },
    { name: 'a query parameter on a write', send: (url) => post(app, `${url}/spending?foo=1`, spendingBody()), path: /foo/ },
    // Control characters stay out of the events, which are kept forever
    { name: 'a NUL in a reference', send: (url) => post(app, `${url}/spending`, spendingBody({ receiptRef: 'R-1\u0000' })), path: 'receiptRef' },
    { name: 'a line break in a reference', send: (url) => post(app, `${url}/spending`, spendingBody({ receiptRef: 'R-1\nR-2' })), path: 'receiptRef' },
    { name: 'an escape character in free text', send: (url) => post(app, `${url}/spending`, spendingBody({ purpose: 'a\u001bb' })), path: 'purpose' },
    { name: 'a blank name', send: () => post(app, '/v1/sozialraeume', { id: 'blank-name', name: '   ' }), path: 'name' },
    // A reference is written one way only: else one invoice number could be booked twice
    ...(['RE-1 ', ' RE-1', 'RE-1\u200b', 'RE\u00ad-1', 'RE-1\u2028', '\u200b', 'RE\u00a01', 'RE-1\u{E0020}'] as const).map((invoiceNo) => ({
      name: `the invoice number ${shown(invoiceNo)}`,
      send: () => post(app, `${commitment}/invoices`, { invoiceNo, amount: '1', invoiceDate: '2025-03-01' }),
      path: 'invoiceNo',
    })),
    { name: 'an invisible receipt', send: (url) => post(app, `${url}/spending`, spendingBody({ receiptRef: '\u2800' })), path: 'receiptRef' },
    { name: 'free text of invisible characters', send: (url) => post(app, `${url}/spending`, spendingBody({ purpose: '\u200b\u200d \ufeff' })), path: 'purpose' },
    { name: 'a right-to-left override in free text', send: (url) => post(app, `${url}/spending`, spendingBody({ purpose: 'Ausflug \u202efdp.exe' })), path: 'purpose' },
    // A reference's length counts after NFC, which lengthens some characters: U+0958 is two code
    // units there, U+FB2C three (they were taken and the event schema refused them: a 500)
    {
      name: 'a decision reference that NFC makes longer than 128',
      send: (url) => post(app, `${url}/allocations`, { line: 'flexible', amount: '1', decisionRef: '\u0958'.repeat(100) }),
      path: 'decisionRef',
    },
    { name: 'a receipt that NFC makes longer than 128', send: (url) => post(app, `${url}/spending`, spendingBody({ receiptRef: '\ufb2c'.repeat(43) })), path: 'receiptRef' },
    { name: 'a provider that NFC makes longer than 128', send: (url) => post(app, `${url}/commitments`, commitmentBody({ provider: '\u0958'.repeat(100) })), path: 'provider' },
    {
      name: 'an invoice number that NFC makes longer than 128',
      send: () => post(app, `${commitment}/invoices`, { invoiceNo: '\u0958'.repeat(65), amount: '1', invoiceDate: '2025-03-01' }),
      path: 'invoiceNo',
    },
    {
      name: "a status change's decision reference that NFC makes longer than 128",
      send: () => post(app, '/v1/sozialraeume/valid/status', { status: 'permanent', decisionRef: '\u0958'.repeat(100) }),
      path: 'decisionRef',
    },
    // Dates and the fiscal year
    { name: 'a date before 2000', send: (url) => post(app, `${url}/spending`, spendingBody({ date: '1999-12-31' })), path: 'date' },
    { name: 'a spending dated in another fiscal year', send: (url) => post(app, `${url}/spending`, spendingBody({ date: '2024-12-31' })), path: 'date' },
    {
      name: 'a commitment period outside the fiscal year',
      send: (url) => post(app, `${url}/commitments`, commitmentBody({ period: { from: '2026-01-01', to: '2026-06-30' } })),
      path: 'period',
    },
    {
      name: 'an amendment that leaves nothing',
      send: () => post(app, `${commitment}/amendments`, { amount: '-1200.00', reason: 'zero' }),
      path: 'amount',
    },
  ]

  for (const c of cases) {
    t.test(c.name, async (t) => {
      const head = await service.store.headPosition()
      const response = await c.send(seeded.url)
      assertProblem(t, response, c.status ?? 400, c.code ?? 'validation', c.name)
      if (c.path !== undefined) {
        const paths: string[] = (response.body?.errors ?? []).map((error: { path: string }) => error.path)
        t.ok(
          paths.some((path) => (typeof c.path === 'string' ? path === c.path : c.path!.test(path))),
          `errors name ${String(c.path)} (got ${JSON.stringify(paths)})`,
        )
      }
      t.equal(await service.store.headPosition(), head, 'the store head is unchanged')
      const trail = await get(app, `/v1/audit/events?after=${head}`, String(head))
      t.same(trail.body.items, [], 'nothing new in the audit trail')
    })
  }

  t.test('text/plain is refused as an unsupported media type', async (t) => {
    const head = await service.store.headPosition()
    const response = await raw(`${seeded.url}/allocations`, '{"line":"flexible","amount":"1","decisionRef":"x"}', 'text/plain')
    t.equal(response.status, 415, `got ${response.status}`)
    t.match(String(response.headers['content-type']), /^application\/problem\+json/, 'still a problem')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('the ledger is as seeded afterwards', async (t) => {
    const head = await service.store.headPosition()
    t.equal(head, BigInt(spent.body.position), 'no bad request wrote anything')
    const budget = await get(app, seeded.url, String(head))
    t.same(budget.body, spent.body.budget)
    const unknownCommitment = await get(app, `${seeded.url}/commitments/${uuid()}`)
    t.equal(unknownCommitment.status, 404)
  })
})

t.test('a correlation id with control characters is not kept: the request id stands in', async (t) => {
  const service = await startTestService(t)
  const seeded = await seed(service.app, 'correlation')
  const write = (correlation: string) =>
    post(service.app, `${seeded.url}/allocations`, { line: 'flexible', amount: '1', decisionRef: 'x' }, { 'x-correlation-id': correlation })
  const plain = await write('vorgang-42')
  const controlled = await write('vorgang\u0085\u009b31m')
  t.equal(plain.status, 201)
  t.equal(controlled.status, 201, 'the write itself is taken')
  const [first, second] = await service.store.readAll({ after: BigInt(plain.body.position) - 1n, maxCount: 2 })
  const correlationOf = (event: typeof first) => (event?.metadata as { correlationId?: string } | undefined)?.correlationId
  t.equal(correlationOf(first), 'vorgang-42', "a plain one is the event's correlation id")
  t.notMatch(correlationOf(second) ?? '', /[\u0080-\u009f]/, 'a controlled one is not')
  t.ok((correlationOf(second) ?? '').length > 0, 'the request id stands in')
})

t.test('a reference is measured composed: 128 code units after NFC are taken, and a refused one leaves its Idempotency-Key free', async (t) => {
  const service = await startTestService(t)
  const seeded = await seed(service.app, 'nfc')
  const allocate = (decisionRef: string) =>
    post(service.app, `${seeded.url}/allocations`, { line: 'flexible', amount: '1', decisionRef }, { 'idempotency-key': 'nfc-1' })
  const head = await service.store.headPosition()
  assertProblem(t, await allocate('\u0958'.repeat(65)), 400, 'validation', '130 code units once composed')
  t.equal(await service.store.headPosition(), head, 'nothing written')
  const taken = await allocate('\u0958'.repeat(64))
  t.equal(taken.status, 201, `the corrected request with the same key is taken (got ${taken.status} ${taken.body?.type})`)
  const [event] = await service.store.readAll({ after: head, maxCount: 1 })
  t.equal((event?.data as { decisionRef?: string } | undefined)?.decisionRef, '\u0915\u093c'.repeat(64), 'stored composed')
})

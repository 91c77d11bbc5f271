import t from 'tap'
import { JsonBodyError, parseJsonBody } from '../../src/http/json-body.js'
import { assertProblem, assertWritten, get, seed, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer, DEFAULT_ACTOR } from '../helpers/tokens.js'

/**
 * Request bodies become events, kept forever: a body is taken only as UTF-8 JSON in which each
 * object names each key once and every string is text (no lone surrogates). Anything else is a
 * 400 validation problem, and nothing is written.
 */

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')

t.test('parseJsonBody', async (t) => {
  t.test('takes JSON whose strings hold colons, quotes, escapes and pairs', async (t) => {
    const cases: [string, unknown][] = [
      ['{"a":"b:c","d":"\\":\\"","e":"\\\\"}', { a: 'b:c', d: '":"', e: '\\' }],
      ['{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', { a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }] }],
      ['{"emoji":"\\ud83d\\ude00","raw":"😀 Elterncafé"}', { emoji: '😀', raw: '😀 Elterncafé' }],
      ['{"key:with:colons":"v","":""}', { 'key:with:colons': 'v', '': '' }],
      ['[1,"x",null,{}]', [1, 'x', null, {}]],
      ['\ufeff{"bom":true}', { bom: true }],
      ['  {"spaced" :  1 }  ', { spaced: 1 }],
    ]
    for (const [text, expected] of cases) t.same(parseJsonBody(utf8(text)), expected, text)
  })

  t.test('refuses a key named twice in one object, wherever it stands and however it is spelt', async (t) => {
    for (const text of [
      '{"amount":"900.00","amount":"0.01"}',
      '{"a":1,"b":{"c":1,"c":2}}',
      '{"a":[{"x":1},{"x":1,"x":2}]}',
      '{"amount":"1","\\u0061mount":"2"}',
      '{"a":1,"a":1}',
    ]) {
      t.throws(() => parseJsonBody(utf8(text)), { name: 'JsonBodyError', message: /key twice/ }, text)
    }
  })

  t.test('refuses bytes that are not UTF-8', async (t) => {
    for (const bytes of [
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d], // {"a":"\xff"}
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d], // a truncated two-byte sequence
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d], // an overlong "/"
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d], // a surrogate encoded as UTF-8
    ]) {
      t.throws(() => parseJsonBody(Buffer.from(bytes)), { name: 'JsonBodyError', message: /not valid UTF-8/ }, Buffer.from(bytes).toString('hex'))
    }
  })

  t.test('refuses escapes that are no text: lone surrogates, in values and keys, naming where', async (t) => {
    const cases: [string, string][] = [
      ['{"purpose":"\\ud800"}', 'purpose'],
      ['{"purpose":"a\\udc00b"}', 'purpose'],
      ['{"purpose":"\\udc00\\ud800"}', 'purpose'],
      ['{"purpose":"\\ud800x"}', 'purpose'],
      ['{"period":{"from":"\\ud83d"}}', 'period.from'],
      ['{"items":["ok","\\udfff"]}', 'items.1'],
      ['{"\\ud800":"value"}', ''],
    ]
    for (const [text, path] of cases) {
      t.throws(() => parseJsonBody(utf8(text)), { name: 'JsonBodyError', message: /lone surrogate/, path }, text)
    }
  })

  t.test('refuses what Fastify refuses: no body, no JSON, __proto__, constructor.prototype', async (t) => {
    for (const text of ['', ' ', '{"a":', 'undefined', "{'a':1}", '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}']) {
      t.throws(() => parseJsonBody(utf8(text)), JsonBodyError, JSON.stringify(text))
    }
  })

  t.test('a body nested thousands deep is refused or taken, never a crash', async (t) => {
    const deep = `{"x":${'['.repeat(30_000)}${']'.repeat(30_000)}}`
    try {
      parseJsonBody(utf8(deep))
      t.pass('taken')
    } catch (error) {
      t.type(error, JsonBodyError, 'refused as a bad body')
    }
  })
})

t.test('over HTTP: 400 problems that write nothing', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const seeded = await seed(app, 'json-body')
  const authorization = await bearer(DEFAULT_ACTOR)
  const send = async (url: string, payload: Buffer | string, contentType = 'application/json'): Promise<ApiResponse> => {
    const response = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType, ...authorization } })
    let body: unknown
    try {
      body = response.json()
    } catch {
      body = undefined
    }
    return { status: response.statusCode, headers: response.headers, body, text: response.body }
  }
  const spending = (fields: string): string =>
    `{"amount":"5.00","receiptRef":"R-1","date":"2025-03-01",${fields}}`

  const refused: [string, () => Promise<ApiResponse>, string | undefined][] = [
    [
      'a duplicate amount (the probe: 900.00, then 0.01)',
      () => send(`${seeded.url}/allocations`, '{"line":"flexible","amount":"900.00","decisionRef":"HH-1","amount":"0.01"}'),
      '',
    ],
    ['a duplicate key in a nested object', () => send(`${seeded.url}/commitments`, '{"provider":"P","caseRef":"C","amount":"1","period":{"from":"2025-01-01","to":"2025-12-31","to":"2025-02-01"}}'), ''],
    ['a duplicate key spelt with an escape', () => send(`${seeded.url}/spending`, spending('"purpose":"a","\\u0070urpose":"b"')), ''],
    ['invalid UTF-8 in a value', () => send(`${seeded.url}/spending`, Buffer.concat([utf8(spending('"purpose":"caf')), Buffer.from([0xe9]), utf8('"}')])), ''],
    ['a lone high surrogate escape', () => send(`${seeded.url}/spending`, spending('"purpose":"\\ud800"')), 'purpose'],
    ['a lone low surrogate escape', () => send(`${seeded.url}/spending`, spending('"purpose":"x\\udc00"')), 'purpose'],
    ['a lone surrogate in a key', () => send(`${seeded.url}/spending`, spending('"purpose":"ok","\\ud800":"x"')), ''],
    ['a __proto__ key', () => send(`${seeded.url}/spending`, spending('"purpose":"ok","__proto__":{"x":1}')), undefined],
  ]
  for (const [name, request, path] of refused) {
    t.test(name, async (t) => {
      const head = await service.store.headPosition()
      const response = await request()
      assertProblem(t, response, 400, 'validation', name)
      if (path !== undefined) t.equal(response.body?.errors?.[0]?.path, path, `the error names ${JSON.stringify(path)}`)
      t.notMatch(response.text, /\ufffd/, 'nothing was replaced by U+FFFD')
      t.equal(await service.store.headPosition(), head, 'nothing written')
    })
  }

  t.test('the same bodies, well-formed, are written as sent', async (t) => {
    const pair = await send(`${seeded.url}/spending`, spending('"purpose":"Ausflug \\ud83d\\ude00","category":"a:b \\"c\\""'))
    assertWritten(t, pair, 'a surrogate pair and a colon in a string')
    t.equal(pair.body.purpose, 'Ausflug 😀')
    t.equal(pair.body.category, 'a:b "c"')
    const raw = await send(`${seeded.url}/spending`, utf8(spending('"purpose":"Elterncafé Malstatt"')), 'application/json; charset=utf-8')
    assertWritten(t, raw, 'raw UTF-8 with a charset parameter')
    t.equal(raw.body.purpose, 'Elterncafé Malstatt')
    const listed = await get(app, `${seeded.url}/spending`, raw.body.position)
    t.same(
      listed.body.items.map((item: { purpose: string }) => item.purpose).sort(),
      ['Ausflug 😀', 'Elterncafé Malstatt'],
      'read back as sent',
    )
  })
})

t.test('a JSON body declared in another charset than UTF-8 is 415', async (t) => {
  const service = await startTestService(t)
  const response = await service.app.inject({
    method: 'POST',
    url: '/v1/sozialraeume',
    payload: Buffer.from(JSON.stringify({ id: 'utf-sechzehn', name: 'x' }), 'utf16le'),
    headers: { ...(await bearer(DEFAULT_ACTOR)), 'content-type': 'application/json; charset=utf-16' },
  })
  t.equal(response.statusCode, 415)
  t.match(response.headers['content-type'], /^application\/problem\+json/)
  const utf8 = await service.app.inject({
    method: 'POST',
    url: '/v1/sozialraeume',
    payload: JSON.stringify({ id: 'utf-acht', name: 'x' }),
    headers: { ...(await bearer(DEFAULT_ACTOR)), 'content-type': 'application/json; charset=UTF-8' },
  })
  t.equal(utf8.statusCode, 201, 'UTF-8 said aloud is fine')
})

t.test("a refused charset is named in the answer; UTF-8's other labels and ASCII are taken", async (t) => {
  const service = await startTestService(t)
  const send = async (id: string, contentType: string, name = 'x') =>
    service.app.inject({
      method: 'POST',
      url: '/v1/sozialraeume',
      payload: Buffer.from(JSON.stringify({ id, name }), 'utf8'),
      headers: { ...(await bearer(DEFAULT_ACTOR)), 'content-type': contentType },
    })
  const latin1 = await send('latin', 'application/json; charset=iso-8859-1')
  t.equal(latin1.statusCode, 415)
  t.match(latin1.json(), { type: 'urn:sojus-ledger:problem:unsupported-media-type', detail: 'the body is declared as iso-8859-1; send JSON as UTF-8' })
  t.equal((await send('utf-acht', 'application/json; charset=utf8')).statusCode, 201, 'utf8, the WHATWG label of UTF-8')
  t.equal((await send('utf-acht-quoted', 'application/json; charset="UTF8"')).statusCode, 201, 'quoted, in upper case')
  t.equal((await send('ascii', 'application/json; charset=us-ascii')).statusCode, 201, 'us-ascii, while the body is ASCII')
  const beyond = await send('ascii-not', 'application/json; charset=us-ascii', 'Bürgerhaus')
  t.equal(beyond.statusCode, 415, 'us-ascii with bytes beyond ASCII: they mean something else in each ASCII-named charset')
  t.match(beyond.json(), { detail: 'the body is declared as us-ascii but holds bytes beyond ASCII; send JSON as UTF-8' })
  t.equal((await send('text', 'text/plain')).json().detail, 'send the body as application/json', 'another media type is still named so')
})

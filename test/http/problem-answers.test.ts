import { connect, type AddressInfo } from 'node:net'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { assertProblem, get, post, seed, spendingBody, type ApiResponse, type Headers } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer, TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * Every error answer, of every kind, is application/problem+json with a URN type, carries the
 * security headers, and never echoes the URL: those of the routes, of the body parser, of the router (a path it cannot
 * read, a parameter too long), of the access hook, and those Node writes before Fastify sees
 * a request (malformed HTTP, headers too large), which only a real socket can provoke.
 */

const URN = /^urn:sojus-ledger:problem:[a-z]+(-[a-z]+)*$/
/** Stands in URLs below, so that an answer that echoes the URL is seen. */
const MARKER = 'echoedmarker'

/** A problem answer, checked for what every problem must be. */
function assertAnyProblem(t: Test, response: ApiResponse, status: number, message: string): void {
  t.equal(response.status, status, `${message}: ${status} (got ${response.status}: ${response.text.slice(0, 200)})`)
  t.match(String(response.headers['content-type']), /^application\/problem\+json/, `${message}: problem+json`)
  t.match(String(response.body?.type), URN, `${message}: a URN type`)
  t.equal(response.body?.status, status, `${message}: body.status`)
  t.equal(typeof response.body?.title, 'string', `${message}: title`)
  t.equal(typeof response.body?.detail, 'string', `${message}: detail`)
  t.notMatch(response.text, new RegExp(MARKER, 'i'), `${message}: the URL is not echoed`)
  // Helmet's headers, also on the router's answers and on those written for requests that are not HTTP.
  t.equal(response.headers['x-content-type-options'], 'nosniff', `${message}: security headers`)
  t.match(String(response.headers['content-security-policy']), /frame-ancestors/, `${message}: a content security policy`)
}

/** Sends `request` as it is over a new connection and reads the whole answer. */
function rawHttp(port: number, request: string | Buffer): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...headerLines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const bodyText = rest.join('\r\n\r\n')
      let body: unknown
      try {
        body = JSON.parse(bodyText)
      } catch {
        body = undefined
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, text: bodyText })
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('close', finish)
    socket.on('error', (error) => (chunks.length > 0 ? finish() : reject(error)))
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
    socket.write(request)
  })
}

const wrap = (response: { statusCode: number; headers: ApiResponse['headers']; body: string }): ApiResponse => {
  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    body = undefined
  }
  return { status: response.statusCode, headers: response.headers, body, text: response.body }
}

t.test('every problem, of every kind, is problem+json with a URN type', async (t) => {
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 10_000 }, { RATE_LIMIT_PER_MINUTE: '1000' })
  const app = service.app
  const seeded = await seed(app, 'problems')
  const teamlead: Headers = await bearer({ sub: 'ben', role: 'teamlead', sozialraeume: ['elsewhere'] })
  const auditor: Headers = await bearer({ sub: 'dora', role: 'auditor' })

  const cases: [string, number, () => Promise<ApiResponse>][] = [
    ['404: an unknown route', 404, () => get(app, `/v1/${MARKER}`)],
    // A validated id may be named in the detail (it is the resource's name, not the URL).
    ['404: an unknown budget', 404, () => get(app, '/v1/budgets/2025/nowhere')],
    ['400: malformed JSON', 400, () => post(app, `${seeded.url}/allocations`, '{"line":')],
    ['400: a duplicate key', 400, () => post(app, `${seeded.url}/allocations`, '{"line":"flexible","amount":"1","decisionRef":"x","amount":"2"}')],
    ['400: a lone surrogate', 400, () => post(app, `${seeded.url}/spending`, JSON.stringify(spendingBody()).replace('"R-0001"', '"R-\\ud800"'))],
    ['400: a body that fails its schema', 400, () => post(app, `${seeded.url}/spending`, spendingBody({ amount: 5 }))],
    ['400: a path that is not valid percent-encoding', 400, () => app.inject({ method: 'GET', url: `/v1/budgets/2025/${MARKER}%E0%A4%A/commitments` }).then(wrap)],
    ['413: a body over 64 KiB', 413, () => post(app, `${seeded.url}/spending`, spendingBody({ purpose: 'p'.repeat(70_000) }))],
    [
      '415: another media type',
      415,
      async () =>
        wrap(
          await app.inject({
            method: 'POST',
            url: `${seeded.url}/spending`,
            payload: 'amount=1',
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...(await bearer({ sub: 'x', role: 'finance' })) },
          }),
        ),
    ],
    ['414: a path parameter over 100 characters', 414, () => get(app, `/v1/budgets/2025/${MARKER}${'x'.repeat(120)}`)],
    ['414: a commitment id over 100 characters', 414, () => post(app, `${seeded.url}/commitments/${MARKER}${'a'.repeat(120)}/release`, { reason: 'x' })],
    ['401: no token', 401, () => get(app, '/v1/sozialraeume', undefined, { authorization: '' })],
    [
      '401: a token issued in the future (iat an hour ahead)',
      401,
      async () => {
        const now = Math.floor(Date.now() / 1000)
        const token = await new SignJWT({ role: 'finance' })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject('anna')
          .setIssuedAt(now + 3600)
          .setExpirationTime(now + 7200)
          .sign(new TextEncoder().encode(TEST_JWT_SECRET))
        return get(app, '/v1/sozialraeume', undefined, { authorization: `Bearer ${token}` })
      },
    ],
    ['403: a role that may not write', 403, () => post(app, `${seeded.url}/spending`, spendingBody(), auditor)],
    ['403: outside a team lead scope', 403, () => get(app, seeded.url, undefined, teamlead)],
    ['409: a conflict', 409, () => post(app, '/v1/sozialraeume', { id: 'problems', name: 'Again' })],
    ['412: If-Match of another revision', 412, () => post(app, `${seeded.url}/spending`, spendingBody(), { 'if-match': '"999"' })],
    ['422: insufficient funds', 422, () => post(app, `${seeded.url}/spending`, spendingBody({ amount: '99999.00' }))],
  ]
  for (const [name, status, send] of cases) {
    t.test(name, async (t) => assertAnyProblem(t, await send(), status, name))
  }

  t.test('429: over the per-token rate limit', async (t) => {
    const limited = await startTestService(t, {}, { RATE_LIMIT_PER_MINUTE: '2' })
    const headers = await bearer({ sub: 'eager', role: 'finance' })
    const statuses: number[] = []
    let last: ApiResponse | undefined
    for (let request = 0; request < 3; request++) {
      last = await get(limited.app, '/v1/sozialraeume', undefined, headers)
      statuses.push(last.status)
    }
    t.same(statuses, [200, 200, 429])
    assertProblem(t, last!, 429, 'too-many-requests')
    assertAnyProblem(t, last!, 429, '429')
  })

  t.test('over a real socket', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo

    t.test('malformed HTTP is a 400 problem', async (t) => {
      const response = await rawHttp(port, `GARBAGE /${MARKER} NOT-HTTP\r\n\r\n`)
      assertAnyProblem(t, response, 400, 'a request line that is not HTTP')
      t.ok(Array.isArray((response.body as { errors?: unknown })?.errors), 'errors[] on a 400')
      const badHeader = await rawHttp(port, `GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: ${MARKER}\r\n\r\n`)
      assertAnyProblem(t, badHeader, 400, 'a header name with spaces')
    })

    t.test('headers over the size limit are a 431 problem', async (t) => {
      const response = await rawHttp(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${MARKER}${'b'.repeat(64 * 1024)}\r\n\r\n`)
      assertAnyProblem(t, response, 431, 'headers over the limit')
    })

    t.test('the router answers with problems on the wire too (414, 404, bad encoding)', async (t) => {
      const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`
      assertAnyProblem(t, await rawHttp(port, request(`/v1/budgets/2025/${MARKER}${'x'.repeat(120)}`)), 414, '414')
      assertAnyProblem(t, await rawHttp(port, request(`/${MARKER}`)), 404, '404')
      assertAnyProblem(t, await rawHttp(port, request(`/v1/budgets/2025/${MARKER}%E0%A4%A`)), 400, 'bad encoding')
    })

    t.test('the service still answers after all that', async (t) => {
      const response = await rawHttp(port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      t.equal(response.status, 200)
      t.same(response.body, { status: 'ok' })
    })
  })
})

import helmet, { type HelmetOptions } from 'helmet'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { helmetHeaders } from '../../src/http/security-headers.js'

/**
 * The headers worked out once at start are exactly those helmet's own middleware sets on a real
 * response, X-Powered-By removed: the service sets them on every answer instead of running helmet
 * for each request.
 */
async function headersOfHelmetMiddleware(options: HelmetOptions): Promise<Record<string, string>> {
  const middleware = helmet(options)
  const server = createServer((request, response) => {
    response.setHeader('X-Powered-By', 'something')
    middleware(request, response, () => response.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    const headers: Record<string, string> = {}
    answer.headers.forEach((value, name) => {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) headers[name] = value
    })
    return headers
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
}

for (const [name, options] of [
  ['the defaults', {}],
  ['the service options', { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, connectSrc: ["'self'", 'https://sso.example.org'] } } }],
  ['without HSTS and with a report-only policy', { strictTransportSecurity: false, contentSecurityPolicy: { reportOnly: true } }],
] as const) {
  t.test(`helmet's headers for ${name}`, async (t) => {
    const expected = await headersOfHelmetMiddleware(options as HelmetOptions)
    t.ok(Object.keys(expected).length >= 10, 'helmet set its headers')
    t.same({ ...helmetHeaders(options as HelmetOptions) }, expected)
  })
}

t.test('a directive that depends on the request is refused, not worked out once', async (t) => {
  t.throws(
    () => helmetHeaders({ contentSecurityPolicy: { directives: { scriptSrc: ["'self'", () => "'nonce-abc'"] } } }),
    /depends on the request/,
  )
})

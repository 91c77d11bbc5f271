import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import Fastify from 'fastify'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose'
import { pino, type Logger } from 'pino'
import t, { type Test } from 'tap'
import { MAX_TOKEN_LIFETIME_SECONDS, SecretFileError } from '../../src/auth/tokens.js'
import { parseConfig } from '../../src/config.js'
import { ACCESS_TABLE, accessPlugin, addressKey } from '../../src/http/access.js'
import { openService, type Service, type ServiceOverrides } from '../../src/service.js'
import {
  assertProblem,
  assertWritten,
  get,
  post,
  seed,
  shown,
  spendingBody,
  type ApiResponse,
  type Asserts,
  type Headers,
} from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { TEST_JWT_SECRET, tokenFor } from '../helpers/tokens.js'

/**
 * Authentication (API.md, "Authentication and roles"): every /v1 route needs a Bearer JWT that
 * verifies (HS256 with JWT_SECRET, or RS256/ES256 with the keys at JWKS_URL) and carries valid
 * claims; anything else is 401 and writes nothing. Also: rate limits, hardening, logs, `npm run token`.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type SigningKey = Parameters<SignJWT['sign']>[0]

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** Claims of a valid finance token for "anna", valid for an hour; tests add, change or drop claims. */
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  sub: 'anna',
  role: 'finance',
  iat: nowSeconds(),
  exp: nowSeconds() + 3600,
  ...extra,
})

/** The claims without `name` (to make tokens the verifier must refuse as incomplete). */
function without(payload: JWTPayload, name: string): JWTPayload {
  const { [name]: _dropped, ...rest } = payload
  return rest
}

/** Signs exactly these claims (unlike signToken, which only makes valid tokens). */
function sign(payload: JWTPayload, key: SigningKey, header: JWTHeaderParameters = { alg: 'HS256' }): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', ...header }).sign(key)
}

const secretKey = (secret: string): Uint8Array => new TextEncoder().encode(secret)

/** HS256 with the test services' secret. */
const hs256 = (payload: JWTPayload, secret = TEST_JWT_SECRET): Promise<string> => sign(payload, secretKey(secret))

const base64urlJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` })

/** A 401 as API.md has it: problem+json of type …unauthorized, and a challenge. */
function assertUnauthorized(t: Asserts, response: ApiResponse, message: string, detail?: RegExp): void {
  assertProblem(t, response, 401, 'unauthorized', message)
  t.match(String(response.headers['www-authenticate']), /^Bearer\b/, `${message}: WWW-Authenticate: Bearer`)
  if (detail !== undefined) t.match(response.body?.detail, detail, `${message}: detail says why`)
}

/** The Sozialraum a refused write tries to register; it must never exist. */
const REFUSED_WRITE = { id: 'never-registered', name: 'Never registered' }

/** `headers` gets 401 on a read and on a write, and the write leaves the event log as it was. */
async function assertRefused(t: Asserts, service: Service, headers: Headers, message: string, detail?: RegExp): Promise<void> {
  const before = await service.store.headPosition()
  assertUnauthorized(t, await get(service.app, '/v1/sozialraeume', undefined, headers), `${message} (GET)`, detail)
  assertUnauthorized(t, await post(service.app, '/v1/sozialraeume', REFUSED_WRITE, headers), `${message} (POST)`, detail)
  t.equal(await service.store.headPosition(), before, `${message}: nothing written`)
}

/** A fresh folder, deleted when the test ends. */
function freshDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-auth-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A service configured by `environment` alone: startTestService always sets JWT_SECRET, which
 * config refuses together with JWKS_URL, and the embedded default needs it unset.
 */
async function openOwnService(
  t: Test,
  environment: Record<string, string>,
  options: { overrides?: ServiceOverrides; logger?: Logger } = {},
): Promise<Service> {
  const config = parseConfig({ DATABASE_URL: `sqlite:${join(freshDir(t), 'ledger.db')}`, ...environment })
  const service = await openService(config, options.logger ?? pino({ level: 'silent' }), options.overrides)
  t.teardown(() => service.close())
  return service
}

/** A local identity provider: serves `keys` as a JWKS at <url>; counts the fetches. */
async function serveJwks(t: Test, keys: JWK[]): Promise<{ url: string; fetches: () => number }> {
  let fetches = 0
  const server = createServer((request, response) => {
    if (request.url !== '/jwks') {
      response.writeHead(404).end()
      return
    }
    fetches++
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/jwks`, fetches: () => fetches }
}

/** A URL where nothing listens: a port that was free a moment ago. */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/jwks`
}

/** Collects what pino writes, line by line. */
function memoryLogger(): { logger: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = []
  const logger = pino({ level: 'trace' }, { write: (chunk: string) => void chunks.push(chunk) })
  const text = () => chunks.join('')
  const lines = () =>
    text()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger, text, lines }
}

/** Runs `node --import tsx src/cli/token.ts <args>` as `npm run token` would, without JWT_SECRET. */
function runTokenCli(args: string[], databaseUrl: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl }
  for (const name of ['JWT_SECRET', 'JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'NODE_OPTIONS']) delete env[name]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/token.ts', ...args], { cwd: ROOT, env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

// ---------------------------------------------------------------------------------------------
// 401: no token, or one the service does not accept
// ---------------------------------------------------------------------------------------------

t.test('a request without a token the service accepts is 401 with WWW-Authenticate: Bearer and writes nothing', async (t) => {
  // The failed-authentication limit is not what this test is about.
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 10_000 })
  const { privateKey: rsaPrivate } = await generateKeyPair('RS256')

  const refused: { rule: string; authorization: () => Promise<string | ''>; detail: RegExp }[] = [
    { rule: 'no Authorization header', authorization: async () => '', detail: /send a token/ },
    {
      rule: 'a Basic scheme instead of Bearer',
      authorization: async () => `Basic ${Buffer.from('anna:geheim').toString('base64')}`,
      detail: /send a token/,
    },
    { rule: 'Bearer without a token', authorization: async () => 'Bearer ', detail: /send a token/ },
    { rule: 'a malformed token ("abc")', authorization: async () => 'Bearer abc', detail: /malformed/ },
    {
      rule: 'a token of two segments',
      authorization: async () => `Bearer ${base64urlJson({ alg: 'HS256', typ: 'JWT' })}.${base64urlJson(claims())}`,
      detail: /malformed/,
    },
    {
      rule: 'an unsigned token (alg: none)',
      authorization: async () => `Bearer ${base64urlJson({ alg: 'none', typ: 'JWT' })}.${base64urlJson(claims())}.`,
      detail: /algorithm/,
    },
    {
      rule: 'an expired token (exp two minutes ago, beyond the 30 s tolerance)',
      authorization: async () => `Bearer ${await hs256(claims({ iat: nowSeconds() - 3600, exp: nowSeconds() - 120 }))}`,
      detail: /expired/,
    },
    {
      rule: 'a token not valid yet (nbf an hour ahead)',
      authorization: async () => `Bearer ${await hs256(claims({ nbf: nowSeconds() + 3600 }))}`,
      detail: /not valid yet/,
    },
    {
      rule: 'a token that lives longer than 24 hours (exp 25 h ahead)',
      authorization: async () => `Bearer ${await hs256(claims({ exp: nowSeconds() + 25 * 3600 }))}`,
      detail: /lives longer than 24 hours/,
    },
    {
      rule: 'a token that practically never expires (exp 1e300)',
      authorization: async () => `Bearer ${await hs256(claims({ exp: 1e300 }))}`,
      detail: /lives longer than 24 hours/,
    },
    {
      rule: 'a token whose exp is not a number',
      authorization: async () => `Bearer ${await hs256(claims({ exp: String(nowSeconds() + 3600) as unknown as number }))}`,
      detail: /"exp" claim is not accepted/,
    },
    {
      rule: 'a token whose nbf is not a number (wrong type, not "not valid yet")',
      authorization: async () => `Bearer ${await hs256(claims({ nbf: 'soon' as unknown as number }))}`,
      detail: /"nbf" claim is not accepted/,
    },
    {
      rule: 'a token whose iat is not a number (wrong type, not "not valid yet")',
      authorization: async () => `Bearer ${await hs256(claims({ iat: 'today' as unknown as number }))}`,
      detail: /"iat" claim is not accepted/,
    },
    {
      rule: 'a token without exp',
      authorization: async () => `Bearer ${await hs256(without(claims(), 'exp'))}`,
      detail: /"exp"/,
    },
    {
      rule: 'a token without sub',
      authorization: async () => `Bearer ${await hs256(without(claims(), 'sub'))}`,
      detail: /"sub"/,
    },
    {
      rule: 'a token signed with another secret',
      authorization: async () => `Bearer ${await hs256(claims(), 'another-secret-that-is-long-enough-for-hs256-xyz')}`,
      detail: /signature/,
    },
    {
      rule: 'a token whose payload was altered after signing (teamlead made finance)',
      authorization: async () => {
        const signed = claims({ sub: 'ben', role: 'teamlead', sozialraeume: ['unteres-malstatt'] })
        const [header, , signature] = (await hs256(signed)).split('.')
        return `Bearer ${header}.${base64urlJson({ ...signed, role: 'finance' })}.${signature}`
      },
      detail: /signature/,
    },
    { rule: 'a token without role', authorization: async () => `Bearer ${await hs256(without(claims(), 'role'))}`, detail: /role/ },
    {
      rule: 'a token with an unknown role ("admin")',
      authorization: async () => `Bearer ${await hs256(claims({ role: 'admin' }))}`,
      detail: /role/,
    },
    {
      rule: 'a teamlead token without sozialraeume',
      authorization: async () => `Bearer ${await hs256(claims({ sub: 'ben', role: 'teamlead' }))}`,
      detail: /sozialraeume/,
    },
    {
      rule: 'a teamlead token with an empty sozialraeume list',
      authorization: async () => `Bearer ${await hs256(claims({ sub: 'ben', role: 'teamlead', sozialraeume: [] }))}`,
      detail: /sozialraeume/,
    },
    {
      rule: 'a token whose sozialraeume hold an invalid slug',
      authorization: async () =>
        `Bearer ${await hs256(claims({ sub: 'ben', role: 'teamlead', sozialraeume: ['Unteres Malstatt'] }))}`,
      detail: /sozialraeume/,
    },
    // The sub is in every event's metadata: a NUL would stop PostgreSQL's projections for good, a
    // lone surrogate fail the hash chain, a bidirectional override show another name than is stored.
    ...[
      ['a NUL', 'eve\u0000'],
      ['a lone surrogate', 'mallory\ud800'],
      ['a line break', 'anna\nfinance'],
      ['a C1 control', 'anna\u0085'],
      ['a bidirectional override', '\u202eanna'],
      ['nothing visible', ' \u200b '],
    ].map(([what, sub]) => ({
      rule: `a token whose sub holds ${what}`,
      authorization: async () => `Bearer ${await hs256(claims({ sub }))}`,
      detail: /sub/,
    })),
    {
      rule: 'algorithm confusion: an RS256 token presented to the HS256 service',
      authorization: async () => `Bearer ${await sign(claims(), rsaPrivate, { alg: 'RS256', kid: 'rsa-1' })}`,
      detail: /algorithm/,
    },
  ]
  for (const { rule, authorization, detail } of refused) {
    t.test(rule, async (t) => assertRefused(t, service, { authorization: await authorization() }, rule, detail))
  }

  t.test('control: the same write with a valid token is written', async (t) => {
    assertWritten(t, await post(service.app, '/v1/sozialraeume', REFUSED_WRITE, bearer(await hs256(claims()))))
  })

  t.test("a sub as providers issue them is taken as it is, and a name that is no plain text is left out", async (t) => {
    const subs = ['Anna Müller', 'میرزا\u200cعلی', '山田\u3000太郎', 'anna\u00a0mueller', 'user@jugendamt.example', 'f3c1a0e2-5b7d-4c4e-9a1f-2b3c4d5e6f70', 'auth0|64f1c2']
    for (const sub of subs) {
      const read = await get(service.app, '/v1/sozialraeume', undefined, bearer(await hs256(claims({ sub, name: `${sub} (Test)` }))))
      t.equal(read.status, 200, shown(sub))
    }
    const named = await get(service.app, '/v1/sozialraeume', undefined, bearer(await hs256(claims({ name: 'Anna\u0000\u202e' }))))
    t.equal(named.status, 200, 'a name with control characters does not refuse the token')
  })
})

t.test('exp and nbf are checked with 30 s of clock tolerance', async (t) => {
  const service = await startTestService(t)
  const expiredJustNow = await hs256(claims({ iat: nowSeconds() - 600, exp: nowSeconds() - 10 }))
  t.equal((await get(service.app, '/v1/sozialraeume', undefined, bearer(expiredJustNow))).status, 200, 'expired 10 s ago: accepted')
  const validInAMoment = await hs256(claims({ nbf: nowSeconds() + 10 }))
  t.equal((await get(service.app, '/v1/sozialraeume', undefined, bearer(validInAMoment))).status, 200, 'nbf in 10 s: accepted')
})

t.test('a token may live up to 24 hours (MAX_TOKEN_LIFETIME_SECONDS), not a second more', async (t) => {
  t.equal(MAX_TOKEN_LIFETIME_SECONDS, 24 * 3600, 'the limit is 24 hours')
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 10_000 })
  const atTheLimit = await hs256(claims({ exp: nowSeconds() + MAX_TOKEN_LIFETIME_SECONDS }))
  const read = await get(service.app, '/v1/sozialraeume', undefined, bearer(atTheLimit))
  t.equal(read.status, 200, `exp exactly 24 h ahead: accepted (${read.text.slice(0, 200)})`)
  // Seconds more than the limit, without clock tolerance: a lifetime is not a clock skew.
  await assertRefused(t, service, bearer(await hs256(claims({ exp: nowSeconds() + MAX_TOKEN_LIFETIME_SECONDS + 60 }))), 'exp 24 h and a minute ahead', /the token lives longer than 24 hours/)
  await assertRefused(t, service, bearer(await hs256(claims({ exp: nowSeconds() + 25 * 3600 }))), 'exp 25 h ahead', /the token lives longer than 24 hours/)
  await assertRefused(t, service, bearer(await hs256(claims({ exp: 1e300 }))), 'exp 1e300', /the token lives longer than 24 hours/)
})

// ---------------------------------------------------------------------------------------------
// Valid tokens
// ---------------------------------------------------------------------------------------------

t.test('a valid token of every role reads, and a write records the token sub and role as its actor', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const finance = bearer(await tokenFor({ sub: 'anna', role: 'finance', name: 'Anna A.' }))
  const teamlead = bearer(await tokenFor({ sub: 'ben', role: 'teamlead', sozialraeume: ['unteres-malstatt'] }))
  const auditor = bearer(await tokenFor({ sub: 'carla', role: 'auditor' }))

  for (const [role, headers] of [['finance', finance], ['teamlead', teamlead], ['auditor', auditor]] as const) {
    const response = await get(app, '/v1/sozialraeume', undefined, headers)
    t.equal(response.status, 200, `${role}: 200 on GET /v1/sozialraeume (${response.text.slice(0, 200)})`)
    t.same(response.body, { items: [] }, `${role}: the list`)
  }
  t.equal((await get(app, '/v1/sozialraeume', undefined, { authorization: `bearer ${await hs256(claims())}` })).status, 200, 'the scheme name is case-insensitive')

  // The seed writes as the helpers' finance actor; these two writes as anna and ben.
  const { url } = await seed(app, 'unteres-malstatt')
  const registered = await post(app, '/v1/sozialraeume', { id: 'burbach', name: 'Burbach' }, finance)
  assertWritten(t, registered, 'finance registers')
  const spent = await post(app, `${url}/spending`, spendingBody(), teamlead)
  assertWritten(t, spent, 'teamlead spends in their Sozialraum')

  const audit = await get(app, '/v1/audit/events', spent.body.position, auditor)
  t.equal(audit.status, 200, 'the auditor reads the audit trail')
  const byPosition = new Map<string, { actor: unknown; type: string }>(
    (audit.body.items as { position: string; actor: unknown; type: string }[]).map((entry) => [entry.position, entry]),
  )
  t.same(byPosition.get(registered.body.position)?.actor, { sub: 'anna', role: 'finance' }, "the registration's actor is anna, finance")
  t.equal(byPosition.get(spent.body.position)?.type, 'SpendingRecorded')
  t.same(byPosition.get(spent.body.position)?.actor, { sub: 'ben', role: 'teamlead' }, "the spending's actor is ben, teamlead")
})

t.test('public routes (/health, /ready, /openapi.json, /docs) need no token, and a bad one does not matter there', async (t) => {
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 1 })
  for (const url of ['/health', '/ready', '/openapi.json', '/docs']) {
    const none = await get(service.app, url, undefined, { authorization: '' })
    t.ok(none.status >= 200 && none.status < 400, `${url} without a token: ${none.status}`)
    const garbage = await get(service.app, url, undefined, { authorization: 'Bearer abc' })
    t.equal(garbage.status, none.status, `${url} with a malformed token: the same answer`)
  }
  t.equal((await get(service.app, '/openapi.json', undefined, { authorization: '' })).body?.openapi?.startsWith('3'), true, 'the OpenAPI document')
  // The malformed tokens above were not counted as failed authentications: with a limit of 1,
  // four counted failures would make this 429.
  assertUnauthorized(t, await get(service.app, '/v1/sozialraeume', undefined, { authorization: '' }), 'first failure on a protected route')
})

t.test('every non-public route of the access table, in every spelling, needs a token', async (t) => {
  // With metrics on: GET /metrics then needs its token too (without METRICS_TOKEN it is 404, off).
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 10_000 }, { METRICS_TOKEN: 'm'.repeat(32) })
  const concrete = (route: string): string =>
    route.replace(':year', '2025').replace(':sozialraum', 'unteres-malstatt').replace(':id', '00000000-0000-4000-8000-000000000000')
  const protectedRoutes = Object.entries(ACCESS_TABLE).filter(([, access]) => access.kind !== 'public')
  t.ok(protectedRoutes.length >= 20, `${protectedRoutes.length} protected routes`)
  for (const [route] of protectedRoutes) {
    const [method, path] = route.split(' ') as ['GET' | 'POST', string]
    const url = concrete(path)
    const response = await service.app.inject({ method, url, ...(method === 'POST' ? { payload: {} } : {}) })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.equal(response.headers['www-authenticate'], 'Bearer', `${method} ${url}: challenge`)
  }
  for (const [method, url] of [
    ['GET', '/v1/sozialraeume/'],
    ['POST', '/v1/sozialraeume/'],
    ['HEAD', '/v1/sozialraeume'],
    ['GET', '/v1/%73ozialraeume'],
    ['GET', '/v1/audit/events?'],
  ] as const) {
    t.equal((await service.app.inject({ method, url })).statusCode, 401, `${method} ${url}`)
  }
})

t.test('an unknown route is 404 without a token, and not a failed authentication', async (t) => {
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 1 })
  for (const url of ['/v1/does-not-exist', '/v1/budgets/2025/unteres-malstatt/nothing', '/nothing']) {
    const none = await get(service.app, url, undefined, { authorization: '' })
    t.equal(none.status, 404, `${url} without a token: 404 (${none.text.slice(0, 200)})`)
    t.equal((await get(service.app, url, undefined, { authorization: 'Bearer abc' })).status, 404, `${url} with a malformed token: 404`)
  }
  // With a limit of 1, a counted failure above would make this 429.
  assertUnauthorized(t, await get(service.app, '/v1/sozialraeume', undefined, { authorization: '' }), 'first failure on a protected route')
})

t.test('the access table is enforced when routes are declared, and a route without a rule is never served open', async (t) => {
  const verifyToken = async (): Promise<never> => {
    throw new Error('not called')
  }
  const handler = async () => ({ served: 'open' })

  t.test('a route missing from the access table cannot be declared', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(accessPlugin, { verifyToken, rateLimitPerMinute: 0 })
    t.throws(() => app.get('/v1/not-in-the-table', handler), /missing from the access table/)
  })

  t.test('a route of several methods whose rules differ is refused; one whose rules agree is not', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(accessPlugin, { verifyToken, rateLimitPerMinute: 0 })
    // GET /v1/sozialraeume is any role's, POST finance's: one route config cannot hold both.
    t.throws(
      () => app.route({ method: ['GET', 'POST'], url: '/v1/sozialraeume', handler }),
      /different access rules per method/,
    )
    t.doesNotThrow(() => app.route({ method: ['GET', 'HEAD'], url: '/v1/audit/events', handler }), 'GET and HEAD share the GET rule')
  })

  t.test('a matched route without a rule (declared before the access plugin) is 500, not served', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.get('/v1/sozialraeume', handler)
    await app.register(accessPlugin, { verifyToken, rateLimitPerMinute: 0 })
    const response = await app.inject({ method: 'GET', url: '/v1/sozialraeume' })
    t.equal(response.statusCode, 500, `500 (${response.body.slice(0, 200)})`)
    t.notMatch(response.body, /served/, 'the handler did not run')
    t.equal((await app.inject({ method: 'GET', url: '/v1/nothing' })).statusCode, 404, 'a 404 still passes')
  })
})

// ---------------------------------------------------------------------------------------------
// JWKS_URL: RS256/ES256 keys of an identity provider
// ---------------------------------------------------------------------------------------------

/** JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE: an identity provider issues tokens for many clients. */
const ISSUER = 'https://idp.example/realms/sojus'
const AUDIENCE = 'sojus-ledger'

/** Claims of a valid finance token from the identity provider, meant for this service. */
const idpClaims = (extra: JWTPayload = {}): JWTPayload => claims({ iss: ISSUER, aud: AUDIENCE, ...extra })

t.test('with JWKS_URL (and the required JWT_ISSUER, JWT_AUDIENCE), tokens signed by the provider keys (RS256, ES256) are accepted and nothing else', async (t) => {
  const rsa = await generateKeyPair('RS256')
  const ec = await generateKeyPair('ES256')
  const stranger = await generateKeyPair('RS256')
  const jwks = await serveJwks(t, [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ])
  const service = await openOwnService(t, { JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }, { overrides: { failedAuthenticationsPerMinute: 10_000 } })
  const rs256 = (payload: JWTPayload) => sign(payload, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' })
  const es256 = (payload: JWTPayload) => sign(payload, ec.privateKey, { alg: 'ES256', kid: 'ec-1' })

  t.test('an RS256 token of a provider key is accepted', async (t) => {
    const response = await get(service.app, '/v1/sozialraeume', undefined, bearer(await rs256(idpClaims())))
    t.equal(response.status, 200, response.text.slice(0, 200))
  })
  t.test('an ES256 token of a provider key is accepted', async (t) => {
    const response = await get(service.app, '/v1/sozialraeume', undefined, bearer(await es256(idpClaims())))
    t.equal(response.status, 200, response.text.slice(0, 200))
  })
  t.test('a provider-signed write records the token sub and role', async (t) => {
    const written = await post(service.app, '/v1/sozialraeume', { id: 'jwks-written', name: 'Via JWKS' }, bearer(await es256(idpClaims({ sub: 'kc-user-42' }))))
    assertWritten(t, written)
    const audit = await get(service.app, '/v1/audit/events', written.body.position, bearer(await rs256(idpClaims())))
    t.same(audit.body?.items?.at(-1)?.actor, { sub: 'kc-user-42', role: 'finance' })
  })
  t.test('the keys are fetched once, not per request', async (t) => {
    t.equal(jwks.fetches(), 1)
  })

  t.test('an HS256 token (signed with a shared secret) is refused', async (t) => {
    await assertRefused(t, service, bearer(await hs256(idpClaims())), 'HS256 to a JWKS service', /algorithm/)
  })
  t.test('algorithm confusion: HS256 with the provider public key as secret is refused', async (t) => {
    const pem = await exportSPKI(rsa.publicKey)
    const token = await sign(idpClaims(), secretKey(pem), { alg: 'HS256', kid: 'rsa-1' })
    await assertRefused(t, service, bearer(token), 'HS256 keyed with the RSA public key', /algorithm/)
  })
  t.test('a token of a key that is not in the set (unknown kid) is refused', async (t) => {
    const token = await sign(idpClaims(), stranger.privateKey, { alg: 'RS256', kid: 'not-in-the-set' })
    await assertRefused(t, service, bearer(token), 'unknown kid', /no key/)
  })
  t.test('a token of a foreign key that claims a known kid is refused', async (t) => {
    const token = await sign(idpClaims(), stranger.privateKey, { alg: 'RS256', kid: 'rsa-1' })
    await assertRefused(t, service, bearer(token), 'foreign key, known kid', /signature/)
  })
  t.test('an unsigned token (alg: none) is refused', async (t) => {
    const token = `${base64urlJson({ alg: 'none', typ: 'JWT' })}.${base64urlJson(idpClaims())}.`
    await assertRefused(t, service, bearer(token), 'alg none', /algorithm/)
  })
  t.test('a provider-signed token with invalid claims is refused', async (t) => {
    await assertRefused(t, service, bearer(await rs256(idpClaims({ role: 'admin' }))), 'role admin', /role/)
    await assertRefused(t, service, bearer(await es256(idpClaims({ iat: nowSeconds() - 3600, exp: nowSeconds() - 120 }))), 'expired', /expired/)
    await assertRefused(t, service, bearer(await rs256(idpClaims({ exp: nowSeconds() + 25 * 3600 }))), 'exp 25 h ahead', /lives longer than 24 hours/)
  })
})

t.test('with JWKS_URL, iss and aud must match JWT_ISSUER and JWT_AUDIENCE', async (t) => {
  const rsa = await generateKeyPair('RS256')
  const jwks = await serveJwks(t, [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' }])
  const service = await openOwnService(
    t,
    { JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
    { overrides: { failedAuthenticationsPerMinute: 10_000 } },
  )
  const rs256 = (payload: JWTPayload) => sign(payload, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' })

  const matching = await get(service.app, '/v1/sozialraeume', undefined, bearer(await rs256(claims({ iss: ISSUER, aud: AUDIENCE }))))
  t.equal(matching.status, 200, `iss and aud match: 200 (${matching.text.slice(0, 200)})`)
  const inList = await get(service.app, '/v1/sozialraeume', undefined, bearer(await rs256(claims({ iss: ISSUER, aud: ['account', AUDIENCE] }))))
  t.equal(inList.status, 200, 'aud as a list that holds the audience: 200')

  await assertRefused(t, service, bearer(await rs256(claims({ iss: 'https://evil.example/realms/sojus', aud: AUDIENCE }))), 'another issuer', /"iss"/)
  await assertRefused(t, service, bearer(await rs256(claims({ iss: ISSUER, aud: 'another-service' }))), 'another audience', /"aud"/)
  await assertRefused(t, service, bearer(await rs256(claims({ aud: AUDIENCE }))), 'no iss', /"iss"/)
  await assertRefused(t, service, bearer(await rs256(claims({ iss: ISSUER }))), 'no aud', /"aud"/)
  await assertRefused(t, service, bearer(await rs256(claims())), 'neither iss nor aud', /"(iss|aud)"/)
})

t.test('JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE, and TLS unless the provider is on loopback', async (t) => {
  const environment = (extra: Record<string, string>) => ({ DATABASE_URL: 'sqlite:/tmp/never-opened.db', ...extra })
  const required = /with JWKS_URL, set JWT_ISSUER and JWT_AUDIENCE/
  for (const [rule, extra] of [
    ['neither', {}],
    ['no JWT_AUDIENCE', { JWT_ISSUER: ISSUER }],
    ['no JWT_ISSUER', { JWT_AUDIENCE: AUDIENCE }],
  ] as const) {
    t.throws(() => parseConfig(environment({ JWKS_URL: 'https://idp.example/jwks', ...extra })), { name: 'ConfigError', message: required }, rule)
  }
  const both = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }
  for (const url of ['https://idp.example/realms/sojus/protocol/openid-connect/certs', 'http://127.0.0.1:8080/jwks', 'http://localhost:8080/jwks', 'http://[::1]:8080/jwks']) {
    const config = parseConfig(environment({ JWKS_URL: url, ...both }))
    t.same(config.tokens.keys, { kind: 'jwks', url }, `${url} is accepted`)
    t.equal(config.tokens.issuer, ISSUER, `${url}: the issuer is checked`)
    t.equal(config.tokens.audience, AUDIENCE, `${url}: the audience is checked`)
  }
  for (const url of ['http://idp.example/jwks', 'http://10.0.0.5/jwks', 'http://localhost.evil.example/jwks', 'http://127.0.0.1.evil.example/jwks']) {
    t.throws(() => parseConfig(environment({ JWKS_URL: url, ...both })), { name: 'ConfigError', message: /JWKS_URL/ }, `${url} is refused`)
  }
})

t.test('when the JWKS cannot be fetched, the answer is 503 with Retry-After, not 401', async (t) => {
  const rsa = await generateKeyPair('RS256')
  const service = await openOwnService(t, { JWKS_URL: await deadUrl(), JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE })
  const token = await sign(idpClaims(), rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' })
  const before = await service.store.headPosition()

  for (const response of [
    await get(service.app, '/v1/sozialraeume', undefined, bearer(token)),
    await post(service.app, '/v1/sozialraeume', REFUSED_WRITE, bearer(token)),
  ]) {
    assertProblem(t, response, 503, 'unavailable', 'keys unavailable')
    t.match(String(response.headers['retry-after']), /^\d+$/, 'retry-after in seconds')
    t.equal(response.headers['www-authenticate'], undefined, 'no challenge: the token is not at fault')
  }
  t.equal(await service.store.headPosition(), before, 'nothing written')
  // A token that is broken in itself is still the client's fault.
  assertUnauthorized(t, await get(service.app, '/v1/sozialraeume', undefined, bearer('abc')), 'malformed token, keys down')
})

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

t.test('RATE_LIMIT_PER_MINUTE limits each token: the 6th request of 5 per minute is 429, other tokens go on', async (t) => {
  const service = await startTestService(t, {}, { RATE_LIMIT_PER_MINUTE: '5' })
  const anna = bearer(await tokenFor({ sub: 'anna', role: 'finance' }))
  const carla = bearer(await tokenFor({ sub: 'carla', role: 'auditor' }))

  for (let request = 1; request <= 5; request++) {
    t.equal((await get(service.app, '/v1/sozialraeume', undefined, anna)).status, 200, `request ${request} of anna: 200`)
  }
  const sixth = await get(service.app, '/v1/sozialraeume', undefined, anna)
  assertProblem(t, sixth, 429, 'too-many-requests', '6th request of anna')
  t.match(String(sixth.headers['retry-after']), /^[1-9]\d*$/, 'retry-after: whole seconds, at least 1')
  t.ok(Number(sixth.headers['retry-after']) <= 60, 'retry-after within the minute')

  const before = await service.store.headPosition()
  assertProblem(t, await post(service.app, '/v1/sozialraeume', REFUSED_WRITE, anna), 429, 'too-many-requests', 'a write over the limit')
  t.equal(await service.store.headPosition(), before, 'the write over the limit wrote nothing')

  for (let request = 1; request <= 5; request++) {
    t.equal((await get(service.app, '/v1/sozialraeume', undefined, carla)).status, 200, `request ${request} of carla: 200`)
  }
})

t.test('RATE_LIMIT_PER_MINUTE=0 turns the per-token limit off', async (t) => {
  const service = await startTestService(t, {}, { RATE_LIMIT_PER_MINUTE: '0' })
  const anna = bearer(await tokenFor({ sub: 'anna', role: 'finance' }))
  const statuses = new Set<number>()
  for (let request = 1; request <= 50; request++) {
    statuses.add((await get(service.app, '/v1/sozialraeume', undefined, anna)).status)
  }
  t.same([...statuses], [200], '50 requests, all 200')
})

t.test('failed authentications are limited per client address; only failures are refused, a valid token never is', async (t) => {
  // access.ts counts only failures per address and refuses only failures: with a limit of 3,
  // three bad tokens are 401, and from then on (within the minute) every further bad token or
  // missing token from that address is 429. A valid token from the same address (a NAT, a proxy,
  // a forged X-Forwarded-For) is served throughout, and does not reset the count.
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 3 })
  const app = service.app
  const valid = bearer(await tokenFor({ sub: 'anna', role: 'finance' }))
  const bad = bearer(await hs256(claims(), 'another-secret-that-is-long-enough-for-hs256-xyz'))

  for (let failure = 1; failure <= 3; failure++) {
    assertUnauthorized(t, await get(app, '/v1/sozialraeume', undefined, bad), `bad token ${failure}`)
    t.equal((await get(app, '/v1/sozialraeume', undefined, valid)).status, 200, `a valid token after ${failure} failure(s): 200`)
  }

  const fourth = await get(app, '/v1/sozialraeume', undefined, bad)
  assertProblem(t, fourth, 429, 'too-many-requests', 'the 4th bad token')
  t.match(fourth.body?.detail, /failed authentications/, 'the detail names the reason')
  t.match(String(fourth.headers['retry-after']), /^[1-9]\d*$/, 'retry-after on the 4th bad token: whole seconds, at least 1')
  t.ok(Number(fourth.headers['retry-after']) <= 60, 'retry-after within the minute')
  t.equal(fourth.headers['www-authenticate'], undefined, 'a 429 is no challenge')

  const valid1 = await get(app, '/v1/sozialraeume', undefined, valid)
  t.equal(valid1.status, 200, `a valid token from the address over its limit: 200 (${valid1.text.slice(0, 200)})`)
  t.same(valid1.body, { items: [] }, 'and the answer is the list')
  const written = await post(app, '/v1/sozialraeume', { id: 'written-anyway', name: 'Written anyway' }, valid)
  assertWritten(t, written, 'a valid write from the address over its limit')

  // The valid requests did not reset the count: failures from the address are still refused.
  const before = await service.store.headPosition()
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, bad), 429, 'too-many-requests', 'a bad token after the valid ones')
  assertProblem(t, await post(app, '/v1/sozialraeume', REFUSED_WRITE, bad), 429, 'too-many-requests', 'a bad write')
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, { authorization: '' }), 429, 'too-many-requests', 'no token from the address')
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, { authorization: 'Bearer abc' }), 429, 'too-many-requests', 'a malformed token from the address')
  t.equal(await service.store.headPosition(), before, 'no refused request wrote anything')

  t.equal((await get(app, '/v1/sozialraeume', undefined, valid)).status, 200, 'a valid token still: 200')
  t.equal((await get(app, '/health', undefined, { authorization: '' })).status, 200, 'public routes still answer')
})

t.test('failed authentications from one IPv6 /64 count together; an IPv4 address counts alike mapped into IPv6', async (t) => {
  // A client holds a whole /64: counted per address, it could fail without end.
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 3 })
  const fromAddress = async (remoteAddress: string) =>
    (await service.app.inject({ method: 'GET', url: '/v1/sozialraeume', remoteAddress, headers: { authorization: 'Bearer abc' } })).statusCode
  for (const n of [1, 2, 3]) t.equal(await fromAddress(`2001:db8:1:1::${n}`), 401, `address ${n} of the /64: 401`)
  t.equal(await fromAddress('2001:db8:1:1:ffff:ffff:ffff:ffff'), 429, 'a 4th address of the same /64: 429')
  t.equal(await fromAddress('2001:db8:1:2::1'), 401, 'another /64: its own count')
  for (const n of [1, 2, 3]) t.equal(await fromAddress('192.0.2.7'), 401, `IPv4 failure ${n}: 401`)
  t.equal(await fromAddress('::ffff:192.0.2.7'), 429, 'the same IPv4 address mapped into IPv6: 429')
  t.same(
    ['192.0.2.7', '::ffff:192.0.2.7', '2001:db8:1:1::1', '2001:0db8:0001:0001:abcd::'].map(addressKey),
    ['192.0.2.7', '192.0.2.7', '2001:db8:1:1::/64', '2001:db8:1:1::/64'],
    'the keys',
  )
})

t.test('property: two IPv6 addresses share a failed-authentication count exactly when their first 64 bits agree', async () => {
  const half = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
  // Written out in full, and compressed the way a proxy might (the longest run of zero groups as ::).
  const written = (high: bigint, low: bigint, compressed: boolean): string => {
    const groups = ((high << 64n) | low).toString(16).padStart(32, '0').match(/.{4}/g)!.map((group) => group.replace(/^0+(?=.)/, ''))
    const full = groups.join(':')
    return compressed ? full.replace(/(^|:)0(:0)+(:|$)/, '::') : full
  }
  // A high half of 0 holds the IPv4-mapped addresses, which count as IPv4: left out here.
  const high = half.filter((value) => value !== 0n)
  fc.assert(
    fc.property(high, high, half, half, fc.boolean(), fc.boolean(), (highA, highB, lowA, lowB, compressA, compressB) => {
      const same = addressKey(written(highA, lowA, compressA)) === addressKey(written(highB, lowB, compressB))
      return same === (highA === highB)
    }),
  )
  fc.assert(fc.property(high, half, half, (prefix, lowA, lowB) => addressKey(written(prefix, lowA, true)) === addressKey(written(prefix, lowB, false))))
})

// ---------------------------------------------------------------------------------------------
// Hardening
// ---------------------------------------------------------------------------------------------

t.test('answers carry security headers, /v1 answers are not cached, bodies are limited, a 500 leaks nothing', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('helmet headers on every answer: a 200, a 401 and a 404', async (t) => {
    const answers = [await get(app, '/v1/sozialraeume'), await get(app, '/v1/sozialraeume', undefined, { authorization: '' }), await get(app, '/nowhere')]
    t.same(answers.map((response) => response.status), [200, 401, 404])
    for (const response of answers) {
      t.equal(response.headers['x-content-type-options'], 'nosniff')
      const frameOptions = String(response.headers['x-frame-options'] ?? '')
      const csp = String(response.headers['content-security-policy'] ?? '')
      t.ok(/^(DENY|SAMEORIGIN)$/i.test(frameOptions) || /frame-ancestors/.test(csp), `framing is restricted (x-frame-options: ${frameOptions}; csp: ${csp})`)
      t.equal(response.headers['x-powered-by'], undefined, 'no x-powered-by')
    }
  })

  t.test('cache-control: no-store on /v1 answers, 401s included', async (t) => {
    t.match(String((await get(app, '/v1/sozialraeume')).headers['cache-control']), /\bno-store\b/, '200')
    t.match(String((await get(app, '/v1/sozialraeume', undefined, { authorization: '' })).headers['cache-control']), /\bno-store\b/, '401')
  })

  t.test('a body over 64 KiB is 413 problem+json and writes nothing; without a token it is 401 first', async (t) => {
    const big = JSON.stringify({ id: 'big', name: 'x'.repeat(64 * 1024 + 1) })
    const before = await service.store.headPosition()
    assertProblem(t, await post(app, '/v1/sozialraeume', big), 413, 'payload-too-large')
    assertUnauthorized(t, await post(app, '/v1/sozialraeume', big, { authorization: '' }), 'big body without a token')
    t.equal(await service.store.headPosition(), before, 'nothing written')
  })

  t.test('a 500 answer is problem+json without stack trace or internal message', async (t) => {
    // Provoked without touching src/: the store this service writes to fails once.
    const store = service.store
    const append = store.append
    store.append = async () => {
      throw new Error('simulated store failure at /var/lib/sojus/secret-path.db')
    }
    try {
      const response = await post(app, '/v1/sozialraeume', { id: 'fails', name: 'Fails' })
      assertProblem(t, response, 500, 'internal')
      t.notMatch(response.text, /simulated|secret-path|stack|\bat .+:\d+:\d+/, 'nothing internal in the body')
      t.same(Object.keys(response.body).sort(), ['detail', 'status', 'title', 'type'], 'only the problem members')
      t.match(String(response.headers['x-request-id']), /.+/, 'a request id to find it in the log')
    } finally {
      store.append = append
    }
    assertWritten(t, await post(app, '/v1/sozialraeume', { id: 'fails', name: 'Fails' }), 'the store works again')
  })
})

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

t.test('tokens never appear in the log, even at level trace; request ids do', async (t) => {
  const log = memoryLogger()
  const service = await openOwnService(t, { JWT_SECRET: TEST_JWT_SECRET }, { logger: log.logger })
  const valid = await hs256(claims())
  const invalid = await hs256(claims(), 'another-secret-that-is-long-enough-for-hs256-xyz')
  const garbage = 'not-a-jwt-but-secret-looking-0123456789'

  const responses = [
    await get(service.app, '/v1/sozialraeume', undefined, bearer(valid)),
    await post(service.app, '/v1/sozialraeume', { id: 'logged', name: 'Logged' }, bearer(valid)),
    await get(service.app, '/v1/sozialraeume', undefined, bearer(invalid)),
    await get(service.app, '/v1/sozialraeume?x=1', undefined, bearer(garbage)),
  ]
  t.same(responses.map((response) => response.status), [200, 201, 401, 401])

  const text = log.text()
  t.ok(text.length > 0, 'something was logged')
  for (const [name, token] of [['valid', valid], ['invalid', invalid], ['garbage', garbage]] as const) {
    t.notOk(text.includes(token), `the ${name} token is not in the log`)
    // Not even a part of it: the payload alone is personal data.
    for (const part of token.split('.').filter((segment) => segment.length >= 16)) {
      t.notOk(text.includes(part), `no segment of the ${name} token is in the log`)
    }
  }
  t.notOk(text.includes(TEST_JWT_SECRET), 'the secret is not in the log')

  const lines = log.lines()
  for (const response of responses) {
    const requestId = String(response.headers['x-request-id'])
    t.ok(lines.some((line) => line.reqId === requestId), `reqId ${requestId} (${response.status}) is in the log`)
  }
  t.ok(lines.some((line) => line.msg === 'authentication failed' && typeof line.reason === 'string'), 'failed authentications are logged with their reason')
})

// ---------------------------------------------------------------------------------------------
// npm run token
// ---------------------------------------------------------------------------------------------

t.test('npm run token signs with the embedded default secret, which a service on the same database accepts', async (t) => {
  const dir = freshDir(t)
  const databaseUrl = `sqlite:${join(dir, 'ledger.db')}`
  const secretPath = join(dir, 'jwt-secret')

  const first = await runTokenCli(['--role', 'teamlead', '--sub', 'ben', '--sozialraum', 'unteres-malstatt'], databaseUrl)
  t.equal(first.code, 0, `exit 0 (${first.stderr})`)
  t.match(first.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/, 'prints one token and a newline')
  const token = first.stdout.trim()
  t.equal(statSync(secretPath).mode & 0o777, 0o600, 'jwt-secret is made readable by the owner only')
  const secret = readFileSync(secretPath, 'utf8')

  const service = await openOwnService(t, { DATABASE_URL: databaseUrl })
  const read = await get(service.app, '/v1/sozialraeume', undefined, bearer(token))
  t.equal(read.status, 200, `the service accepts the token (${read.text.slice(0, 200)})`)
  assertProblem(t, await post(service.app, '/v1/sozialraeume', REFUSED_WRITE, bearer(token)), 403, 'forbidden', 'a teamlead may not register')
  await assertRefused(t, service, bearer(await hs256(claims())), 'a token of the test secret')

  const second = await runTokenCli(['--role', 'finance', '--sub', 'anna'], databaseUrl)
  t.equal(second.code, 0, `second run: exit 0 (${second.stderr})`)
  t.equal(readFileSync(secretPath, 'utf8'), secret, 'the second run reuses the secret')
  t.equal((await get(service.app, '/v1/sozialraeume', undefined, bearer(second.stdout.trim()))).status, 200, 'its token is accepted too')

  const admin = await runTokenCli(['--role', 'admin', '--sub', 'eve'], databaseUrl)
  t.equal(admin.code, 2, '--role admin exits 2')
  t.equal(admin.stdout, '', 'and prints no token')
  t.match(admin.stderr, /--role must be one of finance, teamlead, auditor/, 'stderr says why')
  t.match(admin.stderr, /^usage: npm run token/m, 'stderr shows the usage')

  const teamleadWithoutScope = await runTokenCli(['--role', 'teamlead', '--sub', 'ben'], databaseUrl)
  t.equal(teamleadWithoutScope.code, 2, 'a teamlead without --sozialraum exits 2')
  t.match(teamleadWithoutScope.stderr, /--sozialraum/)

  const notASlug = await runTokenCli(['--role', 'teamlead', '--sub', 'ben', '--sozialraum', 'unteres-malstatt', '--sozialraum', 'Unteres Malstatt'], databaseUrl)
  t.equal(notASlug.code, 2, 'a --sozialraum that is not a slug exits 2')
  t.equal(notASlug.stdout, '', 'and prints no token')
  t.match(notASlug.stderr, /--sozialraum Unteres Malstatt is not a Sozialraum id/, 'stderr names the value')

  const tooLong = await runTokenCli(['--role', 'finance', '--sub', 'anna', '--expires-in', '25h'], databaseUrl)
  t.equal(tooLong.code, 2, '--expires-in 25h exits 2')
  t.equal(tooLong.stdout, '', 'and prints no token')
  t.match(tooLong.stderr, /--expires-in must be at most 24h/, 'stderr says the limit')

  const aDay = await runTokenCli(['--role', 'finance', '--sub', 'anna', '--expires-in', '24h'], databaseUrl)
  t.equal(aDay.code, 0, `--expires-in 24h: exit 0 (${aDay.stderr})`)
  t.equal((await get(service.app, '/v1/sozialraeume', undefined, bearer(aDay.stdout.trim()))).status, 200, 'a token of 24 hours is accepted')

  t.same(readdirSync(dir).filter((name) => name.startsWith('jwt-secret')), ['jwt-secret'], 'no temporary secret file is left behind')
})

t.test('a secret file too short to be a secret is refused, by the service and by npm run token', async (t) => {
  const dir = freshDir(t)
  const databaseUrl = `sqlite:${join(dir, 'ledger.db')}`
  const secretPath = join(dir, 'jwt-secret')
  writeFileSync(secretPath, 'abc\n', { mode: 0o600 })

  const config = parseConfig({ DATABASE_URL: databaseUrl })
  t.same(config.tokens.keys, { kind: 'generated-secret', path: secretPath }, 'the embedded default uses the file beside the database')
  const error: unknown = await openService(config, pino({ level: 'silent' })).then(
    (service) => service.close().then(() => undefined),
    (error: unknown) => error,
  )
  t.ok(error instanceof SecretFileError, `opening the service throws SecretFileError (got ${String(error)})`)
  t.ok(error instanceof Error && error.message.includes(secretPath), 'the error names the file')
  t.equal(readFileSync(secretPath, 'utf8'), 'abc\n', 'the file is left as it was')

  const token = await runTokenCli(['--role', 'finance', '--sub', 'anna'], databaseUrl)
  t.equal(token.code, 1, 'npm run token exits 1: not a wrong command line')
  t.equal(token.stdout, '', 'and prints no token')
  t.match(token.stderr, /holds no usable secret/, 'stderr says why')
  t.ok(token.stderr.includes(secretPath), 'stderr names the file')
  t.notMatch(token.stderr, /\bat .+:\d+:\d+/, 'no stack trace')
})

t.test('behind a trusted proxy, failed authentications are counted per client, not per proxy', async (t) => {
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 2 }, { TRUST_PROXY: 'true' })
  const app = service.app
  const valid = bearer(await tokenFor({ sub: 'anna', role: 'finance' }))
  const bad = bearer(await hs256(claims(), 'another-secret-that-is-long-enough-for-hs256-xyz'))
  const from = (client: string) => ({ 'x-forwarded-for': client })
  const failing = from('203.0.113.7')
  const other = from('198.51.100.23')

  for (let failure = 1; failure <= 2; failure++) {
    assertUnauthorized(t, await get(app, '/v1/sozialraeume', undefined, { ...bad, ...failing }), `bad token ${failure}`)
  }
  const over = await get(app, '/v1/sozialraeume', undefined, { ...bad, ...failing })
  assertProblem(t, over, 429, 'too-many-requests', 'the failing client, over its limit, with a bad token')
  t.match(String(over.headers['retry-after']), /^[1-9]\d*$/, 'retry-after for the failing client')
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, { authorization: '', ...failing }), 429, 'too-many-requests', 'the failing client without a token')
  t.equal((await get(app, '/v1/sozialraeume', undefined, { ...valid, ...failing })).status, 200, 'a valid token from the failing client still passes')

  // Another client behind the same proxy has failures of its own to spend.
  for (let failure = 1; failure <= 2; failure++) {
    assertUnauthorized(t, await get(app, '/v1/sozialraeume', undefined, { ...bad, ...other }), `another client's bad token ${failure}: 401`)
  }
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, { ...bad, ...other }), 429, 'too-many-requests', "another client's 3rd bad token")
  t.equal((await get(app, '/v1/sozialraeume', undefined, { ...valid, ...other })).status, 200, 'a valid token from the other client passes')
})

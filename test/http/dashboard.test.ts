import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { builtDashboard, dashboardRoutes } from '../../src/http/routes/dashboard.js'
import { errorHandler } from '../../src/http/problem.js'
import { startTestService } from '../helpers/service.js'

/** The service's side of the dashboard (docs/dashboard.md): its files, their headers, and how it signs in. */

const OIDC = {
  JWT_SECRET: '',
  JWKS_URL: 'https://sso.example.org/realms/jugendamt/protocol/openid-connect/certs',
  JWT_ISSUER: 'https://sso.example.org/realms/jugendamt',
  JWT_AUDIENCE: 'sojus-ledger',
  OIDC_ISSUER: 'https://sso.example.org/realms/jugendamt',
  OIDC_CLIENT_ID: 'sojus-dashboard',
}

const built = builtDashboard()

t.test('the page and its files are served without a token, under a CSP without inline scripts', { skip: built === undefined ? 'the dashboard is not built (npm run build:web)' : false }, async (t) => {
  const { app } = await startTestService(t)
  const page = await app.inject({ url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.equal(page.headers['cache-control'], 'no-cache', 'the page is asked for again, so a new build reaches every browser')
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /script-src 'self'(;|$)/, 'scripts only from the service itself')
  t.notMatch(csp, /unsafe-eval/)
  t.match(csp, /connect-src 'self'(;|$)/, 'the page talks to this service only')
  t.match(csp, /frame-ancestors 'self'/)
  const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
  t.ok(scripts.length > 0, 'the page loads its script')
  for (const [, attributes = '', body = ''] of scripts) {
    t.match(attributes, /src="\/assets\/[^"]+\.js"/, 'every script is a file')
    t.equal(body.trim(), '', 'no inline script')
  }
  const assets = [...page.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1] ?? '')
  t.ok(assets.length >= 2, 'a script and a style sheet')
  for (const asset of assets) {
    const file = await app.inject({ url: asset })
    t.equal(file.statusCode, 200, asset)
    t.equal(file.headers['cache-control'], 'public, max-age=31536000, immutable', `${asset}: named by its content, kept for a year`)
    t.match(file.headers['content-type'], /javascript|css/, asset)
  }
  t.equal((await app.inject({ url: '/favicon.svg' })).statusCode, 200)
  t.equal((await app.inject({ method: 'HEAD', url: '/' })).statusCode, 200, 'HEAD works as GET')
  for (const url of ['/assets/missing.js', '/assets/../package.json', '/%2e%2e/package.json', '/dashboard', '/src/main.tsx']) {
    const answer = await app.inject({ url })
    t.equal(answer.statusCode, 404, `${url}: not a file of the dashboard`)
    t.match(answer.headers['content-type'], /^application\/problem\+json/, `${url}: the API's not-found problem`)
  }
})

t.test('GET /dashboard/config: the token form by default', async (t) => {
  const { app } = await startTestService(t)
  const answer = await app.inject({ url: '/dashboard/config' })
  t.equal(answer.statusCode, 200)
  t.same(answer.json(), { signIn: 'token' })
})

t.test("with OIDC_ISSUER: the identity provider's sign-in, and the CSP lets the page reach it", async (t) => {
  const { app } = await startTestService(t, {}, OIDC)
  const answer = await app.inject({ url: '/dashboard/config' })
  t.same(answer.json(), { signIn: 'oidc', issuer: OIDC.OIDC_ISSUER, clientId: OIDC.OIDC_CLIENT_ID, scope: 'openid profile' })
  t.match(String(answer.headers['content-security-policy']), /connect-src 'self' https:\/\/sso\.example\.org(;|$)/)
})

t.test('with OIDC_CONNECT_ORIGINS: the CSP lets the page reach a token endpoint on another origin too', async (t) => {
  const { app } = await startTestService(t, {}, {
    ...OIDC,
    OIDC_ISSUER: 'https://accounts.google.com',
    OIDC_CONNECT_ORIGINS: 'https://oauth2.googleapis.com, https://accounts.google.com/',
  })
  const answer = await app.inject({ url: '/dashboard/config' })
  t.same(answer.json(), { signIn: 'oidc', issuer: 'https://accounts.google.com', clientId: OIDC.OIDC_CLIENT_ID, scope: 'openid profile' }, 'the page is told nothing more')
  t.match(String(answer.headers['content-security-policy']), /connect-src 'self' https:\/\/accounts\.google\.com https:\/\/oauth2\.googleapis\.com(;|$)/)
})

t.test('an unbuilt dashboard: / says how to build it', async (t) => {
  const app = Fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler)
  await app.register(dashboardRoutes, { root: undefined, oidc: undefined })
  t.teardown(() => app.close())
  const answer = await app.inject({ url: '/' })
  t.equal(answer.statusCode, 503)
  t.match(answer.headers['content-type'], /^application\/problem\+json/)
  t.match(answer.json(), { type: 'urn:sojus-ledger:problem:unavailable', detail: /npm run build/ })
})

t.test('builtDashboard finds dist/web from the compiled service and from the sources', async (t) => {
  const top = mkdtempSync(join(tmpdir(), 'sojus-ledger-web-'))
  t.teardown(() => rmSync(top, { recursive: true, force: true }))
  const compiled = join(top, 'dist', 'src', 'http', 'routes', 'dashboard.js')
  const source = join(top, 'src', 'http', 'routes', 'dashboard.ts')
  t.equal(builtDashboard(compiled), undefined, 'nothing built')
  t.equal(builtDashboard(source), undefined, 'nothing built')
  mkdirSync(join(top, 'dist', 'web'), { recursive: true })
  writeFileSync(join(top, 'dist', 'web', 'index.html'), '<!doctype html>')
  t.equal(builtDashboard(compiled), join(top, 'dist', 'web'))
  t.equal(builtDashboard(source), join(top, 'dist', 'web'))
})

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'
import t from 'tap'
import { get } from '../helpers/api.js'
import { SKIP, startDashboard } from './harness.js'

/**
 * The dashboard's sign-in at an identity provider: the authorization-code flow with PKCE, in the
 * browser, against a real OpenID provider (panva's certified `oidc-provider`, with its development
 * login pages) standing in for the office's Keycloak. Its access tokens are JWTs for the ledger's
 * audience, carrying the ledger's role claim; the service verifies them with the provider's keys.
 */
const CLIENT_ID = 'sojus-dashboard'
const AUDIENCE = 'sojus-ledger'
const RESOURCE = 'urn:sojus-ledger:api'

/** A provider whose every account is a finance controller named Olga (the claims the ledger reads). */
async function provider(issuer: string, redirectUri: string): Promise<Provider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const key = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key' }
  return new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [key] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    features: {
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'ledger',
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: async () => ({ role: 'finance', name: 'Olga Oidc' }),
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    ttl: { AccessToken: 3600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    // The dashboard's origin may call the token endpoint from the browser: the origin of its redirect URI.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
  })
}

t.test('sign-in at the identity provider: code flow with PKCE, then the API answers with its token', { skip: SKIP }, async (t) => {
  // The provider's address must be known before the service starts, the service's before the provider is made.
  let handle: ((request: IncomingMessage, response: ServerResponse) => void) | undefined
  const server = createServer((request, response) => handle?.(request, response))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dashboard = await startDashboard(t, {
    JWT_SECRET: '',
    JWKS_URL: `${issuer}/jwks`,
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: AUDIENCE,
    OIDC_ISSUER: issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_SCOPE: 'openid profile ledger',
  })
  handle = (await provider(issuer, `${dashboard.baseUrl}/`)).callback()

  const page = await dashboard.open()
  const authorization = page.waitForRequest((request) => request.url().startsWith(`${issuer}/auth?`))
  await page.getByRole('button', { name: 'Anmelden' }).click()
  const query = new URL((await authorization).url()).searchParams
  t.equal(query.get('response_type'), 'code', 'the authorization-code flow')
  t.equal(query.get('code_challenge_method'), 'S256', 'with a PKCE challenge')
  t.match(query.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
  // The provider's own pages: any login goes, then the consent.
  await page.locator('input[name="login"]').fill('olga')
  await page.locator('input[name="password"]').fill('any')
  await page.locator('button[type="submit"]').click()
  await page.locator('button[type="submit"]', { hasText: /continue/i }).click()
  await page.getByRole('button', { name: 'Abmelden' }).waitFor()
  t.equal(new URL(page.url()).search, '', 'the code and state are gone from the address')
  t.ok(await page.getByText('Olga Oidc').isVisible(), 'signed in with the name the token carries')

  const token = String(await page.evaluate("sessionStorage.getItem('sojus-ledger.token')"))
  const answer = await get(dashboard.service.app, '/v1/sozialraeume', undefined, { authorization: `Bearer ${token}` })
  t.equal(answer.status, 200, "the service takes the provider's access token")
  t.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage, the PKCE verifier included')

  await page.getByRole('button', { name: 'Abmelden' }).click()
  await page.getByRole('button', { name: 'Anmelden' }).waitFor()
  t.equal(await page.evaluate('sessionStorage.length'), 0, 'sign-out forgets the token and the provider session record')

  // The provider sends the user back with an error (they cancelled, or were not let in).
  const started = page.waitForRequest((request) => request.url().startsWith(`${issuer}/auth?`))
  await page.getByRole('button', { name: 'Anmelden' }).click()
  const state = new URL((await started).url()).searchParams.get('state')
  await page.goto(`${dashboard.baseUrl}/?error=access_denied&state=${encodeURIComponent(String(state))}`)
  await page.getByText('Die Anmeldung wurde beim Identitätsanbieter abgebrochen oder abgelehnt.').waitFor()
  t.equal(new URL(page.url()).search, '', 'the error and state are gone from the address')
  t.ok(await page.getByRole('button', { name: 'Anmelden' }).isVisible(), 'the user may sign in again')
  t.equal(await page.evaluate("Object.keys(sessionStorage).filter((key) => key.startsWith('oidc.')).length"), 0, 'the stored state of the sign-in is gone')
})

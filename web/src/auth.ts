import { UserManager, WebStorageStateStore } from 'oidc-client-ts'
import type { Role } from './types'

/**
 * Who is signed in. The token lives in sessionStorage only (it goes when the tab closes) and
 * sign-out forgets it. Its claims are read here only to show the right pages: the service
 * verifies the token on every request, so a forged claim gets the user nothing but 401 or 403.
 */
export interface Session {
  token: string
  sub: string
  role: Role
  name: string | undefined
  sozialraeume: string[]
  /** The token's exp, in milliseconds since the epoch. */
  expiresAt: number
}

/** How the service says the dashboard signs in (GET /dashboard/config). */
export type SignInConfig = { signIn: 'token' } | { signIn: 'oidc'; issuer: string; clientId: string; scope: string }

const TOKEN_KEY = 'sojus-ledger.token'
const ROLES: readonly Role[] = ['finance', 'teamlead', 'auditor']

/** The claims of a JWT, unverified (see above); undefined when it is not one the service could take. */
export function sessionOf(token: string): Session | undefined {
  const payload = token.trim().split('.')[1]
  if (payload === undefined) return undefined
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='))
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>
    const role = claims.role as Role
    if (typeof claims.sub !== 'string' || !ROLES.includes(role) || typeof claims.exp !== 'number') return undefined
    const sozialraeume = Array.isArray(claims.sozialraeume) ? claims.sozialraeume.filter((s): s is string => typeof s === 'string') : []
    return {
      token: token.trim(),
      sub: claims.sub,
      role,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      sozialraeume,
      expiresAt: claims.exp * 1000,
    }
  } catch {
    return undefined
  }
}

/**
 * The session this tab signed in with: 'expired' when its token has expired (or is none the page
 * can read), which is then forgotten, so that no dead token stays in sessionStorage.
 */
export function storedSession(): Session | 'expired' | undefined {
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (token === null) return undefined
  const session = sessionOf(token)
  if (session !== undefined && session.expiresAt > Date.now()) return session
  forgetSession()
  return 'expired'
}

export function keepSession(session: Session): void {
  sessionStorage.setItem(TOKEN_KEY, session.token)
}

/**
 * Sign-out: the token is gone from this tab, and so is oidc-client-ts's copy of the user and its
 * state (its keys start with "oidc."). The session at the identity provider is not ended.
 */
export function forgetSession(): void {
  for (const key of Object.keys(sessionStorage)) {
    if (key === TOKEN_KEY || key.startsWith('oidc.')) sessionStorage.removeItem(key)
  }
}

/** oidc-client-ts: authorization code with PKCE; its state and user in sessionStorage, never localStorage. */
function userManager(config: Extract<SignInConfig, { signIn: 'oidc' }>): UserManager {
  const store = new WebStorageStateStore({ store: sessionStorage })
  return new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${location.origin}/`,
    response_type: 'code',
    scope: config.scope,
    userStore: store,
    stateStore: store,
    // No hidden iframe: when the token expires, the user signs in again.
    automaticSilentRenew: false,
    loadUserInfo: false,
  })
}

/** Sends the browser to the identity provider's sign-in page. */
export function startOidcSignIn(config: Extract<SignInConfig, { signIn: 'oidc' }>): Promise<void> {
  return userManager(config).signinRedirect()
}

/**
 * Back from the identity provider (?code=…&state=…): the session of its access token, 'invalid'
 * when that token is none the ledger takes (no role), 'refused' when the provider answered with
 * an error instead (?error=access_denied&state=…: the user cancelled, or was not let in),
 * undefined when this is no return from it. The address is cleaned either way: the code is
 * single-use and means nothing to a bookmark.
 */
export async function finishOidcSignIn(config: Extract<SignInConfig, { signIn: 'oidc' }>): Promise<Session | 'invalid' | 'refused' | undefined> {
  const query = new URLSearchParams(location.search)
  if (query.has('error') && query.has('state')) {
    try {
      // Takes the sign-in's stored state out of sessionStorage; with an error it always throws.
      await userManager(config).signinRedirectCallback()
    } catch {
      // The error is what the provider said: the page says it in German.
    } finally {
      history.replaceState(null, '', `/${location.hash}`)
    }
    return 'refused'
  }
  if (!query.has('code') || !query.has('state')) return undefined
  try {
    const user = await userManager(config).signinRedirectCallback()
    return sessionOf(user.access_token) ?? 'invalid'
  } finally {
    history.replaceState(null, '', `/${location.hash}`)
  }
}

import { signToken, type TokenClaims } from '../../src/auth/tokens.js'

/** The secret every test service verifies tokens with (startTestService sets JWT_SECRET to it). */
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'

const cache = new Map<string, Promise<string>>()

/** A valid token for these claims, signed with the test secret (cached: signing costs a little). */
export function tokenFor(claims: TokenClaims): Promise<string> {
  const key = JSON.stringify(claims)
  let token = cache.get(key)
  if (!token) {
    token = signToken(TEST_JWT_SECRET, claims, '1h')
    cache.set(key, token)
  }
  return token
}

export async function bearer(claims: TokenClaims): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await tokenFor(claims)}` }
}

/** Who the HTTP helpers act as unless a test says otherwise. */
export const DEFAULT_ACTOR: TokenClaims = { sub: 'test-finance', role: 'finance' }

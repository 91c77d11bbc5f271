import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose'
import { z } from 'zod'
import { ROLES, type Role } from '../domain/events.js'
import { sozialraumId } from '../domain/sozialraum.js'

/**
 * Bearer tokens (API.md, "Authentication and roles"): verified with jose, never parsed by hand.
 * HS256 with a shared secret (JWT_SECRET, or the embedded default's generated secret), or
 * RS256/ES256 with the keys of an identity provider (JWKS_URL, e.g. a Keycloak realm).
 */

/** Who sends a request, as the token says. */
export interface Principal {
  sub: string
  role: Role
  name: string | undefined
  /** A team lead's scope; empty for the other roles, whose scope is every Sozialraum. */
  sozialraeume: readonly string[]
  /** The token's `exp`, in milliseconds since the epoch. */
  expiresAtMs: number
}

export type TokenKeys =
  | { kind: 'secret'; secret: string }
  | { kind: 'jwks'; url: string }

export interface TokenOptions {
  issuer?: string | undefined
  audience?: string | undefined
}

/** A token the service does not accept: the request is answered 401 with `reason`. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError'
}

/** The keys could not be fetched (JWKS_URL unreachable): the service, not the token, is at fault. */
export class KeysUnavailableError extends Error {
  override name = 'KeysUnavailableError'
}

export type VerifyToken = (token: string) => Promise<Principal>

/** Clocks of issuer and service may differ a little. */
const CLOCK_TOLERANCE_SECONDS = 30
const HS_ALGORITHMS = ['HS256']
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256']
export const MIN_SECRET_LENGTH = 32

const claimsSchema = z
  .object({
    sub: z.string().min(1).max(256),
    role: z.enum(ROLES),
    name: z.string().max(200).optional(),
    sozialraeume: z.array(sozialraumId).max(1000).optional(),
  })
  .refine((claims) => claims.role !== 'teamlead' || (claims.sozialraeume?.length ?? 0) > 0, {
    message: 'a teamlead token must name its sozialraeume',
    path: ['sozialraeume'],
  })

const JOSE_REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'the token has expired',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'the token signature does not verify',
  ERR_JOSE_ALG_NOT_ALLOWED: 'the token is signed with an algorithm this service does not accept',
  ERR_JOSE_NOT_SUPPORTED: 'the token is signed with an algorithm this service does not accept',
  ERR_JWKS_NO_MATCHING_KEY: 'no key of the identity provider matches the token',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'the token does not say which key signed it',
  ERR_JWS_INVALID: 'the token is malformed',
  ERR_JWT_INVALID: 'the token is malformed',
}

function reasonOf(error: unknown): string | undefined {
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' || error.claim === 'iat') return 'the token is not valid yet'
    if (error.reason === 'missing') return `the token has no "${error.claim}" claim`
    return `the token's "${error.claim}" claim is not accepted`
  }
  if (error instanceof errors.JOSEError) return JOSE_REASONS[error.code]
  return undefined
}

export function tokenVerifier(keys: TokenKeys, options: TokenOptions = {}): VerifyToken {
  const key: Uint8Array | JWTVerifyGetKey =
    keys.kind === 'secret' ? new TextEncoder().encode(keys.secret) : createRemoteJWKSet(new URL(keys.url))
  const verifyOptions = {
    algorithms: keys.kind === 'secret' ? HS_ALGORITHMS : ASYMMETRIC_ALGORITHMS,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience }),
  }
  return async (token) => {
    let payload: unknown
    try {
      // jose takes a key or a key getter; the two overloads differ only in that.
      payload =
        key instanceof Uint8Array
          ? (await jwtVerify(token, key, verifyOptions)).payload
          : (await jwtVerify(token, key, verifyOptions)).payload
    } catch (error) {
      const reason = reasonOf(error)
      if (reason !== undefined) throw new InvalidTokenError(reason)
      throw new KeysUnavailableError(
        `the identity provider's keys could not be read: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
    const claims = claimsSchema.safeParse(payload)
    if (!claims.success) {
      const issue = claims.error.issues[0]
      throw new InvalidTokenError(`the token's claims are not valid: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim())
    }
    const { sub, role, name, sozialraeume } = claims.data
    return {
      sub,
      role,
      name,
      sozialraeume: role === 'teamlead' ? (sozialraeume ?? []) : [],
      // requiredClaims makes jose check that exp is there and a number.
      expiresAtMs: Number((payload as { exp: number }).exp) * 1000,
    }
  }
}

export interface VerifiedTokenCacheOptions {
  /** How many tokens are kept; the least recently used goes first. */
  maxEntries?: number
  /** How long a verified token is trusted without verifying it again (also never past its exp). */
  maxAgeMs?: number
  now?: () => number
}

/**
 * Remembers verified tokens for a short while: verifying a signature and the claims costs about
 * 70 µs, as much as the rest of a read. A cached token is trusted until its `exp` or `maxAgeMs`,
 * whichever comes first; a refused token is never cached.
 */
export function cachedVerifier(verify: VerifyToken, options: VerifiedTokenCacheOptions = {}): VerifyToken {
  const maxEntries = options.maxEntries ?? 10_000
  const maxAgeMs = options.maxAgeMs ?? 60_000
  const now = options.now ?? Date.now
  const cache = new Map<string, { principal: Principal; validUntilMs: number }>()
  return async (token) => {
    const hit = cache.get(token)
    if (hit !== undefined) {
      cache.delete(token)
      if (now() < hit.validUntilMs) {
        cache.set(token, hit) // most recently used last
        return hit.principal
      }
    }
    const principal = await verify(token)
    cache.set(token, { principal, validUntilMs: Math.min(principal.expiresAtMs, now() + maxAgeMs) })
    if (cache.size > maxEntries) {
      const oldest = cache.keys().next().value
      if (oldest !== undefined) cache.delete(oldest)
    }
    return principal
  }
}

export interface TokenClaims {
  sub: string
  role: Role
  name?: string | undefined
  sozialraeume?: readonly string[] | undefined
}

/** Signs an HS256 token, e.g. for `npm run token`; `expiresIn` as jose takes it ("8h", "30m"). */
export function signToken(secret: string, claims: TokenClaims, expiresIn: string | number = '8h'): Promise<string> {
  return new SignJWT({
    role: claims.role,
    ...(claims.name === undefined ? {} : { name: claims.name }),
    ...(claims.sozialraeume === undefined ? {} : { sozialraeume: [...claims.sozialraeume] }),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret))
}

/**
 * The embedded default's secret: read from `path`, or made (random, readable by the owner only)
 * on first start. Losing it invalidates every token signed with it, nothing else.
 */
export function loadOrCreateSecret(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  mkdirSync(dirname(path), { recursive: true })
  const secret = randomBytes(48).toString('base64url')
  try {
    // 'wx': if another process made it in the meantime, theirs wins.
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    return readFileSync(path, 'utf8').trim()
  }
  chmodSync(path, 0o600)
  return secret
}

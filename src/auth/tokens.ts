import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { z } from 'zod'
import { ROLES, type Role } from '../domain/events.js'
import { sozialraumId } from '../domain/sozialraum.js'
import { displayName, subject } from '../http/schemas.js'

/**
 * Bearer tokens (docs/api.md, "Authentication and roles"): verified with jose, never parsed by hand.
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
/** No token lives longer: there is no revocation list, so a leaked token must expire soon. */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60
/** How long the identity provider's keys are trusted before they are fetched again. */
const JWKS_CACHE_MAX_AGE_MS = 60_000
const HS_ALGORITHMS = ['HS256']
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256']
export const MIN_SECRET_LENGTH = 32

const claimsSchema = z
  .object({
    sub: subject,
    role: z.enum(ROLES),
    // Only shown, never stored: a name that is not plain text is left out, not a reason to refuse the token.
    name: displayName.optional().catch(undefined),
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
    if (error.reason === 'missing') return `the token has no "${error.claim}" claim`
    if ((error.claim === 'nbf' || error.claim === 'iat') && error.reason === 'check_failed') return 'the token is not valid yet'
    return `the token's "${error.claim}" claim is not accepted`
  }
  if (error instanceof errors.JOSEError) return JOSE_REASONS[error.code]
  return undefined
}

function signatureVerifier(keys: TokenKeys, options: TokenOptions): (token: string) => Promise<JWTPayload> {
  const common: JWTVerifyOptions = {
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience }),
  }
  if (keys.kind === 'secret') {
    const secret = new TextEncoder().encode(keys.secret)
    return async (token) => (await jwtVerify(token, secret, { ...common, algorithms: HS_ALGORITHMS })).payload
  }
  const jwks = createRemoteJWKSet(new URL(keys.url), { cacheMaxAge: JWKS_CACHE_MAX_AGE_MS })
  return async (token) => (await jwtVerify(token, jwks, { ...common, algorithms: ASYMMETRIC_ALGORITHMS })).payload
}

export function tokenVerifier(keys: TokenKeys, options: TokenOptions = {}): VerifyToken {
  const verifySignature = signatureVerifier(keys, options)
  return async (token) => {
    let payload: JWTPayload
    try {
      payload = await verifySignature(token)
    } catch (error) {
      const reason = reasonOf(error)
      if (reason !== undefined) throw new InvalidTokenError(reason)
      throw new KeysUnavailableError(
        `the identity provider's keys could not be read: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
    // jose checks that iat, when there, is a number, but not that it lies in the past (it does
    // only together with maxTokenAge, which would make iat required): a token issued in the
    // future, beyond the clock tolerance, is not valid yet.
    if (payload.iat !== undefined && payload.iat * 1000 > Date.now() + CLOCK_TOLERANCE_SECONDS * 1000) {
      throw new InvalidTokenError('the token is not valid yet: its "iat" claim lies in the future')
    }
    // requiredClaims made jose check that exp is there and a number.
    const expiresAtMs = Number(payload.exp) * 1000
    if (!(expiresAtMs - Date.now() <= MAX_TOKEN_LIFETIME_SECONDS * 1000)) {
      throw new InvalidTokenError(`the token lives longer than ${MAX_TOKEN_LIFETIME_SECONDS / 3600} hours`)
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
      expiresAtMs,
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

export class SecretFileError extends Error {
  override name = 'SecretFileError'
}

function readSecret(path: string): string {
  const secret = readFileSync(path, 'utf8').trim()
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SecretFileError(
      `${path} holds no usable secret (fewer than ${MIN_SECRET_LENGTH} characters); delete it to make a new one, or set JWT_SECRET`,
    )
  }
  return secret
}

/**
 * The embedded default's secret: read from `path`, or made (random, readable by the owner only)
 * on first start. Losing it invalidates every token signed with it, nothing else.
 */
export function loadOrCreateSecret(path: string): string {
  try {
    return readSecret(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  // Written whole and synced under another name, then linked into place: nobody ever reads a
  // half-written secret, and if two processes start at once, the first link wins.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
  const descriptor = openSync(temporary, 'wx', 0o600)
  try {
    writeSync(descriptor, `${randomBytes(48).toString('base64url')}\n`)
    fsyncSync(descriptor)
  } finally {
    closeSync(descriptor)
  }
  try {
    linkSync(temporary, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    rmSync(temporary, { force: true })
  }
  return readSecret(path)
}

import { join, dirname } from 'node:path'
import { z } from 'zod'
import { parse as parsePostgresUrl } from 'pg-connection-string'
import { MIN_SECRET_LENGTH } from './auth/tokens.js'
import { DEFAULT_FOUR_EYES_THRESHOLD_CENTS } from './domain/budget/index.js'
import { DEFAULT_UTILISATION_THRESHOLDS, type UtilisationThresholds } from './domain/budget/warnings.js'
import { parseAmount, type Cents } from './domain/money.js'

/** "80,95": ascending percentages, each above 0 and at most 1000; "none" turns the warnings of a line off. */
const thresholdList = z
  .string()
  .regex(/^none$|^\d{1,4}(\.\d{1,2})?(,\d{1,4}(\.\d{1,2})?){0,9}$/, 'must be ascending percentages like "80,95", or none')
  .transform((text, context) => {
    const values = text === 'none' ? [] : text.split(',').map(Number)
    if (values.every((value, index) => value > 0 && value <= 1000 && (index === 0 || value > (values[index - 1] ?? 0)))) return values
    context.addIssue({ code: 'custom', message: 'must be ascending percentages above 0 and at most 1000, like "80,95"' })
    return z.NEVER
  })

/** https://, or http:// only on loopback: what is fetched over plain HTTP could be swapped on the way. */
const isTlsOrLoopback = (url: string): boolean => url.startsWith('https://') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(url)

/** A URL the WHATWG parser refused (a port beyond 65535, say): `new URL`'s error, which drivers pass on. */
export const isInvalidUrl = (error: unknown): boolean => error instanceof TypeError && (error as NodeJS.ErrnoException).code === 'ERR_INVALID_URL'

/** "https://a.example, https://b.example": origins (scheme, host, port; no path), comma-separated. */
const originList = z.string().transform((text, context) => {
  const origins: string[] = []
  for (const part of text.split(',').map((item) => item.trim())) {
    let origin: string | undefined
    try {
      const url = new URL(part)
      // The origin alone: a path, query or credentials would mean the value is not what it seems.
      if (`${url.origin}` === part.replace(/\/$/, '') && isTlsOrLoopback(url.origin)) origin = url.origin
    } catch {
      origin = undefined
    }
    if (origin === undefined) {
      context.addIssue({ code: 'custom', message: `"${part}" must be an origin like https://oauth2.googleapis.com (http:// only on 127.0.0.1 or localhost)` })
      return z.NEVER
    }
    if (!origins.includes(origin)) origins.push(origin)
  }
  return origins
})

/**
 * Whether the PostgreSQL driver can parse `url`, asked of its own parser (pg-connection-string):
 * a port beyond 65535 fails here, at the start, not at the first connection with "Invalid URL".
 * Only that counts: the parser also reads the files `sslrootcert`, `sslcert` and `sslkey` name,
 * which a machine that checks the configuration may not hold; the connection reports those.
 */
function parsesAsPostgresUrl(url: string): boolean {
  try {
    parsePostgresUrl(url)
    return true
  } catch (error) {
    return !isInvalidUrl(error)
  }
}

/** A port: decimal digits only (no 0x50, 1e3 or spaces, which a number coercion takes), 0 for any free one. */
const port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number in decimal digits, 0 to 65535')
  .transform(Number)
  .refine((value) => value <= 65_535, 'must be a port number in decimal digits, 0 to 65535')

/** The service's configuration, parsed once from the environment (docs/api.md, "Configuration"). */
const environmentSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:<path> or postgres://…')
    .refine((url) => !url.startsWith('sqlite:') || url.slice('sqlite:'.length).trim() !== '', 'sqlite: needs the path of the store file')
    // SQLite's in-memory database would acknowledge writes and lose them all when the process ends.
    .refine((url) => url !== 'sqlite::memory:', 'must name a file: sqlite::memory: would lose every event when the process ends')
    // The message never shows the URL: it may hold a password.
    .refine((url) => !/^postgres(ql)?:/.test(url) || parsesAsPostgresUrl(url), 'is not a URL the PostgreSQL driver can parse (check the port, 0 to 65535)')
    .default('sqlite:./data/sojus-ledger.db'),
  /** Bounded pool of PostgreSQL connections per process (DATABASE_URL=postgres://… only). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(100).default(10),
  /** Longest a PostgreSQL statement may run before the server cancels it. */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** With it, the request rate limits are shared by every process through Redis. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must be redis://… or rediss://…')
    .refine((url) => URL.canParse(url), 'is not a URL that parses (check the port, 0 to 65535)')
    .optional(),
  EVENTSTORE_URL: z
    .string()
    .regex(/^(kurrentdb|esdb)(\+discover)?:\/\/.+/, 'must be kurrentdb://…')
    // With it, the client answers a conflict as a "successful" append of another revision.
    .refine((url) => !/[?&]throwOnAppendFailure=false(&|$)/i.test(url), 'must not set throwOnAppendFailure=false: conflicts must fail the append')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  JWT_SECRET: z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters`).optional(),
  AUDIT_SEAL_KEY: z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters`).optional(),
  // Keys fetched over plain HTTP could be swapped on the way; only loopback may skip TLS.
  JWKS_URL: z
    .url({ protocol: /^https?$/ })
    .refine(
      isTlsOrLoopback,
      'must be https:// (http:// only on 127.0.0.1 or localhost)',
    )
    .optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  FOUR_EYES_THRESHOLD: z
    .string()
    .transform((text, context) => {
      const parsed = parseAmount(text)
      if (parsed.ok && parsed.cents > 0n) return parsed.cents
      context.addIssue({ code: 'custom', message: 'must be a positive amount like "10000.00"' })
      return z.NEVER
    })
    .optional(),
  /** Utilisation thresholds in percent that a write warns about, per line (docs/api.md, "Warnings"). */
  UTILISATION_WARNINGS_AMBULATORY: thresholdList.optional(),
  UTILISATION_WARNINGS_FLEXIBLE: thresholdList.optional(),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(100_000_000).default(60_000),
  /** The bearer token GET /metrics requires (a scraper's static token); unset, metrics are off. */
  METRICS_TOKEN: z
    .string()
    .min(32, 'must be at least 32 characters')
    .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'must be a bearer token: letters, digits and . _ ~ + / - (then = padding)')
    .optional(),
  /** The office's identity provider for the dashboard's sign-in (authorization code with PKCE). */
  OIDC_ISSUER: z
    .url({ protocol: /^https?$/ })
    .refine(
      isTlsOrLoopback,
      'must be https:// (http:// only on 127.0.0.1 or localhost)',
    )
    .optional(),
  OIDC_CLIENT_ID: z.string().min(1).max(256).optional(),
  /** More origins the dashboard's sign-in talks to than the issuer's (a token endpoint elsewhere, as at Google). */
  OIDC_CONNECT_ORIGINS: originList.optional(),
  OIDC_SCOPE: z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'must be scopes separated by spaces').default('openid profile'),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d{1,2}|[0-9a-fA-F.:/,\s]+)$/, 'must be true, false, a number of hops or proxy addresses')
    .optional(),
})

/** Where the service takes the keys that verify tokens from. */
export type TokenKeysConfig =
  | { kind: 'secret'; secret: string }
  | { kind: 'jwks'; url: string }
  /** The embedded default: a random secret in the data folder, made on first start. */
  | { kind: 'generated-secret'; path: string }

/** The dashboard's sign-in at the office's identity provider; undefined: the token form (docs/dashboard.md). */
export interface OidcConfig {
  issuer: string
  clientId: string
  scope: string
  /** Origins besides the issuer's that the page fetches from while signing in (the CSP's connect-src). */
  connectOrigins: string[]
}

export type Database =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; poolSize: number; statementTimeoutMs: number }

/**
 * The key audit seals are signed with (src/audit/seal.ts), never stored in the database: given, or
 * on the embedded default a random one in the data folder beside the JWT secret, made on first use.
 */
export type AuditSealKeyConfig = { kind: 'key'; key: string } | { kind: 'generated-key'; path: string }

export interface Config {
  port: number
  host: string
  database: Database
  eventStoreUrl: string | undefined
  logLevel: z.infer<typeof environmentSchema>['LOG_LEVEL']
  readYourWritesTimeoutMs: number
  tokens: { keys: TokenKeysConfig; issuer: string | undefined; audience: string | undefined }
  fourEyesThresholdCents: Cents
  /** Utilisation thresholds per line that a write warns about when it crosses one. */
  utilisationThresholds: UtilisationThresholds
  /** Requests per minute per token; 0 turns the limit off. */
  rateLimitPerMinute: number
  /**
   * Fastify's trustProxy: which proxies' X-Forwarded-For to believe, so that the client address
   * (failed-authentication limits, logs) is the client's, not the proxy's.
   */
  trustProxy: boolean | number | string
  /** Where rate limits are counted across processes; undefined counts them in each process. */
  redisUrl: string | undefined
  /** Undefined only with PostgreSQL and no AUDIT_SEAL_KEY: seals are refused then (loadSealKey). */
  auditSealKey: AuditSealKeyConfig | undefined
  /** The bearer token GET /metrics requires; undefined: metrics are off (404). */
  metricsToken: string | undefined
  /** How the dashboard signs in: at an identity provider, or (undefined) with a pasted token. */
  oidc: OidcConfig | undefined
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function parseConfig(environment: NodeJS.ProcessEnv): Config {
  // An empty variable (PORT= in a compose file) means unset, never "0" or "".
  const present = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''))
  const result = environmentSchema.safeParse(present)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
    throw new ConfigError(`invalid configuration: ${problems}`)
  }
  const env = result.data
  const database: Database = env.DATABASE_URL.startsWith('sqlite:')
    ? { kind: 'sqlite', path: env.DATABASE_URL.slice('sqlite:'.length) }
    : {
        kind: 'postgres',
        url: env.DATABASE_URL,
        poolSize: env.DATABASE_POOL_SIZE,
        statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      }
  if (env.JWT_SECRET !== undefined && env.JWKS_URL !== undefined) {
    throw new ConfigError('invalid configuration: set JWT_SECRET or JWKS_URL, not both')
  }
  let keys: TokenKeysConfig
  if (env.JWT_SECRET !== undefined) keys = { kind: 'secret', secret: env.JWT_SECRET }
  else if (env.JWKS_URL !== undefined) {
    // An identity provider issues tokens for many clients: only those meant for this service count.
    if (env.JWT_ISSUER === undefined || env.JWT_AUDIENCE === undefined) {
      throw new ConfigError('invalid configuration: with JWKS_URL, set JWT_ISSUER and JWT_AUDIENCE too')
    }
    keys = { kind: 'jwks', url: env.JWKS_URL }
  }
  else if (database.kind === 'sqlite') keys = { kind: 'generated-secret', path: join(dirname(database.path), 'jwt-secret') }
  else throw new ConfigError('invalid configuration: with a PostgreSQL database, set JWT_SECRET or JWKS_URL')
  return { ...settingsOf(env, database), tokens: { keys, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE }, oidc: oidcOf(env, keys) }
}

/** The dashboard signs in at the identity provider whose keys verify its tokens: both, or neither. */
function oidcOf(env: Environment, keys: TokenKeysConfig): OidcConfig | undefined {
  if (env.OIDC_ISSUER === undefined && env.OIDC_CLIENT_ID === undefined) {
    if (env.OIDC_CONNECT_ORIGINS !== undefined) throw new ConfigError('invalid configuration: OIDC_CONNECT_ORIGINS needs OIDC_ISSUER and OIDC_CLIENT_ID')
    return undefined
  }
  if (env.OIDC_ISSUER === undefined || env.OIDC_CLIENT_ID === undefined) {
    throw new ConfigError('invalid configuration: set OIDC_ISSUER and OIDC_CLIENT_ID together')
  }
  if (keys.kind !== 'jwks') {
    throw new ConfigError("invalid configuration: with OIDC_ISSUER, set JWKS_URL to the identity provider's keys")
  }
  return { issuer: env.OIDC_ISSUER, clientId: env.OIDC_CLIENT_ID, scope: env.OIDC_SCOPE, connectOrigins: env.OIDC_CONNECT_ORIGINS ?? [] }
}

type Environment = z.infer<typeof environmentSchema>

function settingsOf(env: Environment, database: Database): Omit<Config, 'tokens' | 'oidc'> {
  return {
    port: env.PORT,
    host: env.HOST,
    database,
    eventStoreUrl: env.EVENTSTORE_URL,
    logLevel: env.LOG_LEVEL,
    readYourWritesTimeoutMs: 5000,
    fourEyesThresholdCents: env.FOUR_EYES_THRESHOLD ?? DEFAULT_FOUR_EYES_THRESHOLD_CENTS,
    utilisationThresholds: {
      ambulatory: env.UTILISATION_WARNINGS_AMBULATORY ?? DEFAULT_UTILISATION_THRESHOLDS.ambulatory,
      flexible: env.UTILISATION_WARNINGS_FLEXIBLE ?? DEFAULT_UTILISATION_THRESHOLDS.flexible,
    },
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    redisUrl: env.REDIS_URL,
    metricsToken: env.METRICS_TOKEN,
    auditSealKey:
      env.AUDIT_SEAL_KEY !== undefined
        ? { kind: 'key', key: env.AUDIT_SEAL_KEY }
        : database.kind === 'sqlite'
          ? { kind: 'generated-key', path: join(dirname(database.path), 'audit-seal-key') }
          : undefined,
  }
}

/** Fewer different characters than this, and a secret is a placeholder (36 × "a"), not random. */
const MIN_DISTINCT_SECRET_CHARACTERS = 8

/**
 * The given secrets that look like placeholders, one sentence each. Warned about at start and by
 * check-config, not refused: the length is the rule (a shorter one is refused), and a passphrase
 * of few letters is an odd choice but not an error. A random secret of 32 hex digits has about 14.
 */
export function weakSecrets(config: Config): string[] {
  const given: [string, string | undefined][] = [
    ['JWT_SECRET', config.tokens.keys.kind === 'secret' ? config.tokens.keys.secret : undefined],
    ['AUDIT_SEAL_KEY', config.auditSealKey?.kind === 'key' ? config.auditSealKey.key : undefined],
    ['METRICS_TOKEN', config.metricsToken],
  ]
  return given.flatMap(([name, secret]) => {
    const distinct = new Set(secret ?? '').size
    if (secret === undefined || distinct >= MIN_DISTINCT_SECRET_CHARACTERS) return []
    return [`${name} has ${distinct} different character(s): it looks like a placeholder, not a random secret (make one with: openssl rand -base64 48)`]
  })
}

function trustProxyOf(text: string | undefined): boolean | number | string {
  if (text === undefined || text === 'false') return false
  if (text === 'true') return true
  return /^\d+$/.test(text) ? Number(text) : text
}

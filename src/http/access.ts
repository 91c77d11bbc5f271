import { isIPv6 } from 'node:net'
import rateLimit from '@fastify/rate-limit'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { Address6 } from 'ip-address'
import { InvalidTokenError, KeysUnavailableError, type Principal, type VerifyToken } from '../auth/tokens.js'
import type { Actor, Role } from '../domain/events.js'
import { sameToken, type AuthenticationScheme, type RateLimit } from '../metrics.js'
import { problem, sendProblem } from './problem.js'
import { isDashboardPath } from './routes/dashboard.js'

/**
 * Who may call which route (docs/api.md's role column, docs/domain.md rule 7), as one table, enforced for
 * every request by the hook below. A route that is not in the table stops the service at start.
 *
 * - `public`: no token (operations and documentation).
 * - `roles`: the roles that may call the route. For a team lead, `teamlead` says how far:
 *   `path` — only when the path's `:sozialraum` is one of the token's Sozialräume;
 *   `filter` — the route answers with the token's Sozialräume only (`request.visibleSozialraeume`).
 * - `metrics`: `GET /metrics`, for a scraper: the static bearer token METRICS_TOKEN, not a JWT
 *   (404 while it is unset: metrics are off). Failures count against the same per-address limit
 *   as the API's failed authentications.
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'metrics' }
  | { kind: 'roles'; roles: readonly Role[]; teamlead?: 'path' | 'filter' }

const PUBLIC: Access = { kind: 'public' }
const METRICS: Access = { kind: 'metrics' }
const FINANCE: Access = { kind: 'roles', roles: ['finance'] }
const ANY_ROLE: Access = { kind: 'roles', roles: ['finance', 'teamlead', 'auditor'] }
const AUDIT: Access = { kind: 'roles', roles: ['finance', 'auditor'] }
/** Team leads within their Sozialräume, and finance: the writes of commitments and spending. */
const BOOKING: Access = { kind: 'roles', roles: ['finance', 'teamlead'], teamlead: 'path' }
/** Every read role; a team lead only reads their own budgets. */
const BUDGET_READ: Access = { kind: 'roles', roles: ['finance', 'teamlead', 'auditor'], teamlead: 'path' }
const YEAR_READ: Access = { kind: 'roles', roles: ['finance', 'teamlead', 'auditor'], teamlead: 'filter' }

const BUDGET = '/v1/budgets/:year/:sozialraum'

export const ACCESS_TABLE: Readonly<Record<string, Access>> = {
  'GET /health': PUBLIC,
  'GET /ready': PUBLIC,
  'GET /openapi.json': PUBLIC,
  'GET /dashboard/config': PUBLIC,
  'GET /metrics': METRICS,

  'POST /v1/sozialraeume': FINANCE,
  'GET /v1/sozialraeume': ANY_ROLE,
  'POST /v1/sozialraeume/:id/status': FINANCE,

  [`POST ${BUDGET}/allocations`]: FINANCE,
  [`POST ${BUDGET}/adjustments`]: FINANCE,
  [`POST ${BUDGET}/transfers`]: FINANCE,
  'GET /v1/budgets/:year': YEAR_READ,
  [`GET ${BUDGET}`]: BUDGET_READ,

  [`POST ${BUDGET}/commitments`]: BOOKING,
  [`POST ${BUDGET}/commitments/:id/amendments`]: BOOKING,
  [`POST ${BUDGET}/commitments/:id/invoices`]: BOOKING,
  [`POST ${BUDGET}/commitments/:id/release`]: BOOKING,
  // Who of these may decide on a particular commitment (not its requester; finance only when it
  // is over budget) depends on the commitment, so the decider checks that (docs/domain.md rule 6).
  [`POST ${BUDGET}/commitments/:id/approval`]: BOOKING,
  [`GET ${BUDGET}/commitments`]: BUDGET_READ,
  [`GET ${BUDGET}/commitments/:id`]: BUDGET_READ,
  'GET /v1/reports/:year/over-budget-commitments': YEAR_READ,
  'GET /v1/reports/:year/monitoring': YEAR_READ,
  'GET /v1/reports/:year/forecast': YEAR_READ,
  'GET /v1/reports/:year/providers': YEAR_READ,
  'GET /v1/reports/:year/help-types': YEAR_READ,
  'GET /v1/reports/:year/comparison': YEAR_READ,
  'GET /v1/reports/:year/monthly': YEAR_READ,
  'GET /v1/reports/:year/stale-commitments': YEAR_READ,

  // The year close and moves between Sozialräume (docs/domain.md rules 8 and 9): finance decides;
  // who of finance may approve a close (not its requester) the year's decider checks.
  'POST /v1/years/:year/close': FINANCE,
  'POST /v1/years/:year/close/approval': FINANCE,
  'GET /v1/years/:year': AUDIT,
  'POST /v1/budgets/:year/moves': FINANCE,
  'GET /v1/budgets/:year/moves': AUDIT,
  'GET /v1/budgets/:year/moves/:id': AUDIT,

  [`POST ${BUDGET}/spending`]: BOOKING,
  [`POST ${BUDGET}/spending/:id/reversal`]: BOOKING,
  [`GET ${BUDGET}/spending`]: BUDGET_READ,

  'GET /v1/audit/events': AUDIT,
  'GET /v1/audit/export': AUDIT,
  'GET /v1/audit/balances': AUDIT,
  'POST /v1/audit/verify': AUDIT,
  'GET /v1/audit/seal': AUDIT,
}

/** The interactive documentation (@fastify/swagger-ui) has many routes of its own, all public. */
const DOCS_PREFIX = '/docs'

export function accessOf(method: string, url: string): Access | undefined {
  if (url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`)) return PUBLIC
  // The dashboard's built files hold no data: the page asks the API with the user's token.
  if ((method === 'GET' || method === 'HEAD') && isDashboardPath(url)) return PUBLIC
  // Fastify answers HEAD with the GET route.
  return ACCESS_TABLE[`${method === 'HEAD' ? 'GET' : method} ${url}`]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sends the request; undefined on public routes. */
    principal: Principal | undefined
    /** The principal as events record it. */
    actor: Actor
    /** On `filter` routes: the Sozialräume the principal may see; undefined means all of them. */
    visibleSozialraeume: readonly string[] | undefined
  }
  interface FastifyContextConfig {
    access?: Access
  }
}

export interface AccessOptions {
  verifyToken: VerifyToken
  /** Requests per minute per token; 0 turns the limit off. */
  rateLimitPerMinute: number
  /** Failed authentications per minute per client address, whatever the limit above. */
  failedAuthenticationsPerMinute?: number
  /**
   * With it, both limits are counted in this Redis and so shared by every process of the service;
   * without it, each process counts in its own memory (see Config.redisUrl).
   */
  redisUrl?: string
  /** How long Redis must count without a failure before its outage is over (tests shorten it). */
  redisQuietMs?: number
  /** The bearer token `GET /metrics` requires; undefined turns metrics off (404). */
  metricsToken?: string
  /** Counts the 429 and 401 answers for the metrics (src/metrics.ts). */
  counters?: AccessCounters
}

/** What the hook reports to the metrics: each refusal by a limit, each failed authentication. */
export interface AccessCounters {
  rateLimited(limit: RateLimit): void
  authenticationFailed(scheme: AuthenticationScheme): void
}

/** Where the limits' counters live in a shared Redis: this service's keys, apart from any other's. */
export const RATE_LIMIT_NAMESPACE = 'sojus-ledger:rate-limit:'

const MINUTE_MS = 60_000
const DEFAULT_FAILED_AUTHENTICATIONS_PER_MINUTE = 100
/** Decorators must not share an object between requests; each request sets its own below. */
const UNSET = undefined as unknown

const unauthorized = (reply: FastifyReply, detail: string): void => {
  reply.header('www-authenticate', 'Bearer')
  sendProblem(reply, problem('unauthorized', 401, detail))
}

const tooManyRequests = (reply: FastifyReply, retryAfterSeconds: number, detail: string): void => {
  reply.header('retry-after', String(Math.max(1, retryAfterSeconds)))
  sendProblem(reply, problem('too-many-requests', 429, detail))
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string') return undefined
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header.trim())
  return match?.[1]
}

/**
 * The address failed authentications are counted under. An IPv6 client commonly holds a whole /64
 * (as @fastify/rate-limit's own key assumes): counted per address, it would have 2^64 counters.
 * An IPv4 address mapped into IPv6 counts as the IPv4 address.
 */
export function addressKey(ip: string): string {
  if (!isIPv6(ip)) return ip
  const address = new Address6(ip)
  if (address.isMapped4()) return address.to4().correctForm()
  return `${new Address6(`${ip}/64`).startAddress().correctForm()}/64`
}

/** How long Redis must count without a failure before it is said to count again (see RedisCounting). */
const REDIS_QUIET_MS = 60_000

/**
 * Says once per outage that Redis cannot count the limits (unreachable, too slow, or refusing the
 * command: a read-only replica after a failover, out of memory, an ACL), and once that it counts
 * again. An outage ends only after `quietMs` without a failure: a Redis that fails some counts and
 * not others (one bad key, answers around the time-out) is one outage, not a warning per request.
 * Never the URL: it may hold a password.
 */
class RedisCounting {
  private failing = false
  private lastFailure = 0

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly quietMs: number,
  ) {}

  failed(error: unknown, why: string): void {
    this.lastFailure = Date.now()
    if (this.failing) return
    this.failing = true
    this.log.warn({ err: error }, `${why}: rate limits are not enforced until it counts again`)
  }

  succeeded(message: string): void {
    if (!this.failing || Date.now() - this.lastFailure < this.quietMs) return
    this.failing = false
    this.log.info(message)
  }
}

/** How long a request may wait for Redis before its limit is skipped (see countIn below). */
const REDIS_TIMEOUT_MS = 500

/**
 * One Redis client for the rate limits, with the settings @fastify/rate-limit recommends (a short
 * connectTimeout, maxRetriesPerRequest: 1) and no offline queue: while Redis is away a request
 * skips its limit at once instead of waiting for a reconnection. Connects before the service
 * serves, so that the first requests count too; when Redis cannot be reached the service starts
 * anyway, with a warning, and the client keeps reconnecting in the background.
 */
async function connectRedis(url: string, health: RedisCounting): Promise<Redis> {
  const redis = new Redis(url, {
    connectionName: 'sojus-ledger',
    lazyConnect: true,
    connectTimeout: REDIS_TIMEOUT_MS,
    commandTimeout: REDIS_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  })
  // The client reports every failed (re)connection: said once per outage.
  redis.on('error', (error: Error) => health.failed(error, 'Redis unreachable'))
  redis.on('ready', () => health.succeeded('Redis reachable again: rate limits are shared and enforced again'))
  // Failure is logged by the handler above.
  await redis.connect().catch(() => undefined)
  return redis
}

/** Authentication, rate limits and authorization: one hook, before the body is even read. */
export const accessPlugin = fp(async (app: FastifyInstance, options: AccessOptions) => {
  app.decorateRequest('principal', UNSET as Principal | undefined)
  app.decorateRequest('actor', UNSET as Actor)
  app.decorateRequest('visibleSozialraeume', UNSET as readonly string[] | undefined)

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const rules = methods.map((method) => {
      const access = accessOf(method, route.url)
      if (access === undefined) throw new Error(`route ${method} ${route.url} is missing from the access table`)
      return access
    })
    // One route has one config: its methods must share one rule.
    if (rules.some((rule) => rule !== rules[0])) {
      throw new Error(`route ${methods.join('/')} ${route.url} has different access rules per method; declare them apart`)
    }
    route.config = { ...route.config, access: rules[0] }
  })

  const health = new RedisCounting(app.log, options.redisQuietMs ?? REDIS_QUIET_MS)
  const redis = options.redisUrl === undefined ? undefined : await connectRedis(options.redisUrl, health)
  if (redis) {
    app.addHook('onClose', async () => {
      try {
        await redis.quit()
      } catch {
        // Not connected (or no answer): nothing to say goodbye to; stop reconnecting.
        redis.disconnect()
      }
    })
  }
  // Errors reach countIn below (skipOnError off), which serves the request and says why.
  await app.register(rateLimit, { global: false, skipOnError: false, ...(redis === undefined ? {} : { redis, nameSpace: RATE_LIMIT_NAMESPACE }) })
  type Limiter = ReturnType<typeof app.createRateLimit>
  /**
   * The limit's count, or undefined when Redis cannot count it: the request is then served without
   * its limit rather than refused. The limits protect the ledger from floods, while refusing every
   * booking and every read of a finance ledger because a counter is missing would be an outage of
   * its own. Tokens are still verified and roles still checked. (In memory, counting cannot fail.)
   */
  async function countIn(limiter: Limiter, request: FastifyRequest) {
    try {
      const count = await limiter(request)
      health.succeeded('Redis counts the rate limits again')
      return count
    } catch (error) {
      health.failed(error, 'Redis cannot count the rate limits')
      return undefined
    }
  }
  const perToken =
    options.rateLimitPerMinute > 0
      ? app.createRateLimit({
          max: options.rateLimitPerMinute,
          timeWindow: MINUTE_MS,
          keyGenerator: (request) => `token:${request.principal?.sub ?? ''}`,
        })
      : undefined
  const failedPerAddress = app.createRateLimit({
    max: options.failedAuthenticationsPerMinute ?? DEFAULT_FAILED_AUTHENTICATIONS_PER_MINUTE,
    timeWindow: MINUTE_MS,
    keyGenerator: (request) => `failed:${addressKey(request.ip)}`,
  })

  /**
   * Only failures count, and only failures are refused: a valid token is never locked out by
   * someone else failing from the same address (a NAT, a proxy, a forged X-Forwarded-For).
   */
  async function failAuthentication(
    request: FastifyRequest,
    reply: FastifyReply,
    detail: string,
    scheme: AuthenticationScheme = 'jwt',
  ): Promise<void> {
    const failures = await countIn(failedPerAddress, request)
    if (failures !== undefined && !failures.isAllowed && failures.isExceeded) {
      options.counters?.rateLimited('failed-authentications')
      return tooManyRequests(reply, failures.ttlInSeconds, 'too many failed authentications from this address')
    }
    request.log.info({ reason: detail }, 'authentication failed')
    options.counters?.authenticationFailed(scheme)
    return unauthorized(reply, detail)
  }

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access
    if (access === undefined) {
      // Only the not-found handler has no rule; anything else is refused rather than served open.
      if (request.is404) return
      throw new Error(`no access rule for ${request.method} ${request.routeOptions.url ?? request.url}`)
    }
    if (access.kind === 'public') return
    if (access.kind === 'metrics') {
      const expected = options.metricsToken
      if (expected === undefined) return sendProblem(reply, problem('not-found', 404, 'metrics are off: set METRICS_TOKEN to serve them'))
      const presented = bearerToken(request)
      if (presented === undefined) return failAuthentication(request, reply, 'send the metrics token: Authorization: Bearer <METRICS_TOKEN>', 'metrics-token')
      if (!sameToken(presented, expected)) return failAuthentication(request, reply, 'this is not the metrics token', 'metrics-token')
      return
    }

    const token = bearerToken(request)
    if (token === undefined) return failAuthentication(request, reply, 'send a token: Authorization: Bearer <JWT>')
    let principal: Principal
    try {
      principal = await options.verifyToken(token)
    } catch (error) {
      if (error instanceof InvalidTokenError) return failAuthentication(request, reply, error.message)
      if (error instanceof KeysUnavailableError) {
        request.log.error({ err: error }, 'token keys unavailable')
        reply.header('retry-after', '5')
        return sendProblem(reply, problem('unavailable', 503, 'tokens cannot be verified right now; try again'))
      }
      throw error
    }
    request.principal = principal
    request.actor = { sub: principal.sub, role: principal.role }

    if (perToken) {
      const limit = await countIn(perToken, request)
      if (limit !== undefined && !limit.isAllowed && limit.isExceeded) {
        options.counters?.rateLimited('token')
        return tooManyRequests(reply, limit.ttlInSeconds, `more than ${options.rateLimitPerMinute} requests per minute`)
      }
    }

    if (!access.roles.includes(principal.role)) {
      return sendProblem(reply, problem('forbidden', 403, `a ${principal.role} may not ${request.method} ${request.routeOptions.url}`))
    }
    if (principal.role !== 'teamlead' || access.teamlead === undefined) return
    if (access.teamlead === 'filter') {
      request.visibleSozialraeume = principal.sozialraeume
      return
    }
    const sozialraum = (request.params as { sozialraum?: unknown }).sozialraum
    if (typeof sozialraum !== 'string' || !principal.sozialraeume.includes(sozialraum)) {
      return sendProblem(reply, problem('forbidden', 403, `Sozialraum ${String(sozialraum)} is outside this team lead's scope`))
    }
  })
})

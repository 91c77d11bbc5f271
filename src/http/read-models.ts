import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Position } from '../eventstore/port.js'
import { problem, sendProblem } from './problem.js'
import { isDashboardPath } from './routes/dashboard.js'

/** What the HTTP layer needs to know of the projections: how far each is, and whether it serves. */
export interface ReadModelProgress {
  isServing(projection: string): boolean
  /** Resolves true once the named projections have processed `position`, false after `timeoutMs`. */
  waitFor(position: Position, timeoutMs: number, projections?: readonly string[]): Promise<boolean>
  status(): {
    /** The lowest position every projection has processed. */
    position: Position
    /** Why the projections stopped, while they cannot proceed. */
    error: string | undefined
    /** Whether this process applies the projections (else another process does). */
    projecting: boolean
    projections: ReadonlyArray<{ name: string; position: Position; target: Position; serving: boolean }>
  }
}

/**
 * Which projections each read route answers from, as one table beside the access table. A
 * projection that replays (after a rebuild) serves no reads until it has caught up: its routes
 * answer 503 while every other route keeps serving, and `?minPosition=` waits only for the
 * projections the route reads. A GET route missing from the table stops the service at start.
 */
const BUDGET = '/v1/budgets/:year/:sozialraum'
export const READ_MODELS: Readonly<Record<string, readonly string[]>> = {
  'GET /health': [],
  'GET /ready': [],
  'GET /openapi.json': [],
  'GET /dashboard/config': [],
  'GET /metrics': [],
  'GET /v1/sozialraeume': ['sozialraeume'],
  'GET /v1/budgets/:year': ['balances', 'commitments'],
  [`GET ${BUDGET}`]: ['balances', 'commitments'],
  [`GET ${BUDGET}/commitments`]: ['balances', 'commitments'],
  [`GET ${BUDGET}/commitments/:id`]: ['commitments'],
  [`GET ${BUDGET}/spending`]: ['balances', 'spending'],
  'GET /v1/reports/:year/over-budget-commitments': ['commitments'],
  // The controlling reports (docs/reports.md); the forecast in monitoring and forecast reads flexible spending.
  'GET /v1/reports/:year/monitoring': ['balances', 'commitments', 'spending'],
  'GET /v1/reports/:year/forecast': ['balances', 'commitments', 'spending'],
  'GET /v1/reports/:year/providers': ['commitments'],
  'GET /v1/reports/:year/help-types': ['commitments'],
  'GET /v1/reports/:year/comparison': ['balances', 'commitments'],
  'GET /v1/reports/:year/monthly': ['balances', 'monthly'],
  'GET /v1/reports/:year/stale-commitments': ['commitments'],
  // A year's progress counts its budgets (balances) and what its close carried (commitments).
  'GET /v1/years/:year': ['fiscal-years', 'balances', 'commitments'],
  'GET /v1/budgets/:year/moves': ['moves'],
  'GET /v1/budgets/:year/moves/:id': ['moves'],
  'GET /v1/audit/events': ['audit'],
  // The export reads the events from the event store, the list of a year's budgets from balances.
  'GET /v1/audit/export': ['balances'],
  'GET /v1/audit/balances': ['balance-history'],
  // The seal reads the event store itself (src/audit/seal.ts): no read model.
  'GET /v1/audit/seal': [],
}

export interface ReadModelOptions {
  progress: ReadModelProgress
  /** How long `?minPosition=` waits for the read models. */
  readYourWritesTimeoutMs: number
  /**
   * The head of the log, read from the store (never a cache: with several processes, another
   * one's write must count): a `?minPosition=` beyond it is refused instead of waited for.
   */
  headPosition: () => Promise<Position>
}

const isRead = (method: string): boolean => method === 'GET' || method === 'HEAD'

function readModelsOf(request: FastifyRequest): readonly string[] {
  const method = request.method === 'HEAD' ? 'GET' : request.method
  return READ_MODELS[`${method} ${request.routeOptions.url}`] ?? []
}

function unavailable(reply: FastifyReply, detail: string): void {
  reply.header('retry-after', '1')
  sendProblem(reply, problem('unavailable', 503, detail))
}

async function gate(options: ReadModelOptions, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  // Writes read no projection: the store claims an idempotency key with the events. The index of
  // keys only names a reused key in the answer to a write refused before reaching the store
  // (src/application/idempotency-keys.ts); while it replays, such a write answers its refusal.
  if (!isRead(request.method)) return
  const names = readModelsOf(request)
  const replaying = names.filter((name) => !options.progress.isServing(name))
  if (replaying.length > 0) {
    const progress = options.progress.status().projections.filter((projection) => replaying.includes(projection.name))
    const where = progress.map((projection) => `${projection.name} at position ${projection.position} of ${projection.target}`)
    return unavailable(reply, `the read model is being rebuilt (${where.join(', ')}); try again shortly`)
  }
  // Only routes that read projections take ?minPosition= (and validate it); on the operations
  // routes it means nothing, so that nobody can hold a liveness probe for seconds with it.
  if (names.length === 0) return
  const minPosition = (request.query as { minPosition?: unknown } | undefined)?.minPosition
  if (typeof minPosition !== 'string' || !/^\d{1,19}$/.test(minPosition)) return
  const position = BigInt(minPosition)
  // A position no write has reached would be waited for in vain: refused at once, as
  // /v1/audit/balances?position= is. The store is asked only when the read models are behind it.
  if (!reached(options.progress, position, names)) {
    const head = await options.headPosition()
    if (position > head) {
      const message = `is beyond the last event of the log (position ${head})`
      return sendProblem(reply, problem('validation', 400, `minPosition ${position} ${message}`, [{ path: 'querystring.minPosition', message }]))
    }
  }
  if (await options.progress.waitFor(position, options.readYourWritesTimeoutMs, names)) return
  return unavailable(reply, `the read models have not reached position ${minPosition} yet; try again`)
}

/** Whether the named projections have processed `position` already, as far as this process knows. */
function reached(progress: ReadModelProgress, position: Position, names: readonly string[]): boolean {
  const projections = progress.status().projections
  return names.every((name) => {
    const projection = projections.find((candidate) => candidate.name === name)
    return projection !== undefined && projection.position >= position
  })
}

export const readModelPlugin = fp(async (app: FastifyInstance, options: ReadModelOptions) => {
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // The documentation's and the dashboard's files read no projection.
    if (!methods.includes('GET') || route.url.startsWith('/docs') || isDashboardPath(route.url)) return
    if (!Object.hasOwn(READ_MODELS, `GET ${route.url}`)) {
      throw new Error(`route GET ${route.url} is not in READ_MODELS (src/http/read-models.ts): say which projections it reads`)
    }
  })
  app.addHook('preHandler', (request, reply) => gate(options, request, reply))
})

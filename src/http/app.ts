import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Logger } from 'pino'
import { accessPlugin, type AccessCounters, type AccessOptions } from './access.js'
import { readModelPlugin } from './read-models.js'
import { addSecurityHeaders, helmetHeaders } from './security-headers.js'
import { declareCommonAnswers } from './answers.js'
import type { HttpDeps } from './deps.js'
import { useJsonBodyParser } from './json-body.js'
import { swaggerOptions } from './openapi.js'
import { measureFrameworkAnswer, measureRequests, type ServiceMetrics } from '../metrics.js'
import {
  clientErrorHandler,
  errorHandler,
  frameworkErrorHandler,
  MAX_PATH_PARAMETER_LENGTH,
  problem,
  sendProblem,
} from './problem.js'
import { auditRoutes } from './routes/audit.js'
import { auditExportRoutes } from './routes/audit-export.js'
import { auditBalanceRoutes } from './routes/audit-balances.js'
import { auditVerifyRoutes } from './routes/audit-verify.js'
import { budgetRoutes } from './routes/budgets.js'
import { commitmentRoutes } from './routes/commitments.js'
import { metricsRoutes } from './routes/metrics.js'
import { operationsRoutes } from './routes/operations.js'
import { reportRoutes } from './routes/reports.js'
import { sozialraeumeRoutes } from './routes/sozialraeume.js'
import { spendingRoutes } from './routes/spending.js'
import { moveRoutes } from './routes/moves.js'
import { yearRoutes } from './routes/years.js'
import { dashboardRoutes } from './routes/dashboard.js'

/** Largest request body accepted; the biggest legitimate one is a few kilobytes. */
export const BODY_LIMIT_BYTES = 64 * 1024

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const trustHops =
  (hops: number) =>
  (_address: string, hop: number): boolean =>
    hop < hops

export interface AppOptions {
  logger: Logger
  /** Called with the app before any route is declared (tests add hooks that every route gets). */
  onApp?: (app: FastifyInstance) => void
}

/** The access hook's refusals, counted in the metrics. */
const countersOf = (metrics: ServiceMetrics): AccessCounters => ({
  rateLimited: (limit) => metrics.rateLimited.inc({ limit }),
  authenticationFailed: (scheme) => metrics.authenticationFailures.inc({ scheme }),
})

/**
 * The dashboard talks to this service, and to the identity provider when it signs in there: the
 * issuer's origin (discovery, and most providers' endpoints), and OIDC_CONNECT_ORIGINS for
 * endpoints elsewhere (Google's token endpoint is on oauth2.googleapis.com, not accounts.google.com).
 */
function connectSources(deps: HttpDeps): string[] {
  const oidc = deps.dashboard?.oidc
  if (oidc === undefined) return ["'self'"]
  return [...new Set(["'self'", new URL(oidc.issuer).origin, ...oidc.connectOrigins])]
}

/** Builds the HTTP API from its dependencies; it neither listens nor opens anything itself. */
export async function buildApp(deps: HttpDeps & AccessOptions & AppOptions): Promise<FastifyInstance> {
  // Security headers (nosniff, frame-ancestors, HSTS behind TLS, …) on every answer, also the
  // router's and those Node writes for requests that are not HTTP.
  const securityHeaders = helmetHeaders({
    // The service may run on plain HTTP behind a TLS proxy or on localhost; upgrading /docs'
    // requests to https there would break the page.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, connectSrc: connectSources(deps) } },
  })
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Fastify would take the header as it comes; genReqId checks it first.
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id']
      return typeof offered === 'string' && REQUEST_ID.test(offered) ? offered : randomUUID()
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    // Every answer is problem+json, also those of the router and of requests that are not HTTP.
    frameworkErrors: (error, request, reply) => {
      frameworkErrorHandler(error, request, reply.headers(securityHeaders))
      if (deps.metrics !== undefined) measureFrameworkAnswer(deps.metrics, request, reply)
    },
    clientErrorHandler: (error, socket) => clientErrorHandler(error, socket, securityHeaders),
    // A number of hops means: trust that many proxies nearest to the service.
    trustProxy: typeof deps.trustProxy === 'number' ? trustHops(deps.trustProxy) : (deps.trustProxy ?? false),
  }).withTypeProvider<ZodTypeProvider>()

  // Bodies are JSON only, parsed strictly: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser(['text/plain'])
  useJsonBodyParser(app as unknown as FastifyInstance)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler)
  // The method only: the URL is the client's own, and may be anything.
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem('not-found', 404, `no ${request.method} route has this path`)),
  )
  // Before any route: each gets the answers every route may give (and public ones `security: []`).
  app.addHook('onRoute', declareCommonAnswers)
  deps.onApp?.(app as unknown as FastifyInstance)
  // Before any route: every answer is measured by its route pattern, method and status.
  if (deps.metrics !== undefined) measureRequests(app as unknown as FastifyInstance, deps.metrics)
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    // Ledger data is per user and changes with every write: no cache keeps a copy.
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store')
  })
  addSecurityHeaders(app as unknown as FastifyInstance, securityHeaders)
  // Before any route: every route must be in the access table.
  await app.register(accessPlugin, {
    verifyToken: deps.verifyToken,
    rateLimitPerMinute: deps.rateLimitPerMinute,
    ...(deps.failedAuthenticationsPerMinute === undefined
      ? {}
      : { failedAuthenticationsPerMinute: deps.failedAuthenticationsPerMinute }),
    // With it, the limits are counted in Redis and shared by every process.
    ...(deps.redisUrl === undefined ? {} : { redisUrl: deps.redisUrl }),
    // GET /metrics takes this static token (404 without it); refusals are counted in the metrics.
    ...(deps.metricsToken === undefined ? {} : { metricsToken: deps.metricsToken }),
    ...(deps.metrics === undefined ? {} : { counters: countersOf(deps.metrics) }),
  })

  // Before any route: every read route must say which projections it reads. A GET with
  // ?minPosition= answers once those have reached it; a projection that replays serves nothing.
  await app.register(readModelPlugin, {
    progress: deps.runner,
    readYourWritesTimeoutMs: deps.readYourWritesTimeoutMs,
    headPosition: () => deps.store.headPosition(),
  })

  await app.register(swagger, swaggerOptions)
  await app.register(swaggerUi, { routePrefix: '/docs' })

  await app.register(operationsRoutes, deps)
  await app.register(metricsRoutes, deps)
  await app.register(sozialraeumeRoutes, deps)
  await app.register(budgetRoutes, deps)
  await app.register(commitmentRoutes, deps)
  await app.register(spendingRoutes, deps)
  await app.register(auditRoutes, deps)
  await app.register(auditExportRoutes, deps)
  await app.register(auditBalanceRoutes, deps)
  await app.register(auditVerifyRoutes, deps)
  await app.register(reportRoutes, deps)
  await app.register(yearRoutes, deps)
  await app.register(moveRoutes, deps)
  await app.register(dashboardRoutes, deps.dashboard ?? { root: undefined, oidc: undefined })
  return app as unknown as FastifyInstance
}

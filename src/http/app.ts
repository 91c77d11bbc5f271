import helmet from '@fastify/helmet'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import type { Logger } from 'pino'
import { accessPlugin, type AccessOptions } from './access.js'
import type { HttpDeps } from './deps.js'
import { errorHandler, problem, sendProblem } from './problem.js'
import { auditRoutes } from './routes/audit.js'
import { budgetRoutes } from './routes/budgets.js'
import { commitmentRoutes } from './routes/commitments.js'
import { operationsRoutes } from './routes/operations.js'
import { reportRoutes } from './routes/reports.js'
import { sozialraeumeRoutes } from './routes/sozialraeume.js'
import { spendingRoutes } from './routes/spending.js'

/** Largest request body accepted; the biggest legitimate one is a few kilobytes. */
export const BODY_LIMIT_BYTES = 64 * 1024

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const trustHops =
  (hops: number) =>
  (_address: string, hop: number): boolean =>
    hop < hops

/** Builds the HTTP API from its dependencies; it neither listens nor opens anything itself. */
export async function buildApp(deps: HttpDeps & AccessOptions & { logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Fastify would take the header as it comes; genReqId checks it first.
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id']
      return typeof offered === 'string' && REQUEST_ID.test(offered) ? offered : randomUUID()
    },
    routerOptions: { ignoreTrailingSlash: true },
    // A number of hops means: trust that many proxies nearest to the service.
    trustProxy: typeof deps.trustProxy === 'number' ? trustHops(deps.trustProxy) : (deps.trustProxy ?? false),
  }).withTypeProvider<ZodTypeProvider>()

  // Bodies are JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser(['text/plain'])
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem('not-found', 404, `no route ${request.method} ${request.url.split('?')[0]}`)),
  )
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    // Ledger data is per user and changes with every write: no cache keeps a copy.
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store')
  })
  // Security headers (nosniff, frame-ancestors, HSTS behind TLS, …) on every answer.
  await app.register(helmet, {
    // The service may run on plain HTTP behind a TLS proxy or on localhost; upgrading /docs'
    // requests to https there would break the page.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  })
  // Before any route: every route must be in the access table.
  await app.register(accessPlugin, {
    verifyToken: deps.verifyToken,
    rateLimitPerMinute: deps.rateLimitPerMinute,
    ...(deps.failedAuthenticationsPerMinute === undefined
      ? {}
      : { failedAuthenticationsPerMinute: deps.failedAuthenticationsPerMinute }),
  })

  // Read your writes: a GET with ?minPosition= answers once the read models have reached it.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'GET') return
    const minPosition = (request.query as { minPosition?: unknown } | undefined)?.minPosition
    // Routes that take ?minPosition= validate it; elsewhere (e.g. /health) it means nothing.
    if (typeof minPosition !== 'string' || !/^\d{1,19}$/.test(minPosition)) return
    if (await deps.runner.waitFor(BigInt(minPosition), deps.readYourWritesTimeoutMs)) return
    reply.header('retry-after', '1')
    return sendProblem(
      reply,
      problem('unavailable', 503, `the read models have not reached position ${minPosition} yet; try again`),
    )
  })

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'sojus-ledger',
        description: 'Event-sourced budget ledger for social-space-oriented youth welfare (SOJUS).',
        version: '1',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'Sozialräume' },
        { name: 'Budgets' },
        { name: 'Commitments' },
        { name: 'Flexible spending' },
        { name: 'Audit' },
        { name: 'Reports' },
        { name: 'Operations' },
      ],
    },
    transform: jsonSchemaTransform,
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  await app.register(operationsRoutes, deps)
  await app.register(sozialraeumeRoutes, deps)
  await app.register(budgetRoutes, deps)
  await app.register(commitmentRoutes, deps)
  await app.register(spendingRoutes, deps)
  await app.register(auditRoutes, deps)
  await app.register(reportRoutes, deps)
  return app as unknown as FastifyInstance
}

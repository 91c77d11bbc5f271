import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { answer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { StoreUnavailableError } from '../../eventstore/port.js'

const projections = z.object({
  position: z.string(),
  head: z.string(),
  lag: z.string(),
  projecting: z.boolean().meta({
    description: 'Whether this process applies the projections; on PostgreSQL one process of several does, elected, and the others follow',
  }),
  error: z.string().optional(),
  replaying: z
    .array(z.object({ name: z.string(), position: z.string(), target: z.string() }))
    .meta({ description: 'Projections replaying the log after a rebuild: their routes answer 503 until they reach `target`' }),
})

export const operationsRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The process is alive',
        response: { 200: answer('The process is alive', z.object({ status: z.literal('ok') })) },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The store is reachable; how far the read models lag behind the log',
        response: {
          200: answer('The store is reachable and the read models follow the log', z.object({ status: z.literal('ready'), projections })),
          // Not ready is an answer about the service, not a problem with the request.
          503: {
            description:
              'Not ready: a projection replays the log after a rebuild or a long stop (catching-up: its routes answer 503 meanwhile, all other routes and the writes serve), ' +
              'a projection stopped at an event it cannot read or a newer version migrated the database (degraded), or the event store is not reachable (unavailable)',
            content: {
              'application/json': {
                schema: z.union([
                  z.object({ status: z.enum(['catching-up', 'degraded']), projections }),
                  z.object({ status: z.literal('unavailable'), detail: z.string() }),
                ]),
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      let head: bigint
      try {
        head = await deps.store.headPosition()
      } catch (error) {
        // Anyone may ask /ready: the driver's message (host names, ports, the database user) goes to the log only.
        request.log.warn({ err: error }, 'readiness: the event store is not reachable')
        const store = error instanceof StoreUnavailableError ? error.store : 'the event store'
        return reply.code(503).send({ status: 'unavailable' as const, detail: `the event store is not reachable: ${store} does not answer` })
      }
      const status = deps.runner.status()
      const replaying = status.projections
        .filter((projection) => !projection.serving)
        .map(({ name, position, target }) => ({ name, position: position.toString(), target: target.toString() }))
      const progress = {
        position: status.position.toString(),
        head: head.toString(),
        lag: (head > status.position ? head - status.position : 0n).toString(),
        projecting: status.projecting,
        replaying,
      }
      if (status.error !== undefined) {
        return reply.code(503).send({ status: 'degraded' as const, projections: { ...progress, error: status.error } })
      }
      // Catching up, the service takes writes and serves every route but the replaying projections'
      // own; a load balancer that routes by readiness sends its reads to a process that is ready.
      if (replaying.length > 0) return reply.code(503).send({ status: 'catching-up' as const, projections: progress })
      return reply.code(200).send({ status: 'ready' as const, projections: progress })
    },
  )

  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['Operations'],
        summary: 'This document: the OpenAPI 3 description of the API',
        response: { 200: answer('The OpenAPI 3 document', z.record(z.string(), z.unknown())) },
      },
    },
    async () => app.swagger() as Record<string, unknown>,
  )
}

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { HttpDeps } from '../deps.js'

const projections = z.object({
  position: z.string(),
  head: z.string(),
  lag: z.string(),
  error: z.string().optional(),
})

export const operationsRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['Operations'],
        summary: 'The process is alive',
        response: { 200: z.object({ status: z.literal('ok') }) },
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
          200: z.object({ status: z.literal('ready'), projections }),
          503: z.union([
            z.object({ status: z.literal('degraded'), projections }),
            z.object({ status: z.literal('unavailable'), detail: z.string() }),
          ]),
        },
      },
    },
    async (_request, reply) => {
      let head: bigint
      try {
        head = await deps.store.headPosition()
      } catch (error) {
        return reply.code(503).send({
          status: 'unavailable' as const,
          detail: `the event store is not reachable: ${error instanceof Error ? error.message : String(error)}`,
        })
      }
      const status = deps.runner.status()
      const progress = {
        position: status.position.toString(),
        head: head.toString(),
        lag: (head > status.position ? head - status.position : 0n).toString(),
      }
      if (status.error !== undefined) {
        return reply.code(503).send({ status: 'degraded' as const, projections: { ...progress, error: status.error } })
      }
      return reply.code(200).send({ status: 'ready' as const, projections: progress })
    },
  )
}

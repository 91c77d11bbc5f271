import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'

/**
 * `GET /metrics`: the Prometheus text format, for a scraper with the static bearer token
 * METRICS_TOKEN (the access hook checks it: kind `metrics` in src/http/access.ts). Without
 * METRICS_TOKEN metrics are off and the route answers 404. src/metrics.ts says what is measured.
 */
export const metricsRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['Operations'],
        summary: 'Prometheus metrics: requests, appends, projection lag, refusals, the process',
        description:
          'For a Prometheus scraper. Needs `Authorization: Bearer <METRICS_TOKEN>`: the static token from the configuration, not a JWT. ' +
          'Answers 404 while METRICS_TOKEN is not set (metrics are off).',
        response: {
          200: {
            description: 'The metrics in the Prometheus text exposition format (version 0.0.4)',
            content: { 'text/plain': { schema: z.string().meta({ description: 'Lines `name{labels} value`, with # HELP and # TYPE' }) } },
          },
          401: problemAnswer('No metrics token, or not the one configured (unauthorized); see WWW-Authenticate'),
          404: problemAnswer('Metrics are off: METRICS_TOKEN is not set (not-found)'),
          429: problemAnswer('Too many failed authentications from this address (too-many-requests); see Retry-After'),
          500: problemAnswer("The request failed on the server (internal); the log has it under the answer's X-Request-Id"),
        },
      },
    },
    async (_request, reply) => {
      if (deps.metrics === undefined) return sendProblem(reply, problem('not-found', 404, 'metrics are off'))
      const { contentType, text } = await deps.metrics.scrape()
      return reply.code(200).type(contentType).send(text)
    },
  )
}

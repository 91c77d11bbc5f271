import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { EVENT_TYPES } from '../../domain/events.js'
import { answer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { auditPageSchema, NO_CONTROL_CHARACTERS, positionText, readQuery, slug, yearParam } from '../schemas.js'

export const MAX_AUDIT_PAGE = 1000

export const auditRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/v1/audit/events',
    {
      schema: {
        tags: ['Audit'],
        summary: 'The audit trail: every event, oldest first, filtered and paged',
        querystring: z.strictObject({
          ...readQuery,
          year: yearParam.optional(),
          sozialraum: slug.optional(),
          type: z.enum(EVENT_TYPES as [string, ...string[]]).optional(),
          // Any `sub` a token may carry, also one recorded before 0.12.4 checked them: only no
          // control characters, which PostgreSQL cannot take in a query (a NUL).
          actor: z.string().min(1).max(256).regex(NO_CONTROL_CHARACTERS, 'must not hold control characters').optional(),
          from: z.iso.datetime().optional().meta({ description: 'recordedAt at or after (ISO 8601 UTC)' }),
          to: z.iso.datetime().optional().meta({ description: 'recordedAt before (ISO 8601 UTC)' }),
          after: positionText.optional().meta({ description: 'the `next` of the previous page' }),
          limit: z
            .string()
            // 1 to MAX_AUDIT_PAGE, as a pattern, so that the OpenAPI document says what is enforced.
            .regex(/^([1-9][0-9]{0,2}|1000)$/, `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}`)
            .optional()
            .meta({ description: `How many entries a page holds at most: 1 to ${MAX_AUDIT_PAGE} (default 100)` }),
        }),
        response: { 200: answer('A page of the audit trail, oldest first; `next` continues it', auditPageSchema) },
      },
    },
    (request) => {
      const query = request.query
      return deps.readModels.auditEvents({
        year: query.year === undefined ? undefined : Number(query.year),
        sozialraum: query.sozialraum,
        type: query.type,
        actor: query.actor,
        // recordedAt is stored as toISOString(); normalise so that text order is time order.
        from: query.from === undefined ? undefined : new Date(query.from).toISOString(),
        to: query.to === undefined ? undefined : new Date(query.to).toISOString(),
        after: query.after === undefined ? undefined : BigInt(query.after),
        limit: query.limit === undefined ? 100 : Number(query.limit),
      })
    },
  )
}

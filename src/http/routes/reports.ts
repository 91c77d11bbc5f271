import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { answer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { commitmentSchema, commitmentStatus, readQuery, yearParam } from '../schemas.js'

export const reportRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/v1/reports/:year/over-budget-commitments',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Every over-budget (überplanmäßige) commitment of a year',
        description: 'DOMAIN rule 1. A team lead sees those of their own Sozialräume.',
        params: z.strictObject({ year: yearParam }),
        querystring: z.strictObject({
          ...readQuery,
          status: commitmentStatus.optional(),
        }),
        response: {
          200: answer(
            'The over-budget commitments of the year that the token may see',
            z.object({ year: z.number().int(), items: z.array(commitmentSchema) }),
          ),
        },
      },
    },
    async (request) => {
      const year = Number(request.params.year)
      return {
        year,
        items: await deps.readModels.listOverBudgetCommitments(year, request.query.status, request.visibleSozialraeume),
      }
    },
  )
}

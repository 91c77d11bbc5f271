import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Position } from '../../eventstore/port.js'
import type { LedgerMoment } from '../../readmodels/queries.js'
import { answer, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import { budgetListSchema, positionText, readQuery, yearParam } from '../schemas.js'

/** The projection this route answers from (READ_MODELS names it too). */
const BALANCE_HISTORY = 'balance-history'

const DESCRIPTION = [
  'Every budget of the year and their total as the ledger stood at a past moment, in the shape of',
  '`GET /v1/budgets/{year}`: `revision` and `overBudget` as they were then, and a budget that had',
  'no allocation yet is absent. Give exactly one of `position` and `asOf`.',
  '',
  '- `position`: right after the event at that position of the log (inclusive). A position beyond',
  '  the last event of the log is refused (400): no moment of the ledger has it yet, and an answer',
  '  for it would change as events arrive, while an answer for a position that exists never does.',
  '  The answer waits until the read model has reached the position (503 if not in time).',
  '- `asOf`: right after the last event of the year recorded at or before that time (ISO 8601 UTC,',
  '  compared to the millisecond). More exactly: after the longest stretch of the year\'s events,',
  '  in log order, all recorded at or before it, so that an event recorded out of clock order never',
  '  brings its predecessors in early. Before the year\'s first event the list is empty; a time',
  '  after its last event answers as the ledger stands now.',
].join('\n')

const exactlyOne = (query: { position?: string | undefined; asOf?: string | undefined }): boolean =>
  (query.position === undefined) !== (query.asOf === undefined)

export const auditBalanceRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/v1/audit/balances',
    {
      schema: {
        tags: ['Audit'],
        summary: 'Every budget of a year as it stood at a past position or time',
        description: DESCRIPTION,
        querystring: z
          .strictObject({
            ...readQuery,
            year: yearParam,
            position: positionText.optional().meta({ description: 'As of right after the event at this position' }),
            asOf: z.iso
              .datetime()
              .optional()
              .meta({ description: 'As of right after the last event of the year recorded at or before this time (ISO 8601 UTC)' }),
          })
          .refine(exactlyOne, { message: 'give exactly one of position and asOf' }),
        response: {
          200: answer('Every budget of the year as it stood then, with their total', budgetListSchema),
          400: problemAnswer(
            'The request is not valid (validation): a query parameter, neither or both of position and asOf, ' +
              'or a position or minPosition beyond the last event of the log; `errors` names each field',
          ),
        },
      },
    },
    async (request, reply) => {
      const query = request.query
      const head = await deps.store.headPosition()
      let moment: LedgerMoment
      let needed: Position
      if (query.position !== undefined) {
        const position = BigInt(query.position)
        if (position > head) {
          const message = `is beyond the last event of the log (position ${head})`
          return sendProblem(
            reply,
            problem('validation', 400, `position ${position} ${message}`, [{ path: 'querystring.position', message }]),
          )
        }
        moment = { position }
        needed = position
      } else {
        // The refinement lets exactly one through. recordedAt is stored as toISOString(): normalise to compare as text.
        moment = { recordedAt: new Date(String(query.asOf)).toISOString() }
        needed = head
      }
      // The events of that moment may be stored and not yet projected: wait for them, as ?minPosition= does.
      if (!(await deps.runner.waitFor(needed, deps.readYourWritesTimeoutMs, [BALANCE_HISTORY]))) {
        reply.header('retry-after', '1')
        return sendProblem(reply, problem('unavailable', 503, `the balance history has not reached position ${needed} yet; try again`))
      }
      return deps.readModels.budgetsAsOf(Number(query.year), moment)
    },
  )
}

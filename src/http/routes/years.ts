import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { YearState } from '../../domain/year.js'
import type { Position } from '../../eventstore/port.js'
import { answer, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { approvalBody, fiscalYearSchema, noQuery, readQuery, writeHeaders, yearCloseBody, yearParam, yearWriteSchema } from '../schemas.js'
import { commandContext, sendWrite } from '../write.js'

/** The fiscal year's close (docs/domain.md rule 8): asked for by one finance controller, approved by a second. */

const yearParams = z.strictObject({ year: yearParam })

function yearView(state: YearState) {
  return {
    year: state.year,
    status: state.status,
    ...(state.request === undefined ? {} : { request: { ...state.request, carryUnspent: [...state.request.carryUnspent] } }),
    ...(state.decision === undefined
      ? {}
      : {
          decision: {
            decision: state.decision.decision,
            by: state.decision.by,
            at: state.decision.at,
            ...(state.decision.comment === undefined ? {} : { comment: state.decision.comment }),
          },
        }),
  }
}

export const yearRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/years/:year/close',
    {
      schema: {
        tags: ['Fiscal years'],
        summary: 'Ask for the close of a fiscal year (finance; a second controller approves)',
        params: yearParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: yearCloseBody,
        response: {
          201: answer('The year, now close-requested', yearWriteSchema),
          400: problemAnswer('The request is not valid (validation), or the year is 2100, the last the ledger keeps, which has no next year to carry into'),
          409: problemAnswer(
            'The close was asked for already (conflict), the year is closing or closed (year-closed), the next year is closing or closed already, so that nothing could carry into it, the close of the previous year is under way, an earlier year with budgets (since the last closed one) is not closed, or the year has no budget (conflict)',
          ),
          422: problemAnswer('The Idempotency-Key was used before with another request (idempotency-key-reused)'),
        },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const body = request.body
      return sendWrite(
        reply,
        () =>
          deps.ledger.executeYear(
            year,
            { type: 'RequestClose', reason: body.reason, carryUnspent: body.carryUnspent ?? [] },
            commandContext(request),
          ),
        ({ state }) => yearView(state),
      )
    },
  )

  app.post(
    '/v1/years/:year/close/approval',
    {
      schema: {
        tags: ['Fiscal years'],
        summary: 'Approve or reject the close of a fiscal year (a finance controller who did not ask for it)',
        description:
          'An approval starts the close: every budget of the year is closed and its open commitments (and the unspent allocation of the lines named) carry into the next year. GET /v1/years/{year} shows the progress.',
        params: yearParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: approvalBody,
        response: {
          201: answer('The year, now closing (approved) or open again (rejected)', yearWriteSchema),
          403: problemAnswer("The token's role does not cover this request, or its holder asked for the close (forbidden)"),
          409: problemAnswer(
            'No close of the year waits for a decision, or (for an approval) the next year is closing or closed, the close of the previous year is under way, an earlier year with budgets (since the last closed one) is not closed, or the year has no budget (conflict)',
          ),
          422: problemAnswer('The Idempotency-Key was used before with another request (idempotency-key-reused)'),
        },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const { decision, comment } = request.body
      let decided: Position | undefined
      await sendWrite(
        reply,
        () =>
          deps.ledger.executeYear(
            year,
            { type: 'DecideClose', decision, comment, approver: { sub: request.actor.sub, role: request.actor.role } },
            commandContext(request),
          ),
        ({ state, position }) => {
          decided = position
          return yearView(state)
        },
      )
      if (decided !== undefined && decision === 'approve') deps.processes.kick(decided)
    },
  )

  app.get(
    '/v1/years/:year',
    {
      schema: {
        tags: ['Fiscal years'],
        summary: "A fiscal year's status and the progress of its close",
        params: yearParams,
        querystring: z.strictObject(readQuery),
        response: { 200: answer('The year; `open` when nobody has asked for its close', fiscalYearSchema) },
      },
    },
    (request) => deps.fiscalYears.fiscalYear(Number(request.params.year)),
  )
}

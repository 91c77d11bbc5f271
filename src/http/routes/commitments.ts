import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { commitmentView } from '../../application/views.js'
import type { BudgetState } from '../../domain/budget/index.js'
import { answer, budgetWriteRefused, NOT_FOUND, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import {
  amendmentBody,
  approvalBody,
  budgetParams,
  commitmentBody,
  commitmentListSchema,
  commitmentParams,
  commitmentSchema,
  commitmentStatus,
  commitmentWriteSchema,
  invoiceBody,
  readQuery,
  releaseBody,
  noQuery,
  writeHeaders,
} from '../schemas.js'
import { budgetNotFound, budgetWriteHandler, cents, writtenData } from '../write.js'

/** The answer to every write of a commitment: the commitment as it is right after the write. */
const written = (description: string) => answer(description, commitmentWriteSchema)

function commitmentOf(state: BudgetState, id: string) {
  const commitment = state.commitments.get(id)
  if (!commitment) throw new Error(`commitment ${id} is missing right after a write to it`)
  return commitmentView(state, commitment)
}

export const commitmentRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/budgets/:year/:sozialraum/commitments',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'Commit funds to a provider for a case',
        description:
          'An ambulatory commitment beyond the available funds needs overBudget.justification; it is then marked over budget and starts as requested.',
        params: budgetParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: commitmentBody,
        response: {
          201: written('The commitment as written ("requested" if it needs a second person\'s approval), with the budget right after it'),
          404: problemAnswer(NOT_FOUND.budget),
          409: problemAnswer('A commitment with this id exists already (conflict), or the year is closed (year-closed)'),
          422: budgetWriteRefused('the line has not that much available and no overBudget justification was given (insufficient-funds)'),
        },
      },
    },
    (request, reply) => {
      const body = request.body
      return budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        {
          type: 'CreateCommitment',
          commitmentId: body.id ?? randomUUID(),
          line: body.line ?? 'ambulatory',
          provider: body.provider,
          caseRef: body.caseRef,
          helpType: body.helpType,
          amountCents: cents(body.amount),
          period: body.period,
          decisionRef: body.decisionRef,
          overBudgetJustification: body.overBudget?.justification,
        },
        (state, events) => commitmentOf(state, writtenData(events, 'CommitmentCreated').commitmentId),
      )
    },
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/commitments/:id/amendments',
    {
      schema: {
        tags: ['Commitments'],
        summary: "Change a commitment's amount by a signed amount",
        params: commitmentParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: amendmentBody,
        response: {
          201: written('The commitment with its new amount, with the budget right after it'),
          404: problemAnswer(NOT_FOUND.commitment),
          409: problemAnswer('The commitment is closed or rejected (commitment-closed), waits for approval, or the year is closed (year-closed)'),
          422: budgetWriteRefused(
            'the amount would fall below what is invoiced (exceeds-commitment)',
            'the line has not that much available (insufficient-funds)',
          ),
        },
      },
    },
    (request, reply) =>
      budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        {
          type: 'AmendCommitment',
          commitmentId: request.params.id,
          amountCents: cents(request.body.amount),
          reason: request.body.reason,
          overBudgetJustification: request.body.overBudget?.justification,
        },
        (state) => commitmentOf(state, request.params.id),
      ),
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/commitments/:id/approval',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'Approve or reject a requested commitment (four eyes)',
        description:
          'A second person decides: not the one who asked for it; only finance on an over-budget commitment. ' +
          'A rejection withdraws what was requested: the whole commitment if it was never approved, else the increase since its last approval.',
        params: commitmentParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: approvalBody,
        response: {
          201: written('The commitment after the decision ("open" when approved, "rejected" or back to its last approval when rejected)'),
          403: problemAnswer('The requester may not approve their own request, and only finance decides on an over-budget commitment (forbidden)'),
          404: problemAnswer(NOT_FOUND.commitment),
          409: problemAnswer('The commitment is not waiting for approval (conflict), or the year is closed (year-closed)'),
        },
      },
    },
    (request, reply) =>
      budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        {
          type: 'DecideApproval',
          commitmentId: request.params.id,
          decision: request.body.decision,
          comment: request.body.comment,
          approver: request.actor,
        },
        (state) => commitmentOf(state, request.params.id),
      ),
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/commitments/:id/invoices',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'Book a provider invoice against a commitment',
        params: commitmentParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: invoiceBody,
        response: {
          201: written('The commitment with the invoice booked, with the budget right after it'),
          404: problemAnswer(NOT_FOUND.commitment),
          409: problemAnswer(
            'The invoice number is booked on this commitment already (conflict), the commitment is closed (commitment-closed) ' +
              'or waits for approval (approval-required), or the year is closed (year-closed)',
          ),
          422: budgetWriteRefused('the invoice is larger than what remains of the commitment (exceeds-commitment)'),
        },
      },
    },
    (request, reply) =>
      budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        {
          type: 'BookInvoice',
          commitmentId: request.params.id,
          invoiceNo: request.body.invoiceNo,
          amountCents: cents(request.body.amount),
          invoiceDate: request.body.invoiceDate,
        },
        (state) => commitmentOf(state, request.params.id),
      ),
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/commitments/:id/release',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'Release what a commitment no longer needs; it is then closed',
        params: commitmentParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: releaseBody,
        response: {
          201: written('The closed commitment, with the budget right after its remainder returned to the line'),
          404: problemAnswer(NOT_FOUND.commitment),
          409: problemAnswer('The commitment is closed already (commitment-closed), or the year is closed (year-closed)'),
        },
      },
    },
    (request, reply) =>
      budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        { type: 'ReleaseCommitment', commitmentId: request.params.id, reason: request.body.reason },
        (state) => commitmentOf(state, request.params.id),
      ),
  )

  app.get(
    '/v1/budgets/:year/:sozialraum/commitments',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'The commitments of a budget',
        params: budgetParams,
        querystring: z.strictObject({
          ...readQuery,
          status: commitmentStatus.optional(),
        }),
        response: {
          200: answer('The commitments of the budget, with the given status if one is asked for', commitmentListSchema),
          404: problemAnswer(NOT_FOUND.budget),
        },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      if (!(await deps.readModels.budgetExists(year, request.params.sozialraum))) {
        return sendProblem(reply, budgetNotFound(year, request.params.sozialraum))
      }
      return { items: await deps.readModels.listCommitments(year, request.params.sozialraum, request.query.status) }
    },
  )

  app.get(
    '/v1/budgets/:year/:sozialraum/commitments/:id',
    {
      schema: {
        tags: ['Commitments'],
        summary: 'One commitment with its invoices',
        params: commitmentParams,
        querystring: z.strictObject(readQuery),
        response: {
          200: answer('The commitment with its invoices', commitmentSchema),
          404: problemAnswer(NOT_FOUND.commitment),
        },
      },
    },
    async (request, reply) => {
      const { year, sozialraum, id } = request.params
      const commitment = await deps.readModels.getCommitment(Number(year), sozialraum, id)
      if (!commitment) return sendProblem(reply, problem('not-found', 404, `commitment ${id} does not exist in budget ${year} of ${sozialraum}`))
      return commitment
    },
  )
}

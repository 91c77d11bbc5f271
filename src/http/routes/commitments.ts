import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { commitmentView } from '../../application/views.js'
import type { BudgetState } from '../../domain/budget.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import {
  amendmentBody,
  approvalBody,
  budgetParams,
  budgetWrite,
  commitmentBody,
  commitmentParams,
  commitmentSchema,
  invoiceBody,
  problemSchema,
  readQuery,
  releaseBody,
  noQuery,
  writeHeaders,
} from '../schemas.js'
import { budgetNotFound, budgetWriteHandler, cents, writtenData } from './budgets.js'

const commitmentWrite = budgetWrite(commitmentSchema.shape)

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
        response: { 201: commitmentWrite, 409: problemSchema, 422: problemSchema },
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
        response: { 201: commitmentWrite, 404: problemSchema, 409: problemSchema, 422: problemSchema },
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
        response: { 201: commitmentWrite, 403: problemSchema, 404: problemSchema, 409: problemSchema },
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
        response: { 201: commitmentWrite, 404: problemSchema, 409: problemSchema, 422: problemSchema },
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
        response: { 201: commitmentWrite, 404: problemSchema, 409: problemSchema },
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
          status: z.enum(['requested', 'open', 'closed', 'rejected']).optional(),
        }),
        response: { 200: z.object({ items: z.array(commitmentSchema) }), 404: problemSchema },
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
        response: { 200: commitmentSchema, 404: problemSchema },
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

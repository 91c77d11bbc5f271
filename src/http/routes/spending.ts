import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { spendingView } from '../../application/views.js'
import type { BudgetState } from '../../domain/budget/index.js'
import { answer, budgetWriteRefused, NOT_FOUND, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { sendProblem } from '../problem.js'
import {
  budgetParams,
  readQuery,
  reversalBody,
  spendingBody,
  spendingListSchema,
  spendingParams,
  spendingWriteSchema,
  noQuery,
  writeHeaders,
} from '../schemas.js'
import { budgetNotFound, budgetWriteHandler, cents, writtenData } from '../write.js'

function spendingOf(state: BudgetState, id: string) {
  const spending = state.spendings.get(id)
  if (!spending) throw new Error(`spending ${id} is missing right after a write to it`)
  return spendingView(state, spending)
}

export const spendingRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/budgets/:year/:sozialraum/spending',
    {
      schema: {
        tags: ['Flexible spending'],
        summary: 'Record flexible spending; the flexible line never goes below zero',
        params: budgetParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: spendingBody,
        response: {
          201: answer('The spending as written, with the budget right after it', spendingWriteSchema),
          404: problemAnswer(NOT_FOUND.budget),
          409: problemAnswer('A spending with this id exists already (conflict), or the year is closed (year-closed)'),
          422: budgetWriteRefused('the flexible line has not that much available (insufficient-funds)'),
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
          type: 'RecordSpending',
          spendingId: body.id ?? randomUUID(),
          amountCents: cents(body.amount),
          purpose: body.purpose,
          category: body.category,
          receiptRef: body.receiptRef,
          date: body.date,
        },
        (state, events) => spendingOf(state, writtenData(events, 'SpendingRecorded').spendingId),
      )
    },
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/spending/:id/reversal',
    {
      schema: {
        tags: ['Flexible spending'],
        summary: 'Reverse (Storno) one spending, once',
        params: spendingParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: reversalBody,
        response: {
          201: answer('The reversed spending, with the budget right after its amount returned to the line', spendingWriteSchema),
          404: problemAnswer(NOT_FOUND.spending),
          409: problemAnswer('The spending is reversed already (conflict), or the year is closed (year-closed)'),
        },
      },
    },
    (request, reply) =>
      budgetWriteHandler(
        deps,
        request,
        reply,
        request.params,
        { type: 'ReverseSpending', spendingId: request.params.id, reason: request.body.reason },
        (state) => spendingOf(state, request.params.id),
      ),
  )

  app.get(
    '/v1/budgets/:year/:sozialraum/spending',
    {
      schema: {
        tags: ['Flexible spending'],
        summary: 'The flexible spending of a budget',
        params: budgetParams,
        querystring: z.strictObject(readQuery),
        response: {
          200: answer('The flexible spending of the budget, reversed ones included', spendingListSchema),
          404: problemAnswer(NOT_FOUND.budget),
        },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      if (!(await deps.readModels.budgetExists(year, request.params.sozialraum))) {
        return sendProblem(reply, budgetNotFound(year, request.params.sozialraum))
      }
      return { items: await deps.readModels.listSpendings(year, request.params.sozialraum) }
    },
  )
}

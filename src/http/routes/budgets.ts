import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { answer, budgetWriteRefused, NOT_FOUND, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { sendProblem } from '../problem.js'
import {
  adjustmentBody,
  allocationBody,
  budgetListSchema,
  budgetParams,
  budgetSchema,
  budgetWrite,
  line,
  moneyOut,
  readQuery,
  transferBody,
  noQuery,
  writeHeaders,
  yearParam,
} from '../schemas.js'
import { budgetNotFound, budgetWriteHandler, cents, money, writtenData } from '../write.js'

export const budgetRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/budgets/:year/:sozialraum/allocations',
    {
      schema: {
        tags: ['Budgets'],
        summary: 'Allocate money to a budget line (finance)',
        params: budgetParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: allocationBody,
        response: {
          201: answer(
            'The allocation as written, with the budget right after it',
            budgetWrite({ line, amount: moneyOut, decisionRef: z.string(), note: z.string().optional() }),
          ),
          404: problemAnswer(NOT_FOUND.sozialraum),
          422: budgetWriteRefused(),
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
        { type: 'AllocateBudget', line: body.line, amountCents: cents(body.amount), decisionRef: body.decisionRef, note: body.note },
        (_state, events) => {
          const data = writtenData(events, 'BudgetAllocated')
          return {
            line: data.line,
            amount: money(data.amountCents),
            decisionRef: data.decisionRef,
            ...(data.note === undefined ? {} : { note: data.note }),
          }
        },
      )
    },
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/adjustments',
    {
      schema: {
        tags: ['Budgets'],
        summary: 'Correct an allocation by a signed amount (finance)',
        params: budgetParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: adjustmentBody,
        response: {
          201: answer('The adjustment as written, with the budget right after it', budgetWrite({ line, amount: moneyOut, reason: z.string() })),
          404: problemAnswer(NOT_FOUND.budget),
          422: budgetWriteRefused('less than nothing would be available on the line (insufficient-funds)'),
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
        { type: 'AdjustBudget', line: body.line, amountCents: cents(body.amount), reason: body.reason },
        (_state, events) => {
          const data = writtenData(events, 'BudgetAdjusted')
          return { line: data.line, amount: money(data.amountCents), reason: data.reason }
        },
      )
    },
  )

  app.post(
    '/v1/budgets/:year/:sozialraum/transfers',
    {
      schema: {
        tags: ['Budgets'],
        summary: 'Move money between the two lines of a budget (finance)',
        params: budgetParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: transferBody,
        response: {
          201: answer(
            'The transfer as written, with the budget right after it',
            budgetWrite({ fromLine: line, toLine: line, amount: moneyOut, reason: z.string() }),
          ),
          404: problemAnswer(NOT_FOUND.budget),
          422: budgetWriteRefused('the line the money comes from has not that much available (insufficient-funds)'),
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
          type: 'TransferBudget',
          fromLine: body.fromLine,
          toLine: body.toLine,
          amountCents: cents(body.amount),
          reason: body.reason,
        },
        (_state, events) => {
          const data = writtenData(events, 'BudgetTransferred')
          return { fromLine: data.fromLine, toLine: data.toLine, amount: money(data.amountCents), reason: data.reason }
        },
      )
    },
  )

  app.get(
    '/v1/budgets/:year',
    {
      schema: {
        tags: ['Budgets'],
        summary: 'Every budget of a year, with totals',
        params: z.strictObject({ year: yearParam }),
        querystring: z.strictObject(readQuery),
        response: { 200: answer('Every budget of the year that the token may see, with their total', budgetListSchema) },
      },
    },
    (request) => deps.readModels.listBudgets(Number(request.params.year), request.visibleSozialraeume),
  )

  app.get(
    '/v1/budgets/:year/:sozialraum',
    {
      schema: {
        tags: ['Budgets'],
        summary: 'One budget with its lines; ETag is its revision',
        params: budgetParams,
        querystring: z.strictObject(readQuery),
        response: {
          200: answer('The budget; its ETag is its revision', budgetSchema),
          404: problemAnswer(NOT_FOUND.budget),
        },
      },
    },
    async (request, reply) => {
      const { year, sozialraum } = request.params
      const budget = await deps.readModels.getBudget(Number(year), sozialraum)
      if (!budget) {
        return sendProblem(reply, budgetNotFound(year, sozialraum))
      }
      reply.header('etag', `"${budget.revision}"`)
      return budget
    },
  )
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { budgetViewOfState } from '../../application/views.js'
import type { BudgetCommand, BudgetState } from '../../domain/budget.js'
import type { BudgetEvent, EventDataOf } from '../../domain/events.js'
import { formatCents, parseAmount, type Cents } from '../../domain/money.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import {
  adjustmentBody,
  allocationBody,
  budgetListSchema,
  budgetParams,
  budgetSchema,
  budgetWrite,
  line,
  moneyOut,
  problemSchema,
  readQuery,
  transferBody,
  noQuery,
  writeHeaders,
  yearParam,
} from '../schemas.js'
import { commandContext, sendWrite } from '../write.js'

/** Amounts reach the handlers validated by their schema, so parsing cannot fail here. */
export function cents(text: string): Cents {
  const parsed = parseAmount(text)
  if (!parsed.ok) throw new Error(`an unvalidated amount reached a handler: ${parsed.reason}`)
  return parsed.cents
}

export const money = (amountCents: number): string => formatCents(BigInt(amountCents))

/**
 * Runs a budget command and answers with the budget right after the write plus the resource
 * that `resource` reads from the state and the written events (so that a replay answers the same).
 */
export function budgetWriteHandler(
  deps: HttpDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  key: { year: string; sozialraum: string },
  command: BudgetCommand,
  resource: (state: BudgetState, events: BudgetEvent[]) => object,
): Promise<void> {
  return sendWrite(
    reply,
    () => deps.ledger.executeBudget(Number(key.year), key.sozialraum, command, commandContext(request)),
    ({ state, events, revision }) => ({ budget: budgetViewOfState(state, revision), ...resource(state, events) }),
  )
}

export const budgetNotFound = (year: string | number, sozialraum: string) =>
  problem('not-found', 404, `budget ${year} of ${sozialraum} has no allocation yet`)

/** The data of the first written event of a type: what a write's response echoes. */
export function writtenData<T extends BudgetEvent['type']>(
  events: readonly BudgetEvent[],
  type: T,
): EventDataOf<T> {
  const event = events.find((candidate) => candidate.type === type)
  if (!event) throw new Error(`the write produced no ${type} event`)
  return event.data as EventDataOf<T>
}

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
          201: budgetWrite({ line, amount: moneyOut, decisionRef: z.string(), note: z.string().optional() }),
          404: problemSchema,
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
        response: { 201: budgetWrite({ line, amount: moneyOut, reason: z.string() }), 422: problemSchema },
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
          201: budgetWrite({ fromLine: line, toLine: line, amount: moneyOut, reason: z.string() }),
          422: problemSchema,
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
        response: { 200: budgetListSchema },
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
        response: { 200: budgetSchema, 404: problemSchema },
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

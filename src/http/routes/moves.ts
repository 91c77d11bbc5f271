import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { finishMove, type MoveEnd, type MoveToFinish } from '../../application/processes.js'
import { creditRefusal } from '../../domain/budget/index.js'
import { answer, budgetWriteRefused, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import { moveBody, moveSchema, moveWriteSchema, noQuery, readQuery, resourceId, writeHeaders, yearParam } from '../schemas.js'
import { cents, commandContext, money, runWrite, writtenData } from '../write.js'

/**
 * Moves between Sozialräume of one year (Deckungsfähigkeit, docs/domain.md rule 9). The request
 * debits the source and then tries to finish the move at once (src/application/processes.ts):
 * 201 when the target is credited; 202 while it could not be finished, which the move process
 * then does; 409 when the target refused it, and the source got the money back.
 */

const yearParams = z.strictObject({ year: yearParam })

export const moveRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/budgets/:year/moves',
    {
      schema: {
        tags: ['Moves between Sozialräume'],
        summary: "Move available money from one Sozialraum's line to another's in the same year (finance)",
        params: yearParams,
        headers: writeHeaders,
        querystring: noQuery,
        body: moveBody,
        response: {
          201: answer('The move, completed: the target has the money', moveWriteSchema),
          202: answer('The move, debited and still in transit: the move process finishes it; GET …/moves/{id} shows when', moveWriteSchema),
          404: problemAnswer('A Sozialraum is not registered, or its budget of the year has no allocation yet (not-found)'),
          409: problemAnswer(
            'The year is closing or closed (year-closed), or the target refused the move after the source was debited, and the source has the money back (conflict)',
          ),
          422: budgetWriteRefused(
            'the line the money comes from has not that much available (insufficient-funds)',
            "the target's line would go beyond the limit on balances, checked before the debit (limit-exceeded)",
          ),
        },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const body = request.body
      const command = { type: 'DebitMove', moveId: randomUUID(), line: body.from.line, amountCents: cents(body.amount), to: body.to, reason: body.reason } as const
      // The target is asked before anything is written (after a retry is recognised): a move to
      // a budget without allocation, or one that would take a balance past its limit, is refused
      // with nothing written, not debited, refused and credited back.
      const targetTakesIt = async () => {
        const target = await deps.ledger.readBudget(year, body.to.sozialraum)
        const from = { sozialraum: body.from.sozialraum, line: body.from.line }
        return creditRefusal(target.state, { year, sozialraum: body.to.sozialraum }, { ...command, line: body.to.line, from })
      }
      const written = await runWrite(reply, () => deps.ledger.executeBudget(year, body.from.sozialraum, command, commandContext(request), targetTakesIt))
      if (written === undefined) return
      if (written.kind === 'replayed') reply.header('idempotent-replayed', 'true')
      // From the events, not the body: a replayed request answers with the move it made first.
      const debit = writtenData(written.events, 'BudgetMoveDebited')
      const move = {
        id: debit.moveId,
        year,
        from: { sozialraum: debit.sozialraum, line: debit.line },
        to: debit.to,
        amount: money(debit.amountCents),
        amountCents: BigInt(debit.amountCents),
        reason: debit.reason,
      }
      let end: MoveEnd
      try {
        end = await finishMove(deps.ledger, move, request.actor)
      } catch (error) {
        request.log.warn({ err: error, move: move.id }, 'a move could not be finished at once; the move process finishes it')
        deps.processes.kick(written.position)
        return reply.code(202).send(answerOf(move, 'in-transit', written.position, written.revision))
      }
      if (end.ended === 'reverted') {
        return sendProblem(
          reply,
          problem('conflict', 409, `budget ${year} of ${move.to.sozialraum} refused move ${move.id}; the source has the money back`),
        )
      }
      reply.header('etag', `"${written.revision}"`)
      // A retry (or a run of the move process) did the credit before this call: the head of the
      // log lies at or after it, so that a read with ?minPosition= sees the move's end.
      const position = end.position ?? (await deps.store.headPosition())
      return reply.code(201).send(answerOf(move, 'completed', position, written.revision))
    },
  )

  app.get(
    '/v1/budgets/:year/moves',
    {
      schema: {
        tags: ['Moves between Sozialräume'],
        summary: 'Every move between Sozialräume of a year',
        params: yearParams,
        querystring: z.strictObject(readQuery),
        response: { 200: answer('The moves of the year, oldest first', z.object({ year: z.number().int(), items: z.array(moveSchema) })) },
      },
    },
    async (request) => {
      const year = Number(request.params.year)
      return { year, items: await deps.fiscalYears.listMoves(year) }
    },
  )

  app.get(
    '/v1/budgets/:year/moves/:id',
    {
      schema: {
        tags: ['Moves between Sozialräume'],
        summary: 'One move between Sozialräume, and how far it got',
        params: z.strictObject({ year: yearParam, id: resourceId }),
        querystring: z.strictObject(readQuery),
        response: { 200: answer('The move and how far it got', moveSchema), 404: problemAnswer('No such move in the year (not-found)') },
      },
    },
    async (request, reply) => {
      const { year, id } = request.params
      const move = await deps.fiscalYears.getMove(Number(year), id)
      return move ?? sendProblem(reply, problem('not-found', 404, `move ${id} does not exist in ${year}`))
    },
  )
}

function answerOf(
  move: MoveToFinish,
  status: 'in-transit' | 'completed',
  position: bigint,
  revision: bigint,
) {
  const { id, year, from, to, amount, reason } = move
  return { position: position.toString(), revision: revision.toString(), id, year, from, to, amount, reason, status }
}

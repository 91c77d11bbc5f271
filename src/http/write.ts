import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import stableStringify from 'safe-stable-stringify'
import type { CommandContext, WriteOutcome } from '../application/command-handler.js'
import { ConcurrencyExhaustedError, StreamBusyError } from '../application/command-handler.js'
import { budgetViewOfState } from '../application/views.js'
import { ReadModelsBehindError } from '../application/year-order.js'
import { lineChanges } from '../../projections/line-changes.js'
import type { BudgetCommand, BudgetState, LineBalance } from '../domain/budget/index.js'
import { crossedThresholds } from '../domain/budget/warnings.js'
import type { BudgetEvent, EventDataOf, Line } from '../domain/events.js'
import type { Position } from '../eventstore/port.js'
import { formatCents, parseAmount, type Cents } from '../domain/money.js'
import type { HttpDeps } from './deps.js'
import { domainProblem, problem, sendProblem } from './problem.js'
import { NO_CONTROL_CHARACTERS } from './schemas.js'

/** The write path every route shares: command context, the answer to a write, budget writes. */

/** Builds the command context of a write request: actor, ids, idempotency and If-Match. */
export function commandContext(request: FastifyRequest): CommandContext {
  const headers = request.headers
  const idempotencyKey = typeof headers['idempotency-key'] === 'string' ? headers['idempotency-key'] : null
  const ifMatch = typeof headers['if-match'] === 'string' ? /^"(\d+)"$/.exec(headers['if-match'])?.[1] : undefined
  const correlation = headers['x-correlation-id']
  return {
    actor: request.actor,
    // A client's correlation id is kept in every event of the write, so it must be plain text;
    // else (too long, or control characters, which HTTP lets through as Latin-1) the request's own id.
    correlationId: typeof correlation === 'string' && correlation.length <= 128 && correlation !== '' && NO_CONTROL_CHARACTERS.test(correlation)
        ? correlation
        : request.id,
    causationId: request.id,
    idempotencyKey,
    requestHash:
      idempotencyKey === null
        ? null
        : createHash('sha256')
            // The route and its validated input, not the raw URL: /x/ and /x are the same request.
            .update(
              stableStringify([request.method, request.routeOptions.url, request.params ?? null, request.body ?? null]),
            )
            .digest('base64url'),
    expectedRevision: ifMatch === undefined ? undefined : BigInt(ifMatch),
  }
}

/**
 * Sends the answer to a write: 201 with the position, the stream's revision (also as ETag) and
 * what `body` makes of the state right after the write; or the problem that stopped it.
 */
export async function sendWrite<State, Event>(
  reply: FastifyReply,
  write: () => Promise<WriteOutcome<State, Event>>,
  body: (written: { state: State; events: Event[]; revision: bigint; position: Position }) => object,
): Promise<void> {
  const outcome = await runWrite(reply, write)
  if (outcome === undefined) return
  if (outcome.kind === 'replayed') reply.header('idempotent-replayed', 'true')
  reply.header('etag', `"${outcome.revision}"`)
  reply.code(201).send({ position: outcome.position.toString(), revision: outcome.revision.toString(), ...body(outcome) })
}

type Written<State, Event> = Extract<WriteOutcome<State, Event>, { kind: 'written' | 'replayed' }>

/**
 * Runs a write and answers every outcome but success with its problem: then it answers
 * undefined, and the reply is sent. A written (or replayed) outcome is the caller's to answer.
 */
export async function runWrite<State, Event>(
  reply: FastifyReply,
  write: () => Promise<WriteOutcome<State, Event>>,
): Promise<Written<State, Event> | undefined> {
  let outcome: WriteOutcome<State, Event>
  try {
    outcome = await write()
  } catch (error) {
    if (error instanceof ConcurrencyExhaustedError || error instanceof StreamBusyError || error instanceof ReadModelsBehindError) {
      reply.header('retry-after', '1')
      sendProblem(reply, problem('unavailable', 503, `${error.message}; try again`))
      return undefined
    }
    throw error
  }
  switch (outcome.kind) {
    case 'rejected':
      sendProblem(reply, domainProblem(outcome.error))
      return undefined
    case 'precondition-failed':
      sendProblem(
        reply,
        problem(
          'precondition-failed',
          412,
          outcome.currentRevision === undefined
            ? 'If-Match names a revision, but nothing has been written here yet'
            : `If-Match does not match: the current revision is "${outcome.currentRevision}"`,
        ),
      )
      return undefined
    case 'idempotency-key-reused':
      sendProblem(reply, problem('idempotency-key-reused', 422, 'this Idempotency-Key was used before with another request'))
      return undefined
    case 'idempotency-key-in-progress':
      reply.header('retry-after', '1')
      sendProblem(
        reply,
        problem('idempotency-key-in-progress', 409, 'a request with this Idempotency-Key is still being written; send it again in a moment to get its answer'),
      )
      return undefined
    case 'written':
    case 'replayed':
      return outcome
  }
}

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
    ({ state, events, revision }) => ({
      budget: budgetViewOfState(state, revision),
      ...resource(state, events),
      warnings: crossedThresholds(linesBefore(state.lines, events), state.lines, deps.utilisationThresholds),
    }),
  )
}

/** The lines as they were before the events: what the warnings compare against (a replay answers the same). */
function linesBefore(after: Readonly<Record<Line, LineBalance>>, events: readonly BudgetEvent[]): Record<Line, LineBalance> {
  const before = { ambulatory: { ...after.ambulatory }, flexible: { ...after.flexible } }
  for (const { line, figure, cents } of events.flatMap(lineChanges)) {
    before[line][`${figure}Cents`] -= BigInt(cents)
  }
  return before
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

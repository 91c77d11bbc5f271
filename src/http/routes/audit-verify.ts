import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { SEAL_BODY_LIMIT_BYTES, sealInputSchema, sealSchema } from '../../audit/seal.js'
import { ReadModelsUnreadableError } from '../../audit/verify.js'
import { answer, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import { noQuery, readQuery } from '../schemas.js'

/** The verifier (src/audit/verify.ts) and seals (src/audit/seal.ts) over HTTP, for finance and auditors. */

const position = z.string().regex(/^\d+$/)

const chainBreakSchema = z
  .object({
    position,
    streamId: z.string(),
    revision: z.string(),
    eventId: z.string().optional(),
    reason: z.string(),
  })
  .meta({
    id: 'ChainBreak',
    description: 'An event that breaks its stream: a gap, a wrong link, a hash that does not match, or content that no longer parses',
  })

const mismatchSchema = z
  .object({
    year: z.number().int(),
    sozialraum: z.string(),
    field: z.string().meta({ description: 'e.g. `lines.flexible.spent`, `commitments.<id>.invoiced`, `spendings.<id>` (a row on one side only)' }),
    expected: z.string().meta({ description: 'What the events say (money in EUR with two decimals)' }),
    actual: z.string().meta({ description: 'What the read model says' }),
    divergedAt: position.nullable().meta({
      description: 'The first event that changed the field after the last position at which both agreed; null when no event changed it',
    }),
  })
  .meta({ id: 'Mismatch', description: 'A read-model value that does not follow from the events' })

const sealProblemSchema = z
  .object({
    kind: z.enum(['missing', 'went-back', 'hash-differs', 'unreadable', 'not-covered', 'recorded-before-seal', 'log-order-changed']),
    streamId: z.string().optional().meta({ description: 'Absent for `log-order-changed`: a digest over the whole log cannot say which stream moved' }),
    reason: z.string(),
    position: position.optional(),
    revision: z.string().optional(),
    eventId: z.string().optional(),
  })
  .meta({ id: 'SealProblem' })

const auditTrailMismatchSchema = z
  .object({
    position,
    field: z.string().meta({ description: 'A column of the audit trail (`stream_id`, `data`, …), or `row` for a row on one side only' }),
    expected: z.string().meta({ description: 'What the event says: the value as text, `present` or `missing`' }),
    actual: z.string(),
  })
  .meta({ id: 'AuditTrailMismatch', description: 'An entry of the audit trail that is not the event at its position' })

const balanceHistoryMismatchSchema = z
  .object({
    position,
    field: z.string().meta({
      description:
        'A column of the history (`revision`, `closed`, `flexible_spent_cents`, …), `row` for a row on one side only, or `rows of <year>/<sozialraum> without an event`',
    }),
    expected: z.string().meta({ description: 'What the replay of the events says (cents for the figures), `present`, `missing` or a count' }),
    actual: z.string(),
  })
  .meta({ id: 'BalanceHistoryMismatch', description: 'A row of the balance history that does not follow from the events' })

const verifyReportSchema = z
  .object({
    ok: z.boolean().meta({
      description: 'The chain holds, the read models, the audit trail and the balance history follow from the events, and the seal (if given) is kept',
    }),
    eventsChecked: z.number().int(),
    head: position.meta({ description: 'The log was verified up to this position, its head when the verify started' }),
    comparedAt: z
      .object({ balances: position, commitments: position, spending: position })
      .meta({ description: 'How far each compared projection had processed the log: its read model is compared with the events up to there' }),
    mismatches: z.array(mismatchSchema).meta({ description: 'At most 1000; `mismatchesFound` counts them all' }),
    mismatchesFound: z.number().int(),
    chain: z.object({
      ok: z.boolean(),
      brokenAt: chainBreakSchema.optional().meta({ description: 'The first break in log order' }),
      breaks: z.array(chainBreakSchema).meta({ description: 'At most 1000, in log order; `breaksFound` counts them all' }),
      breaksFound: z.number().int(),
    }),
    seal: z
      .object({
        ok: z.boolean(),
        position: position.meta({ description: "The seal's position" }),
        problems: z.array(sealProblemSchema),
        problemsFound: z.number().int(),
      })
      .optional()
      .meta({
        description:
          'With a seal: every stream that lost events the seal holds or changed at its sealed revision, events recorded before the seal but written after it, and a changed order of the sealed log',
      }),
    auditTrail: z
      .object({
        ok: z.boolean(),
        comparedAt: position.meta({ description: 'How far the audit trail had processed the log: it is compared up to there' }),
        mismatches: z.array(auditTrailMismatchSchema).meta({ description: 'At most 1000; `mismatchesFound` counts them all' }),
        mismatchesFound: z.number().int(),
      })
      .meta({ description: 'The audit trail (GET /v1/audit/events) compared with the log, entry by entry' }),
    balanceHistory: z
      .object({
        ok: z.boolean(),
        comparedAt: position.meta({ description: 'How far the balance history had processed the log: it is compared up to there' }),
        mismatches: z.array(balanceHistoryMismatchSchema).meta({ description: 'At most 1000; `mismatchesFound` counts them all' }),
        mismatchesFound: z.number().int(),
      })
      .meta({
        description:
          'The balances at past moments (GET /v1/audit/balances) compared with the replay of the log: after each budget event, its revision, `closed` and line figures',
      }),
  })
  .meta({ id: 'VerifyReport' })

/** Read models that cannot be compared wait for an operator (a migration, a rebuild): a minute, not a second. */
const UNREADABLE_RETRY_AFTER_SECONDS = 60

export const auditVerifyRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/audit/verify',
    {
      // A seal names every stream: larger than the 64 KiB other bodies get.
      bodyLimit: SEAL_BODY_LIMIT_BYTES,
      schema: {
        tags: ['Audit'],
        summary: 'Verifies the whole event log: its chain, the read models against a replay, and an earlier seal',
        description:
          'Reads every event from the event store (not the audit read model) and checks each stream\'s chain of hashes; ' +
          'replays the budget events and compares balances, commitments and spendings with the read models, as far as each ' +
          'projection has processed the log; with `seal`, reports every stream that went back or changed since. One verify ' +
          'runs at a time (a second one is 409); a million events take about 35 seconds on two cores. A seal this service ' +
          'did not make with its key (its HMAC does not match) is refused with a 400 before anything is verified.',
        querystring: noQuery,
        body: z.strictObject({
          seal: sealInputSchema.optional().meta({ description: 'An earlier answer of GET /v1/audit/seal, as it was; `{}` verifies without one' }),
        }),
        response: {
          200: answer('The report; `ok` is false when anything did not verify', verifyReportSchema),
          400: problemAnswer(
            'The body is not valid (validation), or the seal is not one this service made with its key: ' +
              'its HMAC does not match (validation, at `seal.hmac`)',
          ),
          409: problemAnswer('Another verify is under way (conflict); try again when it has ended'),
          503: problemAnswer(
            'Not now (unavailable); see Retry-After: the read models cannot be compared with the events at all (a table missing, ' +
              'a checkpoint holding no position: the detail says which, and what mends it), or as for every route',
          ),
          413: problemAnswer(`The body is larger than ${SEAL_BODY_LIMIT_BYTES / 1024 / 1024} MiB (payload-too-large)`),
        },
      },
    },
    async (request, reply) => {
      const seal = request.body.seal
      const started = deps.verifier.verify(seal)
      if (started.kind === 'forged') {
        return sendProblem(reply, problem('validation', 400, 'the seal does not verify', [{ path: 'seal.hmac', message: started.reason }]))
      }
      if (started.kind === 'busy') {
        return sendProblem(reply, problem('conflict', 409, 'a verify is under way; try again when it has ended'))
      }
      try {
        return await started.report
      } catch (error) {
        if (!(error instanceof ReadModelsUnreadableError)) throw error
        // An operator mends it (a migration, a rebuild): said to the auditor, not only logged.
        request.log.error({ err: error }, 'verify: the read models cannot be compared')
        reply.header('retry-after', String(UNREADABLE_RETRY_AFTER_SECONDS))
        return sendProblem(reply, problem('unavailable', 503, `the read models cannot be compared with the events: ${error.message}`))
      }
    },
  )

  app.get(
    '/v1/audit/seal',
    {
      schema: {
        tags: ['Audit'],
        summary: 'A signed seal of the log: every stream\'s head and a root hash over them',
        description:
          'Reads the whole log from the event store and signs where every stream stands with a key kept outside the database. ' +
          'Keep the answer as it is: POST /v1/audit/verify with it reports every stream that lost events or changed since.',
        // It reads the event store itself: ?minPosition= is taken, as by every GET, and needs no wait.
        querystring: z.strictObject({
          minPosition: readQuery.minPosition.meta({ description: 'Taken as by every GET; the seal reads the event store itself, so nothing waits for it' }),
        }),
        response: {
          200: answer('The seal of the log as it is now, signed by this service', sealSchema),
          400: problemAnswer('The query string is not valid (validation); `errors` names each field'),
        },
      },
    },
    () => deps.verifier.seal(),
  )
}

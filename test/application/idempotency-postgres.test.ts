import t, { type Test } from 'tap'
import { scopedKey } from '../../src/application/idempotency-keys.js'
import { PgKeyHolds } from '../../src/sql/pg-key-holds.js'
import type { Service } from '../../src/service.js'
import { assertProblem, assertWritten, get, post, seed, spendingBody, type ApiResponse } from '../helpers/api.js'
import { createTestSchema, openServiceOn, openSession, skipWithoutPostgres } from '../helpers/postgres.js'
import { DEFAULT_ACTOR } from '../helpers/tokens.js'

/**
 * A retry that reaches a second process while its first request is still being written waits for
 * it and answers as it did (docs/api.md, Idempotency-Key). "The first request, still being written"
 * is a third party here: a session of its own holding the key with the service's own PgKeyHolds,
 * as a process does from before it decides a keyed write until it has answered it.
 */

const skip = await skipWithoutPostgres()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function setUp(t: Test) {
  const schema = await createTestSchema()
  const services: Service[] = []
  const session = await openSession(schema.url)
  t.teardown(async () => {
    await session.close()
    for (const service of services) await service.close()
    await schema.drop()
  })
  const open = async (keyHoldWaitMs?: number) => {
    const service = await openServiceOn(schema.url, {}, keyHoldWaitMs === undefined ? {} : { keyHoldWaitMs })
    services.push(service)
    return service
  }
  /** Holds `key` of the default actor as another process in the middle of writing its request would. */
  const holdAsAnotherProcess = async (key: string) => {
    const unhold = await new PgKeyHolds(session, schema.schema).hold(scopedKey(DEFAULT_ACTOR.sub, key))
    if (unhold === undefined) throw new Error('the key is held already')
    return unhold
  }
  return { open, holdAsAnotherProcess }
}

function watch(answer: Promise<ApiResponse>): { answered: boolean; response: Promise<ApiResponse> } {
  const box = { answered: false, response: answer }
  void answer.then(() => (box.answered = true))
  return box
}

t.test('a retry on another process waits for the first write and answers as it did', { skip }, async (t) => {
  const { open, holdAsAnotherProcess } = await setUp(t)
  const a = await open()
  const b = await open()
  const { url } = await seed(a.app, 'sr-holds', { flexible: '100.00' })
  const spent = await post(a.app, `${url}/spending`, spendingBody({ amount: '80.00' }))
  assertWritten(t, spent, 'the first spending')
  t.equal((await get(b.app, url, spent.body.position)).body.lines.flexible.available, '20.00', 'b has seen it: 20.00 left')

  // The soak test's case: the retry reaches b while the first request is under way, before the
  // reversal that gives it room is written. Decided at once, b would refuse it (insufficient-funds).
  const request = spendingBody({ amount: '50.00', receiptRef: 'R-held' })
  const headers = { 'idempotency-key': 'held-key' }
  const unhold = await holdAsAnotherProcess('held-key')
  const retry = watch(post(b.app, `${url}/spending`, request, headers))
  await sleep(400)
  t.notOk(retry.answered, 'b waits while another process holds the key')
  assertWritten(t, await post(a.app, `${url}/spending/${spent.body.id}/reversal`, { reason: 'Fehlbuchung' }), 'the reversal')
  const first = watch(post(a.app, `${url}/spending`, request, headers))
  await sleep(200)
  t.notOk(first.answered, 'a waits too')
  unhold()

  const [one, two] = await Promise.all([first.response, retry.response])
  assertWritten(t, one, 'a')
  assertWritten(t, two, 'b')
  t.same(two.body, one.body, 'both processes give the same answer')
  const replays = [one, two].filter((response) => response.headers['idempotent-replayed'] === 'true')
  t.equal(replays.length, 1, 'one of them wrote it, the other replayed it')
  const budget = await get(a.app, url, one.body.position)
  t.equal(budget.body.lines.flexible.spent, '50.00', 'written once: 50.00 spent after the reversal')
})

t.test('a key held past the wait is 409 idempotency-key-in-progress, and nothing is written', { skip }, async (t) => {
  const { open, holdAsAnotherProcess } = await setUp(t)
  const impatient = await open(200)
  const { url } = await seed(impatient.app, 'sr-impatient')
  const request = spendingBody({ amount: '10.00', receiptRef: 'R-impatient' })
  const headers = { 'idempotency-key': 'slow-key' }
  const unhold = await holdAsAnotherProcess('slow-key')
  const refused = await post(impatient.app, `${url}/spending`, request, headers)
  assertProblem(t, refused, 409, 'idempotency-key-in-progress')
  t.equal(refused.headers['retry-after'], '1', 'with Retry-After: 1')
  unhold()
  const sent = await post(impatient.app, `${url}/spending`, request, headers)
  assertWritten(t, sent, 'sent again after the hold')
  t.not(sent.headers['idempotent-replayed'], 'true', 'written now: the refused attempt had written nothing')
  t.equal((await get(impatient.app, url, sent.body.position)).body.lines.flexible.spent, '10.00', 'once')
})

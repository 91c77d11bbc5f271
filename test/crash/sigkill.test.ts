import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  AUTHORIZATION,
  call,
  centsOf,
  EXIT_TIMEOUT_MS,
  expect201,
  killAll,
  maxOf,
  REQUEST_TIMEOUT_MS,
  sample,
  ServerProcess,
  until,
  within,
  type Answer,
} from '../helpers/process.js'

/**
 * Crash tests against the real process: `node --import tsx src/main.ts` on a SQLite file, driven
 * over real HTTP. A 201 is a promise to the client; SIGKILL must not break it, and a retry with the
 * same Idempotency-Key must never write twice.
 */

const LOAD_CONCURRENCY = 16
const LOAD_DURATION_MS = 1_500
const LOAD_MIN_ACKNOWLEDGED = 50
const LOAD_DEADLINE_MS = 20_000
const YEAR = 2025
const FLEXIBLE_ALLOCATION = '10000000.00'

/** A fresh directory and a way to start servers in it; everything is killed and deleted at the end. */
function workspace(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-crash-'))
  const servers: ServerProcess[] = []
  t.teardown(async () => {
    await killAll(servers)
    rmSync(dir, { recursive: true, force: true })
  })
  const databasePath = join(dir, 'ledger.db')
  return {
    databasePath,
    start: () => ServerProcess.start({ DATABASE_URL: `sqlite:${databasePath}` }, (server) => servers.push(server)),
  }
}

async function setUpBudget(server: ServerProcess, sozialraum: string): Promise<bigint> {
  await expect201(call(server, 'POST', '/v1/sozialraeume', { id: sozialraum, name: `Crash ${sozialraum}` }), 'register')
  const allocated = await expect201(
    call(server, 'POST', `/v1/budgets/${YEAR}/${sozialraum}/allocations`, {
      line: 'flexible',
      amount: FLEXIBLE_ALLOCATION,
      decisionRef: 'crash-test',
    }),
    'allocate',
  )
  return BigInt(allocated.body.position as string)
}

interface SpendingBody {
  id: string
  amount: string
  purpose: string
  receiptRef: string
  date: string
}

interface Attempt {
  key: string
  body: SpendingBody
  /** Response status, once the headers came back. */
  status?: number
  /** Position of the write, once the whole 201 body came back. */
  position?: bigint
  error?: string
  done: boolean
}

function newAttempt(sequence: number): Attempt {
  const cents = 100 + ((sequence * 7919) % 99_900) // 1.00 … 999.99, varied
  return {
    key: `crash-${randomUUID()}`,
    body: {
      id: randomUUID(),
      amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      purpose: `crash test spending ${sequence}`,
      receiptRef: `R-${sequence}`,
      date: `${YEAR}-03-01`,
    },
    done: false,
  }
}

async function postSpending(server: ServerProcess, sozialraum: string, attempt: Attempt): Promise<Answer> {
  return call(server, 'POST', `/v1/budgets/${YEAR}/${sozialraum}/spending`, attempt.body, {
    'idempotency-key': attempt.key,
  })
}

interface AuditEntry {
  position: string
  type: string
  data: { spendingId?: string; amountCents?: unknown }
}

/** Every audit entry of a budget of one type, through all pages. */
async function auditEntries(
  server: ServerProcess,
  sozialraum: string,
  type: string,
  minPosition: bigint,
): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = []
  let after: string | null = null
  for (let page = 0; page < 1000; page++) {
    const query = new URLSearchParams({ year: String(YEAR), sozialraum, type, limit: '1000', minPosition: String(minPosition) })
    if (after !== null) query.set('after', after)
    const answer = await call(server, 'GET', `/v1/audit/events?${query}`)
    if (answer.status !== 200) throw new Error(`audit events: ${answer.status} ${JSON.stringify(answer.body)}`)
    entries.push(...(answer.body.items as AuditEntry[]))
    after = answer.body.next as string | null
    if (after === null) return entries
  }
  throw new Error('the audit trail did not end within 1000 pages')
}

t.test('SIGKILL under concurrent writes loses no acknowledged spending and writes nothing twice', async (t) => {
  const { start } = workspace(t)
  const sozialraum = 'crash-sigkill'
  const first = await start()
  const allocationPosition = await setUpBudget(first, sozialraum)

  // Load: LOAD_CONCURRENCY writers in a loop, each spending with its own id and Idempotency-Key.
  const attempts: Attempt[] = []
  let stopping = false
  const writer = async () => {
    while (!stopping) {
      const attempt = newAttempt(attempts.length)
      attempts.push(attempt)
      try {
        const response = await fetch(`${first.url}/v1/budgets/${YEAR}/${sozialraum}/spending`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': attempt.key, authorization: AUTHORIZATION },
          body: JSON.stringify(attempt.body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        attempt.status = response.status
        const body = (await response.json()) as { position?: string }
        if (response.status === 201 && typeof body.position === 'string') attempt.position = BigInt(body.position)
        if (response.status !== 201) attempt.error = JSON.stringify(body)
      } catch (error) {
        attempt.error = error instanceof Error ? `${error.message} (${String(error.cause)})` : String(error)
      } finally {
        attempt.done = true
      }
    }
  }
  const loadStartedAt = Date.now()
  const writers = Array.from({ length: LOAD_CONCURRENCY }, writer)
  const acknowledgedCount = () => attempts.filter((attempt) => attempt.position !== undefined).length
  await until(
    () => Date.now() - loadStartedAt >= LOAD_DURATION_MS && acknowledgedCount() >= LOAD_MIN_ACKNOWLEDGED,
    LOAD_DEADLINE_MS,
    `${LOAD_MIN_ACKNOWLEDGED} acknowledged spendings`,
  )

  const inFlightAtKill = attempts.filter((attempt) => !attempt.done).length
  first.child.kill('SIGKILL')
  stopping = true
  const exit = await within(first.exited, EXIT_TIMEOUT_MS, 'the killed server to exit')
  await within(Promise.all(writers), REQUEST_TIMEOUT_MS + 5_000, 'the writers to stop')
  t.equal(exit.signal, 'SIGKILL', 'the server died of SIGKILL')
  t.ok(inFlightAtKill > 0, `requests were in flight at the kill (${inFlightAtKill})`)

  const acknowledged = attempts.filter((attempt) => attempt.status === 201)
  const unanswered = attempts.filter((attempt) => attempt.status === undefined)
  const otherStatus = attempts.filter((attempt) => attempt.status !== undefined && attempt.status !== 201)
  t.strictSame(
    sample(otherStatus.map((attempt) => `${attempt.status}: ${attempt.error}`)),
    sample([]),
    'every answered spending was a 201',
  )
  t.comment(
    `${attempts.length} attempts: ${acknowledged.length} acknowledged, ${unanswered.length} unanswered, ` +
      `${inFlightAtKill} in flight at the kill`,
  )

  // Restart on the same file: every acknowledged spending is there.
  const second = await start()
  const acknowledgedPositions = acknowledged.flatMap((attempt) => (attempt.position === undefined ? [] : [attempt.position]))
  const maxAcknowledged = maxOf(acknowledgedPositions)
  t.ok(maxAcknowledged > allocationPosition, 'acknowledged writes came after the allocation')
  const afterRestart = await call(
    second,
    'GET',
    `/v1/budgets/${YEAR}/${sozialraum}/spending?minPosition=${maxAcknowledged}`,
  )
  t.equal(afterRestart.status, 200, 'the spending list answers after the restart')
  const listedAfterRestart = new Set((afterRestart.body.items as { id: string }[]).map((item) => item.id))
  t.strictSame(
    sample(acknowledged.filter((attempt) => attempt.position !== undefined && !listedAfterRestart.has(attempt.body.id)).map((a) => a.body.id)),
    sample([]),
    'every acknowledged spending survived the SIGKILL',
  )

  // Retry each unacknowledged request with its Idempotency-Key: it replays if it had been written,
  // else it writes now. Retrying twice shows that neither path writes again.
  const retryPositions: bigint[] = []
  const retryProblems: string[] = []
  let replayedOnFirstRetry = 0
  const unacknowledged = attempts.filter((attempt) => attempt.status !== 201)
  for (const round of [1, 2]) {
    const queue = [...unacknowledged]
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async () => {
        for (let attempt = queue.shift(); attempt !== undefined; attempt = queue.shift()) {
          const answer = await postSpending(second, sozialraum, attempt)
          const replayed = answer.headers.get('idempotent-replayed') === 'true'
          if (answer.status !== 201 || answer.body.id !== attempt.body.id) {
            retryProblems.push(`round ${round}: ${answer.status} ${JSON.stringify(answer.body)}`)
            continue
          }
          if (round === 1) {
            if (replayed) replayedOnFirstRetry++
            // A first retry may be the first write; it is acknowledged now.
            attempt.status = 201
            attempt.position = BigInt(answer.body.position as string)
            retryPositions.push(attempt.position)
          } else if (!replayed || BigInt(answer.body.position as string) !== attempt.position) {
            retryProblems.push(`round 2 wrote again: ${attempt.body.id} at ${String(answer.body.position)}`)
          }
        }
      }),
    )
  }
  t.strictSame(sample(retryProblems), sample([]), 'every retry answered 201 for its own spending, the second as a replay')
  t.comment(`${unacknowledged.length} retried: ${replayedOnFirstRetry} had been written before the kill`)

  // A retry of an acknowledged request replays the first answer and writes nothing.
  for (const attempt of acknowledged.slice(0, 5)) {
    const answer = await postSpending(second, sozialraum, attempt)
    t.equal(answer.status, 201, 'a retried acknowledged spending answers 201')
    t.equal(answer.headers.get('idempotent-replayed'), 'true', 'as a replay')
    if (attempt.position !== undefined) t.equal(answer.body.position, attempt.position.toString(), 'at the first position')
  }

  // Now every attempt is written exactly once: the read models, the budget and the audit trail agree.
  const everything = maxOf([...acknowledgedPositions, ...retryPositions])
  const listing = await call(second, 'GET', `/v1/budgets/${YEAR}/${sozialraum}/spending?minPosition=${everything}`)
  t.equal(listing.status, 200)
  const items = listing.body.items as { id: string; amount: string }[]
  const listedIds = items.map((item) => item.id)
  t.equal(new Set(listedIds).size, listedIds.length, 'no spending is listed twice')
  const attemptIds = new Set(attempts.map((attempt) => attempt.body.id))
  t.strictSame(
    sample(listedIds.filter((id) => !attemptIds.has(id))),
    sample([]),
    'nothing is listed that was not asked for',
  )
  t.strictSame(
    sample(attempts.filter((attempt) => !listedIds.includes(attempt.body.id)).map((attempt) => attempt.body.id)),
    sample([]),
    'every attempted spending is listed (acknowledged, or written by its retry)',
  )
  t.equal(items.length, attempts.length, 'one spending per attempt')

  const listedCents = items.reduce((sum, item) => sum + centsOf(item.amount), 0n)
  const attemptedCents = attempts.reduce((sum, attempt) => sum + centsOf(attempt.body.amount), 0n)
  t.equal(listedCents, attemptedCents, 'the listed amounts are the amounts asked for')

  const budget = await call(second, 'GET', `/v1/budgets/${YEAR}/${sozialraum}?minPosition=${everything}`)
  t.equal(budget.status, 200)
  const flexible = (budget.body.lines as Record<string, Record<string, string>>).flexible
  t.equal(centsOf(flexible?.spent), listedCents, "the flexible line's spent is the sum of the listed spendings")
  t.equal(centsOf(flexible?.allocated), centsOf(FLEXIBLE_ALLOCATION), 'the allocation is intact')
  t.equal(
    centsOf(flexible?.available),
    centsOf(FLEXIBLE_ALLOCATION) - listedCents,
    'available = allocated - spent',
  )
  t.equal(budget.body.revision, String(items.length), 'the stream holds the allocation and one event per spending')

  const recorded = await auditEntries(second, sozialraum, 'SpendingRecorded', everything)
  const auditIds = recorded.map((entry) => entry.data.spendingId)
  t.equal(new Set(auditIds).size, auditIds.length, 'the audit trail records each spending once')
  t.strictSame([...auditIds].sort(), [...listedIds].sort(), 'the audit trail names the listed spendings')
  const auditCents = recorded.reduce((sum, entry) => sum + BigInt(String(entry.data.amountCents)), 0n)
  t.equal(auditCents, listedCents, 'the audit trail sums to the same amount')
  const allocations = await auditEntries(second, sozialraum, 'BudgetAllocated', everything)
  t.equal(allocations.length, 1, 'the audit trail holds the one allocation')

  const stopped = await second.kill('SIGTERM')
  t.strictSame(stopped, { code: 0, signal: null }, 'the restarted server stops cleanly')
})

t.test('SIGTERM lets a request in flight finish, then stops cleanly', async (t) => {
  const { start } = workspace(t)
  const sozialraum = 'crash-sigterm'
  const server = await start()
  await setUpBudget(server, sozialraum)

  // A spending whose body arrives only after SIGTERM: the request is in flight during the shutdown.
  const requestId = `sigterm-${randomUUID()}`
  const spendingId = randomUUID()
  const payload = JSON.stringify({
    id: spendingId,
    amount: '42.00',
    purpose: 'in flight during SIGTERM',
    receiptRef: 'R-SIGTERM',
    date: `${YEAR}-03-01`,
  })
  const split = Math.floor(payload.length / 2)
  const url = new URL(`${server.url}/v1/budgets/${YEAR}/${sozialraum}/spending`)
  const request = httpRequest({
    hostname: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent: false,
    timeout: REQUEST_TIMEOUT_MS,
    headers: {
      'content-type': 'application/json',
      authorization: AUTHORIZATION,
      'content-length': Buffer.byteLength(payload),
      'idempotency-key': requestId,
      'x-request-id': requestId,
    },
  })
  const answer = new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    request.on('response', (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('the in-flight request timed out')))
    request.on('error', reject)
  })
  answer.catch(() => undefined) // awaited below; do not let an early failure go unhandled meanwhile
  request.write(payload.slice(0, split))

  await server.waitForLog((record) => record.reqId === requestId && record.msg === 'incoming request', REQUEST_TIMEOUT_MS)
  server.child.kill('SIGTERM')
  await server.waitForLog((record) => record.msg === 'shutting down: finishing requests in flight', REQUEST_TIMEOUT_MS)
  request.end(payload.slice(split))

  const response = await within(answer, REQUEST_TIMEOUT_MS, 'the in-flight request to complete')
  t.equal(response.status, 201, `the in-flight spending completes with 201: ${response.body}`)
  t.equal((JSON.parse(response.body) as { id?: string }).id, spendingId, 'for the spending sent')

  const exit = await within(server.exited, EXIT_TIMEOUT_MS, 'the server to exit after SIGTERM')
  t.strictSame(exit, { code: 0, signal: null }, 'the server exits with code 0')
  t.ok(
    server.logs.some((record) => record.msg === 'stopped cleanly'),
    "the server logs 'stopped cleanly'",
  )
  t.notOk(
    server.logs.some((record) => typeof record.level === 'number' && record.level >= 50),
    'nothing was logged at error level or above',
  )

  // The write finished during the shutdown is durable.
  const again = await start()
  const position = (JSON.parse(response.body) as { position: string }).position
  const listing = await call(again, 'GET', `/v1/budgets/${YEAR}/${sozialraum}/spending?minPosition=${position}`)
  t.ok(
    (listing.body.items as { id: string }[]).some((item) => item.id === spendingId),
    'the spending written during the shutdown is there after a restart',
  )
  const replay = await postSpending(again, sozialraum, {
    key: requestId,
    body: JSON.parse(payload) as SpendingBody,
    done: false,
  })
  t.equal(replay.headers.get('idempotent-replayed'), 'true', 'its retry replays')
  t.strictSame(await again.kill('SIGTERM'), { code: 0, signal: null }, 'the restarted server stops cleanly')
})

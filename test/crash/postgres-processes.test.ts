import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { Service } from '../../src/service.js'
import { get, post } from '../helpers/api.js'
import { createTestSchema, openServiceOn, skipWithoutPostgres, TEST_POSTGRES_SEAL_KEY, type TestSchema } from '../helpers/postgres.js'
import {
  AUTHORIZATION,
  call,
  centsOf,
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
 * Several service processes on one PostgreSQL schema, as in production: real child processes of
 * `src/main.ts` (PORT=0, the same JWT_SECRET and AUDIT_SEAL_KEY), driven over HTTP. They race
 * for the same money, lose their projector to SIGKILL, and die in the middle of writes; and a
 * key used in one process cannot serve another request in the other.
 */

const skip = await skipWithoutPostgres()

const YEAR = 2025
/** Generous: how long the survivor may take to project after the projector died. */
const TAKEOVER_DEADLINE_MS = 10_000
const WRITERS_PER_SERVER = 8
const LOAD_MIN_MS = 1_000
const LOAD_MIN_ACKNOWLEDGED = 30
const LOAD_DEADLINE_MS = 30_000
const PROBLEM = 'urn:sojus-ledger:problem:'

/** A schema and a way to start services on it; every process is killed, and the schema dropped, at the end. */
async function cluster(t: Test): Promise<{ schema: TestSchema; start: () => Promise<ServerProcess> }> {
  const schema = await createTestSchema()
  const servers: ServerProcess[] = []
  t.teardown(async () => {
    await killAll(servers)
    await schema.drop()
  })
  const start = () =>
    ServerProcess.start({ DATABASE_URL: schema.url, AUDIT_SEAL_KEY: TEST_POSTGRES_SEAL_KEY }, (server) => servers.push(server))
  return { schema, start }
}

/** Registers the Sozialraum (through one process) and allocates its flexible line (through the other). */
async function setUpBudget(first: ServerProcess, second: ServerProcess, sozialraum: string, flexible: string): Promise<bigint> {
  await expect201(call(first, 'POST', '/v1/sozialraeume', { id: sozialraum, name: `Processes ${sozialraum}` }), 'register')
  const allocated = await expect201(
    call(second, 'POST', `/v1/budgets/${YEAR}/${sozialraum}/allocations`, { line: 'flexible', amount: flexible, decisionRef: 'processes' }),
    'allocate',
  )
  return BigInt(allocated.body.position as string)
}

interface ReadyBody {
  status: string
  projections: { position: string; head: string; lag: string; projecting: boolean }
}

async function ready(server: ServerProcess): Promise<ReadyBody> {
  const answer = await call(server, 'GET', '/ready')
  if (answer.status !== 200) throw new Error(`/ready: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body as unknown as ReadyBody
}

/** Waits until exactly one of the servers projects, and returns it. */
async function projector(servers: ServerProcess[]): Promise<ServerProcess> {
  const deadline = Date.now() + TAKEOVER_DEADLINE_MS
  for (;;) {
    const states = await Promise.all(servers.map(async (server) => (await ready(server)).projections.projecting))
    const projecting = servers.filter((_, i) => states[i])
    if (projecting.length === 1 && projecting[0]) return projecting[0]
    if (Date.now() > deadline) throw new Error(`not exactly one projector: ${states.join(', ')}`)
    await delay(100)
  }
}

interface Flexible {
  allocated: string
  committed: string
  spent: string
  available: string
}

async function flexibleLine(server: ServerProcess, sozialraum: string, minPosition: bigint): Promise<Flexible> {
  const budget = await call(server, 'GET', `/v1/budgets/${YEAR}/${sozialraum}?minPosition=${minPosition}`)
  if (budget.status !== 200) throw new Error(`budget: ${budget.status} ${JSON.stringify(budget.body)}`)
  const lines = budget.body.lines as Record<string, Flexible>
  if (!lines.flexible) throw new Error('no flexible line')
  return lines.flexible
}

async function spendingIds(server: ServerProcess, sozialraum: string, minPosition: bigint): Promise<string[]> {
  const listing = await call(server, 'GET', `/v1/budgets/${YEAR}/${sozialraum}/spending?minPosition=${minPosition}`)
  if (listing.status !== 200) throw new Error(`spending list: ${listing.status} ${JSON.stringify(listing.body)}`)
  return (listing.body.items as Array<{ id: string }>).map((item) => item.id)
}

/** POST /v1/audit/verify: `ok` and how far each read model was compared. */
async function verify(server: ServerProcess): Promise<Answer> {
  return call(server, 'POST', '/v1/audit/verify', {})
}

function spendingBody(sequence: number, amount?: string) {
  const cents = 100 + ((sequence * 7919) % 9_900) // 1.00 … 99.99, varied
  return {
    id: randomUUID(),
    amount: amount ?? `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
    purpose: `processes test spending ${sequence}`,
    receiptRef: `R-${sequence}`,
    date: `${YEAR}-05-01`,
  }
}

interface Attempt {
  key: string
  body: ReturnType<typeof spendingBody>
  server: ServerProcess
  status?: number
  position?: bigint
  error?: string
  done: boolean
}

async function postSpending(server: ServerProcess, sozialraum: string, attempt: Pick<Attempt, 'key' | 'body'>): Promise<Answer> {
  return call(server, 'POST', `/v1/budgets/${YEAR}/${sozialraum}/spending`, attempt.body, { 'idempotency-key': attempt.key })
}

/** Writers spending in a loop through the given servers, each with its own id and Idempotency-Key. */
function load(sozialraum: string, targets: ServerProcess[]) {
  const attempts: Attempt[] = []
  const stopped = new Set<ServerProcess>()
  let stopping = false
  let busy = 0
  const writer = async (server: ServerProcess) => {
    while (!stopping && !stopped.has(server)) {
      const attempt: Attempt = { key: `processes-${randomUUID()}`, body: spendingBody(attempts.length), server, done: false }
      attempts.push(attempt)
      try {
        // A 503 (other writers came first too often) is retried with the same key, as a client would.
        for (let tries = 1; ; tries++) {
          attempt.status = undefined
          const response = await fetch(`${server.url}/v1/budgets/${YEAR}/${sozialraum}/spending`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': attempt.key, authorization: AUTHORIZATION },
            body: JSON.stringify(attempt.body),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          })
          attempt.status = response.status
          const body = (await response.json()) as { position?: string }
          if (response.status === 201 && typeof body.position === 'string') attempt.position = BigInt(body.position)
          else attempt.error = JSON.stringify(body)
          if (response.status !== 503 || tries >= 10) break
          busy++
          await delay(50 + Math.random() * 100)
        }
      } catch (error) {
        attempt.error = error instanceof Error ? `${error.message} (${String(error.cause)})` : String(error)
      } finally {
        attempt.done = true
      }
    }
  }
  const startedAt = Date.now()
  const writers = targets.flatMap((server) => Array.from({ length: WRITERS_PER_SERVER }, () => writer(server)))
  const acknowledged = () => attempts.filter((attempt) => attempt.position !== undefined)
  return {
    attempts,
    acknowledged,
    /** How many 503 answers were retried. */
    busy: () => busy,
    /** Resolves once the load ran a while and enough writes were acknowledged. */
    warmedUp: (minimum = LOAD_MIN_ACKNOWLEDGED) =>
      until(() => Date.now() - startedAt >= LOAD_MIN_MS && acknowledged().length >= minimum, LOAD_DEADLINE_MS, `${minimum} acknowledged spendings`),
    /** The writers to `server` stop (their requests in flight end as they may). */
    stopWritingTo: (server: ServerProcess) => stopped.add(server),
    stop: async () => {
      stopping = true
      await within(Promise.all(writers), REQUEST_TIMEOUT_MS + 5_000, 'the writers to stop')
    },
  }
}

const sumCents = (attempts: Array<{ body: { amount: string } }>): bigint => attempts.reduce((sum, attempt) => sum + centsOf(attempt.body.amount), 0n)

/** What verify must say once the read models have reached the head: ok, and every model compared up to it. */
function assertVerified(t: Test, report: Answer, head: bigint, who: string): void {
  t.equal(report.status, 200, `${who}: verify answers 200`)
  t.match(
    report.body,
    {
      ok: true,
      head: String(head),
      comparedAt: { balances: String(head), commitments: String(head), spending: String(head) },
      mismatchesFound: 0,
      chain: { ok: true, breaksFound: 0 },
      auditTrail: { ok: true, comparedAt: String(head), mismatchesFound: 0 },
    },
    `${who}: the read models equal a replay of the log up to its head (${head})`,
  )
}

async function raceForTheLastEuros(t: Test): Promise<void> {
  const { start } = await cluster(t)
  const servers = await Promise.all([start(), start()])
  const [first, second] = servers
  if (!first || !second) throw new Error('no servers')
  const sozialraum = 'race'
  await setUpBudget(first, second, sozialraum, '1000.00')

  // 40 spendings of 50.00 at once, alternating between the processes; a 503 (the stream was busy) is retried with its key.
  const attempts = Array.from({ length: 40 }, (_, i) => ({
    key: `race-${randomUUID()}`,
    body: spendingBody(i, '50.00'),
    server: i % 2 === 0 ? first : second,
    answers: [] as Answer[],
  }))
  const startedAt = Date.now()
  await Promise.all(
    attempts.map(async (attempt) => {
      for (let tries = 0; tries < 20; tries++) {
        const answer = await postSpending(attempt.server, sozialraum, attempt)
        attempt.answers.push(answer)
        if (answer.status !== 503) return
        await delay(100 + Math.random() * 200)
      }
    }),
  )
  const final = attempts.map((attempt) => attempt.answers.at(-1))
  const accepted = attempts.filter((_, i) => final[i]?.status === 201)
  const refused = final.filter((answer) => answer?.status === 422)
  const busy = attempts.reduce((count, attempt) => count + attempt.answers.filter((answer) => answer.status === 503).length, 0)
  const busyDetail = attempts.flatMap((attempt) => attempt.answers.filter((answer) => answer.status === 503).map((answer) => String(answer.body.detail)))
  t.comment(`40 spendings in ${Date.now() - startedAt} ms; ${busy} answers were 503 and retried${busy > 0 ? `: ${busyDetail[0]}` : ''}`)
  t.equal(accepted.length, 20, 'exactly 20 spendings of 50.00 fit into 1000.00')
  t.equal(refused.length, 20, 'the other 20 are refused with 422')
  t.ok(
    refused.every((answer) => answer?.body.type === `${PROBLEM}insufficient-funds`),
    'as insufficient-funds',
  )
  // Which process wins how many depends on timing (one may win all of them): only the sum is a rule.
  t.comment(`accepted by the first process: ${accepted.filter((attempt) => attempt.server === first).length}, by the second: ${accepted.filter((attempt) => attempt.server === second).length}`)

  const highest = maxOf(accepted.map((attempt) => BigInt(attempt.answers.at(-1)?.body.position as string)))
  for (const [name, server] of [['first', first], ['second', second]] as const) {
    t.strictSame(
      await flexibleLine(server, sozialraum, highest),
      { allocated: '1000.00', committed: '0.00', spent: '1000.00', available: '0.00' },
      `the ${name} process shows 0.00 available at ${highest}`,
    )
    t.strictSame(
      (await spendingIds(server, sozialraum, highest)).sort(),
      accepted.map((attempt) => attempt.body.id).sort(),
      `the ${name} process lists exactly the accepted spendings`,
    )
  }
  assertVerified(t, await verify(second), highest, 'the second process')
  for (const server of servers) t.strictSame(await server.kill('SIGTERM'), { code: 0, signal: null }, 'a process stops cleanly')
}

async function projectorKilled(t: Test): Promise<void> {
  const { start } = await cluster(t)
  const servers = await Promise.all([start(), start()])
  const [one, other] = servers
  if (!one || !other) throw new Error('no servers')
  const sozialraum = 'projector-killed'
  const allocation = '10000000.00'
  await setUpBudget(one, other, sozialraum, allocation)
  const projecting = await projector(servers)
  const survivor = projecting === one ? other : one
  t.equal((await ready(survivor)).projections.projecting, false, 'the other process follows')

  const writes = load(sozialraum, [survivor])
  await writes.warmedUp()
  const before = writes.acknowledged().length
  const killedAt = Date.now()
  projecting.child.kill('SIGKILL')
  const exit = await within(projecting.exited, 15_000, 'the projector to exit')
  t.equal(exit.signal, 'SIGKILL', 'the projector died of SIGKILL')
  let takeover: number | undefined
  const deadline = killedAt + TAKEOVER_DEADLINE_MS
  while (takeover === undefined && Date.now() <= deadline) {
    if ((await ready(survivor)).projections.projecting) takeover = Date.now() - killedAt
    else await delay(100)
  }
  t.ok(takeover !== undefined, `the survivor projects within ${TAKEOVER_DEADLINE_MS} ms of the kill (after ${takeover ?? '?'} ms)`)
  await writes.warmedUp(before + LOAD_MIN_ACKNOWLEDGED)
  await writes.stop()

  const acknowledged = writes.acknowledged()
  t.strictSame(
    sample(writes.attempts.filter((attempt) => attempt.status !== 201).map((attempt) => `${attempt.status}: ${attempt.error}`)),
    sample([]),
    'every write through the survivor was acknowledged',
  )
  t.comment(`${acknowledged.length} spendings acknowledged, ${before} of them before the kill; takeover after ${takeover} ms; ${writes.busy()} 503 answers retried`)
  const last = maxOf(acknowledged.map((attempt) => attempt.position ?? 0n))
  t.strictSame(
    await flexibleLine(survivor, sozialraum, last),
    {
      allocated: allocation,
      committed: '0.00',
      spent: formatCents(sumCents(acknowledged)),
      available: formatCents(centsOf(allocation) - sumCents(acknowledged)),
    },
    'the balance is what the acknowledged spendings make it',
  )
  t.strictSame(
    (await spendingIds(survivor, sozialraum, last)).sort(),
    acknowledged.map((attempt) => attempt.body.id).sort(),
    'the survivor lists exactly the acknowledged spendings',
  )
  assertVerified(t, await verify(survivor), last, 'the survivor')
  const state = await ready(survivor)
  t.match(state, { status: 'ready', projections: { projecting: true, lag: '0', head: String(last) } }, '/ready: the survivor projects and has caught up')
  t.strictSame(await survivor.kill('SIGTERM'), { code: 0, signal: null }, 'the survivor stops cleanly')
}

async function killedDuringWrites(t: Test): Promise<void> {
  const { start } = await cluster(t)
  const servers = await Promise.all([start(), start()])
  const [one, other] = servers
  if (!one || !other) throw new Error('no servers')
  const sozialraum = 'killed-during-writes'
  const allocation = '10000000.00'
  await setUpBudget(one, other, sozialraum, allocation)
  // The projector survives here (its death is the test above): the follower dies with writes in flight.
  const survivor = await projector(servers)
  const victim = survivor === one ? other : one

  const writes = load(sozialraum, [victim, survivor])
  await writes.warmedUp()
  t.ok(writes.acknowledged().some((attempt) => attempt.server === victim), 'the victim acknowledged writes')
  t.ok(writes.acknowledged().some((attempt) => attempt.server === survivor), 'the survivor acknowledged writes')
  const inFlight = writes.attempts.filter((attempt) => attempt.server === victim && !attempt.done).length
  victim.child.kill('SIGKILL')
  writes.stopWritingTo(victim)
  const exit = await within(victim.exited, 15_000, 'the victim to exit')
  t.equal(exit.signal, 'SIGKILL', 'the victim died of SIGKILL')
  await delay(500) // the survivor keeps taking writes meanwhile
  await writes.stop()

  const { attempts } = writes
  const acknowledged = attempts.filter((attempt) => attempt.status === 201)
  const unacknowledged = attempts.filter((attempt) => attempt.status !== 201)
  t.strictSame(
    sample(attempts.filter((attempt) => attempt.status !== undefined && attempt.status !== 201).map((a) => `${a.status}: ${a.error}`)),
    sample([]),
    'every answered spending was a 201',
  )
  t.strictSame(
    sample(unacknowledged.filter((attempt) => attempt.server === survivor).map((a) => a.error)),
    sample([]),
    'every write through the survivor was answered',
  )
  t.comment(
    `${attempts.length} attempts: ${acknowledged.length} acknowledged (${acknowledged.filter((a) => a.server === victim).length} by the victim), ` +
      `${unacknowledged.length} unanswered; ${inFlight} in flight to the victim at the kill; ${writes.busy()} 503 answers retried`,
  )

  const lastAcknowledged = maxOf(acknowledged.map((attempt) => attempt.position ?? 0n))
  const listed = new Set(await spendingIds(survivor, sozialraum, lastAcknowledged))
  t.strictSame(
    sample(acknowledged.filter((attempt) => !listed.has(attempt.body.id)).map((attempt) => attempt.body.id)),
    sample([]),
    'every acknowledged spending is there after the kill',
  )

  // The unacknowledged ones again, with their keys, twice: the first retry replays or writes, the second always replays.
  const retryProblems: string[] = []
  const retryPositions: bigint[] = []
  let replayedOnFirstRetry = 0
  for (const round of [1, 2]) {
    for (const attempt of unacknowledged) {
      const answer = await postSpending(survivor, sozialraum, attempt)
      const replayed = answer.headers.get('idempotent-replayed') === 'true'
      if (answer.status !== 201 || answer.body.id !== attempt.body.id) {
        retryProblems.push(`round ${round}: ${answer.status} ${JSON.stringify(answer.body)}`)
        continue
      }
      const position = BigInt(answer.body.position as string)
      if (round === 1) {
        if (replayed) replayedOnFirstRetry++
        attempt.position = position
        retryPositions.push(position)
      } else if (!replayed || position !== attempt.position) {
        retryProblems.push(`round 2 wrote again: ${attempt.body.id} at ${position}`)
      }
    }
  }
  t.strictSame(sample(retryProblems), sample([]), 'every retry answered 201 for its own spending, the second as a replay')
  t.comment(`${unacknowledged.length} retried: ${replayedOnFirstRetry} had been written before the kill`)
  for (const attempt of acknowledged.filter((a) => a.server === victim).slice(0, 5)) {
    const answer = await postSpending(survivor, sozialraum, attempt)
    t.ok(
      answer.status === 201 && answer.headers.get('idempotent-replayed') === 'true' && answer.body.position === attempt.position?.toString(),
      'a spending acknowledged by the victim replays on the survivor at its first position',
    )
  }

  // Every attempt written exactly once.
  const everything = maxOf([lastAcknowledged, ...retryPositions])
  const ids = await spendingIds(survivor, sozialraum, everything)
  t.equal(new Set(ids).size, ids.length, 'no spending is listed twice')
  t.strictSame([...ids].sort(), attempts.map((attempt) => attempt.body.id).sort(), 'one spending per attempt, nothing else')
  t.strictSame(
    await flexibleLine(survivor, sozialraum, everything),
    {
      allocated: allocation,
      committed: '0.00',
      spent: formatCents(sumCents(attempts)),
      available: formatCents(centsOf(allocation) - sumCents(attempts)),
    },
    'the balance is what the attempted spendings make it',
  )
  assertVerified(t, await verify(survivor), everything, 'the survivor')
  t.strictSame(await survivor.kill('SIGTERM'), { code: 0, signal: null }, 'the survivor stops cleanly')
}

/** In-process services: an Idempotency-Key taken in one cannot serve another budget in the other. */
async function keyAcrossServices(t: Test): Promise<void> {
  const schema = await createTestSchema()
  const services: Service[] = []
  t.teardown(async () => {
    for (const service of services) await service.close().catch(() => undefined)
    await schema.drop()
  })
  for (let i = 0; i < 2; i++) services.push(await openServiceOn(schema.url))
  const [a, b] = services
  if (!a || !b) throw new Error('no services')
  const x = `/v1/budgets/${YEAR}/key-x`
  const y = `/v1/budgets/${YEAR}/key-y`
  for (const [sozialraum, url] of [['key-x', x], ['key-y', y]] as const) {
    t.equal((await post(a.app, '/v1/sozialraeume', { id: sozialraum, name: sozialraum })).status, 201)
    t.equal((await post(b.app, `${url}/allocations`, { line: 'flexible', amount: '1000.00', decisionRef: 'keys' })).status, 201)
  }
  const unchanged = async (what: string, head: bigint, yBefore: { revision: string; ids: string[] }) => {
    t.equal(await a.store.headPosition(), head, `${what}: nothing was written`)
    const budget = await get(b.app, y, String(head))
    t.equal(budget.body?.revision, yBefore.revision, `${what}: budget y is at its revision`)
    const listing = await get(b.app, `${y}/spending`, String(head))
    t.strictSame((listing.body?.items as Array<{ id: string }>).map((item) => item.id), yBefore.ids, `${what}: budget y lists what it did`)
  }
  const yNow = async (head: bigint) => ({
    revision: String((await get(a.app, y, String(head))).body?.revision),
    ids: ((await get(a.app, `${y}/spending`, String(head))).body?.items as Array<{ id: string }>).map((item) => item.id),
  })

  // A key used on A for budget x, then at once on B for budget y (B's read models may not know it yet: the store's claim refuses it).
  const key = `key-${randomUUID()}`
  const request = spendingBody(1)
  const onX = await post(a.app, `${x}/spending`, request, { 'idempotency-key': key })
  t.equal(onX.status, 201, 'A writes with the key on budget x')
  const head = BigInt(onX.body.position as string)
  const yBefore = await yNow(head)
  const onY = await post(b.app, `${y}/spending`, spendingBody(2), { 'idempotency-key': key })
  t.equal(onY.status, 422, 'B refuses the key for budget y')
  t.equal(onY.body?.type, `${PROBLEM}idempotency-key-reused`, 'as idempotency-key-reused')
  await unchanged('right after', head, yBefore)

  // Again once B's read models know the key.
  t.ok(await b.runner.waitFor(head, 5_000), 'B has processed the write')
  const again = await post(b.app, `${y}/spending`, spendingBody(3), { 'idempotency-key': key })
  t.equal(again.status, 422, 'B refuses it again once its read models know the key')
  t.equal(again.body?.type, `${PROBLEM}idempotency-key-reused`, 'as idempotency-key-reused')
  await unchanged('later', head, yBefore)

  // On budget x, B refuses another body with the key, and replays the same request.
  const other = await post(b.app, `${x}/spending`, spendingBody(4), { 'idempotency-key': key })
  t.equal(other.body?.type, `${PROBLEM}idempotency-key-reused`, 'B refuses another body with the key on budget x')
  await unchanged('another body', head, yBefore)
  const replay = await post(b.app, `${x}/spending`, request, { 'idempotency-key': key })
  t.equal(replay.status, 201, 'B answers the same request again')
  t.equal(replay.headers['idempotent-replayed'], 'true', 'as a replay')
  t.equal(replay.body?.position, onX.body.position, 'of the first write')
  await unchanged('the replay', head, yBefore)

  // One new key sent to both at once, for two budgets: one of them wins, the other is refused, one spending is written.
  const raced = `key-${randomUUID()}`
  const [ra, rb] = await Promise.all([
    post(a.app, `${x}/spending`, spendingBody(5), { 'idempotency-key': raced }),
    post(b.app, `${y}/spending`, spendingBody(6), { 'idempotency-key': raced }),
  ])
  t.strictSame([ra.status, rb.status].sort(), [201, 422], `one 201 and one 422 (A ${ra.status}, B ${rb.status})`)
  const loser = ra.status === 422 ? ra : rb
  t.equal(loser.body?.type, `${PROBLEM}idempotency-key-reused`, 'the loser is told the key is used')
  const winner = ra.status === 201 ? ra : rb
  t.equal(await a.store.headPosition(), head + 1n, 'exactly one event was written for the raced key')
  t.equal(winner.body.position, String(head + 1n), "at the winner's position")
}

function formatCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : ''
  const magnitude = cents < 0n ? -cents : cents
  return `${sign}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`
}

if (skip) t.test('service processes on one PostgreSQL schema', { skip }, () => {})
else {
  t.test('two processes race for the last euros of one line', raceForTheLastEuros)
  t.test('SIGKILL of the projecting process while the other takes writes', projectorKilled)
  t.test('SIGKILL of a process while both take writes loses no acknowledged write', killedDuringWrites)
  t.test('an Idempotency-Key taken in one service is refused for another budget in the other', keyAcrossServices)
}

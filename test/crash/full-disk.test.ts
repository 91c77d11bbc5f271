import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import { START } from '../../src/eventstore/port.js'
import { assertProblem, get, post, seed, spendingBody, type ApiResponse } from '../helpers/api.js'
import { mountTmpfs, pageLimitOf, unmount } from '../helpers/full-disk.js'
import type { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { ThreadRunner } from '../../projections/thread-runner.js'
import { call, centsOf, expect201, killAll, ServerProcess, type Answer } from '../helpers/process.js'
import { startTestService } from '../helpers/service.js'

/**
 * A full disk under the embedded store: writes answer 503 unavailable with Retry-After, nothing
 * acknowledged is lost, nothing refused is half written, reads keep working, the projections wait
 * (/ready: degraded), and everything resumes by itself once there is room again, without a restart.
 *
 * Twice: in process, with SQLite's page limit (`max_page_count`, which SQLite answers with the
 * same SQLITE_FULL as a full disk), on any machine; and as root, a real service process on a small
 * tmpfs filled with a file, which is deleted to make room.
 */

const YEAR = 2025
const SOZIALRAEUME = ['full-a', 'full-b', 'full-c', 'full-d']
/** Writes sent together: they land in one group commit (several budgets, so several streams). */
const CONCURRENCY = 8
const MAX_WRITES = 4_000

interface Attempt {
  sozialraum: string
  key: string
  id: string
  status?: number
}

const newAttempt = (n: number): Attempt => ({
  sozialraum: SOZIALRAEUME[n % SOZIALRAEUME.length]!,
  key: `full-${randomUUID()}`,
  id: randomUUID(),
})
const spendingOf = (attempt: Attempt) =>
  spendingBody({ id: attempt.id, amount: '1.00', purpose: `full disk ${attempt.key}`, receiptRef: 'R-full' })

/** The spending ids the event store holds, and how often each. */
async function storedSpendings(readAll: (after: bigint) => Promise<RecordedEvent[]>): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  let after = START
  for (;;) {
    const page = await readAll(after)
    for (const event of page) {
      if (event.type !== 'SpendingRecorded') continue
      const id = (event.data as { spendingId: string }).spendingId
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    if (page.length === 0) return counts
    after = page[page.length - 1]!.position
  }
}

interface Refusal {
  status: number
  type: unknown
  detail: unknown
  contentType: unknown
  retryAfter: unknown
}

function assertRefusedForFullDisk(t: Test, refusal: Refusal, what: string): void {
  t.equal(refusal.status, 503, `${what}: 503`)
  t.match(String(refusal.contentType), /^application\/problem\+json/, `${what}: problem+json`)
  t.equal(refusal.type, 'urn:sojus-ledger:problem:unavailable', `${what}: unavailable`)
  t.match(String(refusal.detail), /disk is full/, `${what}: the detail names the full disk`)
  t.ok(Number(refusal.retryAfter) > 0, `${what}: Retry-After`)
}

const unexpected = (status: number, body: unknown): string => `unexpected answer ${status}: ${JSON.stringify(body)}`

t.test('in process: a full disk (max_page_count) refuses writes with 503, keeps reads, and resumes by itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-full-disk-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const service = await startTestService(t, {}, { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}` })
  const { app } = service
  const events = pageLimitOf(service.store as SqliteEventStore)
  // The projections write through the projection thread's own connection.
  t.ok(service.runner instanceof ThreadRunner, 'the embedded store projects on its own thread')
  const readModels = pageLimitOf(service.runner as ThreadRunner)
  for (const sozialraum of SOZIALRAEUME) await seed(app, sozialraum, { flexible: '10000000.00' })
  // The budgets in the read models before their disk fills (the thread gathers a steady load's events for a while).
  t.ok(await service.runner.waitFor(await service.store.headPosition(), 10_000), 'the budgets are projected')

  const attempts: Attempt[] = []
  const write = async (attempt: Attempt): Promise<ApiResponse> => {
    const url = `/v1/budgets/${YEAR}/${attempt.sozialraum}/spending`
    const answer = await post(app, url, spendingOf(attempt), { 'idempotency-key': attempt.key })
    attempt.status = answer.status
    return answer
  }
  /** Writes CONCURRENCY at a time until `done` holds after a round; the answers of the last round. */
  const writeUntil = async (done: (round: ApiResponse[]) => boolean, what: string): Promise<ApiResponse[]> => {
    while (attempts.length < MAX_WRITES) {
      const round = Array.from({ length: CONCURRENCY }, () => newAttempt(attempts.length))
      attempts.push(...round)
      const answers = await Promise.all(round.map(write))
      for (const answer of answers) if (answer.status !== 201 && answer.status !== 503) t.fail(unexpected(answer.status, answer.body))
      if (done(answers)) return answers
    }
    throw new Error(`${what}: not within ${MAX_WRITES} writes`)
  }

  // First the read models' connection runs out of room: the projections stop, writes go on.
  await readModels.fill()
  await writeUntil(() => service.runner.status().error !== undefined, 'the projections to fail')
  t.ok(attempts.every((attempt) => attempt.status === 201), 'the event store still takes every write')
  const degraded = await get(app, '/ready')
  t.equal(degraded.status, 503, '/ready: 503')
  t.equal(degraded.body.status, 'degraded', '/ready: degraded while a projection batch fails')
  t.match(degraded.body.projections.error, /disk holding the SQLite store is full/, '/ready names the full disk')

  // Then the events' connection: writes are refused, whole groups of them.
  await events.fill()
  const refusedRound = await writeUntil((round) => round.some((answer) => answer.status === 503), 'a write to be refused')
  const refused = refusedRound.find((answer) => answer.status === 503)!
  assertProblem(t, refused, 503, 'unavailable', 'a write on a full disk')
  assertRefusedForFullDisk(
    t,
    {
      status: refused.status,
      type: refused.body.type,
      detail: refused.body.detail,
      contentType: refused.headers['content-type'],
      retryAfter: refused.headers['retry-after'],
    },
    'a refused write',
  )
  const stillRefused = await writeUntil(() => true, 'one more round')
  // max_page_count = 1 refuses every new page, not every write: a small append that still fits into
  // a page the file has is taken (the first of a round often goes alone into its own group commit).
  // What must hold: writes keep being refused, and exactly the acknowledged ones are stored (below).
  t.ok(stillRefused.filter((answer) => answer.status === 503).length >= CONCURRENCY / 2, 'while the disk is full, writes are refused')

  // Reads keep working.
  t.equal((await get(app, `/v1/budgets/${YEAR}/full-a`)).status, 200, 'a budget reads')
  t.equal((await get(app, `/v1/budgets/${YEAR}/full-a/spending`)).status, 200, 'its spending list reads')
  t.equal((await get(app, '/v1/audit/events?limit=10')).status, 200, 'the audit trail reads')
  t.equal((await get(app, '/health')).status, 200)
  t.equal((await get(app, '/ready')).body.status, 'degraded')

  // Exactly the acknowledged writes are stored: none lost, none of the refused ones half there.
  const readAll = (after: bigint) => service.store.readAll({ after, maxCount: 1_000 })
  const acknowledged = attempts.filter((attempt) => attempt.status === 201)
  const refusedAttempts = attempts.filter((attempt) => attempt.status === 503)
  t.ok(refusedAttempts.length >= CONCURRENCY, `${refusedAttempts.length} writes refused, ${acknowledged.length} acknowledged`)
  const stored = await storedSpendings(readAll)
  t.same([...stored.keys()].sort(), acknowledged.map((attempt) => attempt.id).sort(), 'the store holds exactly the acknowledged spendings')
  t.ok([...stored.values()].every((count) => count === 1), 'each once')

  // Room again: the refused writes, sent again with their keys, and new ones are taken.
  await events.free()
  await readModels.free()
  // A full disk rolls the whole append back: its key is free for a corrected request, too.
  const [corrected, ...resent] = refusedAttempts
  const correctedBody = { ...spendingOf(corrected!), purpose: `corrected ${corrected!.key}` }
  const correctedAnswer = await post(app, `/v1/budgets/${YEAR}/${corrected!.sozialraum}/spending`, correctedBody, { 'idempotency-key': corrected!.key })
  t.equal(correctedAnswer.status, 201, `a corrected request with a refused write's key is taken (${correctedAnswer.status === 201 ? '' : correctedAnswer.text})`)
  for (const attempt of resent) {
    const again = await write(attempt)
    t.equal(again.status, 201, `a refused write is taken once there is room (${again.status === 201 ? '' : again.text})`)
  }
  let lastPosition = '0'
  for (let n = 0; n < CONCURRENCY; n++) {
    const attempt = newAttempt(attempts.length)
    attempts.push(attempt)
    const answer = await write(attempt)
    t.equal(answer.status, 201, 'new writes are taken, without a restart')
    lastPosition = String(answer.body?.position)
  }

  // The projections resume by themselves and catch up.
  const deadline = Date.now() + 20_000
  while ((await get(app, '/ready')).status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  const ready = await get(app, '/ready')
  t.equal(ready.status, 200, `/ready is ready again (${ready.text})`)
  let spentCents = 0n
  for (const sozialraum of SOZIALRAEUME) {
    const budget = await get(app, `/v1/budgets/${YEAR}/${sozialraum}`, lastPosition)
    t.equal(budget.status, 200)
    spentCents += centsOf(budget.body.lines.flexible.spent)
  }
  t.equal(spentCents, BigInt(attempts.length) * 100n, 'the read models count every write exactly once (1.00 each)')
  const after = await storedSpendings(readAll)
  t.equal(after.size, attempts.length, 'the store holds every write')
  t.ok([...after.values()].every((count) => count === 1), 'each once: no retry wrote twice')
})

t.test('a real full disk (tmpfs) under a service process: 503, reads, and writes again once a file is deleted', async (t) => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'sojus-full-tmpfs-'))
  const servers: ServerProcess[] = []
  let mounted = false
  t.teardown(async () => {
    await killAll(servers)
    if (mounted) unmount(mountPoint)
    rmSync(mountPoint, { recursive: true, force: true })
  })
  const cannot = mountTmpfs(mountPoint, 'size=8m')
  if (cannot !== undefined) {
    t.plan(0, `skipped: ${cannot}`)
    return
  }
  mounted = true

  const dataDir = join(mountPoint, 'data')
  mkdirSync(dataDir, { mode: 0o700 })
  const environment = { DATABASE_URL: `sqlite:${join(dataDir, 'ledger.db')}` }
  const server = await ServerProcess.start(environment, (started) => servers.push(started))
  let seeded = ''
  for (const sozialraum of SOZIALRAEUME) {
    await expect201(call(server, 'POST', '/v1/sozialraeume', { id: sozialraum, name: `Full ${sozialraum}` }), 'register')
    const allocated = await expect201(
      call(server, 'POST', `/v1/budgets/${YEAR}/${sozialraum}/allocations`, {
        line: 'flexible',
        amount: '10000000.00',
        decisionRef: 'full',
      }),
      'allocate',
    )
    seeded = String(allocated.body.position)
  }
  // The budgets in the read models before the disk fills (the thread gathers a steady load's events for a while).
  t.equal((await call(server, 'GET', `/v1/budgets/${YEAR}/full-a?minPosition=${seeded}`)).status, 200, 'the budgets are projected')

  // A filler file takes all but 256 KiB of the disk.
  const filler = join(mountPoint, 'filler')
  const { bavail, bsize } = statfsSync(mountPoint)
  const room = 256 * 1024
  writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - room), 1))

  const attempts: Attempt[] = []
  const write = async (attempt: Attempt): Promise<Answer> => {
    const answer = await call(server, 'POST', `/v1/budgets/${YEAR}/${attempt.sozialraum}/spending`, spendingOf(attempt), {
      'idempotency-key': attempt.key,
    })
    attempt.status = answer.status
    return answer
  }
  let refused: Answer | undefined
  while (refused === undefined && attempts.length < MAX_WRITES) {
    const round = Array.from({ length: CONCURRENCY }, () => newAttempt(attempts.length))
    attempts.push(...round)
    const answers = await Promise.all(round.map(write))
    for (const answer of answers) if (answer.status !== 201 && answer.status !== 503) t.fail(unexpected(answer.status, answer.body))
    refused = answers.find((answer) => answer.status === 503)
  }
  if (!refused) throw new Error(`the disk did not fill within ${MAX_WRITES} writes`)
  assertRefusedForFullDisk(
    t,
    {
      status: refused.status,
      type: refused.body.type,
      detail: refused.body.detail,
      contentType: refused.headers.get('content-type'),
      retryAfter: refused.headers.get('retry-after'),
    },
    'a write on the full tmpfs',
  )
  const acknowledged = attempts.filter((attempt) => attempt.status === 201)
  t.ok(acknowledged.length > 0, `${acknowledged.length} writes acknowledged before the disk filled`)

  // Reads keep working, and the process lives.
  t.equal((await call(server, 'GET', `/v1/budgets/${YEAR}/full-a`)).status, 200, 'a budget reads on the full disk')
  t.equal((await call(server, 'GET', '/health')).status, 200)
  t.ok(server.alive, 'the service is still running')

  // Room again: delete the filler. The refused writes, sent again with their keys, are taken.
  rmSync(filler)
  for (const attempt of attempts.filter((candidate) => candidate.status === 503)) {
    const again = await write(attempt)
    t.equal(again.status, 201, `a refused write is taken once there is room (${again.status === 201 ? '' : JSON.stringify(again.body)})`)
  }
  const last = await write(newAttempt(attempts.length))
  t.equal(last.status, 201, 'a new write is taken, without a restart')

  const deadline = Date.now() + 20_000
  let ready = await call(server, 'GET', '/ready')
  while (ready.status !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    ready = await call(server, 'GET', '/ready')
  }
  t.equal(ready.status, 200, `/ready is ready again (${JSON.stringify(ready.body)})`)
  let spentCents = 0n
  for (const sozialraum of SOZIALRAEUME) {
    const budget = await call(server, 'GET', `/v1/budgets/${YEAR}/${sozialraum}?minPosition=${String(last.body.position)}`)
    t.equal(budget.status, 200)
    spentCents += centsOf((budget.body.lines as { flexible: { spent: unknown } }).flexible.spent)
  }
  t.equal(spentCents, BigInt(attempts.length + 1) * 100n, 'every acknowledged write is there, each once (1.00 each)')
  t.equal((await server.kill('SIGTERM')).code, 0, 'the service stops cleanly')
})

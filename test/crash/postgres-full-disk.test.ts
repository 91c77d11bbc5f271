import { randomUUID } from 'node:crypto'
import { chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { START, StorageFullError, type RecordedEvent } from '../../src/eventstore/port.js'
import { openService } from '../../src/service.js'
import { createPgPool } from '../../src/sql/pg-pool.js'
import { PostgresDatabase } from '../../src/sql/postgres.js'
import { assertProblem, get, post, seed, spendingBody, type ApiResponse } from '../helpers/api.js'
import { adminQuery, createTestSchema, skipWithoutPostgres, TEST_POSTGRES_URL } from '../helpers/postgres.js'
import { mountTmpfs, unmount } from '../helpers/full-disk.js'
import { centsOf } from '../helpers/process.js'
import { recordUndeclaredAnswers } from '../helpers/service.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * A real full disk under PostgreSQL: the test schema's tables and indexes live in a tablespace of
 * their own on a small tmpfs, which a file then fills. PostgreSQL answers the write that finds no
 * room with SQLSTATE 53100 (disk_full, "could not extend file … No space left on device") and rolls
 * its transaction back. Writes answer 503 unavailable with Retry-After and store nothing, reads
 * keep working, and once the file is deleted the same writes (with their Idempotency-Keys) and new
 * ones are taken, and the projections catch up, without a restart.
 *
 * It needs root (to mount the tmpfs), a superuser connection and the PostgreSQL server on this
 * machine (the tmpfs belongs to the user that runs it), else it skips with the reason; CI runs as
 * root beside the server.
 */

const skip = await skipWithoutPostgres()
const YEAR = 2025
const SOZIALRAEUME = ['pgfull-a', 'pgfull-b', 'pgfull-c', 'pgfull-d']
const CONCURRENCY = 8
const MAX_WRITES = 20_000

/**
 * The owner of the server's data folder (uid, gid), or why the test cannot run here: it needs
 * root, a superuser connection (CREATE TABLESPACE) and the server on this machine, checked as
 * the working folder of the connection's own server process being the server's data folder.
 */
async function localServer(): Promise<{ uid: number; gid: number } | string> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number; dir: string; superuser: boolean }>(
      "SELECT pg_backend_pid() AS pid, current_setting('data_directory') AS dir, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser",
    )
    const row = rows[0]
    if (row === undefined || !row.superuser) return 'CREATE TABLESPACE needs a superuser connection (TEST_POSTGRES_URL)'
    let same: boolean
    try {
      same = realpathSync(`/proc/${row.pid}/cwd`) === realpathSync(row.dir)
    } catch {
      return 'the PostgreSQL server does not run on this machine'
    }
    if (!same) return `the PostgreSQL server on this machine is another one than ${TEST_POSTGRES_URL}'s`
    const { uid, gid } = statSync(row.dir)
    return { uid, gid }
  } finally {
    await client.end()
  }
}

interface Attempt {
  sozialraum: string
  key: string
  id: string
  status?: number
}

t.test('PostgreSQL on a full disk (a tablespace on a tmpfs): 503, reads, nothing half written, and writes again once there is room', { skip }, async (t) => {
  const server = await localServer()
  if (typeof server === 'string') {
    t.plan(0, `skipped: ${server}`)
    return
  }
  const mountPoint = mkdtempSync(join(tmpdir(), 'sojus-pg-full-'))
  const tablespace = `sojus_full_${randomUUID().replaceAll('-', '')}`
  const schema = await createTestSchema()
  let mounted = false
  let created = false
  let close = async (): Promise<void> => {}
  const undeclared = new Set<string>()
  // Every step runs, whichever fails: a tablespace or a mount left behind would outlive the test.
  t.teardown(async () => {
    const steps = [
      close,
      schema.drop,
      async () => void (created && (await adminQuery(`DROP TABLESPACE IF EXISTS ${tablespace}`))),
      async () => mounted && unmount(mountPoint),
      async () => rmSync(mountPoint, { recursive: true, force: true }),
    ]
    const failures: unknown[] = []
    for (const step of steps) await step().catch((error: unknown) => failures.push(error))
    if (failures.length > 0) throw new AggregateError(failures, 'cleaning up after the full-disk test')
  })
  const cannot = mountTmpfs(mountPoint, `size=16m,uid=${server.uid},gid=${server.gid}`)
  if (cannot !== undefined) {
    t.plan(0, `skipped: ${cannot}`)
    return
  }
  mounted = true
  const location = join(mountPoint, 'tablespace')
  mkdirSync(location, { mode: 0o700 })
  chownSync(location, server.uid, server.gid)
  await adminQuery(`CREATE TABLESPACE ${tablespace} LOCATION '${location}'`)
  created = true

  // Every table and index the service creates goes into the tablespace.
  const url = new URL(schema.url)
  url.searchParams.set('options', `-c search_path=${schema.schema} -c default_tablespace=${tablespace}`)
  const service = await openService(
    parseConfig({ DATABASE_URL: url.toString(), JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) }),
    pino({ level: 'silent' }),
    { onApp: (app) => recordUndeclaredAnswers(app, undeclared) },
  )
  close = () => service.close()
  const [events] = await adminQuery('SELECT tablespace FROM pg_tables WHERE schemaname = $1 AND tablename = $2', [schema.schema, 'events'])
  t.equal(events?.tablespace, tablespace, 'the events table lives on the tmpfs')
  const { app } = service
  for (const sozialraum of SOZIALRAEUME) await seed(app, sozialraum, { flexible: '10000000.00' })

  // A filler file takes all but 1 MiB of the tmpfs (PostgreSQL extends a busy table by many pages at once).
  const filler = join(mountPoint, 'filler')
  const { bavail, bsize } = statfsSync(mountPoint)
  writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - 1024 * 1024), 1))

  const attempts: Attempt[] = []
  const write = async (attempt: Attempt): Promise<ApiResponse> => {
    const body = spendingBody({ id: attempt.id, amount: '1.00', purpose: `full disk ${attempt.key}`, receiptRef: 'R-full' })
    const answer = await post(app, `/v1/budgets/${YEAR}/${attempt.sozialraum}/spending`, body, { 'idempotency-key': attempt.key })
    attempt.status = answer.status
    return answer
  }
  const newAttempt = (): Attempt => ({ sozialraum: SOZIALRAEUME[attempts.length % SOZIALRAEUME.length]!, key: `pgfull-${randomUUID()}`, id: randomUUID() })
  let refused: ApiResponse | undefined
  while (refused === undefined && attempts.length < MAX_WRITES) {
    const round = Array.from({ length: CONCURRENCY }, newAttempt)
    attempts.push(...round)
    const answers = await Promise.all(round.map(write))
    for (const answer of answers) if (answer.status !== 201) t.equal(answer.status, 503, `a write is taken or refused with 503 (${answer.text})`)
    refused = answers.find((answer) => answer.status !== 201)
  }
  if (refused === undefined) throw new Error(`the tablespace did not fill within ${MAX_WRITES} writes`)
  assertProblem(t, refused, 503, 'unavailable', 'a write on the full disk')
  t.match(refused.body.detail, /^the database \(PostgreSQL\) cannot take writes: its disk is full\. Nothing of this request was stored/, 'the detail names the full disk')
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')

  // The read models' adapter maps the same error: a transaction that needs room fails as StorageFullError.
  const pool = createPgPool({ url: url.toString(), poolSize: 1, statementTimeoutMs: 10_000, logger: pino({ level: 'silent' }) })
  t.teardown(() => pool.end())
  const readModels = new PostgresDatabase(pool, schema.schema)
  await t.rejects(
    // About 70 bytes a row that do not compress, 500,000 rows: far more than the tmpfs holds.
    readModels.transaction([{ sql: 'CREATE TABLE full_probe AS SELECT md5(n::text) || md5((n + 1)::text) AS x FROM generate_series(1, 500000) AS n', params: [] }]),
    StorageFullError,
    'a read-model transaction on the full disk: StorageFullError',
  )

  // Reads keep working.
  t.equal((await get(app, `/v1/budgets/${YEAR}/pgfull-a`)).status, 200, 'a budget reads on the full disk')
  t.equal((await get(app, '/health')).status, 200)

  // Exactly the acknowledged writes are stored: none lost, none of the refused ones half there.
  const stored = await storedSpendings((after) => service.store.readAll({ after, maxCount: 1_000 }))
  const acknowledged = attempts.filter((attempt) => attempt.status === 201)
  const refusedAttempts = attempts.filter((attempt) => attempt.status === 503)
  t.ok(acknowledged.length > 0, `${acknowledged.length} writes acknowledged before the disk filled, ${refusedAttempts.length} refused`)
  t.same([...stored.keys()].sort(), acknowledged.map((attempt) => attempt.id).sort(), 'the store holds exactly the acknowledged spendings')

  // Room again: the refused writes, sent again with their keys, and a new one are taken.
  rmSync(filler)
  for (const attempt of refusedAttempts) {
    const again = await write(attempt)
    t.equal(again.status, 201, `a refused write is taken once there is room (${again.status === 201 ? '' : again.text})`)
  }
  const last = newAttempt()
  attempts.push(last)
  const lastAnswer = await write(last)
  t.equal(lastAnswer.status, 201, 'a new write is taken, without a restart')

  // The projections catch up (a batch that met the full disk is tried again within seconds) and count each write once.
  const deadline = Date.now() + 20_000
  while ((await get(app, '/ready')).status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  const ready = await get(app, '/ready')
  t.equal(ready.status, 200, `/ready is ready again (${ready.text})`)
  let spentCents = 0n
  for (const sozialraum of SOZIALRAEUME) {
    const budget = await get(app, `/v1/budgets/${YEAR}/${sozialraum}`, String(lastAnswer.body.position))
    t.equal(budget.status, 200, `${sozialraum} reads at the last write's position`)
    spentCents += centsOf(budget.body.lines.flexible.spent)
  }
  t.equal(spentCents, BigInt(attempts.length) * 100n, 'the read models count every write exactly once (1.00 each)')
  const after = await storedSpendings((position) => service.store.readAll({ after: position, maxCount: 1_000 }))
  t.equal(after.size, attempts.length, 'the store holds every write')
  t.ok([...after.values()].every((count) => count === 1), 'each once: no retry wrote twice')
  t.same([...undeclared], [], 'every answer is declared')
})

/** The spending ids the event store holds, and how often each. */
async function storedSpendings(readAll: (after: bigint) => Promise<RecordedEvent[]>): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (let after = START; ; ) {
    const page = await readAll(after)
    if (page.length === 0) return counts
    for (const event of page) {
      if (event.type !== 'SpendingRecorded') continue
      const id = (event.data as { spendingId: string }).spendingId
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    after = page[page.length - 1]!.position
  }
}

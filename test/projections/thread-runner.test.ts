import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { projections } from '../../projections/index.js'
import { deferIndexes } from '../../projections/deferred-indexes.js'
import { resetProjection } from '../../projections/runner.js'
import { ThreadRunner } from '../../projections/thread-runner.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { registrationEvent } from '../helpers/events.js'

/** The embedded store in a file of its own, migrated, and a logger whose lines the test reads. */
async function setup(t: { teardown(fn: () => unknown): void }, migrated = true) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-thread-'))
  const path = join(dir, 'ledger.db')
  const store = new SqliteEventStore(path)
  const db = new SqliteDatabase(path)
  if (migrated) await migrate(db, await loadMigrations())
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(JSON.parse(chunk.toString())), done()) }),
  ).child({ component: 'projections' })
  t.teardown(async () => {
    await store.close()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { path, store, db, lines, logger }
}

const register = async (store: SqliteEventStore, id: string) => (await store.append(`sozialraum-${id}`, [registrationEvent(id)], 'no_stream')).position

t.test('the thread projects what the event loop appends, and is told of each append rather than polling for it', async (t) => {
  const { path, store, db, logger } = await setup(t)
  await register(store, 'before')
  // A poll once a minute: only being told of the append lets waitFor succeed within the test.
  const runner = new ThreadRunner({ path, store, logger, pollIntervalMs: 60_000 })
  await runner.start()
  t.teardown(() => runner.stop())
  t.ok(await runner.waitFor(1n, 10_000), 'the log as it was at start is projected')
  t.ok(runner.isServing('sozialraeume'), 'a projection that reached the head serves')
  t.ok(runner.status().projecting, 'the embedded store always projects')

  const position = await register(store, 'after')
  t.ok(await runner.waitFor(position, 10_000, ['sozialraeume']), 'an append made after the start reaches the thread')
  t.ok(runner.status().position >= position, 'the status on the event loop follows the thread')
  t.same(
    (await db.query<{ id: string }>('SELECT id FROM sozialraeume ORDER BY id')).map((row) => row.id),
    ['after', 'before'],
    'the read model, read on the event loop\'s own connection, holds both',
  )
  t.same(
    runner.status().projections.map((projection) => projection.name),
    projections.map((projection) => projection.name),
    'the status names every projection',
  )
})

t.test('a reader waiting on the event loop is not kept waiting by the thread\'s gathering', async (t) => {
  const { path, store, logger } = await setup(t)
  // A minute between batches: only the reader's hurry lets its waitFor succeed within the test.
  const runner = new ThreadRunner({ path, store, logger, tuning: { followIntervalMs: 60_000 } })
  await runner.start()
  t.teardown(() => runner.stop())
  const first = await register(store, 'first')
  // Asked without waitFor, which would hurry the thread: the first event after a quiet spell goes at once.
  while (runner.status().position < first) await new Promise((resolve) => setTimeout(resolve, 5))
  // The next event starts a pause of a minute; the reader of a write made during it cuts it short.
  await register(store, 'a')
  await new Promise((resolve) => setTimeout(resolve, 20))
  const b = await register(store, 'b')
  t.ok(await runner.waitFor(b, 10_000, ['sozialraeume']), 'a write made during the pause, then a read of it')
})

t.test('a projection reset for a rebuild replays on the thread; its lines reach the service\'s logger', async (t) => {
  const { path, store, db, lines, logger } = await setup(t)
  const first = new ThreadRunner({ path, store, logger })
  await first.start()
  const head = await register(store, 'a')
  t.ok(await first.waitFor(head, 10_000))
  await first.stop()
  t.equal(await first.waitFor(head + 1n, 10), false, 'a stopped runner answers "not reached"')

  const sozialraeume = projections.find((projection) => projection.name === 'sozialraeume')!
  await resetProjection(db, sozialraeume)
  const second = new ThreadRunner({ path, store, logger })
  await second.start()
  t.teardown(() => second.stop())
  t.ok(await second.waitFor(head, 10_000, ['sozialraeume']), 'the reset projection replays')
  const caughtUp = lines.find((line) => line.msg === 'projection caught up')
  t.match(caughtUp, { projection: 'sozialraeume', component: 'projections', level: 30 }, 'the thread\'s line, with its fields and this logger\'s')
  t.equal(lines.filter((line) => line.msg === 'projection caught up').length, 1, 'logged once')
})

t.test('a thread that cannot start says why, and leaves nothing running', async (t) => {
  const { path, store, logger } = await setup(t, false)
  const runner = new ThreadRunner({ path, store, logger })
  await t.rejects(runner.start(), /the projections could not start: .*projection_checkpoints/, 'no migrations: no checkpoint table')
  t.rejects(runner.pragma('max_page_count'), /not running/, 'the thread is gone')
})

t.test('a thread that dies is reported and started again', async (t) => {
  const { path, store, lines, logger } = await setup(t)
  const runner = new ThreadRunner({ path, store, logger })
  await runner.start()
  t.teardown(() => runner.stop())
  const worker = (runner as unknown as { worker?: { terminate(): Promise<number> } }).worker
  if (worker === undefined) throw new Error('ThreadRunner keeps its thread in another field now: update this test')
  await worker.terminate()
  t.match(runner.status().error, /the projection thread stopped \(exit code 1\)/, '/ready learns why')
  t.rejects(runner.pragma('max_page_count'), /not running/, 'nothing is sent to a dead thread')
  t.ok(lines.some((line) => line.msg === 'the projection thread stopped; starting it again'), 'and the log')
  const position = await register(store, 'after-restart')
  t.ok(await runner.waitFor(position, 15_000), 'a new thread projects what was appended meanwhile')
  t.equal(runner.status().error, undefined, 'its first report clears the error')
})

t.test('indexes left deferred are built on the thread at start, and the stand-in hears at once that the projection serves', async (t) => {
  const { path, store, db, logger } = await setup(t)
  const position = await register(store, 'a')
  const first = new ThreadRunner({ path, store, logger })
  await first.start()
  t.ok(await first.waitFor(position, 10_000), 'projected')
  await first.stop()
  const audit = projections.find((projection) => projection.name === 'audit')
  if (audit === undefined) throw new Error('no audit projection')
  t.ok((await deferIndexes(db, audit)) > 0, 'the audit trail\'s indexes are deferred, as a replay stopped before its build leaves them')
  const runner = new ThreadRunner({ path, store, logger, pollIntervalMs: 60_000 })
  await runner.start()
  t.teardown(() => runner.stop())
  const deadline = Date.now() + 10_000
  while (!runner.isServing('audit') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(runner.isServing('audit'), 'the audit trail serves, with no append to tell the thread anything')
  const left = await db.query('SELECT name FROM deferred_indexes')
  t.same(left, [], 'every index was built')
  const indexes = await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL")
  t.equal(indexes.length, 4, 'the audit trail has its four indexes')
})

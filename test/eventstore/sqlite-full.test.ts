import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { START, StorageFullError, StoreUnavailableError, type EventToAppend } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { connectionOf, fill, free, pageLimitOf } from '../helpers/full-disk.js'

/**
 * A full disk on the embedded store, made with SQLite's page limit (test/helpers/full-disk.ts).
 * test/crash/full-disk.test.ts fills the disk under a whole service, and a real (tmpfs) disk
 * under a service process.
 */

const dir = mkdtempSync(join(tmpdir(), 'sojus-sqlite-full-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const freshPath = () => join(dir, randomUUID(), 'ledger.db')

/** Each event needs pages of its own (about 8 KiB of data). */
const bigEvent = (n: number): EventToAppend => ({ id: randomUUID(), type: 'Tested', data: { n, padding: 'x'.repeat(8_000) }, metadata: {} })

t.test('a full disk fails the whole group commit, shows nothing of it, and appends resume once there is room', async (t) => {
  const store = new SqliteEventStore(freshPath())
  t.teardown(() => store.close())
  const disk = pageLimitOf(store)
  const before = await store.append('s-before', [bigEvent(0)], 'no_stream')
  await disk.fill()

  // One turn of the event loop: one group of appends to several streams, a conflicting one among them.
  const appends = [
    ...Array.from({ length: 10 }, (_, n) => store.append(`s-${n}`, [bigEvent(n), bigEvent(n + 100)], 'no_stream')),
    store.append('s-before', [bigEvent(999)], 'no_stream'),
  ]
  const outcomes = await Promise.allSettled(appends)
  for (const [index, outcome] of outcomes.entries()) {
    t.equal(outcome.status, 'rejected', `append ${index} fails, none hangs`)
    if (outcome.status !== 'rejected') continue
    t.ok(outcome.reason instanceof StorageFullError, `append ${index}: a StorageFullError (${String(outcome.reason)})`)
    t.ok(outcome.reason instanceof StoreUnavailableError, 'which is a StoreUnavailableError (503)')
    t.match(String(outcome.reason.message), /the disk holding the SQLite store is full/)
  }
  t.equal(await store.headPosition(), before.position, 'nothing of the group is visible')
  t.same(await store.readAll({ after: before.position, maxCount: 100 }), [])
  t.same(await store.readStream('s-0', { maxCount: 10 }), [], 'the streams are as before')

  // Reads keep working on the full disk.
  t.equal((await store.readAll({ after: START, maxCount: 100 })).length, 1)

  await disk.free()
  const again = await Promise.all(
    Array.from({ length: 10 }, (_, n) => store.append(`s-${n}`, [bigEvent(n), bigEvent(n + 100)], 'no_stream')),
  )
  t.equal(again.length, 10, 'the same appends succeed once there is room, without reopening')
  const all = await store.readAll({ after: START, maxCount: 100 })
  t.equal(all.length, 21)
  t.same(
    all.map((event) => event.position),
    all.map((_, index) => all[0]!.position + BigInt(index)),
    'positions follow on without a gap left by the failed group',
  )
})

t.test('an idempotency claim in a failed group is not kept', async (t) => {
  const store = new SqliteEventStore(freshPath())
  t.teardown(() => store.close())
  const disk = pageLimitOf(store)
  await store.append('warm-up', [bigEvent(0)], 'no_stream')
  await disk.fill()
  const claim = { scope: 'anna', key: 'key-1', requestHash: 'h1' }
  const events = [bigEvent(1), bigEvent(2)]
  await t.rejects(store.append('s-claim', events, 'no_stream', { claims: [claim] }), StorageFullError)
  await disk.free()
  // Were the claim kept, this would be refused as another request's key, or answer a write never made.
  const written = await store.append('s-claim', events, 'no_stream', { claims: [claim] })
  t.equal(written.nextExpectedRevision, 1n)
  t.equal((await store.readStream('s-claim', { maxCount: 10 })).length, 2)
})

t.test('the read-model database: a full disk fails the transaction whole, as a StorageFullError', async (t) => {
  const database = new SqliteDatabase(freshPath())
  t.teardown(() => database.close())
  const db = connectionOf(database)
  await database.transaction([{ script: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)' }])
  await database.transaction([{ sql: 'INSERT INTO notes (body) VALUES (?)', params: ['first'] }])
  fill(db)
  const error = await database
    .transaction([
      { sql: 'INSERT INTO notes (body) VALUES (?)', params: ['small, fits in the page there is'] },
      { sql: 'INSERT INTO notes (body) VALUES (?)', params: ['y'.repeat(50_000)] },
    ])
    .then(
      () => undefined,
      (reason: unknown) => reason,
    )
  t.ok(error instanceof StorageFullError, `a StorageFullError (${String(error)})`)
  t.notOk(db.inTransaction, 'no transaction is left open')
  t.same(await database.query('SELECT body FROM notes ORDER BY id'), [{ body: 'first' }], 'nothing of it is visible; reads work')
  free(db)
  await database.transaction([{ sql: 'INSERT INTO notes (body) VALUES (?)', params: ['y'.repeat(50_000)] }])
  t.equal((await database.query('SELECT id FROM notes')).length, 2, 'writes resume once there is room')
})

t.test('other SQLite errors are not taken for an unavailable store', async (t) => {
  const database = new SqliteDatabase(freshPath())
  t.teardown(() => database.close())
  const error = await database.query('SELECT * FROM no_such_table').then(
    () => undefined,
    (reason: unknown) => reason,
  )
  t.ok(error instanceof Database.SqliteError, 'a syntax or schema error stays what it is (a 500)')
  t.notOk(error instanceof StoreUnavailableError)
})

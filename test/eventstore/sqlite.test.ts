import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { MAX_READ_COUNT, START, type EventToAppend, type RecordedEvent } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { STORE_WAL_AUTOCHECKPOINT_PAGES } from '../../src/eventstore/sqlite-appender.js'
import { WAL_AUTOCHECKPOINT_PAGES } from '../../projections/thread-runner.js'
import { eventStoreContract } from './contract.js'

const dir = mkdtempSync(join(tmpdir(), 'sojus-eventstore-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** A new database file in a directory that does not exist yet (the store creates it). */
const freshPath = () => join(dir, randomUUID(), 'events.db')

const event = (n: number): EventToAppend => ({ id: randomUUID(), type: 'Tested', data: { n }, metadata: { at: n } })

await eventStoreContract(t, { name: 'sqlite', open: async () => new SqliteEventStore(freshPath()) })

t.test('sqlite: pragmas', async (t) => {
  const path = freshPath()
  const store = new SqliteEventStore(path)
  t.teardown(() => store.close())
  await store.append(`s-${randomUUID()}`, [event(0)], 'no_stream')

  // journal_mode=WAL is stored in the file: a separate connection sees it.
  const other = new Database(path, { readonly: true })
  t.teardown(() => other.close())
  t.equal(other.pragma('journal_mode', { simple: true }), 'wal', 'journal_mode is wal')

  // synchronous is a setting of each connection (and better-sqlite3 opens a WAL file with
  // synchronous=NORMAL by default), so it has to be read on the store's own connection.
  const own = (store as unknown as { db: Database.Database }).db
  t.equal(own.pragma('synchronous', { simple: true }), 2, 'synchronous is FULL (2) on the store connection')
  t.equal(own.pragma('journal_mode', { simple: true }), 'wal')

  // The copies of the write-ahead log into the file happen on the read models' connection, not
  // inside the commits that writes wait for: the writer's threshold is above the projections'.
  const writer = (await store.writerPragma('wal_autocheckpoint')) as Array<{ wal_autocheckpoint: number }>
  t.equal(writer[0]?.wal_autocheckpoint, STORE_WAL_AUTOCHECKPOINT_PAGES, 'the writer thread copies at its own threshold')
  t.ok(STORE_WAL_AUTOCHECKPOINT_PAGES > WAL_AUTOCHECKPOINT_PAGES, 'above the projection thread\'s')
})

t.test('sqlite: data survives close and reopen', async (t) => {
  const path = freshPath()
  const streamId = `s-${randomUUID()}`
  const first = [event(0), event(1), event(2)]
  let before: RecordedEvent[]
  let head: bigint
  {
    const store = new SqliteEventStore(path)
    await store.append(streamId, first, 'no_stream')
    await store.append(`other-${randomUUID()}`, [event(3)], 'no_stream')
    before = await store.readAll({ after: START, maxCount: MAX_READ_COUNT })
    head = await store.headPosition()
    await store.close()
  }
  const store = new SqliteEventStore(path)
  t.teardown(() => store.close())
  t.strictSame(await store.readAll({ after: START, maxCount: MAX_READ_COUNT }), before, 'the log is the same')
  t.equal(await store.headPosition(), head, 'the head is the same')
  t.strictSame(
    await store.readStream(streamId, { maxCount: 10 }),
    before.filter((e) => e.streamId === streamId),
    'the stream is the same',
  )
  const retry = await store.append(streamId, first, 'no_stream')
  t.equal(retry.nextExpectedRevision, 2n, 'a retry after reopening is still recognised')
  t.equal(retry.position, before[2]?.position)
  const next = await store.append(streamId, [event(4)], { revision: 2n })
  t.equal(next.nextExpectedRevision, 3n, 'revisions continue')
  t.ok(next.position > head, 'positions continue after the old head')
})

t.test('sqlite: a subscription sees appends by another connection to the same file', async (t) => {
  const path = freshPath()
  const reader = new SqliteEventStore(path, { pollIntervalMs: 20 })
  const writer = new SqliteEventStore(path)
  const subscription = reader.subscribeToAll({ after: START })
  t.teardown(async () => {
    subscription.close()
    await writer.close()
    await reader.close()
  })
  const seen: RecordedEvent[] = []
  const loop = (async () => {
    for await (const e of subscription) {
      seen.push(e)
      if (seen.length === 3) return
    }
  })()
  const streamId = `s-${randomUUID()}`
  await writer.append(streamId, [event(0)], 'no_stream')
  await new Promise((resolve) => setTimeout(resolve, 50))
  await writer.append(streamId, [event(1), event(2)], 'stream_exists')
  const timedOut = Symbol('timeout')
  const outcome = await Promise.race([loop, new Promise((resolve) => setTimeout(() => resolve(timedOut), 5000))])
  t.not(outcome, timedOut, 'delivered within 5 s')
  t.strictSame(
    seen.map((e) => e.revision),
    [0n, 1n, 2n],
  )
})

t.test('sqlite: a group commit waits for the write lock another connection holds, and commits once it is free', async (t) => {
  const path = freshPath()
  const store = new SqliteEventStore(path)
  t.teardown(() => store.close())
  await store.append(`s-${randomUUID()}`, [event(0)], 'no_stream')
  // A connection of this thread holds the lock, as a projection batch does; the writer thread waits for it.
  const other = new Database(path)
  t.teardown(() => other.close())
  other.exec('BEGIN IMMEDIATE')
  let settled = false
  const appended = store.append(`s-${randomUUID()}`, [event(1)], 'no_stream').finally(() => (settled = true))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.notOk(settled, 'still waiting while the lock is held')
  other.exec('COMMIT')
  t.match(await appended, { nextExpectedRevision: 0n }, 'committed once the lock is free')
  t.equal(await store.headPosition(), 2n)
})

t.test('sqlite: group commit', async (t) => {
  t.test('a conflict fails its own append only; the others of the group commit', async (t) => {
    const store = new SqliteEventStore(freshPath())
    t.teardown(() => store.close())
    const stream = `s-${randomUUID()}`
    await store.append(stream, [event(0)], 'no_stream')
    const results = await Promise.allSettled([
      store.append(`a-${randomUUID()}`, [event(1)], 'no_stream'),
      store.append(stream, [event(2)], { revision: 5n }),
      store.append(`b-${randomUUID()}`, [event(3)], 'no_stream'),
    ])
    t.same(
      results.map((result) => result.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    )
    t.equal(await store.headPosition(), 3n, 'the two good appends are stored, nothing of the bad one')
  })

  t.test('data that cannot be stored fails its own append only', async (t) => {
    const store = new SqliteEventStore(freshPath())
    t.teardown(() => store.close())
    const unstorable: EventToAppend = { id: randomUUID(), type: 'Tested', data: { amount: 1n }, metadata: {} }
    const results = await Promise.allSettled([
      store.append(`a-${randomUUID()}`, [event(1)], 'no_stream'),
      store.append(`b-${randomUUID()}`, [unstorable], 'no_stream'),
      store.append(`c-${randomUUID()}`, [event(3)], 'no_stream'),
    ])
    t.same(
      results.map((result) => result.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    )
    t.equal(await store.headPosition(), 2n)
  })

  t.test('a storage failure aborts the whole group: nothing is stored that was not acknowledged', async (t) => {
    const store = new SqliteEventStore(freshPath())
    t.teardown(() => store.close())
    await store.append(`s-${randomUUID()}`, [event(0)], 'no_stream')
    const own = (store as unknown as { db: Database.Database }).db
    // Leave room for a few small pages only: the large append in the middle fills the file. The
    // limit is a setting of the connection that writes, on the store's writer thread.
    await store.writerPragma(`max_page_count = ${Number(own.pragma('page_count', { simple: true })) + 3}`)
    const large: EventToAppend = { id: randomUUID(), type: 'Tested', data: { text: 'y'.repeat(200_000) }, metadata: {} }
    const results = await Promise.allSettled([
      store.append(`a-${randomUUID()}`, [event(1)], 'no_stream'),
      store.append(`b-${randomUUID()}`, [large], 'no_stream'),
      store.append(`c-${randomUUID()}`, [event(3)], 'no_stream'),
    ])
    t.same(
      results.map((result) => result.status),
      ['rejected', 'rejected', 'rejected'],
      'every append of the failed group is refused',
    )
    t.equal(await store.headPosition(), 1n, 'and none of them is stored')
    await store.writerPragma('max_page_count = 4294967294')
    await store.append(`d-${randomUUID()}`, [event(4)], 'no_stream')
    t.equal(await store.headPosition(), 2n, 'no transaction was left open: the next append commits')
  })
})

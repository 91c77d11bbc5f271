import t, { type Test } from 'tap'
import { MAX_HELD_KEYS, PgKeyHolds } from '../../src/sql/pg-key-holds.js'
import type { PgSession } from '../../src/sql/pg-session.js'
import type { Unhold } from '../../src/application/idempotency-keys.js'
import { adminQuery, createTestSchema, openSession, skipWithoutPostgres } from '../helpers/postgres.js'

/**
 * The hold on an Idempotency-Key across processes (src/sql/pg-key-holds.ts), on real sessions of
 * a real server: each PgSession here is what one process keeps beside its pool.
 */

const skip = await skipWithoutPostgres()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Settles `hold` into a box the test can look at while it still waits. */
function watch(hold: Promise<Unhold | undefined>): { settled: boolean; result: Promise<Unhold | undefined> } {
  const box = { settled: false, result: hold }
  void hold.then(() => (box.settled = true))
  return box
}

async function processes(t: Test, count: number, maxWaitMs = 5_000) {
  const schema = await createTestSchema()
  const sessions = await Promise.all(Array.from({ length: count }, () => openSession(schema.url)))
  t.teardown(async () => {
    for (const session of sessions) await session.close()
    await schema.drop()
  })
  return { schema, sessions, holds: sessions.map((session) => new PgKeyHolds(session, schema.schema, maxWaitMs)) }
}

t.test('a key held by one process waits in another until it is given back', { skip }, async (t) => {
  const { holds } = await processes(t, 2)
  const [a, b] = holds as [PgKeyHolds, PgKeyHolds]
  const first = await a.hold('k')
  t.type(first, 'function', 'the first process holds the key')
  const second = watch(b.hold('k'))
  await sleep(300)
  t.notOk(second.settled, 'the second waits while the first holds it')
  first!()
  const taken = await second.result
  t.type(taken, 'function', 'and holds it once the first gave it back')
  const other = await a.hold('other key')
  t.type(other, 'function', 'another key is not held')
  other!()
  taken!()
})

t.test('a key still held after the wait is refused, and nothing stays held', { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const a = new PgKeyHolds(sessions[0]!, schema.schema)
  const impatient = new PgKeyHolds(sessions[1]!, schema.schema, 200)
  const first = await a.hold('k')
  const started = Date.now()
  t.equal(await impatient.hold('k'), undefined, 'undefined: another process still holds it')
  t.ok(Date.now() - started >= 200, 'after waiting the whole wait')
  first!()
  const later = await impatient.hold('k')
  t.type(later, 'function', 'the refused attempt left nothing held')
  later!()
})

t.test('holds nest within one process: the key is free when the last is given back', { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const a = new PgKeyHolds(sessions[0]!, schema.schema)
  const other = new PgKeyHolds(sessions[1]!, schema.schema, 100)
  const first = await a.hold('k')
  const second = await a.hold('k')
  t.type(second, 'function', 'a second request of the same process is not held up (its stream queue orders them)')
  first!()
  t.equal(await other.hold('k'), undefined, 'one hold given back: another process still waits')
  second!()
  await sleep(50)
  const taken = await other.hold('k')
  t.type(taken, 'function', 'both given back: free')
  taken!()
})

t.test('two ledgers in two schemas of one database never hold each other up', { skip }, async (t) => {
  const one = await processes(t, 1)
  const two = await processes(t, 1, 100)
  const held = await one.holds[0]!.hold('k')
  const there = await two.holds[0]!.hold('k')
  t.type(there, 'function', 'the same key in another schema is free')
  there!()
  held!()
})

t.test("a killed process's hold is dropped with its connection", { skip }, async (t) => {
  const { holds, sessions } = await processes(t, 2)
  const [a, b] = holds as [PgKeyHolds, PgKeyHolds]
  t.type(await a.hold('k'), 'function')
  const [backend] = await sessions[0]!.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const waiting = watch(b.hold('k'))
  await sleep(100)
  t.notOk(waiting.settled, 'held')
  await adminQuery('SELECT pg_terminate_backend($1)', [backend!.pid])
  const taken = await waiting.result
  t.type(taken, 'function', 'the server dropped the dead session’s lock: the other process holds the key')
  taken!()
})

t.test('without its session a process writes unheld rather than refusing', { skip }, async (t) => {
  const { holds, sessions } = await processes(t, 2, 100)
  const [a, b] = holds as [PgKeyHolds, PgKeyHolds]
  const held = await a.hold('k')
  await sessions[1]!.close()
  const unheld = await b.hold('k')
  t.type(unheld, 'function', 'goes on at once')
  unheld!()
  held!()
})

t.test('many keys taken and given back at once go out together, each answered for itself', { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const a = new PgKeyHolds(sessions[0]!, schema.schema)
  const b = new PgKeyHolds(sessions[1]!, schema.schema, 50)
  const keys = Array.from({ length: 200 }, (_, index) => `key-${index}`)
  const held = await Promise.all(keys.map((key) => a.hold(key)))
  t.ok(held.every((unhold) => typeof unhold === 'function'), 'all 200 held')
  const [locks] = await sessions[1]!.query<{ count: string }>("SELECT count(*)::text AS count FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND granted")
  t.ok(Number(locks!.count) >= 200, `the server shows them (${locks!.count} advisory locks)`)
  const elsewhere = await Promise.all(keys.slice(0, 20).map((key) => b.hold(key)))
  t.ok(elsewhere.every((unhold) => unhold === undefined), 'another process holds none of them')
  for (const unhold of held) unhold!()
  await sleep(100)
  const after = await Promise.all(keys.map((key) => b.hold(key)))
  t.ok(after.every((unhold) => typeof unhold === 'function'), 'all given back: the other process holds all 200')
  for (const unhold of after) unhold!()
})

t.test('a hold lost with its connection is not given back on the next one, where another request holds the key', { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const a = new PgKeyHolds(sessions[0]!, schema.schema)
  const b = new PgKeyHolds(sessions[1]!, schema.schema, 100)
  const lost = await a.hold('k')
  const [backend] = await sessions[0]!.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const reconnected = new Promise((resolve) => sessions[0]!.once('connected', resolve))
  await adminQuery('SELECT pg_terminate_backend($1)', [backend!.pid])
  await reconnected
  const again = await a.hold('k')
  t.type(again, 'function', 'a later request of the process holds the key on the new connection')
  lost!()
  await sleep(100)
  t.equal(await b.hold('k'), undefined, "the lost hold's give-back did not free the later request's")
  again!()
  await sleep(100)
  const taken = await b.hold('k')
  t.type(taken, 'function', 'its own give-back did')
  taken!()
})

t.test('a batch that fails after taking locks resets the session, and the server drops what it took', { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const [a, b] = sessions as [PgSession, PgSession]
  // The statement takes its locks and then fails (the lock table full at its third row, a cancel):
  // the server keeps what it took, the client knows only the error.
  const query = a.query.bind(a)
  let failNext = false
  Object.assign(a, {
    query: async (text: string, values?: unknown[]) => {
      const rows = await query(text, values)
      if (failNext && text.includes('pg_try_advisory_lock')) {
        failNext = false
        throw new Error('the statement failed after taking its locks (injected)')
      }
      return rows
    },
  })
  const holds = new PgKeyHolds(a, schema.schema)
  const other = new PgKeyHolds(b, schema.schema, 100)
  const reconnected = new Promise((resolve) => a.once('connected', resolve))
  failNext = true
  const unheld = await holds.hold('k')
  t.type(unheld, 'function', 'the write goes on unheld')
  await reconnected
  t.pass('the session reconnected')
  const taken = await other.hold('k')
  t.type(taken, 'function', 'the lock the failed statement took is gone with the old connection')
  const paused = await holds.hold('k2')
  t.type(paused, 'function', 'right after the reset a write goes on at once')
  const free = await other.hold('k2')
  t.type(free, 'function', 'unheld for a moment, so that a lasting cause does not reconnect on every write')
  for (const unhold of [unheld, taken, paused, free]) unhold!()
  await sleep(1_100)
  const again = await holds.hold('k3')
  t.equal(await other.hold('k3'), undefined, 'a second later keys are held again')
  again!()
})

t.test('the session asks the server to end it when it falls silent', { skip }, async (t) => {
  const { sessions } = await processes(t, 1)
  const [row] = await sessions[0]!.query<{ idle_session_timeout: string }>('SHOW idle_session_timeout')
  t.equal(row?.idle_session_timeout, '20s', 'so that a silent network does not keep its locks for hours')
})

t.test(`one process holds at most ${MAX_HELD_KEYS} keys; beyond them a write goes on unheld`, { skip }, async (t) => {
  const { sessions, schema } = await processes(t, 2)
  const a = new PgKeyHolds(sessions[0]!, schema.schema)
  const b = new PgKeyHolds(sessions[1]!, schema.schema, 100)
  const held = await Promise.all(Array.from({ length: MAX_HELD_KEYS + 44 }, (_, index) => a.hold(`key-${index}`)))
  t.ok(held.every((unhold) => typeof unhold === 'function'), 'every write goes on')
  const [backend] = await sessions[0]!.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const [locks] = await sessions[1]!.query<{ count: string }>(
    "SELECT count(*)::text AS count FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted",
    [backend!.pid],
  )
  t.equal(Number(locks!.count), MAX_HELD_KEYS, `asked for ${MAX_HELD_KEYS + 44} at once, the process holds ${MAX_HELD_KEYS}`)
  const beyond = await a.hold('one more')
  t.type(beyond, 'function', 'answered at once')
  const there = await b.hold('one more')
  t.type(there, 'function', 'but not held: another process takes it')
  there!()
  beyond!()
  held[0]!()
  await sleep(50)
  const again = await a.hold('one more')
  const blocked = await b.hold('one more')
  t.equal(blocked, undefined, 'one given back: the next key is held again')
  again!()
  for (const unhold of held.slice(1)) unhold!()
})

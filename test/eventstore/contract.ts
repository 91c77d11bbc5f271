/**
 * The event store contract: one suite that every adapter (SQLite, PostgreSQL, KurrentDB) runs
 * unchanged, so that they all behave as the port in src/eventstore/port.ts describes.
 *
 * Usage, from an adapter's test file:
 *
 *   eventStoreContract(t, { name: 'sqlite', open: async () => new SqliteEventStore(freshPath()) })
 *
 * Every test opens its own store through `open()` and closes it (and every subscription it
 * started) when the test ends, and every test uses random stream ids, so tests never interfere
 * even when `open()` hands out stores that share one log (set `emptyOnOpen: false` then).
 */
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import {
  DuplicateEventIdError,
  IdempotencyKeyClaimedError,
  MAX_READ_COUNT,
  START,
  WrongExpectedVersionError,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '../../src/eventstore/port.js'

export interface EventStoreContractOptions {
  /** Names the adapter in the test output. */
  name: string
  /** Opens a store; the suite closes it. */
  open: () => Promise<EventStore>
  /**
   * Whether every `open()` returns a store whose global log is empty (a new file, schema or
   * database). When false, the tests that need an empty log are skipped and every other test
   * only looks at events of its own streams. Default true.
   */
  emptyOnOpen?: boolean
  /**
   * Where the store refuses an event id that is stored already: anywhere in the log ('log', the
   * SQL stores), or only as a repeat in the same stream (KurrentDB checks ids per stream). With
   * 'stream', the tests of ids reused across streams are skipped, with that reason. Default 'log'.
   */
  eventIdsUnique?: 'log' | 'stream'
  /**
   * Whether any position works as a checkpoint (true, the SQL stores), or only the positions the
   * store itself returned (false: KurrentDB refuses to read from the middle of a record).
   */
  anyPositionIsACheckpoint?: boolean
  /** How long a subscriber may take to deliver an event that is in the log. Default 5000 ms. */
  deliveryTimeoutMs?: number
  /** How long `close()` may take to end a waiting subscription. Default 250 ms. */
  closeWithinMs?: number
  /** Shape and deadline of the concurrency test. */
  concurrency?: { writers?: number; appendsPerWriter?: number; streams?: number; deadlineMs?: number }
}

/** Runs the contract as one subtest of `t`; resolves when it has finished. */
export function eventStoreContract(t: Test, options: EventStoreContractOptions): Promise<unknown> {
  return t.test(`event store contract: ${options.name}`, async (t) => {
    const suite = new Suite(options)
    t.test('append', (t) => suite.append(t))
    t.test('read a stream', (t) => suite.readStream(t))
    t.test('read the global log', (t) => suite.readAll(t))
    t.test('idempotent appends', (t) => suite.idempotence(t))
    t.test('idempotency key claims', (t) => suite.claims(t))
    t.test('subscribe to all', (t) => suite.subscribe(t))
    t.test('concurrent appenders and a subscriber', (t) => suite.concurrency(t))
    t.test('invalid arguments', (t) => suite.invalidArguments(t))
    t.test('close', (t) => suite.close(t))
  })
}

// ---------------------------------------------------------------------------------------------
// helpers

function event(type = 'Tested', data: unknown = { n: Math.random() }, metadata: unknown = {}): EventToAppend {
  return { id: randomUUID(), type, data, metadata }
}

function events(count: number, type = 'Tested'): EventToAppend[] {
  return Array.from({ length: count }, (_, n) => event(type, { n }))
}

function streamName(prefix = 'stream'): string {
  return `${prefix}-${randomUUID()}`
}

/** The error a call throws, synchronously or by rejecting; undefined when it succeeds. */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (error) {
    return error
  }
  return undefined
}

function revisions(recorded: readonly RecordedEvent[]): bigint[] {
  return recorded.map((e) => e.revision)
}

function ids(recorded: readonly { id: string }[]): string[] {
  return recorded.map((e) => e.id)
}

function strictlyIncreasing(positions: readonly Position[]): boolean {
  return positions.every((p, i) => i === 0 || p > (positions[i - 1] as Position))
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Drains a subscription in the background into `events`, so that tests can wait for what they expect. */
class Consumer {
  readonly events: RecordedEvent[] = []
  ended = false
  error: unknown = undefined
  readonly done: Promise<void>
  private readonly waiters = new Set<() => void>()

  constructor(
    readonly subscription: Subscription,
    private readonly keep: (event: RecordedEvent) => boolean = () => true,
  ) {
    this.done = this.run()
  }

  private async run(): Promise<void> {
    try {
      for await (const event of this.subscription) {
        if (this.keep(event)) this.events.push(event)
        this.notify()
      }
    } catch (error) {
      this.error = error
    } finally {
      this.ended = true
      this.notify()
    }
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter()
    this.waiters.clear()
  }

  /** Resolves true once `count` kept events have arrived, false when the time is up or the subscription ended. */
  async waitFor(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (this.events.length < count) {
      const left = deadline - Date.now()
      if (this.ended || left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.add(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return true
  }
}

// ---------------------------------------------------------------------------------------------
// the suite

class Suite {
  private readonly emptyOnOpen: boolean
  private readonly idsPerStreamOnly: false | string
  private readonly anyPositionIsACheckpoint: boolean
  private readonly deliveryTimeoutMs: number
  private readonly closeWithinMs: number

  constructor(private readonly options: EventStoreContractOptions) {
    this.emptyOnOpen = options.emptyOnOpen ?? true
    this.idsPerStreamOnly = options.eventIdsUnique === 'stream' ? 'this store checks event ids per stream only' : false
    this.anyPositionIsACheckpoint = options.anyPositionIsACheckpoint ?? true
    this.deliveryTimeoutMs = options.deliveryTimeoutMs ?? 5000
    this.closeWithinMs = options.closeWithinMs ?? 250
  }

  /** Opens a store for test `t`; when `t` ends, its subscriptions are closed, then the store. */
  private async open(t: Test): Promise<{ store: EventStore; subscribe: (after: Position, batchSize?: number, keep?: (e: RecordedEvent) => boolean) => Consumer }> {
    const store = await this.options.open()
    const consumers: Consumer[] = []
    t.teardown(async () => {
      for (const consumer of consumers) consumer.subscription.close()
      await Promise.all(consumers.map((c) => c.done))
      await store.close()
    })
    const subscribe = (after: Position, batchSize?: number, keep?: (e: RecordedEvent) => boolean) => {
      const subscription = store.subscribeToAll(batchSize === undefined ? { after } : { after, batchSize })
      const consumer = new Consumer(subscription, keep)
      consumers.push(consumer)
      return consumer
    }
    return { store, subscribe }
  }

  private async read(store: EventStore, streamId: string): Promise<RecordedEvent[]> {
    return store.readStream(streamId, { maxCount: MAX_READ_COUNT })
  }

  private async expectConflict(
    t: Test,
    attempt: Promise<unknown>,
    streamId: string,
    expected: ExpectedState,
    actual: bigint | undefined,
    message: string,
  ): Promise<void> {
    const error = await caught(() => attempt)
    t.ok(error instanceof WrongExpectedVersionError, `${message}: throws WrongExpectedVersionError`, { error })
    if (!(error instanceof WrongExpectedVersionError)) return
    t.equal(error.streamId, streamId, `${message}: error names the stream`)
    t.equal(error.actual, actual, `${message}: error gives the actual revision`)
    t.strictSame(error.expected, expected, `${message}: error gives the expected state`)
  }

  // claims ------------------------------------------------------------------------------------

  async claims(t: Test): Promise<void> {
    const claim = (key: string, requestHash: string | null = 'h1') => ({ scope: `actor-${key}`, key, requestHash })

    t.test('a key claimed with an append refuses another stream, and that append writes nothing', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      const [a, b] = [streamName('a'), streamName('b')]
      await store.append(a, [event()], 'no_stream', { claims: [claim(key)] })
      const error = await caught(() => store.append(b, [event()], 'no_stream', { claims: [claim(key)] }))
      t.ok(error instanceof IdempotencyKeyClaimedError, 'throws IdempotencyKeyClaimedError', { error })
      if (error instanceof IdempotencyKeyClaimedError) t.same(error.claimedBy, { streamId: a, requestHash: 'h1' })
      t.strictSame(await this.read(store, b), [], 'nothing is written')
    })

    t.test('a key claimed for another request on the same stream is refused', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      const a = streamName('a')
      await store.append(a, [event()], 'no_stream', { claims: [claim(key, 'h1')] })
      const error = await caught(() => store.append(a, [event()], 'stream_exists', { claims: [claim(key, 'h2')] }))
      t.ok(error instanceof IdempotencyKeyClaimedError, { error })
      t.equal((await this.read(store, a)).length, 1)
    })

    t.test('the same claim again, same stream and request, appends', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      const a = streamName('a')
      await store.append(a, [event()], 'no_stream', { claims: [claim(key)] })
      const result = await store.append(a, [event()], 'stream_exists', { claims: [claim(key)] })
      t.equal(result.nextExpectedRevision, 1n)
    })

    t.test('the same key in another scope is another key', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      await store.append(streamName('a'), [event()], 'no_stream', { claims: [{ scope: 'one', key, requestHash: null }] })
      await store.append(streamName('b'), [event()], 'no_stream', { claims: [{ scope: 'two', key, requestHash: null }] })
      t.pass('both appended')
    })

    t.test('a refused append does not claim its key', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      const a = streamName('a')
      await store.append(a, [event()], 'no_stream')
      await t.rejects(store.append(a, [event()], 'no_stream', { claims: [claim(key)] }), WrongExpectedVersionError)
      await store.append(streamName('b'), [event()], 'no_stream', { claims: [claim(key)] })
      t.pass('the key is free for another stream')
    })

    t.test('one append carries several claims: all are taken, or none when one serves another', async (t) => {
      const { store } = await this.open(t)
      const [k1, k2, k3] = [randomUUID(), randomUUID(), randomUUID()]
      const [a, b] = [streamName('a'), streamName('b')]
      await store.append(a, [event(), event()], 'no_stream', { claims: [claim(k1), claim(k2)] })
      await store.append(b, [event()], 'no_stream', { claims: [claim(k3)] })
      const error = await caught(() => store.append(b, [event(), event()], 'stream_exists', { claims: [claim(randomUUID()), claim(k2)] }))
      t.ok(error instanceof IdempotencyKeyClaimedError, 'the second claim serves stream a', { error })
      if (error instanceof IdempotencyKeyClaimedError) t.equal(error.claim.key, k2, 'the error names the key')
      t.equal((await this.read(store, b)).length, 1, 'nothing of the refused append is written')
      await t.rejects(store.append(b, [event()], 'stream_exists', { claims: [claim(k1)] }), IdempotencyKeyClaimedError, 'the first key is taken')
      await store.append(a, [event()], 'stream_exists', { claims: [claim(k1), claim(k2)] })
      t.pass('both claims again, same stream and requests, append')
    })

    t.test('racing appends to two streams with one key: exactly one wins', async (t) => {
      const { store } = await this.open(t)
      const key = randomUUID()
      const streams = Array.from({ length: 8 }, () => streamName('race'))
      const results = await Promise.allSettled(streams.map((s) => store.append(s, [event()], 'no_stream', { claims: [claim(key)] })))
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one append wins')
      t.ok(
        results.every((r) => r.status === 'fulfilled' || r.reason instanceof IdempotencyKeyClaimedError),
        'the others are refused as claimed',
      )
    })
  }

  // 1. append ---------------------------------------------------------------------------------

  async append(t: Test): Promise<void> {
    t.test('an append answers the position of each of its events, in order, as reads give them', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      await store.append(streamName('other'), [event()], 'no_stream')
      const result = await store.append(streamId, [event(), event(), event()], 'no_stream')
      const stored = await this.read(store, streamId)
      t.strictSame(result.positions, stored.map((recorded) => recorded.position))
      t.equal(result.position, result.positions[2], 'the last one is `position`')
      const retried = await store.append(streamId, stored.map((recorded) => ({ id: recorded.id, type: recorded.type, data: recorded.data, metadata: recorded.metadata })), 'no_stream')
      t.strictSame(retried.positions, result.positions, 'a retried append answers the first attempt\'s positions')
    })

    t.test('no_stream on a new stream starts it at revision 0', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const first = event('Opened', { a: 1 })
      const result = await store.append(streamId, [first], 'no_stream')
      t.equal(result.nextExpectedRevision, 0n)
      t.strictSame(result.positions, [result.position], 'the position of its one event')
      const stored = await this.read(store, streamId)
      t.equal(stored.length, 1)
      t.equal(stored[0]?.revision, 0n)
      t.equal(stored[0]?.id, first.id)
      t.equal(stored[0]?.streamId, streamId)
      t.equal(stored[0]?.type, 'Opened')
      t.equal(result.position, stored[0]?.position, 'position is that of the appended event')
      t.equal(typeof result.position, 'bigint')
      t.ok(result.position > START, 'position is after START')
      t.equal(await store.headPosition(), result.position, 'head is the appended event')
    })

    t.test('any on a new stream, several events: consecutive revisions from 0', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const batch = events(3)
      const result = await store.append(streamId, batch, 'any')
      t.equal(result.nextExpectedRevision, 2n)
      const stored = await this.read(store, streamId)
      t.strictSame(revisions(stored), [0n, 1n, 2n])
      t.strictSame(ids(stored), ids(batch))
      t.ok(strictlyIncreasing(stored.map((e) => e.position)), 'positions increase within the append')
      t.equal(result.position, stored[2]?.position, 'position is that of the last appended event')
      for (const e of stored) t.equal(typeof e.revision, 'bigint')
    })

    t.test('stream_exists on a missing stream throws and writes nothing', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const head = await store.headPosition()
      await this.expectConflict(t, store.append(streamId, events(2), 'stream_exists'), streamId, 'stream_exists', undefined, 'stream_exists on missing')
      t.strictSame(await this.read(store, streamId), [], 'nothing written')
      t.equal(await store.headPosition(), head, 'head unchanged')
    })

    t.test('stream_exists and any on an existing stream append', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      await store.append(streamId, events(1), 'no_stream')
      const r1 = await store.append(streamId, events(2), 'stream_exists')
      t.equal(r1.nextExpectedRevision, 2n)
      const r2 = await store.append(streamId, events(1), 'any')
      t.equal(r2.nextExpectedRevision, 3n)
      t.ok(r2.position > r1.position, 'later append, later position')
      t.strictSame(revisions(await this.read(store, streamId)), [0n, 1n, 2n, 3n])
    })

    t.test('no_stream on an existing stream throws with the current revision', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      await store.append(streamId, events(2), 'no_stream')
      await this.expectConflict(t, store.append(streamId, events(1), 'no_stream'), streamId, 'no_stream', 1n, 'no_stream on existing')
      t.equal((await this.read(store, streamId)).length, 2, 'nothing written')
    })

    t.test('an expected revision appends only when it is the current one', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      await this.expectConflict(t, store.append(streamId, events(1), { revision: 0n }), streamId, { revision: 0n }, undefined, 'revision 0 on missing')
      const r0 = await store.append(streamId, events(3), 'no_stream')
      t.equal(r0.nextExpectedRevision, 2n)
      await this.expectConflict(t, store.append(streamId, events(1), { revision: 1n }), streamId, { revision: 1n }, 2n, 'stale revision')
      await this.expectConflict(t, store.append(streamId, events(1), { revision: 3n }), streamId, { revision: 3n }, 2n, 'revision ahead')
      await this.expectConflict(t, store.append(streamId, events(1), { revision: 0n }), streamId, { revision: 0n }, 2n, 'revision 0')
      t.equal((await this.read(store, streamId)).length, 3, 'conflicts wrote nothing')
      const r1 = await store.append(streamId, events(2), { revision: 2n })
      t.equal(r1.nextExpectedRevision, 4n)
      const r2 = await store.append(streamId, events(1), { revision: r1.nextExpectedRevision })
      t.equal(r2.nextExpectedRevision, 5n)
      const stored = await this.read(store, streamId)
      t.strictSame(revisions(stored), [0n, 1n, 2n, 3n, 4n, 5n])
      t.equal(r1.position, stored[4]?.position)
      t.equal(r2.position, stored[5]?.position)
    })

    t.test('streams have their own revisions', async (t) => {
      const { store } = await this.open(t)
      const a = streamName('a')
      const b = streamName('b')
      await store.append(a, events(2), 'no_stream')
      const rb = await store.append(b, events(1), 'no_stream')
      t.equal(rb.nextExpectedRevision, 0n, 'another stream starts at 0')
      const ra = await store.append(a, events(1), { revision: 1n })
      t.equal(ra.nextExpectedRevision, 2n)
      t.ok(ra.position > rb.position)
    })
  }

  // 2. readStream -----------------------------------------------------------------------------

  async readStream(t: Test): Promise<void> {
    t.test('forwards and backwards, with fromRevision and maxCount', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const batch = events(5)
      await store.append(streamId, batch.slice(0, 2), 'no_stream')
      await store.append(streamId, batch.slice(2), { revision: 1n })
      const read = async (options: Parameters<EventStore['readStream']>[1]) =>
        revisions(await store.readStream(streamId, options))

      const all = await this.read(store, streamId)
      t.strictSame(ids(all), ids(batch), 'forwards in append order')
      t.strictSame(await read({ maxCount: 10 }), [0n, 1n, 2n, 3n, 4n])
      t.strictSame(await read({ direction: 'forwards', maxCount: 10 }), [0n, 1n, 2n, 3n, 4n])
      t.strictSame(await read({ maxCount: 2 }), [0n, 1n], 'maxCount bounds forwards')
      t.strictSame(await read({ fromRevision: 2n, maxCount: 10 }), [2n, 3n, 4n], 'fromRevision is inclusive')
      t.strictSame(await read({ fromRevision: 1n, maxCount: 2 }), [1n, 2n])
      t.strictSame(await read({ fromRevision: 4n, maxCount: 10 }), [4n])
      t.strictSame(await read({ fromRevision: 5n, maxCount: 10 }), [], 'forwards past the end is empty')
      t.strictSame(await read({ direction: 'backwards', maxCount: 10 }), [4n, 3n, 2n, 1n, 0n], 'backwards from the end')
      t.strictSame(await read({ direction: 'backwards', maxCount: 2 }), [4n, 3n], 'maxCount bounds backwards')
      t.strictSame(await read({ direction: 'backwards', fromRevision: 2n, maxCount: 10 }), [2n, 1n, 0n])
      t.strictSame(await read({ direction: 'backwards', fromRevision: 3n, maxCount: 2 }), [3n, 2n])
      t.strictSame(await read({ direction: 'backwards', fromRevision: 0n, maxCount: 10 }), [0n])
      t.strictSame(await read({ direction: 'backwards', fromRevision: 99n, maxCount: 10 }), [4n, 3n, 2n, 1n, 0n], 'backwards from beyond the end')
      const backwards = await store.readStream(streamId, { direction: 'backwards', maxCount: 10 })
      t.strictSame(backwards, [...all].reverse(), 'backwards reads the same events')
    })

    t.test('a missing stream reads as empty', async (t) => {
      const { store } = await this.open(t)
      const missing = streamName('missing')
      t.strictSame(await store.readStream(missing, { maxCount: 10 }), [])
      t.strictSame(await store.readStream(missing, { direction: 'backwards', maxCount: 10 }), [])
      t.strictSame(await store.readStream(missing, { fromRevision: 3n, maxCount: 10 }), [])
    })

    t.test('streams with similar ids do not mix', async (t) => {
      const { store } = await this.open(t)
      const base = streamName('similar')
      const names = [base, `${base}-1`, `${base}%`, `${base}_`, base.toUpperCase()]
      for (const name of names) await store.append(name, [event('Named', { name })], 'no_stream')
      for (const name of names) {
        const stored = await this.read(store, name)
        t.equal(stored.length, 1, `${name} holds one event`)
        t.strictSame(stored[0]?.data, { name })
      }
    })

    t.test('data and metadata round-trip exactly', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const tricky = `quotes " ' \` backslash \\ newline \n tab \t nul-ish \\u0000 percent %s dollar $1 <tag> & ;DROP TABLE events;--`
      const data = {
        text: tricky,
        unicode: 'Grüße aus Köln – Ärger, Öl, Übermut, ß; 日本語; emoji 👩‍👧‍👦 🎉; RTL עברית',
        nested: { list: [1, -2.5, 0, 1e21, { deeper: [null, true, false, '', []] }], empty: {} },
        amountCents: 123456789012,
        'key with "quotes"': 'value',
        'ümlaut-key': ['ä', 'ö', 'ü'],
      }
      const metadata = { correlationId: randomUUID(), causationId: null, user: { name: "O'Brien \"the\" Ünïcødé" }, tags: [] }
      const payloads: EventToAppend[] = [
        { id: randomUUID(), type: 'Nested', data, metadata },
        { id: randomUUID(), type: 'TopLevelString', data: tricky, metadata: { note: 'a string payload' } },
        { id: randomUUID(), type: 'TopLevelArray', data: [1, 'two', { three: 3 }], metadata: {} },
        { id: randomUUID(), type: 'Type.With-Odd_chars:ü', data: {}, metadata: { empty: '' } },
      ]
      await store.append(streamId, payloads, 'no_stream')
      const stored = await this.read(store, streamId)
      t.equal(stored.length, payloads.length)
      payloads.forEach((p, i) => {
        const s = stored[i]
        t.equal(s?.id, p.id, `id ${i}`)
        t.equal(s?.type, p.type, `type ${i}`)
        t.strictSame(s?.data, p.data, `data ${i}`)
        t.strictSame(s?.metadata, p.metadata, `metadata ${i}`)
      })
      const fromLog = (await store.readAll({ after: START, maxCount: MAX_READ_COUNT })).filter((e) => e.streamId === streamId)
      t.strictSame(fromLog, stored, 'readAll returns the same events')
    })
  }

  // 3. readAll and headPosition ------------------------------------------------------------------

  async readAll(t: Test): Promise<void> {
    t.test('an empty log', { skip: this.emptyOnOpen ? false : 'the adapter cannot open an empty log' }, async (t) => {
      const { store } = await this.open(t)
      t.equal(await store.headPosition(), START, 'head is START')
      t.strictSame(await store.readAll({ after: START, maxCount: 10 }), [])
    })

    t.test('global order across streams, exclusive after, maxCount', async (t) => {
      const { store } = await this.open(t)
      const before = await store.headPosition()
      const a = streamName('a')
      const b = streamName('b')
      const c = streamName('c')
      const plan: [string, number][] = [[a, 2], [b, 1], [a, 1], [c, 3], [b, 2]]
      const appended: EventToAppend[] = []
      let lastPosition: Position = START
      for (const [streamId, count] of plan) {
        const batch = events(count)
        appended.push(...batch)
        lastPosition = (await store.append(streamId, batch, 'any')).position
      }
      const log = await store.readAll({ after: before, maxCount: MAX_READ_COUNT })
      t.strictSame(ids(log), ids(appended), 'the log holds every event in append order')
      t.strictSame(log.map((e) => e.streamId), [a, a, b, a, c, c, c, b, b])
      t.strictSame(revisions(log), [0n, 1n, 0n, 2n, 0n, 1n, 2n, 1n, 2n])
      const positions = log.map((e) => e.position)
      t.ok(strictlyIncreasing(positions), 'positions strictly increase')
      t.ok(positions.every((p) => p > before), 'all after the earlier head')
      t.equal(await store.headPosition(), lastPosition, 'head is the last appended position')
      t.equal(log.at(-1)?.position, lastPosition)

      for (const streamId of [a, b, c]) {
        t.strictSame(await this.read(store, streamId), log.filter((e) => e.streamId === streamId), `readStream(${streamId.slice(0, 1)}) matches the log`)
      }

      const third = log[2] as RecordedEvent
      const afterThird = await store.readAll({ after: third.position, maxCount: MAX_READ_COUNT })
      t.strictSame(ids(afterThird), ids(log.slice(3)), 'after is exclusive')
      t.strictSame(await store.readAll({ after: before, maxCount: 2 }), log.slice(0, 2), 'maxCount bounds')
      t.strictSame(await store.readAll({ after: third.position, maxCount: 1 }), log.slice(3, 4))
      t.strictSame(await store.readAll({ after: lastPosition, maxCount: 10 }), [], 'nothing after the head')
      // A position between two events (not an event's own) works as a checkpoint too.
      const gap = third.position + 1n
      if (this.anyPositionIsACheckpoint && gap < (log[3] as RecordedEvent).position) {
        t.strictSame(ids(await store.readAll({ after: gap, maxCount: 10 })), ids(log.slice(3)))
      }

      const paged: RecordedEvent[] = []
      let after = before
      for (;;) {
        const page = await store.readAll({ after, maxCount: 2 })
        t.ok(page.length <= 2, 'a page holds at most maxCount events')
        if (page.length === 0) break
        paged.push(...page)
        after = (page.at(-1) as RecordedEvent).position
      }
      t.strictSame(paged, log, 'paging with maxCount reads the whole log once')
    })

    t.test('head follows appends', async (t) => {
      const { store } = await this.open(t)
      const h0 = await store.headPosition()
      const r1 = await store.append(streamName(), events(1), 'no_stream')
      t.ok(r1.position > h0)
      t.equal(await store.headPosition(), r1.position)
      const r2 = await store.append(streamName(), events(2), 'no_stream')
      t.ok(r2.position > r1.position)
      t.equal(await store.headPosition(), r2.position)
      await caught(() => store.append(streamName(), events(1), 'stream_exists'))
      t.equal(await store.headPosition(), r2.position, 'a failed append leaves the head')
    })
  }

  // 4. idempotence ----------------------------------------------------------------------------

  async idempotence(t: Test): Promise<void> {
    t.test('the same ids again, same stream and order, write nothing and return the first result', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const batch = events(2)
      const first = await store.append(streamId, batch, 'no_stream')
      const head = await store.headPosition()
      const again = await store.append(streamId, batch, 'no_stream')
      t.strictSame(again, first, 'a retry with the same (now stale) no_stream returns the first result')
      t.strictSame(await store.append(streamId, batch, 'any'), first, 'with any')
      t.strictSame(await store.append(streamId, batch, 'stream_exists'), first, 'with stream_exists')
      t.strictSame(await store.append(streamId, batch, { revision: 7n }), first, 'with a wrong revision')
      t.equal((await this.read(store, streamId)).length, 2, 'nothing written twice')
      t.equal(await store.headPosition(), head, 'head unchanged')

      const later = events(1)
      const second = await store.append(streamId, later, { revision: 1n })
      await store.append(streamId, events(2), { revision: 2n })
      const head2 = await store.headPosition()
      t.strictSame(await store.append(streamId, later, { revision: 1n }), second, 'a retry of a middle append with its stale revision')
      t.strictSame(await store.append(streamId, batch, { revision: 4n }), first, 'the first append once more')
      t.equal((await this.read(store, streamId)).length, 5)
      t.equal(await store.headPosition(), head2, 'head unchanged')
    })

    t.test('a retry is answered the same after events in other streams', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const batch = events(3)
      const first = await store.append(streamId, batch, 'any')
      await store.append(streamName(), events(2), 'any')
      t.strictSame(await store.append(streamId, batch, 'any'), first)
      t.strictSame(ids(await this.read(store, streamId)), ids(batch))
    })

    t.test('a stored id in another stream throws DuplicateEventIdError', { skip: this.idsPerStreamOnly }, async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const other = streamName('other')
      const batch = events(2)
      await store.append(streamId, batch, 'no_stream')
      const head = await store.headPosition()
      const one = await caught(() => store.append(other, [batch[0] as EventToAppend], 'any'))
      t.ok(one instanceof DuplicateEventIdError, 'same id, other stream', { error: one })
      if (one instanceof DuplicateEventIdError) t.equal(one.eventId, batch[0]?.id, 'names the id')
      const both = await caught(() => store.append(other, batch, 'no_stream'))
      t.ok(both instanceof DuplicateEventIdError, 'the whole append in another stream', { error: both })
      t.strictSame(await this.read(store, other), [], 'nothing written to the other stream')
      t.equal(await store.headPosition(), head, 'head unchanged')
    })

    t.test('a stored id in another order or combination throws DuplicateEventIdError', { skip: this.idsPerStreamOnly }, async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const [a, b, c] = events(3) as [EventToAppend, EventToAppend, EventToAppend]
      await store.append(streamId, [a, b, c], 'no_stream')
      const head = await store.headPosition()
      const cases: [string, EventToAppend[]][] = [
        ['reversed', [c, b, a]],
        ['swapped', [b, a]],
        ['skipping one', [a, c]],
        ['stored then new', [c, event()]],
        ['new then stored', [event(), a]],
        ['new, stored, new', [event(), b, event()]],
      ]
      for (const [name, batch] of cases) {
        const error = await caught(() => store.append(streamId, batch, 'any'))
        t.ok(error instanceof DuplicateEventIdError, `${name}: throws DuplicateEventIdError`, { error })
      }
      const other = streamName('other')
      const error = await caught(() => store.append(other, [event(), b], 'no_stream'))
      t.ok(error instanceof DuplicateEventIdError, 'new then stored, in another stream', { error })
      t.strictSame(await this.read(store, other), [], 'nothing written to the other stream')
      t.strictSame(ids(await this.read(store, streamId)), ids([a, b, c]), 'the stream is unchanged')
      t.equal(await store.headPosition(), head, 'head unchanged')
    })

    t.test('the same id twice in one append throws and writes nothing', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const e = event()
      const error = await caught(() => store.append(streamId, [e, { ...e }], 'any'))
      t.ok(error instanceof Error, 'throws', { error })
      t.notOk(error instanceof WrongExpectedVersionError, 'not a version conflict')
      t.strictSame(await this.read(store, streamId), [], 'nothing written')
    })

    t.test('a failed append writes nothing and does not use up its ids', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      await store.append(streamId, events(2), 'no_stream')
      const head = await store.headPosition()
      const batch = events(3)
      await this.expectConflict(t, store.append(streamId, batch, { revision: 0n }), streamId, { revision: 0n }, 1n, 'conflict')
      t.equal((await this.read(store, streamId)).length, 2, 'nothing written')
      t.equal(await store.headPosition(), head, 'head unchanged')
      const log = await store.readAll({ after: START, maxCount: MAX_READ_COUNT })
      t.notOk(log.some((e) => ids(batch).includes(e.id)), 'none of its ids are in the log')
      const result = await store.append(streamId, batch, { revision: 1n })
      t.equal(result.nextExpectedRevision, 4n, 'the same events append once the revision is right')
      t.strictSame(ids((await this.read(store, streamId)).slice(2)), ids(batch))
    })
  }

  // 5. subscribeToAll -------------------------------------------------------------------------

  async subscribe(t: Test): Promise<void> {
    const timeout = this.deliveryTimeoutMs

    t.test('from START: existing events in order, then live ones', async (t) => {
      const { store, subscribe } = await this.open(t)
      const mine = new Set([streamName('a'), streamName('b')])
      const [a, b] = [...mine] as [string, string]
      await store.append(a, events(3), 'no_stream')
      await store.append(b, events(2), 'no_stream')
      await store.append(a, events(2), { revision: 2n })
      const existing = (await store.readAll({ after: START, maxCount: MAX_READ_COUNT })).filter((e) => mine.has(e.streamId))
      t.equal(existing.length, 7)

      // A small batch size makes the catch-up read in several batches.
      const consumer = subscribe(START, 2, (e) => mine.has(e.streamId))
      t.ok(await consumer.waitFor(7, timeout), 'existing events delivered')
      t.strictSame(consumer.events, existing, 'existing events in log order')

      await delay(20) // let the subscriber wait for new events
      const r1 = await store.append(b, events(1), 'stream_exists')
      t.ok(await consumer.waitFor(8, timeout), 'a live event is delivered')
      t.equal(consumer.events[7]?.position, r1.position)
      const live = events(3)
      await store.append(a, live.slice(0, 2), { revision: 4n })
      await store.append(b, live.slice(2), { revision: 2n })
      t.ok(await consumer.waitFor(11, timeout), 'more live events are delivered')
      t.strictSame(ids(consumer.events.slice(8)), ids(live))
      t.ok(strictlyIncreasing(consumer.events.map((e) => e.position)), 'positions strictly increase')
      t.strictSame(consumer.events, (await store.readAll({ after: START, maxCount: MAX_READ_COUNT })).filter((e) => mine.has(e.streamId)), 'the subscriber saw exactly the log')
      t.notOk(consumer.error, 'no error')
      t.notOk(consumer.ended, 'still running')
    })

    t.test('on an empty log it waits for the first event', { skip: this.emptyOnOpen ? false : 'the adapter cannot open an empty log' }, async (t) => {
      const { store, subscribe } = await this.open(t)
      const consumer = subscribe(START)
      await delay(20)
      t.equal(consumer.events.length, 0)
      const e = event()
      await store.append(streamName(), [e], 'no_stream')
      t.ok(await consumer.waitFor(1, timeout), 'the first event is delivered')
      t.equal(consumer.events[0]?.id, e.id)
    })

    t.test('from a checkpoint: only later events', async (t) => {
      const { store, subscribe } = await this.open(t)
      const streamId = streamName()
      const batch = events(4)
      await store.append(streamId, batch.slice(0, 2), 'no_stream')
      const checkpoint = (await this.read(store, streamId))[1]?.position as Position
      await store.append(streamId, batch.slice(2), 'stream_exists')
      const consumer = subscribe(checkpoint)
      t.ok(await consumer.waitFor(2, timeout), 'events after the checkpoint delivered')
      const later = events(2)
      await store.append(streamId, later, { revision: 3n })
      t.ok(await consumer.waitFor(4, timeout), 'live events delivered')
      await delay(20)
      t.strictSame(ids(consumer.events), ids([...batch.slice(2), ...later]), 'nothing at or before the checkpoint, nothing twice')
      t.ok(consumer.events.every((e) => e.position > checkpoint))

      const atHead = subscribe(await store.headPosition())
      await delay(20)
      t.equal(atHead.events.length, 0, 'from the head: nothing yet')
      const next = event()
      await store.append(streamId, [next], 'any')
      t.ok(await atHead.waitFor(1, timeout))
      t.strictSame(ids(atHead.events), [next.id])
    })

    t.test('close() ends a waiting for-await loop promptly', async (t) => {
      const { store, subscribe } = await this.open(t)
      const streamId = streamName()
      await store.append(streamId, events(2), 'no_stream')
      const consumer = subscribe(await store.headPosition())
      await delay(50) // the subscriber is now waiting for new events
      t.notOk(consumer.ended, 'waiting before close')
      const started = Date.now()
      consumer.subscription.close()
      await Promise.race([consumer.done, delay(this.closeWithinMs)])
      const took = Date.now() - started
      t.ok(consumer.ended, `the loop ended within ${this.closeWithinMs} ms (took ${took} ms)`)
      t.notOk(consumer.error, 'without an error', { error: consumer.error })
      await store.append(streamId, events(1), 'any')
      await delay(20)
      t.equal(consumer.events.length, 0, 'nothing delivered after close')
    })

    t.test('close() during catch-up stops the delivery', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const before = await store.headPosition()
      await store.append(streamId, events(10), 'no_stream')
      const subscription = store.subscribeToAll({ after: before, batchSize: 3 })
      const seen: RecordedEvent[] = []
      const loop = (async () => {
        for await (const e of subscription) {
          seen.push(e)
          if (seen.length === 4) subscription.close()
        }
      })()
      await Promise.race([loop, delay(this.deliveryTimeoutMs)])
      t.equal(seen.length, 4, 'no event after close')
      subscription.close() // closing twice is harmless
      await loop
    })

    t.test('break in for-await ends the subscription', async (t) => {
      const { store } = await this.open(t)
      const streamId = streamName()
      const before = await store.headPosition()
      await store.append(streamId, events(3), 'no_stream')
      const subscription = store.subscribeToAll({ after: before })
      const seen: RecordedEvent[] = []
      for await (const e of subscription) {
        seen.push(e)
        if (seen.length === 2) break
      }
      subscription.close()
      t.equal(seen.length, 2)
    })

    t.test('several subscribers each see everything', async (t) => {
      const { store, subscribe } = await this.open(t)
      const mine = new Set([streamName('a'), streamName('b'), streamName('c')])
      const streams = [...mine]
      const start = await store.headPosition()
      await store.append(streams[0] as string, events(2), 'no_stream')
      const keep = (e: RecordedEvent) => mine.has(e.streamId)
      const consumers = [subscribe(start, undefined, keep), subscribe(start, 1, keep), subscribe(START, 3, keep)]
      await delay(20)
      let total = 2
      for (let i = 0; i < 12; i++) {
        const count = (i % 3) + 1
        await store.append(streams[i % 3] as string, events(count), 'any')
        total += count
        if (i % 4 === 0) await delay(1)
      }
      const expected = (await store.readAll({ after: start, maxCount: MAX_READ_COUNT })).filter(keep)
      t.equal(expected.length, total)
      for (const [i, consumer] of consumers.entries()) {
        t.ok(await consumer.waitFor(total, timeout), `subscriber ${i} got all ${total} events`)
        await delay(10)
        t.strictSame(consumer.events, expected, `subscriber ${i} saw the log, in order, once`)
      }
    })
  }

  // 6. concurrency ----------------------------------------------------------------------------

  async concurrency(t: Test): Promise<void> {
    const writers = this.options.concurrency?.writers ?? 8
    const appendsPerWriter = this.options.concurrency?.appendsPerWriter ?? 50
    const streamCount = this.options.concurrency?.streams ?? 4
    const deadlineMs = this.options.concurrency?.deadlineMs ?? 30_000
    const deadline = Date.now() + deadlineMs
    const { store, subscribe } = await this.open(t)
    const streams = Array.from({ length: streamCount }, (_, i) => streamName(`concurrent${i}`))
    const mine = new Set(streams)
    const consumer = subscribe(await store.headPosition(), 7, (e) => mine.has(e.streamId))

    const committed = new Map<string, EventToAppend>()
    let conflicts = 0
    let retriedAppends = 0
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; n < appendsPerWriter; n++) {
        const streamId = streams[(w + n) % streamCount] as string
        const batch = events((w + n) % 3 === 0 ? 2 : 1, `Writer${w}`)
        for (let attempt = 0; ; attempt++) {
          if (Date.now() > deadline) throw new Error(`writer ${w} passed the ${deadlineMs} ms deadline at append ${n}`)
          const last = (await store.readStream(streamId, { direction: 'backwards', maxCount: 1 }))[0]
          const expected: ExpectedState = last ? { revision: last.revision } : 'no_stream'
          // Let other writers (and the subscriber) run between the read and the append, now and then.
          if (Math.random() < 0.3) await new Promise((resolve) => setImmediate(resolve))
          try {
            const result = await store.append(streamId, batch, expected)
            const wanted = (last?.revision ?? -1n) + BigInt(batch.length)
            if (result.nextExpectedRevision !== wanted) throw new Error(`writer ${w}: append to revision ${result.nextExpectedRevision}, expected ${wanted}`)
            break
          } catch (error) {
            if (!(error instanceof WrongExpectedVersionError)) throw error
            if (error.actual === (last?.revision ?? undefined)) throw new Error(`conflict although the stream was at the expected revision ${error.actual}`)
            conflicts += 1
          }
        }
        if (n % 10 === 9) {
          // Now and then, retry an append that succeeded, as a client whose response got lost.
          await store.append(streamId, batch, 'any')
          retriedAppends += 1
        }
        for (const e of batch) committed.set(e.id, e)
      }
    }

    const results = await Promise.allSettled(Array.from({ length: writers }, (_, w) => writer(w)))
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(failures.length, 0, 'every writer finished', { errors: failures.map((f) => String(f.reason)) })
    t.comment(
      `${committed.size} events committed, ${conflicts} conflicts retried, ${retriedAppends} idempotent retries, ` +
        `${consumer.events.length} delivered while writing`,
    )

    const delivered = await consumer.waitFor(committed.size, Math.max(deadline - Date.now(), this.deliveryTimeoutMs))
    t.ok(delivered, `the subscriber got all ${committed.size} events before the deadline (it got ${consumer.events.length})`)
    await delay(50) // anything delivered twice would arrive now
    const seen = consumer.events
    t.equal(seen.length, committed.size, 'the subscriber saw as many events as were committed')
    t.equal(new Set(ids(seen)).size, seen.length, 'no event delivered twice')
    t.ok(ids(seen).every((id) => committed.has(id)), 'every delivered event was committed')
    t.ok([...committed.keys()].every((id) => seen.some((e) => e.id === id)), 'every committed event was delivered')
    t.ok(strictlyIncreasing(seen.map((e) => e.position)), 'positions strictly increase')
    t.notOk(consumer.error, 'the subscription did not fail', { error: consumer.error })

    let total = 0
    for (const streamId of streams) {
      const stored = await this.read(store, streamId)
      total += stored.length
      t.strictSame(revisions(stored), stored.map((_, i) => BigInt(i)), `${streamId.slice(0, 12)}: revisions 0..${stored.length - 1} without gaps`)
      t.strictSame(stored, seen.filter((e) => e.streamId === streamId), `${streamId.slice(0, 12)}: the subscriber saw the stream as stored`)
    }
    t.equal(total, committed.size, 'the streams hold every committed event once')
    let planned = 0
    for (let w = 0; w < writers; w++) for (let n = 0; n < appendsPerWriter; n++) planned += (w + n) % 3 === 0 ? 2 : 1
    t.equal(total, planned, 'the number of events matches the plan')
  }

  // 7. invalid arguments ----------------------------------------------------------------------

  async invalidArguments(t: Test): Promise<void> {
    const { store } = await this.open(t)
    const streamId = streamName()
    await store.append(streamId, events(3), 'no_stream')
    const head = await store.headPosition()

    for (const expected of ['no_stream', 'any', 'stream_exists', { revision: 2n }] as ExpectedState[]) {
      const error = await caught(() => store.append(streamId, [], expected))
      t.ok(error instanceof RangeError, `an empty append throws RangeError (${JSON.stringify(expected, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))})`, { error })
    }
    const fresh = streamName()
    t.ok((await caught(() => store.append(fresh, [], 'no_stream'))) instanceof RangeError, 'also on a new stream')
    t.strictSame(await this.read(store, fresh), [], 'and it does not create the stream')
    t.equal(await store.headPosition(), head, 'head unchanged')

    for (const maxCount of [0, -1, 1.5, Number.NaN]) {
      t.ok((await caught(() => store.readStream(streamId, { maxCount }))) instanceof RangeError, `readStream maxCount ${maxCount} throws RangeError`)
      t.ok((await caught(() => store.readStream(streamId, { direction: 'backwards', maxCount }))) instanceof RangeError, `readStream backwards maxCount ${maxCount} throws RangeError`)
      t.ok((await caught(() => store.readAll({ after: START, maxCount }))) instanceof RangeError, `readAll maxCount ${maxCount} throws RangeError`)
    }
    t.ok((await caught(() => store.readStream(streamName(), { maxCount: 0 }))) instanceof RangeError, 'also for a missing stream')
    t.equal((await store.readStream(streamId, { maxCount: 1 })).length, 1, 'maxCount 1 is valid')
    t.equal((await store.readStream(streamId, { maxCount: MAX_READ_COUNT * 100 })).length, 3, 'a maxCount above MAX_READ_COUNT is bounded, not an error')
    t.ok((await store.readAll({ after: START, maxCount: MAX_READ_COUNT * 100 })).length >= 3)
  }

  // close -------------------------------------------------------------------------------------

  async close(t: Test): Promise<void> {
    const store = await this.options.open()
    try {
      await store.append(streamName(), events(1), 'no_stream')
    } finally {
      await store.close()
    }
    t.equal(await caught(() => store.close()), undefined, 'closing twice is harmless')
    t.ok((await caught(() => store.append(streamName(), events(1), 'any'))) instanceof Error, 'append after close fails')
    t.ok((await caught(() => store.readAll({ after: START, maxCount: 1 }))) instanceof Error, 'readAll after close fails')
  }
}

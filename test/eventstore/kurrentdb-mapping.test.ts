import {
  ANY,
  MaxAppendSizeExceededError,
  NO_STREAM,
  START as KURRENT_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError as ClientWrongExpectedVersionError,
  type AllStreamRecordedEvent,
} from '@kurrent/kurrentdb-client'
import fc from 'fast-check'
import t from 'tap'
import {
  fromClientError,
  isStreamNotFound,
  ledgerFilter,
  readFrom,
  toKurrentPosition,
  toPortPosition,
  toRecordedEvent,
  toStreamState,
  UnsupportedPositionError,
} from '../../src/eventstore/kurrentdb-mapping.js'
import { AppendTooLargeError, START, StoreUnavailableError, WrongExpectedVersionError } from '../../src/eventstore/port.js'
import { KURRENTDB_MAX_APPEND_BYTES } from '../../src/eventstore/kurrentdb.js'

/**
 * What the KurrentDB adapter translates, tested against the client's own types and errors: no
 * server runs here (the adapter's contract suite runs when KURRENTDB_URL is set).
 */

const logPosition = fc.bigInt({ min: 0n, max: 2n ** 63n - 2n })

t.test('positions: commit = prepare maps to one ordered number and back, without loss', async (t) => {
  fc.assert(
    fc.property(logPosition, (commit) => {
      const port = toPortPosition({ commit, prepare: commit })
      t.ok(port > START, 'after START')
      t.same(toKurrentPosition(port), { commit, prepare: commit }, 'back to the same position')
    }),
  )
  fc.assert(
    fc.property(logPosition, logPosition, (a, b) => {
      const [pa, pb] = [toPortPosition({ commit: a, prepare: a }), toPortPosition({ commit: b, prepare: b })]
      return (a < b) === (pa < pb) && (a === b) === (pa === pb)
    }),
  )
  t.equal(toPortPosition({ commit: 0n, prepare: 0n }), 1n, 'log position 0 is after START')
})

t.test('positions: an event of an explicit transaction (commit ≠ prepare) is refused, not mis-sorted', async (t) => {
  t.throws(() => toPortPosition({ commit: 200n, prepare: 150n }), UnsupportedPositionError)
  t.throws(() => toPortPosition({ commit: -1n, prepare: -1n }), RangeError)
  t.throws(() => toKurrentPosition(START), RangeError, 'START has no KurrentDB position')
  t.throws(() => toPortPosition({ commit: 2n ** 64n - 1n, prepare: 2n ** 64n - 1n }), /22\.6/, 'a server too old to give stream reads a position')
})

t.test('reads after START start at the start; after a position, at its event', async (t) => {
  t.equal(readFrom(START), KURRENT_START)
  t.same(readFrom(42n), { commit: 41n, prepare: 41n })
})

t.test('expected states', async (t) => {
  t.equal(toStreamState('no_stream'), NO_STREAM)
  t.equal(toStreamState('any'), ANY)
  t.equal(toStreamState('stream_exists'), STREAM_EXISTS)
  t.equal(toStreamState({ revision: 7n }), 7n)
})

t.test('a conflict becomes the port\'s WrongExpectedVersionError, with the actual revision', async (t) => {
  const conflict = fromClientError(new ClientWrongExpectedVersionError(undefined, { streamName: 'budget-2025-nord', expected: 3n, current: 5n }))
  t.ok(conflict instanceof WrongExpectedVersionError)
  t.match(conflict, { streamId: 'budget-2025-nord', expected: { revision: 3n }, actual: 5n })
  const missing = fromClientError(new ClientWrongExpectedVersionError(undefined, { streamName: 's', expected: STREAM_EXISTS, current: NO_STREAM }), 'stream_exists')
  t.match(missing, { streamId: 's', expected: 'stream_exists', actual: undefined }, 'no stream: actual undefined')
  const noStream = fromClientError(new ClientWrongExpectedVersionError(undefined, { streamName: 's', expected: NO_STREAM, current: 0n }))
  t.match(noStream, { expected: 'no_stream', actual: 0n })
})

t.test('an unreachable store becomes StoreUnavailableError naming KurrentDB; other errors pass unchanged', async (t) => {
  const unavailable = fromClientError(new UnavailableError())
  t.ok(unavailable instanceof StoreUnavailableError)
  t.match(unavailable, { store: 'KurrentDB', message: /^KurrentDB is not reachable/ })
  // The client passes some connection failures on as plain gRPC errors (seen with a refused port).
  const raw = new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1')
  t.ok(fromClientError(raw) instanceof StoreUnavailableError)
  t.ok(fromClientError(new Error('Failed to discover after 10 attempts.')) instanceof StoreUnavailableError, 'a cluster that cannot be found')
  const other = new Error('something else')
  t.equal(fromClientError(other), other)
  t.equal(fromClientError('text'), 'text')
  t.ok(isStreamNotFound(new StreamNotFoundError(undefined, 'budget-2030-x')))
  t.notOk(isStreamNotFound(new UnavailableError()))
})

t.test("an append beyond the server's MaxAppendSize becomes AppendTooLargeError with the limit, nothing stored", async (t) => {
  const refused = MaxAppendSizeExceededError.fromMaxAppendSize(1_048_576)
  const mapped = fromClientError(refused, { revision: 3n })
  t.ok(mapped instanceof AppendTooLargeError)
  t.match(mapped, { store: 'KurrentDB', maxBytes: 1_048_576, message: 'KurrentDB takes at most 1048576 bytes in one append; nothing was stored' })
  t.equal((mapped as AppendTooLargeError).cause, refused, 'the client error is kept as the cause')
  t.ok(KURRENTDB_MAX_APPEND_BYTES < 1_048_576, "the adapter's batches stay below the server's default")
})

t.test('the filter drops system events on the server', async (t) => {
  t.match(ledgerFilter(), { filterOn: 'eventType', regex: '^[^$].*' })
  const regex = new RegExp((ledgerFilter() as { regex: string }).regex)
  t.ok(regex.test('SpendingRecorded'))
  t.notOk(regex.test('$statsCollected'))
})

function recorded(overrides: Partial<AllStreamRecordedEvent> = {}): AllStreamRecordedEvent {
  return {
    streamId: 'budget-2025-nord',
    id: 'c0a8d6a4-2e9c-4f0a-9c47-0d3c2f6a1b11',
    isJson: true,
    revision: 4n,
    type: 'SpendingRecorded',
    created: new Date('2025-03-01T10:00:00Z'),
    data: { amount: 5000 },
    metadata: { actor: { sub: 'anna' } },
    position: { commit: 9000n, prepare: 9000n },
    ...overrides,
  } as AllStreamRecordedEvent
}

t.test('recorded events: stream, revision, position, data and metadata', async (t) => {
  t.same(toRecordedEvent(recorded()), {
    id: 'c0a8d6a4-2e9c-4f0a-9c47-0d3c2f6a1b11',
    streamId: 'budget-2025-nord',
    revision: 4n,
    position: 9001n,
    type: 'SpendingRecorded',
    data: { amount: 5000 },
    metadata: { actor: { sub: 'anna' } },
  })
  t.same(toRecordedEvent(recorded({ metadata: Buffer.from('{"a":1}') } as Partial<AllStreamRecordedEvent>)).metadata, { a: 1 }, 'metadata as bytes is parsed')
  t.same(toRecordedEvent(recorded({ metadata: new Uint8Array() } as Partial<AllStreamRecordedEvent>)).metadata, {}, 'no metadata reads as {}')
  t.throws(() => toRecordedEvent(recorded({ isJson: false } as Partial<AllStreamRecordedEvent>)), /not JSON/)
  t.throws(() => toRecordedEvent(recorded({ position: undefined } as unknown as Partial<AllStreamRecordedEvent>)), /without its position/)
  t.throws(() => toRecordedEvent(recorded({ position: { commit: 10n, prepare: 5n } })), UnsupportedPositionError)
})

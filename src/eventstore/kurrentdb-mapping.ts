import {
  ANY,
  ErrorType,
  NO_STREAM,
  START as KURRENT_START,
  STREAM_EXISTS,
  excludeSystemEvents,
  isCommandError,
  type AllStreamRecordedEvent,
  type AppendStreamState,
  type CurrentStreamState,
  type Filter,
  type Position as KurrentPosition,
  type ReadPosition,
  type RecordedEvent as KurrentRecordedEvent,
} from '@kurrent/kurrentdb-client'
import {
  AppendTooLargeError,
  START,
  StoreUnavailableError,
  WrongExpectedVersionError,
  type ExpectedState,
  type Position,
  type RecordedEvent,
} from './port.js'

/**
 * Pure translations between the event store port and KurrentDB's client: positions, expected
 * states, errors and recorded events. Kept apart from the adapter so that they are tested
 * without a server (test/eventstore/kurrentdb-mapping.test.ts).
 */

export const KURRENTDB = 'KurrentDB'

const NO_POSITION = 2n ** 64n - 1n

/**
 * An event whose $all position the port cannot express: its prepare position differs from its
 * commit position, which only the explicit transactions of KurrentDB's old TCP clients write.
 * Refused rather than given a position that could sort wrong.
 */
export class UnsupportedPositionError extends Error {
  constructor(readonly position: KurrentPosition) {
    super(
      `an event at commit ${position.commit}, prepare ${position.prepare} was written in an explicit transaction; ` +
        'the ledger reads only logs whose events have one position (commit = prepare)',
    )
    this.name = 'UnsupportedPositionError'
  }
}

/**
 * KurrentDB orders $all by (commit, prepare). Events appended over gRPC have commit = prepare, so
 * one number says where they are, without loss. The port's position is that number plus one, so
 * that the port's START (0) is before everything, a record at log position 0 included.
 */
export function toPortPosition(position: KurrentPosition): Position {
  // Servers before 22.6 give stream reads no position: the client reads it as 2^64 − 1 (-1 unsigned).
  if (position.commit === NO_POSITION) throw new Error('the server gave no position with an event: KurrentDB 22.6 or later is needed')
  if (position.commit !== position.prepare) throw new UnsupportedPositionError(position)
  if (position.commit < 0n) throw new RangeError(`a negative log position: ${position.commit}`)
  return position.commit + 1n
}

/** The KurrentDB position of the event at a port position (the inverse of toPortPosition). */
export function toKurrentPosition(position: Position): KurrentPosition {
  if (position <= START) throw new RangeError('START is before every event: it has no KurrentDB position')
  return { commit: position - 1n, prepare: position - 1n }
}

/** Where a read or subscription "after `position`" starts: the event at that position, or the very start. */
export function readFrom(position: Position): ReadPosition {
  return position === START ? KURRENT_START : toKurrentPosition(position)
}

export function toStreamState(expected: ExpectedState): AppendStreamState {
  if (expected === 'no_stream') return NO_STREAM
  if (expected === 'any') return ANY
  if (expected === 'stream_exists') return STREAM_EXISTS
  return expected.revision
}

function fromStreamState(state: AppendStreamState): ExpectedState {
  if (state === NO_STREAM) return 'no_stream'
  if (state === ANY) return 'any'
  if (state === STREAM_EXISTS) return 'stream_exists'
  return { revision: state }
}

const actualRevision = (state: CurrentStreamState): bigint | undefined => (state === NO_STREAM ? undefined : state)

/** The errors of the network and the cluster: the store is away (or has no leader) for a moment. */
const UNAVAILABLE_TYPES: ReadonlySet<string> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.NOT_LEADER,
  ErrorType.CANCELLED,
])

/** gRPC's UNAVAILABLE (14) and DEADLINE_EXCEEDED (4), which the client sometimes passes on unwrapped. */
const GRPC_UNAVAILABLE = /^(14 UNAVAILABLE|4 DEADLINE_EXCEEDED)\b|^Failed to discover after \d+ attempts/

/** The port's error for a client error: a conflict, the store being away, an append too large, or the error as it is. */
export function fromClientError(error: unknown, expected?: ExpectedState): unknown {
  if (error instanceof Error && isCommandError(error)) {
    if (error.type === ErrorType.WRONG_EXPECTED_VERSION) {
      return new WrongExpectedVersionError(
        error.streamName,
        expected ?? fromStreamState(error.expectedState),
        actualRevision(error.actualState),
      )
    }
    if (UNAVAILABLE_TYPES.has(error.type)) return new StoreUnavailableError(KURRENTDB, error)
    if (error.type === ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED) return new AppendTooLargeError(KURRENTDB, error.maxAppendSize, error)
  }
  if (error instanceof Error && GRPC_UNAVAILABLE.test(error.message)) return new StoreUnavailableError(KURRENTDB, error)
  return error
}

/** A stream that does not exist reads as empty in the port. */
export const isStreamNotFound = (error: unknown): boolean => error instanceof Error && isCommandError(error) && error.type === ErrorType.STREAM_NOT_FOUND

/**
 * The server-side filter of every read of $all: no system events (types starting with `$`:
 * statistics, scavenges, projections' state), which are not the ledger's.
 */
export function ledgerFilter(): Filter {
  return excludeSystemEvents()
}

/** Metadata as the port hands it on: the JSON the ledger wrote, or an empty object for none. */
function metadataOf(event: KurrentRecordedEvent | AllStreamRecordedEvent): unknown {
  const metadata: unknown = event.metadata
  if (metadata === undefined) return {}
  if (metadata instanceof Uint8Array) return metadata.length === 0 ? {} : (JSON.parse(Buffer.from(metadata).toString('utf8')) as unknown)
  return metadata
}

/** A recorded event of the port, from one the client read; `position` from $all, or given for a stream read. */
export function toRecordedEvent(event: KurrentRecordedEvent | AllStreamRecordedEvent): RecordedEvent {
  if (!event.position) throw new Error(`event ${event.id} in ${event.streamId} came without its position`)
  if (!event.isJson) throw new Error(`event ${event.id} in ${event.streamId} is not JSON`)
  return {
    id: event.id,
    streamId: event.streamId,
    revision: event.revision,
    position: toPortPosition(event.position),
    type: event.type,
    data: event.data,
    metadata: metadataOf(event),
  }
}

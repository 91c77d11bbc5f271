/**
 * The event store port, in KurrentDB's terms so that SQLite, PostgreSQL and KurrentDB all fit:
 * streams with 0-based bigint revisions, an expected state on append, a typed conflict error,
 * an opaque ordered global position, and a catch-up subscription to the global log.
 */

/** Where the global log stands: a non-negative integer, strictly increasing in log order. */
export type Position = bigint

/** `START` is before the first event: reading "after START" reads everything. */
export const START: Position = 0n

export type ExpectedState = 'no_stream' | 'any' | 'stream_exists' | { revision: bigint }

export interface EventToAppend {
  /** A UUID. Appending an event id that the stream holds already writes nothing (idempotence). */
  id: string
  type: string
  data: unknown
  metadata: unknown
}

export interface RecordedEvent {
  id: string
  streamId: string
  revision: bigint
  position: Position
  type: string
  data: unknown
  metadata: unknown
}

/**
 * An idempotency key claimed in the same transaction as the events: a key serves one request,
 * on one stream, whichever process takes it. Scope names who may use the key (the actor).
 */
export interface IdempotencyClaim {
  scope: string
  key: string
  /** Identifies the request; a claim repeated with another hash, or on another stream, is refused. */
  requestHash: string | null
}

export interface AppendOptions {
  /** The keys of the requests whose events the append carries (one append may carry several). */
  claims?: readonly IdempotencyClaim[]
}

/**
 * The append is larger than the store takes at once (KurrentDB's MaxAppendSize): nothing of it
 * was stored. The command handler keeps its batches below `EventStore.maxAppendBytes`, so only
 * one write whose own events are that large meets it.
 */
export class AppendTooLargeError extends Error {
  constructor(
    readonly store: string,
    /** The store's limit in bytes, when it says. */
    readonly maxBytes: number | undefined,
    cause: unknown,
  ) {
    super(`${store} takes at most ${maxBytes === undefined ? 'a limited size' : `${maxBytes} bytes`} in one append; nothing was stored`, { cause })
    this.name = 'AppendTooLargeError'
  }
}

/** The bytes of an event's data and metadata as JSON, as a store that limits an append counts them. */
export const appendBytes = (event: EventToAppend): number =>
  Buffer.byteLength(JSON.stringify(event.data)) + Buffer.byteLength(JSON.stringify(event.metadata))

/** The claimed key serves another request or stream already: nothing was appended. */
export class IdempotencyKeyClaimedError extends Error {
  constructor(
    readonly claim: IdempotencyClaim,
    /** The stream and request the key serves. */
    readonly claimedBy: { streamId: string; requestHash: string | null },
  ) {
    super(`idempotency key ${claim.key} serves another request on ${claimedBy.streamId}`)
    this.name = 'IdempotencyKeyClaimedError'
  }
}

export interface AppendResult {
  /** Revision of the last event in the stream after the append. */
  nextExpectedRevision: bigint
  /** Position of the last appended event. */
  position: Position
  /** Position of each appended event, in order (a retried append: of the events the first attempt wrote). */
  positions: readonly Position[]
}

export function appendResultOf(nextExpectedRevision: bigint, positions: readonly Position[]): AppendResult {
  const position = positions.at(-1)
  if (position === undefined) throw new Error('an append result needs the position of at least one event')
  return { nextExpectedRevision, position, positions }
}

/** The stream was not where the writer expected it: someone else wrote first. */
export class WrongExpectedVersionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedState,
    /** The stream's current revision, or undefined when it does not exist. */
    readonly actual: bigint | undefined,
  ) {
    super(
      `stream ${streamId}: expected ${describeExpected(expected)}, but it is at ${actual === undefined ? 'no stream' : `revision ${actual}`}`,
    )
    this.name = 'WrongExpectedVersionError'
  }
}

/**
 * The store could not be reached, or the connection broke: the caller may try again once it is
 * back (a write with its Idempotency-Key). An append that fails so was stored entirely or not at all.
 */
export class StoreUnavailableError extends Error {
  constructor(
    /** Names the store to an operator: "the database (PostgreSQL)", "KurrentDB". */
    readonly store: string,
    cause: unknown,
  ) {
    super(`${store} is not reachable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'StoreUnavailableError'
  }
}

/**
 * The disk that holds the store is full (SQLite's SQLITE_FULL, PostgreSQL's disk_full): the write
 * was rolled back entirely, and writes succeed again by themselves once space is freed. Reads keep
 * working meanwhile.
 */
export class StorageFullError extends StoreUnavailableError {
  constructor(
    /** The store by its plain name ("the database (PostgreSQL)"); `store` adds "(its disk is full)". */
    readonly holder: string,
    cause: unknown,
  ) {
    super(`${holder} (its disk is full)`, cause)
    this.message = `the disk holding ${holder} is full: ${cause instanceof Error ? cause.message : String(cause)}`
    this.name = 'StorageFullError'
  }
}

/**
 * The store cancelled a statement that ran past its time limit (PostgreSQL's statement_timeout,
 * SQLSTATE 57014), e.g. behind another process's long hold on the append lock: its transaction
 * was rolled back entirely, and the connection stays usable. The store is busy, not away; the
 * caller may try again (a write with its Idempotency-Key).
 */
export class StoreTimeoutError extends StoreUnavailableError {
  constructor(
    /** The store by its plain name ("the database (PostgreSQL)"). */
    readonly holder: string,
    cause: unknown,
  ) {
    super(holder, cause)
    this.message = `${holder} did not finish a statement in time: ${cause instanceof Error ? cause.message : String(cause)}`
    this.name = 'StoreTimeoutError'
  }
}

/** Event ids already stored in a way that does not repeat an earlier append exactly. */
export class DuplicateEventIdError extends Error {
  constructor(readonly eventId: string) {
    super(`event id ${eventId} is stored already, and not as a retry of the same append`)
    this.name = 'DuplicateEventIdError'
  }
}

function describeExpected(expected: ExpectedState): string {
  return typeof expected === 'object' ? `revision ${expected.revision}` : expected
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards'
  /** Inclusive; defaults to the start (forwards) or the end (backwards). */
  fromRevision?: bigint
  maxCount: number
}

export interface ReadAllOptions {
  /** Exclusive: events with a position greater than this. */
  after: Position
  maxCount: number
}

export interface SubscribeOptions {
  /** The checkpoint: the subscription delivers events after it, in log order, then waits for new ones. */
  after: Position
  /** Upper bound of events fetched per read while catching up. */
  batchSize?: number
}

export interface Subscription extends AsyncIterable<RecordedEvent> {
  /** Ends the iteration; an iterator waiting for events returns. */
  close(): void
}

/** The longest batch any read may ask for: every read is bounded. */
export const MAX_READ_COUNT = 10_000

export interface EventStore {
  /**
   * The most bytes (appendBytes) one append may carry, or undefined when the store has no limit
   * (SQLite, PostgreSQL): KurrentDB refuses an append beyond its MaxAppendSize.
   */
  readonly maxAppendBytes?: number | undefined
  /** Appends atomically: every event and the claim, or nothing. */
  append(
    streamId: string,
    events: readonly EventToAppend[],
    expected: ExpectedState,
    options?: AppendOptions,
  ): Promise<AppendResult>
  /** Reads one stream; a stream that does not exist reads as empty. */
  readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]>
  /** Reads the global log in order. */
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>
  /** Position of the newest event a reader may see, START when the log is empty. */
  headPosition(): Promise<Position>
  subscribeToAll(options: SubscribeOptions): Subscription
  close(): Promise<void>
}

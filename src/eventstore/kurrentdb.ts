import {
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  jsonEvent,
  type AllStreamResolvedEvent,
} from '@kurrent/kurrentdb-client'
import { boundedCount } from './stored-events.js'
import {
  fromClientError,
  isStreamNotFound,
  KURRENTDB,
  ledgerFilter,
  readFrom,
  toRecordedEvent,
  toStreamState,
} from './kurrentdb-mapping.js'
import {
  MAX_READ_COUNT,
  appendResultOf,
  START,
  StoreUnavailableError,
  WrongExpectedVersionError,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type IdempotencyClaim,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from './port.js'

/**
 * Where idempotency claims are kept beside KurrentDB, which can append to one stream at a time
 * only: the read models' SQL database. A claim is taken before the append and given back when the
 * append is refused, so that a refused write leaves nothing behind; an append whose outcome is
 * unknown (the store unavailable) keeps its claim, which admits only a retry of the same request.
 */
export interface ClaimRegistry {
  /** Takes the claim for `streamId`; false when this request held it already. Throws IdempotencyKeyClaimedError when it serves another. */
  claim(streamId: string, claim: IdempotencyClaim): Promise<boolean>
  /** Gives back a claim this request took. */
  release(streamId: string, claim: IdempotencyClaim): Promise<void>
}

export interface KurrentDbEventStoreOptions {
  /** kurrentdb://, kurrentdb+discover:// or esdb:// (as the client takes them). */
  url: string
  claims: ClaimRegistry
  /** How long one call may take before it fails (the client's deadline). */
  deadlineMs?: number
  /** The most bytes of event data and metadata one append carries (default: the constant KURRENTDB_MAX_APPEND_BYTES). */
  maxAppendBytes?: number
}

/**
 * Three quarters of KurrentDB's default MaxAppendSize (1 MiB): the server counts each event's
 * data and metadata as the client sends them, and the quarter is left for what the client adds
 * to ours. A server set lower refuses larger appends (AppendTooLargeError, nothing stored).
 */
export const KURRENTDB_MAX_APPEND_BYTES = 786_432

/**
 * The event store on KurrentDB (EventStoreDB), through its gRPC client, which reconnects by
 * itself (and, with kurrentdb+discover://, finds the cluster's leader). KurrentDB checks expected
 * revisions and event ids itself; $all is read without system events, and the port's position is
 * the commit position (see kurrentdb-mapping.ts). An unreachable store is a StoreUnavailableError
 * on every call, which the HTTP layer answers with 503 and /ready names.
 */
export class KurrentDbEventStore implements EventStore {
  private readonly client: KurrentDBClient
  private readonly claims: ClaimRegistry
  private readonly deadlineMs: number
  readonly maxAppendBytes: number
  private closed = false

  constructor(options: KurrentDbEventStoreOptions) {
    this.client = KurrentDBClient.connectionString(options.url)
    this.claims = options.claims
    this.deadlineMs = options.deadlineMs ?? 10_000
    this.maxAppendBytes = options.maxAppendBytes ?? KURRENTDB_MAX_APPEND_BYTES
  }

  async append(streamId: string, events: readonly EventToAppend[], expected: ExpectedState, options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen()
    if (events.length === 0) throw new RangeError('an append needs at least one event')
    if (events.length > MAX_READ_COUNT) throw new RangeError(`an append holds at most ${MAX_READ_COUNT} events`)
    const ids = new Set(events.map((event) => event.id))
    if (ids.size !== events.length) throw new RangeError('an append holds an event id twice')
    const claimed = await this.claimAll(streamId, options.claims ?? [])
    const data = events.map((event) =>
      jsonEvent({ id: event.id, type: event.type, data: event.data as Record<string, unknown>, metadata: event.metadata as Record<string, unknown> }),
    )
    let nextExpectedRevision: bigint
    try {
      // The client's deadline does not bound an append (its first call asks the server's features
      // without one, and the append's stream has none): a node that accepts and never answers
      // would hold the stream's writes for good. So the append is raced against the deadline too.
      const result = await this.withDeadline(() =>
        this.client.appendToStream(streamId, data, { streamState: toStreamState(expected), deadline: this.deadlineMs }),
      )
      // Only with throwOnAppendFailure=false, which the configuration refuses.
      if (!result.success) throw new Error(`KurrentDB did not take the append to ${streamId} (success: false)`)
      nextExpectedRevision = result.nextExpectedRevision
    } catch (error) {
      const refused = fromClientError(error, expected)
      // KurrentDB answers a retried append with a conflict when its ids have left the server's
      // cache: the same ids at the revisions the first attempt took make it a retry after all.
      const retried = refused instanceof WrongExpectedVersionError ? await this.findRetriedAppend(streamId, events, expected) : undefined
      if (retried) return retried
      // Refused: not a write of this request's, so the key is free again. Unavailable (the store
      // went away, or gave no answer in time): the events may be stored after all, so the claim
      // stays, and a retry of this request, which it admits, finds them.
      if (!(refused instanceof StoreUnavailableError)) await this.releaseAll(streamId, claimed)
      throw refused
    }
    // The positions of the appended events, as $all gives them.
    const first = nextExpectedRevision - BigInt(events.length) + 1n
    const stored = await this.readStream(streamId, { fromRevision: first, maxCount: events.length })
    if (stored.length !== events.length) throw new Error(`the append to ${streamId} is not readable at revision ${nextExpectedRevision}`)
    return appendResultOf(nextExpectedRevision, stored.map((event) => event.position))
  }

  /** Takes every claim, or none: a refused one gives back those taken before it. Answers those this call took. */
  private async claimAll(streamId: string, claims: readonly IdempotencyClaim[]): Promise<IdempotencyClaim[]> {
    const taken: IdempotencyClaim[] = []
    try {
      for (const claim of claims) if (await this.claims.claim(streamId, claim)) taken.push(claim)
      return taken
    } catch (error) {
      await this.releaseAll(streamId, taken)
      throw error
    }
  }

  private async releaseAll(streamId: string, claims: readonly IdempotencyClaim[]): Promise<void> {
    for (const claim of claims) await this.claims.release(streamId, claim).catch(() => undefined)
  }

  /** The first attempt's result, when the events stand in the stream where `expected` put them. */
  private async findRetriedAppend(streamId: string, events: readonly EventToAppend[], expected: ExpectedState): Promise<AppendResult | undefined> {
    const first = expected === 'no_stream' ? 0n : typeof expected === 'object' ? expected.revision + 1n : undefined
    if (first === undefined) return undefined
    const stored = await this.readStream(streamId, { fromRevision: first, maxCount: events.length })
    const same = stored.length === events.length && stored.every((event, index) => event.id === events[index]?.id)
    const last = stored.at(-1)
    return same && last ? appendResultOf(last.revision, stored.map((event) => event.position)) : undefined
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    return this.withDeadline(() => this.collectStream(streamId, options))
  }

  private async collectStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards'
    const events: RecordedEvent[] = []
    try {
      const reading = this.client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : 0n),
        maxCount: boundedCount(options.maxCount),
        deadline: this.deadlineMs,
      })
      for await (const resolved of reading) if (resolved.event) events.push(toRecordedEvent(resolved.event))
    } catch (error) {
      if (isStreamNotFound(error)) return []
      throw fromClientError(error)
    }
    return events
  }

  /** $all from `after` (exclusive; KurrentDB reads from a position inclusively, so that event is skipped). */
  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    return this.withDeadline(() => this.collectAll(options))
  }

  private async collectAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    const count = boundedCount(options.maxCount)
    const events: RecordedEvent[] = []
    try {
      const reading = this.client.readAll({
        direction: FORWARDS,
        fromPosition: readFrom(options.after),
        maxCount: count + 1,
        filter: ledgerFilter(),
        deadline: this.deadlineMs,
      })
      for await (const resolved of reading) {
        const event = this.recordedOf(resolved)
        if (event && event.position > options.after && events.length < count) events.push(event)
      }
    } catch (error) {
      throw fromClientError(error)
    }
    return events
  }

  async headPosition(): Promise<Position> {
    this.assertOpen()
    return this.withDeadline(() => this.readHead())
  }

  /**
   * From the leader, whatever node the connection prefers: a follower may lag behind what a
   * projection has processed already, and the verifier takes a checkpoint beyond the head for
   * events removed from the log.
   */
  private async readHead(): Promise<Position> {
    try {
      const head = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1, filter: ledgerFilter(), deadline: this.deadlineMs, requiresLeader: true })
      for await (const resolved of head) {
        const event = this.recordedOf(resolved)
        if (event) return event.position
      }
    } catch (error) {
      throw fromClientError(error)
    }
    return START
  }

  /**
   * A catch-up subscription on the server (exclusive of `after`), without system events. The
   * client emits a failure as an 'error' event, which ends the process when nobody listens: it is
   * caught from the start and thrown from the iteration. After close() nothing more is delivered,
   * not even what the client had buffered.
   */
  subscribeToAll(options: SubscribeOptions): Subscription {
    this.assertOpen()
    const subscription = this.client.subscribeToAll({ fromPosition: readFrom(options.after), filter: ledgerFilter() })
    let failure: unknown
    let closed = false
    subscription.on('error', (error: unknown) => (failure ??= error))
    const after = options.after
    const recordedOf = (resolved: AllStreamResolvedEvent) => this.recordedOf(resolved)
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      try {
        for await (const resolved of subscription) {
          if (closed) return
          const event = recordedOf(resolved)
          if (event && event.position > after) yield event
        }
      } catch (error) {
        failure ??= error
      } finally {
        await subscription.unsubscribe().catch(() => undefined)
      }
      if (failure !== undefined && !closed) throw fromClientError(failure)
    }
    const iterator = iterate()
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => {
        closed = true
        void subscription.unsubscribe().catch(() => undefined)
      },
    }
  }

  /**
   * The client applies no deadline to reads (they go through its native bridge): a server that
   * takes connections but does not answer would hold them forever.
   */
  private async withDeadline<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(KURRENTDB, new Error(`no answer within ${this.deadlineMs} ms`))), this.deadlineMs)
    })
    try {
      return await Promise.race([call(), expired])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Links and other resolved entries without an event are not the ledger's. */
  private recordedOf(resolved: AllStreamResolvedEvent): RecordedEvent | undefined {
    return resolved.event ? toRecordedEvent(resolved.event) : undefined
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.client.dispose()
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event store is closed')
  }
}

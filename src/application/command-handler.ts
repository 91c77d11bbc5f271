import type { Actor, DomainEvent, EventMetadata } from '../domain/events.js'
import { EVENT_VERSIONS, eventMetadataSchema, validateNewEvent } from '../domain/events.js'
import { DomainError } from '../domain/errors.js'
import {
  IdempotencyKeyClaimedError,
  WrongExpectedVersionError,
  type EventStore,
  type EventToAppend,
  type Position,
  type RecordedEvent,
} from '../eventstore/port.js'
import { linkOf, withLinks } from '../audit/chain.js'
import { scopedKey, type IdempotencyKeyIndex } from './idempotency-keys.js'
import { toStoredEvent } from './stored-event.js'

/**
 * A decider in Emmett's shape; `context` gives `evolve` what the event's metadata says. The initial
 * state depends on the stream (its year and Sozialraum), so it comes with each call instead.
 */
export interface Decider<State, Command, Event extends DomainEvent> {
  decide(state: State, command: Command): Event[] | DomainError
  evolve(state: State, event: Event, context: { recordedAt: string; actorSub: string }): State
  isEvent(event: DomainEvent): event is Event
  /**
   * Called on the state a decision would leave, before anything is stored: throws when it breaks
   * an invariant (a bug, never bad input).
   */
  assertInvariants?(state: State): void
}

/**
 * A rule outside the stream that a new write must pass (a budget's year must take writes):
 * asked after a retried request is recognised, so that a retry still answers as the first time.
 */
export type WriteGuard = () => Promise<DomainError | undefined>

/** Who asks, and how the request ties into the history. */
export interface CommandContext {
  actor: Actor
  correlationId: string
  causationId: string
  idempotencyKey: string | null
  /** Digest of the request, so that a key reused for another request can be refused. */
  requestHash: string | null
  /** From If-Match: the revision the client saw; undefined lets the server retry on conflicts. */
  expectedRevision: bigint | undefined
}

export type WriteOutcome<State, Event> =
  | { kind: 'written' | 'replayed'; position: Position; revision: bigint; state: State; events: Event[] }
  | { kind: 'rejected'; error: DomainError }
  | { kind: 'precondition-failed'; currentRevision: bigint | undefined }
  | { kind: 'idempotency-key-reused' }

interface IdempotentWrite {
  requestHash: string | null
  lastRevision: bigint
}

interface StreamView<State> {
  readonly state: State
  /** Revision of the last event folded in, undefined while the stream does not exist. */
  readonly revision: bigint | undefined
  /** The chain's link of the event at `revision` (src/audit/chain.ts); null before the first. */
  readonly lastHash: string | null
  readonly idempotentWrites: Map<string, IdempotentWrite>
}

export interface CommandHandlerOptions {
  store: EventStore
  clock: () => Date
  newEventId: () => string
  /** How many times a write is decided again after another writer came first. */
  maxAttempts?: number
  /** How many streams' states are kept in memory. */
  maxCachedStreams?: number
  /** Refuses a key that serves another request on another stream. */
  idempotencyKeys?: IdempotencyKeyIndex
}

const READ_PAGE_SIZE = 1000
/** Writes waiting for one stream; beyond this the stream is busy and the client is asked to retry. */
const MAX_QUEUED_PER_STREAM = 1000

/**
 * Decides commands on one kind of stream: load the latest state (cached, caught up from the
 * store), decide, append with the expected revision, and on a conflict decide again on the new
 * state. Writes to one stream are serialised in this process; optimistic concurrency serialises
 * them across processes.
 */
export class CommandHandler<State, Command, Event extends DomainEvent> {
  private readonly cache = new Map<string, StreamView<State>>()
  private readonly locks = new Map<string, { tail: Promise<unknown>; queued: number }>()
  private readonly maxAttempts: number
  private readonly maxCachedStreams: number

  constructor(
    private readonly decider: Decider<State, Command, Event>,
    private readonly options: CommandHandlerOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? 10
    this.maxCachedStreams = options.maxCachedStreams ?? 2000
  }

  /** The stream's current state, read from the store. */
  async read(streamId: string, initialState: () => State): Promise<{ state: State; revision: bigint | undefined }> {
    const view = await this.load(streamId, initialState)
    return { state: view.state, revision: view.revision }
  }

  async execute(
    streamId: string,
    initialState: () => State,
    command: Command,
    context: CommandContext,
    guard?: WriteGuard,
  ): Promise<WriteOutcome<State, Event>> {
    const key = context.idempotencyKey
    const keys = this.options.idempotencyKeys
    const request = { streamId, requestHash: context.requestHash }
    if (key !== null && keys && !(await keys.claim(context.actor.sub, key, request))) {
      return { kind: 'idempotency-key-reused' }
    }
    let outcome: WriteOutcome<State, Event> | undefined
    try {
      outcome = await this.serialised(streamId, () => this.decideAndAppend(streamId, initialState, command, context, guard))
      return outcome
    } finally {
      const wrote = outcome?.kind === 'written' || outcome?.kind === 'replayed'
      // An error may have come after the write committed: keep the claim then, to be safe.
      if (key !== null && keys && outcome !== undefined && !wrote) keys.release(context.actor.sub, key, request)
    }
  }

  private async decideAndAppend(
    streamId: string,
    initialState: () => State,
    command: Command,
    context: CommandContext,
    guard: WriteGuard | undefined,
  ): Promise<WriteOutcome<State, Event>> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      // After a conflict, a short random pause: another process that keeps winning the stream
      // (its next write is queued before this one is refused) lets this one in.
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 64)))
      const view = await this.load(streamId, initialState)

      if (context.idempotencyKey !== null) {
        const earlier = view.idempotentWrites.get(scopedKey(context.actor.sub, context.idempotencyKey))
        if (earlier) {
          if (earlier.requestHash !== context.requestHash) return { kind: 'idempotency-key-reused' }
          return this.replay(streamId, initialState, context.actor.sub, context.idempotencyKey, earlier.lastRevision)
        }
      }
      if (context.expectedRevision !== undefined && context.expectedRevision !== view.revision) {
        return { kind: 'precondition-failed', currentRevision: view.revision }
      }
      const refused = await guard?.()
      if (refused) return { kind: 'rejected', error: refused }

      const decided = this.decider.decide(view.state, command)
      if (decided instanceof DomainError) return { kind: 'rejected', error: decided }
      const { events, state, toAppend, lastHash } = this.prepare(streamId, view, decided, context)
      try {
        // The key is claimed in the store with the events: a process that took it for another
        // stream first makes this append fail, whatever this process remembers.
        const claim =
          context.idempotencyKey === null
            ? {}
            : { claim: { scope: context.actor.sub, key: context.idempotencyKey, requestHash: context.requestHash } }
        const result = await this.options.store.append(
          streamId,
          toAppend,
          view.revision === undefined ? 'no_stream' : { revision: view.revision },
          claim,
        )
        if (context.idempotencyKey !== null) {
          view.idempotentWrites.set(scopedKey(context.actor.sub, context.idempotencyKey), {
            requestHash: context.requestHash,
            lastRevision: result.nextExpectedRevision,
          })
        }
        const revision = result.nextExpectedRevision
        this.remember(streamId, { state, revision, lastHash, idempotentWrites: view.idempotentWrites })
        return { kind: 'written', position: result.position, revision: result.nextExpectedRevision, state, events }
      } catch (error) {
        if (error instanceof IdempotencyKeyClaimedError) return { kind: 'idempotency-key-reused' }
        if (!(error instanceof WrongExpectedVersionError)) {
          this.cache.delete(streamId)
          throw error
        }
        // Another process wrote first: the cached view catches up on the next attempt.
      }
    }
    throw new ConcurrencyExhaustedError(streamId, this.maxAttempts)
  }

  /**
   * Everything that can be checked before a write is checked before it: each decided event
   * against its schema, the metadata against its own, and the state the events leave against the
   * invariants. A failure throws (a bug, answered 500) and nothing is stored; what is stored is
   * exactly what was folded into the state.
   */
  private prepare(
    streamId: string,
    view: StreamView<State>,
    decided: readonly Event[],
    context: CommandContext,
  ): { events: Event[]; state: State; toAppend: EventToAppend[]; lastHash: string | null } {
    if (decided.length === 0) throw new Error('the decider accepted a command without deciding any event')
    const recordedAt = this.options.clock().toISOString()
    const events = decided.map((event) => {
      if (!this.decider.isEvent(event)) throw new Error(`the decider produced a ${event.type}, which does not belong on ${streamId}`)
      return validateNewEvent(event)
    })
    let state = view.state
    for (const event of events) state = this.decider.evolve(state, event, { recordedAt, actorSub: context.actor.sub })
    this.decider.assertInvariants?.(state)
    // Each event links to the one before it; the expected revision makes the append fail, and
    // the links be made again, when another writer came first.
    let lastHash = view.lastHash
    let revision = view.revision ?? -1n
    const toAppend = events.map((event) => {
      revision += 1n
      const metadata: EventMetadata = eventMetadataSchema.parse({
        schemaVersion: EVENT_VERSIONS[event.type],
        actor: context.actor,
        recordedAt,
        correlationId: context.correlationId,
        causationId: context.causationId,
        idempotencyKey: context.idempotencyKey,
        requestHash: context.requestHash,
      })
      const linked = withLinks({ streamId, revision, type: event.type, data: event.data }, metadata, lastHash)
      lastHash = linked.hash
      return { id: this.options.newEventId(), type: event.type, data: event.data, metadata: linked }
    })
    return { events, state, toAppend, lastHash }
  }

  /** Answers a retried request: the state right after the first write, and the events it wrote. */
  private async replay(
    streamId: string,
    initialState: () => State,
    actorSub: string,
    idempotencyKey: string,
    lastRevision: bigint,
  ): Promise<WriteOutcome<State, Event>> {
    let state = initialState()
    const events: Event[] = []
    let position: Position | undefined
    await this.readFrom(streamId, 0n, (recorded, event, metadata) => {
      if (recorded.revision > lastRevision) return false
      state = this.decider.evolve(state, event, { recordedAt: metadata.recordedAt, actorSub: metadata.actor.sub })
      if (metadata.idempotencyKey === idempotencyKey && metadata.actor.sub === actorSub) {
        events.push(event)
        position = recorded.position
      }
      return true
    })
    if (position === undefined) throw new Error(`stream ${streamId} lost the write of an idempotency key`)
    return { kind: 'replayed', position, revision: lastRevision, state, events }
  }

  /**
   * The stream's latest state: the cached view caught up with what the store has since. Views
   * are never changed in place (a read may run beside a write of the same stream); a newer view
   * replaces an older one in the cache. The idempotency map is shared: it only ever gains entries.
   */
  private async load(streamId: string, initialState: () => State): Promise<StreamView<State>> {
    const base = this.cache.get(streamId)
    let state = base?.state ?? initialState()
    let revision = base?.revision
    let lastHash = base?.lastHash ?? null
    const idempotentWrites = base?.idempotentWrites ?? new Map<string, IdempotentWrite>()
    await this.readFrom(streamId, revision === undefined ? 0n : revision + 1n, (recorded, event, metadata) => {
      state = this.decider.evolve(state, event, { recordedAt: metadata.recordedAt, actorSub: metadata.actor.sub })
      revision = recorded.revision
      lastHash = linkOf(recorded, lastHash)
      if (metadata.idempotencyKey !== null) {
        idempotentWrites.set(scopedKey(metadata.actor.sub, metadata.idempotencyKey), {
          requestHash: metadata.requestHash,
          lastRevision: recorded.revision,
        })
      }
      return true
    })
    return this.remember(streamId, { state, revision, lastHash, idempotentWrites })
  }

  /** Caches a view unless a newer one is there already; the Map's order is the LRU order. */
  private remember(streamId: string, view: StreamView<State>): StreamView<State> {
    const cached = this.cache.get(streamId)
    if (cached && (cached.revision ?? -1n) > (view.revision ?? -1n)) return view
    this.cache.delete(streamId)
    this.cache.set(streamId, view)
    if (this.cache.size > this.maxCachedStreams) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    return view
  }

  private async readFrom(
    streamId: string,
    fromRevision: bigint,
    visit: (recorded: RecordedEvent, event: Event, metadata: EventMetadata) => boolean,
  ): Promise<void> {
    let next = fromRevision
    for (;;) {
      const page = await this.options.store.readStream(streamId, { fromRevision: next, maxCount: READ_PAGE_SIZE })
      for (const recorded of page) {
        const stored = toStoredEvent(recorded)
        if (!this.decider.isEvent(stored.event)) {
          throw new Error(`stream ${streamId} holds an event of type ${stored.event.type}, which does not belong there`)
        }
        if (!visit(recorded, stored.event, stored.metadata)) return
        next = recorded.revision + 1n
      }
      if (page.length < READ_PAGE_SIZE) return
    }
  }

  private serialised<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const lock = this.locks.get(streamId) ?? { tail: Promise.resolve(), queued: 0 }
    if (lock.queued >= MAX_QUEUED_PER_STREAM) return Promise.reject(new StreamBusyError(streamId, lock.queued))
    lock.queued += 1
    const result = lock.tail.then(work, work)
    lock.tail = result.catch(() => undefined).then(() => {
      lock.queued -= 1
      if (lock.queued === 0 && this.locks.get(streamId) === lock) this.locks.delete(streamId)
    })
    this.locks.set(streamId, lock)
    return result
  }
}

export class ConcurrencyExhaustedError extends Error {
  constructor(
    readonly streamId: string,
    readonly attempts: number,
  ) {
    super(`stream ${streamId}: other writers came first ${attempts} times in a row`)
    this.name = 'ConcurrencyExhaustedError'
  }
}

export class StreamBusyError extends Error {
  constructor(
    readonly streamId: string,
    readonly queued: number,
  ) {
    super(`stream ${streamId} has ${queued} writes waiting already`)
    this.name = 'StreamBusyError'
  }
}

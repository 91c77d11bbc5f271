import type { Actor, DomainEvent, EventMetadata } from '../domain/events.js'
import { EVENT_VERSIONS, eventMetadataSchema, validateNewEvent } from '../domain/events.js'
import { DomainError } from '../domain/errors.js'
import {
  AppendTooLargeError,
  appendBytes,
  IdempotencyKeyClaimedError,
  StorageFullError,
  StoreTimeoutError,
  WrongExpectedVersionError,
  type EventStore,
  type EventToAppend,
  type IdempotencyClaim,
  type Position,
  type RecordedEvent,
} from '../eventstore/port.js'
import { linkOf, withLinks } from '../audit/chain.js'
import { scopedKey, type IdempotencyKeyIndex, type KeyHolds, type Unhold } from './idempotency-keys.js'
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
   * an invariant (a bug, never bad input). It is given the state before and the events, so that it
   * can check what they touched instead of the whole state.
   */
  assertInvariants?(before: State, after: State, events: readonly Event[]): void
}

/**
 * A rule outside the stream that a new write must pass (a budget's year must take writes):
 * asked after a retried request is recognised, so that a retry still answers as the first time.
 * It is given the revision the write is decided on (undefined: the stream has no events yet) and
 * the state at that revision.
 */
export type WriteGuard<State> = (revision: bigint | undefined, state: State) => Promise<DomainError | undefined>

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
  /** Another process still writes with this key (KeyHolds): retry in a moment, and get its answer. */
  | { kind: 'idempotency-key-in-progress' }

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
  /** Holds a keyed write's key across processes while it is decided and written (none: one process). */
  keyHolds?: KeyHolds
}

/** One command waiting for its stream's next append. */
interface QueuedWrite<State, Command, Event> {
  readonly command: Command
  readonly context: CommandContext
  readonly guard: WriteGuard<State> | undefined
  readonly settle: (outcome: WriteOutcome<State, Event>) => void
  /**
   * Fails the command. `nothingStored`: the store holds nothing of it, because the error came
   * before any append of its events (deciding or reading threw, other writers kept coming first)
   * or the append was rolled back whole (a full disk, a statement timeout); else whether it was
   * stored is unknown (an append that failed may have committed).
   */
  readonly fail: (error: unknown, nothingStored?: boolean) => void
}

interface StreamQueue<State, Command, Event> {
  readonly initialState: () => State
  readonly items: Array<QueuedWrite<State, Command, Event>>
}

/** What a batch decided for one command: an answer without writing, or its share of the append. */
type Decision<State, Event> =
  | { kind: 'answer'; outcome: WriteOutcome<State, Event> }
  /** Deciding it threw (a bug, or the store away for its guard): it fails alone. */
  | { kind: 'failed'; error: unknown }
  | {
      kind: 'write'
      events: Event[]
      toAppend: EventToAppend[]
      state: State
      revision: bigint
      lastHash: string | null
      /** Where its last event stands in the batch's append. */
      lastEventIndex: number
    }

interface DecidedBatch<State, Event> {
  /** One per command decided; the commands after them were left for the next batch. */
  decisions: Array<Decision<State, Event>>
  toAppend: EventToAppend[]
  claims: IdempotencyClaim[]
  end: { state: State; revision: bigint | undefined; lastHash: string | null }
}

const READ_PAGE_SIZE = 1000
const NO_HOLD: Unhold = () => {}
/** Writes waiting for one stream; beyond this the stream is busy and the client is asked to retry. */
const MAX_QUEUED_PER_STREAM = 1000
/** Most commands decided into one append, and most events that append takes on after its first command. */
const MAX_BATCH_COMMANDS = 256
const MAX_BATCH_EVENTS = 2000

/**
 * Decides commands on one kind of stream, on the stream's state cached in memory: no read on the
 * write path. Writes to one stream queue in this process; while one append is in flight, the
 * commands that arrive are decided together, in order, once it is durable, and go out as the next
 * append (batching): one fsync serves them all, and each is answered only when its own events are
 * durable. The append carries the revision the batch was decided on, so another process that wrote
 * first makes it fail; the batch is then decided again on the stream's latest state. A refusal
 * decided on a cached state is confirmed on the latest state first, so that nothing is refused on
 * stale facts.
 */
export class CommandHandler<State, Command, Event extends DomainEvent> {
  private readonly cache = new Map<string, StreamView<State>>()
  private readonly queues = new Map<string, StreamQueue<State, Command, Event>>()
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

  /**
   * The stream's state as this process last saw it, without reading the store; undefined when it
   * is not cached. For facts that are never undone (a registration), or that are confirmed on the
   * latest state (`read`) before they refuse.
   */
  cached(streamId: string): State | undefined {
    return this.cache.get(streamId)?.state
  }

  async execute(
    streamId: string,
    initialState: () => State,
    command: Command,
    context: CommandContext,
    guard?: WriteGuard<State>,
  ): Promise<WriteOutcome<State, Event>> {
    const key = context.idempotencyKey
    const holds = this.options.keyHolds
    // A stream too busy to queue the write refuses it before its key is held: holds are bounded.
    const queued = this.queues.get(streamId)?.items.length ?? 0
    if (queued >= MAX_QUEUED_PER_STREAM) throw new StreamBusyError(streamId, queued)
    const unhold = key === null || holds === undefined ? NO_HOLD : await holds.hold(scopedKey(context.actor.sub, key))
    if (unhold === undefined) return { kind: 'idempotency-key-in-progress' }
    try {
      return await this.executeHeld(streamId, initialState, command, context, guard)
    } finally {
      // After the answer is settled: a retry waiting in another process then finds this write.
      unhold()
    }
  }

  private async executeHeld(
    streamId: string,
    initialState: () => State,
    command: Command,
    context: CommandContext,
    guard: WriteGuard<State> | undefined,
  ): Promise<WriteOutcome<State, Event>> {
    const key = context.idempotencyKey
    const keys = this.options.idempotencyKeys
    const request = { streamId, requestHash: context.requestHash }
    if (key !== null && keys && !keys.claim(context.actor.sub, key, request)) return { kind: 'idempotency-key-reused' }
    let outcome: WriteOutcome<State, Event> | undefined
    const failure = { nothingStored: false }
    try {
      outcome = await this.enqueue(streamId, initialState, command, context, guard, failure)
      return outcome
    } finally {
      const wrote = outcome?.kind === 'written' || outcome?.kind === 'replayed'
      // A key binds to a write: it is freed when nothing was written, by an outcome or by an error
      // known to have stored nothing. Any other error of an append may have come after the write
      // committed (KurrentDB unreachable mid-append): the claim is kept then, to be safe.
      const nothingWritten = outcome === undefined ? failure.nothingStored : !wrote
      if (key !== null && keys && nothingWritten) keys.release(context.actor.sub, key, request)
    }
  }

  private enqueue(
    streamId: string,
    initialState: () => State,
    command: Command,
    context: CommandContext,
    guard: WriteGuard<State> | undefined,
    failure: { nothingStored: boolean },
  ): Promise<WriteOutcome<State, Event>> {
    let queue = this.queues.get(streamId)
    if (queue !== undefined && queue.items.length >= MAX_QUEUED_PER_STREAM) {
      failure.nothingStored = true
      return Promise.reject(new StreamBusyError(streamId, queue.items.length))
    }
    const started = queue === undefined
    if (queue === undefined) this.queues.set(streamId, (queue = { initialState, items: [] }))
    const written = new Promise<WriteOutcome<State, Event>>((resolve, reject) => {
      // Only the first answer counts (the drain fails a whole batch on a bug, answered or not).
      let answered = false
      const settle = (outcome: WriteOutcome<State, Event>) => {
        if (!answered) resolve(outcome)
        answered = true
      }
      const fail = (error: unknown, nothingStored = false) => {
        if (!answered) {
          failure.nothingStored = nothingStored
          reject(error)
        }
        answered = true
      }
      queue.items.push({ command, context, guard, settle, fail })
    })
    if (started) void this.drain(streamId, queue)
    return written
  }

  /** Writes the stream's queue batch by batch until it is empty; only one drain runs per stream. */
  private async drain(streamId: string, queue: StreamQueue<State, Command, Event>): Promise<void> {
    // Commands that arrive in the same turn of the event loop join the first batch.
    await Promise.resolve()
    let first = true
    while (queue.items.length > 0) {
      const batch = takeBatch(queue.items)
      try {
        // A stream written without a pause (its queue filled while its last append was in flight)
        // reads what the store holds before each next batch: one read per batch, not per command.
        // Deciding on the cache alone, this process would always be one read ahead of another
        // process that lost a conflict on the stream, and would starve it.
        const left = await this.writeBatch(streamId, queue.initialState, batch, !first)
        first = false
        queue.items.unshift(...left)
      } catch (error) {
        // A read of the stream failed before any append of the batch; else writeBatch answers
        // every command itself, this is a bug, and no command may hang on it.
        if (error instanceof ReadBeforeAppendError) for (const item of batch) item.fail(error.cause, true)
        else for (const item of batch) item.fail(error)
      }
    }
    this.queues.delete(streamId)
  }

  /**
   * Decides and appends one batch. Answers every command it decided; answers the commands it
   * could not decide (beyond the batch's size, or decided on an append that failed) by returning
   * them, to go first into the next batch.
   */
  private async writeBatch(
    streamId: string,
    initialState: () => State,
    batch: ReadonlyArray<QueuedWrite<State, Command, Event>>,
    readFirst: boolean,
  ): Promise<Array<QueuedWrite<State, Command, Event>>> {
    let pending = [...batch]
    let view = readFirst ? undefined : this.cache.get(streamId)
    /** Whether `view` was read from the store for this batch, rather than taken from the cache. */
    let latest = false
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      // After a conflict, a short random pause: another process that keeps winning the stream
      // (its next write is queued before this one is refused) lets this one in.
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 64)))
      if (view === undefined) {
        view = await this.loadBeforeAppend(streamId, initialState)
        latest = true
      }
      const decided = await this.decideBatch(streamId, initialState, view, pending)
      if (!latest && refusesAny(decided)) {
        // Decided on the cached state: another process may have written since. Confirm on the latest.
        const caughtUp = await this.loadBeforeAppend(streamId, initialState)
        latest = true
        if (caughtUp.revision !== view.revision) {
          view = caughtUp
          attempt -= 1
          continue
        }
      }
      const left = pending.slice(decided.decisions.length)
      if (decided.toAppend.length === 0) {
        answer(pending, decided.decisions)
        return left
      }
      const appended = await this.appendBatch(streamId, view, decided, pending)
      if (appended.kind === 'done') return [...appended.left, ...left]
      pending = pending.filter((item) => !appended.answered.has(item))
      view = undefined
    }
    // Each attempt's append was refused as a conflict: nothing of these commands is stored.
    const error = new ConcurrencyExhaustedError(streamId, this.maxAttempts)
    for (const item of pending) item.fail(error, true)
    return []
  }

  /** `load` for a batch not yet appended: a failure is marked as one that stored nothing. */
  private async loadBeforeAppend(streamId: string, initialState: () => State): Promise<StreamView<State>> {
    try {
      return await this.load(streamId, initialState)
    } catch (error) {
      throw new ReadBeforeAppendError(error)
    }
  }

  /** Appends what a batch decided and answers its commands; a conflict sends the batch back to be decided again. */
  private async appendBatch(
    streamId: string,
    view: StreamView<State>,
    decided: DecidedBatch<State, Event>,
    pending: ReadonlyArray<QueuedWrite<State, Command, Event>>,
  ): Promise<
    | { kind: 'done'; left: Array<QueuedWrite<State, Command, Event>> }
    | { kind: 'retry'; answered: ReadonlySet<QueuedWrite<State, Command, Event>> }
  > {
    const expected = view.revision === undefined ? 'no_stream' : { revision: view.revision }
    let positions: readonly Position[]
    try {
      // The keys are claimed in the store with the events: a process that took one for another
      // stream first makes this append fail, whatever this process remembers.
      positions = (await this.options.store.append(streamId, decided.toAppend, expected, { claims: decided.claims })).positions
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) return { kind: 'retry', answered: new Set() }
      if (error instanceof IdempotencyKeyClaimedError) {
        const taken = pending.find((item) => item.context.actor.sub === error.claim.scope && item.context.idempotencyKey === error.claim.key)
        if (taken === undefined) throw error
        taken.settle({ kind: 'idempotency-key-reused' })
        return { kind: 'retry', answered: new Set([taken]) }
      }
      this.cache.delete(streamId)
      return { kind: 'done', left: failBatch(pending, decided.decisions, error) }
    }
    for (const [index, item] of pending.slice(0, decided.decisions.length).entries()) {
      const decision = decided.decisions[index]
      const key = item.context.idempotencyKey
      if (decision?.kind !== 'write' || key === null) continue
      view.idempotentWrites.set(scopedKey(item.context.actor.sub, key), { requestHash: item.context.requestHash, lastRevision: decision.revision })
    }
    this.remember(streamId, { ...decided.end, idempotentWrites: view.idempotentWrites })
    answer(pending, decided.decisions, positions)
    return { kind: 'done', left: [] }
  }

  /** Decides the commands in order, each on the state the ones before it leave; stops at the batch's event limit. */
  private async decideBatch(
    streamId: string,
    initialState: () => State,
    view: StreamView<State>,
    pending: ReadonlyArray<QueuedWrite<State, Command, Event>>,
  ): Promise<DecidedBatch<State, Event>> {
    const decisions: Array<Decision<State, Event>> = []
    const toAppend: EventToAppend[] = []
    const claims: IdempotencyClaim[] = []
    const end = { state: view.state, revision: view.revision, lastHash: view.lastHash }
    const maxBytes = this.options.store.maxAppendBytes
    let bytes = 0
    for (const item of pending) {
      if (toAppend.length >= MAX_BATCH_EVENTS) break
      try {
        decisions.push(await this.decideOne(streamId, initialState, view, end, item))
      } catch (error) {
        decisions.push({ kind: 'failed', error })
        continue
      }
      const decision = decisions[decisions.length - 1]
      if (decision?.kind !== 'write') continue
      if (maxBytes !== undefined) {
        // A store with a limit per append (KurrentDB): a command whose events would take the batch
        // past it waits for the next batch, decided again there. Alone, it goes out as it is.
        const more = decision.toAppend.reduce((sum, event) => sum + appendBytes(event), 0)
        if (toAppend.length > 0 && bytes + more > maxBytes) {
          decisions.pop()
          break
        }
        bytes += more
      }
      toAppend.push(...decision.toAppend)
      decision.lastEventIndex = toAppend.length - 1
      const { idempotencyKey: key, actor, requestHash } = item.context
      if (key !== null) claims.push({ scope: actor.sub, key, requestHash })
      Object.assign(end, { state: decision.state, revision: decision.revision, lastHash: decision.lastHash })
    }
    return { decisions, toAppend, claims, end }
  }

  private async decideOne(
    streamId: string,
    initialState: () => State,
    view: StreamView<State>,
    before: { state: State; revision: bigint | undefined; lastHash: string | null },
    item: QueuedWrite<State, Command, Event>,
  ): Promise<Decision<State, Event>> {
    const refused = await this.refusal(streamId, initialState, view, before, item)
    if (refused) return { kind: 'answer', outcome: refused }
    const decided = this.decider.decide(before.state, item.command)
    if (decided instanceof DomainError) return { kind: 'answer', outcome: await this.rejection(streamId, item, decided) }
    return { kind: 'write', ...this.prepare(streamId, before, decided, item.context), lastEventIndex: -1 }
  }

  /** The answer a command gets before it is decided: a retry, a failed If-Match, or the guard's refusal. */
  private async refusal(
    streamId: string,
    initialState: () => State,
    view: StreamView<State>,
    before: { state: State; revision: bigint | undefined },
    item: QueuedWrite<State, Command, Event>,
  ): Promise<WriteOutcome<State, Event> | undefined> {
    const revision = before.revision
    const { idempotencyKey: key, actor, requestHash, expectedRevision } = item.context
    if (key !== null) {
      const earlier = view.idempotentWrites.get(scopedKey(actor.sub, key))
      if (earlier) {
        if (earlier.requestHash !== requestHash) return { kind: 'idempotency-key-reused' }
        return this.replay(streamId, initialState, actor.sub, key, earlier.lastRevision)
      }
    }
    if (expectedRevision !== undefined && expectedRevision !== revision) return { kind: 'precondition-failed', currentRevision: revision }
    const refused = await item.guard?.(revision, before.state)
    return refused ? this.rejection(streamId, item, refused) : undefined
  }

  /** A refusal, unless the key serves another request already: then that is the answer, as for a valid request. */
  private async rejection(streamId: string, item: QueuedWrite<State, Command, Event>, error: DomainError): Promise<WriteOutcome<State, Event>> {
    const { idempotencyKey: key, actor, requestHash } = item.context
    const keys = this.options.idempotencyKeys
    if (key !== null && keys && (await keys.servesAnother(actor.sub, key, { streamId, requestHash }))) {
      return { kind: 'idempotency-key-reused' }
    }
    return { kind: 'rejected', error }
  }

  /**
   * Everything that can be checked before a write is checked before it: each decided event
   * against its schema, the metadata against its own, and the state the events leave against the
   * invariants. A failure throws (a bug, answered 500) and nothing is stored; what is stored is
   * exactly what was folded into the state.
   */
  private prepare(
    streamId: string,
    before: { state: State; revision: bigint | undefined; lastHash: string | null },
    decided: readonly Event[],
    context: CommandContext,
  ): { events: Event[]; state: State; revision: bigint; toAppend: EventToAppend[]; lastHash: string | null } {
    if (decided.length === 0) throw new Error('the decider accepted a command without deciding any event')
    const recordedAt = this.options.clock().toISOString()
    const events = decided.map((event) => {
      if (!this.decider.isEvent(event)) throw new Error(`the decider produced a ${event.type}, which does not belong on ${streamId}`)
      return validateNewEvent(event)
    })
    let state = before.state
    for (const event of events) state = this.decider.evolve(state, event, { recordedAt, actorSub: context.actor.sub })
    this.decider.assertInvariants?.(before.state, state, events)
    // Each event links to the one before it; the expected revision makes the append fail, and
    // the links be made again, when another writer came first.
    let lastHash = before.lastHash
    let revision = before.revision ?? -1n
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
    return { events, state, revision, toAppend, lastHash }
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
   * The stream's latest state: the cached view caught up with what the store has since. States
   * are persistent values, never changed in place, so a read may run beside a write of the same
   * stream; a newer view replaces an older one in the cache. The idempotency map is shared: it
   * only ever gains entries.
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
}

/**
 * The next batch: the queue's first commands, up to a limit, stopping before a command that reuses
 * a key of one before it (it is answered as a retry once the first is durable).
 */
function takeBatch<T extends { context: CommandContext }>(items: T[]): T[] {
  const keys = new Set<string>()
  let count = 0
  for (const item of items) {
    if (count >= MAX_BATCH_COMMANDS) break
    const { idempotencyKey: key, actor } = item.context
    if (key !== null) {
      const scoped = scopedKey(actor.sub, key)
      if (keys.has(scoped)) break
      keys.add(scoped)
    }
    count += 1
  }
  return items.splice(0, count)
}

/** Whether a decision refused a command: a refusal on a cached state is confirmed on the latest one. */
function refusesAny<State, Event>(decided: DecidedBatch<State, Event>): boolean {
  return decided.decisions.some(
    (decision) => decision.kind === 'answer' && (decision.outcome.kind === 'rejected' || decision.outcome.kind === 'precondition-failed'),
  )
}

/** Answers each decided command; a write with the position of its own last event. */
function answer<State, Command, Event>(
  pending: ReadonlyArray<QueuedWrite<State, Command, Event>>,
  decisions: ReadonlyArray<Decision<State, Event>>,
  positions: readonly Position[] = [],
): void {
  for (const [index, decision] of decisions.entries()) {
    const item = pending[index]
    if (item === undefined) continue
    if (decision.kind === 'answer') {
      item.settle(decision.outcome)
      continue
    }
    if (decision.kind === 'failed') {
      item.fail(decision.error, true)
      continue
    }
    const position = positions[decision.lastEventIndex]
    if (position === undefined) item.fail(new Error('the store answered no position for an appended event'))
    else item.settle({ kind: 'written', position, revision: decision.revision, state: decision.state, events: decision.events })
  }
}

/**
 * After an append failed (not a conflict): the commands in it fail with its error; a refusal
 * decided before the first of them stands; one decided after it was decided on a state that did
 * not come to be, and goes back to the queue.
 */
function failBatch<State, Command, Event>(
  pending: ReadonlyArray<QueuedWrite<State, Command, Event>>,
  decisions: ReadonlyArray<Decision<State, Event>>,
  error: unknown,
): Array<QueuedWrite<State, Command, Event>> {
  const firstWrite = decisions.findIndex((decision) => decision.kind === 'write')
  const left: Array<QueuedWrite<State, Command, Event>> = []
  for (const [index, decision] of decisions.entries()) {
    const item = pending[index]
    if (item === undefined) continue
    // The port's full disk, statement timeout and refused size roll the whole append back: nothing of it is stored.
    if (decision.kind === 'write') item.fail(error, rolledBack(error))
    else if (decision.kind === 'failed') item.fail(decision.error, true)
    else if (index < firstWrite) item.settle(decision.outcome)
    else left.push(item)
  }
  return left
}

const rolledBack = (error: unknown): boolean =>
  error instanceof StorageFullError || error instanceof StoreTimeoutError || error instanceof AppendTooLargeError

/** A read of the stream that failed before its batch was appended; drain fails the batch with the cause. */
class ReadBeforeAppendError extends Error {
  constructor(override readonly cause: unknown) {
    super('reading the stream before its append failed', { cause })
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

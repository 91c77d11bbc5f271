import { setImmediate as nextTick } from 'node:timers/promises'
import type { Logger } from 'pino'
import { toStoredEvent, type StoredEvent } from '../src/application/stored-event.js'
import { MAX_READ_COUNT, START, StoreUnavailableError, type EventStore, type Position, type RecordedEvent } from '../src/eventstore/port.js'
import { NewerSchemaError, type SchemaGuard } from '../src/sql/migrate.js'
import { RowCountError, type SqlDatabase, type Statement } from '../src/sql/port.js'
import { buildDeferredIndexes, deferIndexes, projectionsWithDeferredIndexes } from './deferred-indexes.js'
import { soleProjector, type ProjectorLease } from './lease.js'
import { BatchPacer } from './pacer.js'
import { projectAll, type Projection } from './projection.js'
import { PositionWaiters } from './waiters.js'

export interface ProjectionRunnerOptions {
  store: EventStore
  db: SqlDatabase
  projections: readonly Projection[]
  logger: Logger
  /** Who may project; the embedded store's one owner always may. */
  lease?: ProjectorLease
  /** Most events applied in one transaction while following the log (500). */
  batchSize?: number
  /**
   * Most events applied in one transaction while catching up, far behind the head (10,000, the
   * most one read may ask for; never fewer than `batchSize`). Within it, each batch is sized to
   * hold the event loop for about `batchBudgetMs`.
   */
  catchUpBatchSize?: number
  /** About how long one catch-up batch may take (SQLite) or spend in JavaScript (PostgreSQL): 25 ms. */
  batchBudgetMs?: number
  /**
   * Least time between the starts of two batches while following the head (0: none). Under a
   * steady write load the events of that time gather into one transaction; the first batch after
   * a quiet spell starts at once, and so does every batch while someone waits for a position
   * (`waitFor`, or `hurry` from the projection thread's stand-in).
   */
  followIntervalMs?: number
  /** Longest pause before trying again after a failed batch. */
  maxRetryDelayMs?: number
  /**
   * How far behind the head a replay from the start defers its tables' indexes (deferred-indexes.ts):
   * the projection thread sets DEFER_INDEXES_BEHIND, tests less. Undefined: never.
   */
  deferIndexesBehind?: Position
  /**
   * Keeps this runner from projecting into a schema a newer version migrated (PostgreSQL): every
   * batch begins with its statements, every term with its check. On a newer schema the runner
   * gives the lease up for good and follows the newer projector's checkpoints.
   */
  schemaGuard?: SchemaGuard
  /** Called when `status()` may have changed: a batch committed, another process's checkpoints read, an error, the lease. */
  onProgress?: () => void
}

export interface ProjectionProgress {
  name: string
  position: Position
  /** The head of the log when the runner started: a projection serves reads once it has reached it. */
  target: Position
  serving: boolean
}

export interface ProjectionStatus {
  /** The lowest position every projection has processed. */
  position: Position
  error: string | undefined
  /** Whether this process applies the projections (else another one does, and this one follows). */
  projecting: boolean
  projections: ProjectionProgress[]
}

/**
 * What the service asks of whatever runs the projections: the runner on the event loop (PostgreSQL,
 * KurrentDB), or its stand-in for the embedded store's projection thread (thread-runner.ts).
 */
export interface Projector {
  start(): Promise<void>
  stop(): Promise<void>
  status(): ProjectionStatus
  isServing(name: string): boolean
  waitFor(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean>
}

/**
 * How long a catch-up batch may hold the event loop, about. On SQLite a batch (its read, its
 * projection and its commit) runs synchronously: at 25 ms, /health and the other routes wait at
 * most that long for their turn while the projections replay millions of events.
 */
const DEFAULT_BATCH_BUDGET_MS = 25
/**
 * Longest pause after a batch the store refused for now (a full disk, a lost connection: a
 * StoreUnavailableError), as long as the Retry-After writes get: the projections resume soon after
 * the store does.
 */
const MAX_UNAVAILABLE_RETRY_DELAY_MS = 5_000
/** How often a follower looks whether a newer version migrated the database, at most (its projector's batches tell it when to look). */
const SCHEMA_CHECK_MS = 5_000
const CHECKPOINT_CREATE = 'INSERT INTO projection_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'
/** Compare-and-set: only the runner that read the checkpoint can move it, and only once. */
const CHECKPOINT_MOVE = 'UPDATE projection_checkpoints SET position = ? WHERE name = ? AND position = ?'

/**
 * A set of projections fed by one subscription, applied in one transaction per batch. The main
 * group holds the projections that are up to date; projections that start far behind (reset for
 * a rebuild, or new) replay in a catch-up group of their own, so that the main group keeps
 * following the log meanwhile, and join it once they have reached it.
 */
interface Group {
  readonly kind: 'main' | 'catch-up'
  readonly members: Set<string>
  closeSubscription: (() => void) | undefined
}

/**
 * One stretch of projecting: from taking the lease (or recovering from a failed batch) to losing
 * it, failing, or stopping. A new term starts from the checkpoints in the database.
 */
interface Term {
  readonly main: Group
  readonly catchUp: Group
  /** How far the main group has read: committed, or in the transaction under way. */
  mainHighWater: Position
  ended: boolean
  failed: boolean
  /** It failed because the store refused for now (StoreUnavailableError): tried again within seconds. */
  unavailable: boolean
}

/**
 * Feeds the projections from catch-up subscriptions, in the one process that holds the
 * projector's lease. Each batch of events is applied to its group's tables together with their
 * checkpoints in one transaction, and each checkpoint moves only from where this runner read it
 * (compare-and-set): a crash can neither apply an event twice nor lose one, and two runners can
 * never both apply a batch. A process without the lease follows the checkpoints others commit.
 */
export class ProjectionRunner implements Projector {
  private readonly checkpoints = new Map<string, Position>()
  private readonly targets = new Map<string, Position>()
  /** Projections whose tables' secondary indexes are dropped while they replay: not served until built again. */
  private deferredIndexes = new Set<string>()
  private readonly byName: ReadonlyMap<string, Projection>
  private readonly lease: ProjectorLease
  /** The position of the main group's last committed batch (it moves even with no projections). */
  private processed: Position = START
  private readonly waiters = new PositionWaiters((names) => this.reached(names), () => this.hurry())
  /** Until when (performance.now()) batches follow the head without gathering: someone waits for one. */
  private hurriedUntil = Number.NEGATIVE_INFINITY
  /** Ends each gathering pause under way. */
  private readonly gathering = new Set<() => void>()
  private stopping = false
  /** Why this runner never projects again: a newer version migrated the database (NewerSchemaError). */
  private retired: string | undefined
  /** When a follower last looked whether a newer version migrated the database (performance.now()). */
  private schemaCheckedAt = Number.NEGATIVE_INFINITY
  /** A follower's check put off by SCHEMA_CHECK_MS, so that the last announcement of a burst is looked at too. */
  private schemaCheckTimer: NodeJS.Timeout | undefined
  private term: Term | undefined
  private termEnded: Promise<void> = Promise.resolve()
  private projecting = false
  private error: string | undefined
  private retryDelayMs = 100
  private retryTimer: NodeJS.Timeout | undefined
  private refreshing: Promise<void> | undefined
  private refreshAgain = false
  private readonly batchSize: number
  private readonly followIntervalMs: number
  private readonly catchUpBatchSize: number
  private readonly batchBudgetMs: number
  private readonly maxRetryDelayMs: number
  private readonly deferIndexesBehind: Position | undefined

  constructor(private readonly options: ProjectionRunnerOptions) {
    this.batchSize = options.batchSize ?? 500
    this.followIntervalMs = options.followIntervalMs ?? 0
    this.catchUpBatchSize = Math.min(MAX_READ_COUNT, Math.max(this.batchSize, options.catchUpBatchSize ?? MAX_READ_COUNT))
    this.batchBudgetMs = options.batchBudgetMs ?? DEFAULT_BATCH_BUDGET_MS
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
    this.deferIndexesBehind = options.deferIndexesBehind
    this.lease = options.lease ?? soleProjector
    this.byName = new Map(options.projections.map((projection) => [projection.name, projection]))
    if (this.byName.size !== options.projections.length) throw new Error('two projections share a name')
  }

  async start(): Promise<void> {
    await this.options.db.transaction([...this.byName.keys()].map((name) => ({ sql: CHECKPOINT_CREATE, params: [name, START] })))
    await this.loadCheckpoints()
    if (this.deferIndexesBehind !== undefined) this.deferredIndexes = await projectionsWithDeferredIndexes(this.options.db)
    // An event store that is away (KurrentDB beside the SQL database) must not keep the service
    // from starting: it serves what the read models hold, /ready names the store, and the
    // projections follow once it is back.
    const head = await this.options.store.headPosition().catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'the event store is not reachable; serving the read models as they are')
      return undefined
    })
    for (const [name, position] of this.checkpoints) this.targets.set(name, head ?? position)
    this.lease.onAnnounced(() => void (this.projecting ? this.checkForReset() : this.refresh()))
    await this.lease.start((held) => {
      if (this.retired !== undefined) return
      this.projecting = held
      // A failed batch's error belongs to the term it ended; whoever projects next reports its own.
      this.error = undefined
      this.options.onProgress?.()
      if (held) this.beginTerm()
      else void this.endTerm()
    })
  }

  /** Whether a projection has reached the head of the log as it was at start, and serves reads. */
  isServing(name: string): boolean {
    return this.hasReachedTarget(name) && !this.deferredIndexes.has(name)
  }

  private hasReachedTarget(name: string): boolean {
    const position = this.checkpoints.get(name)
    const target = this.targets.get(name)
    return position !== undefined && target !== undefined && position >= target
  }

  status(): ProjectionStatus {
    const projections = [...this.byName.keys()].map((name) => ({
      name,
      position: this.checkpoints.get(name) ?? START,
      target: this.targets.get(name) ?? START,
      serving: this.isServing(name),
    }))
    return { position: this.reached(undefined), error: this.retired ?? this.error, projecting: this.projecting, projections }
  }

  /**
   * Resolves true once the named projections (every one when `names` is undefined) have processed
   * `position`, false after `timeoutMs`. Whichever process projects: others announce their batches.
   */
  waitFor(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean> {
    return this.waiters.wait(position, timeoutMs, names)
  }

  /**
   * Someone waits for a position: for the next `followIntervalMs` batches start as soon as they
   * have an event, beginning with the one gathering now; the waiters say so again after each
   * batch while any still waits. (The pause is for throughput under load: a waiting reader should
   * not pay for it, nor wait for a batch that began before its event arrived and then a pause.)
   */
  hurry(): void {
    this.hurriedUntil = performance.now() + this.followIntervalMs
    for (const wake of this.gathering) wake()
  }

  async stop(): Promise<void> {
    this.stopping = true
    clearTimeout(this.retryTimer)
    clearTimeout(this.schemaCheckTimer)
    await this.endTerm()
    await this.lease.stop()
    await this.refreshing
    this.waiters.clear()
  }

  /** The lowest position the named projections (all, and the main group, when undefined) have processed. */
  private reached(names: readonly string[] | undefined): Position {
    let lowest = names === undefined ? this.processed : undefined
    for (const name of names ?? this.byName.keys()) {
      const position = this.checkpoints.get(name) ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? this.processed
  }

  /** The checkpoints as the database has them, by projection. */
  private async storedCheckpoints(): Promise<Map<string, Position>> {
    const rows = await this.options.db.query<{ name: string; position: string }>(
      'SELECT name, CAST(position AS TEXT) AS position FROM projection_checkpoints',
    )
    return new Map(rows.map((row) => [row.name, BigInt(row.position)]))
  }

  /**
   * Reads the checkpoints from the database into memory. `unlessProjecting`: a follower's read is
   * dropped when this process took the lease meanwhile, so that it cannot set back a checkpoint
   * the new term has moved on.
   */
  private async loadCheckpoints(unlessProjecting = false): Promise<void> {
    const stored = await this.storedCheckpoints()
    if (unlessProjecting && (this.projecting || this.term !== undefined)) return
    let lowest: Position | undefined
    const reset: string[] = []
    for (const name of this.byName.keys()) {
      const position = stored.get(name) ?? START
      if (position < (this.checkpoints.get(name) ?? START)) reset.push(name)
      this.checkpoints.set(name, position)
      if (lowest === undefined || position < lowest) lowest = position
    }
    // Events no projection needs still move every checkpoint, so the lowest is what all have processed.
    this.processed = lowest ?? START
    // Reset for a rebuild (by another process): it serves again once it has reached today's head.
    if (reset.length > 0) {
      const head = await this.options.store.headPosition()
      for (const name of reset) this.targets.set(name, head)
    }
  }

  /**
   * The projector heard another process: if that reset a projection for a rebuild, the current
   * term ends, and the next one starts from the checkpoints in the database (the reset ones replay
   * in the catch-up group). Without this, an idle projector would notice only at its next batch.
   */
  private async checkForReset(): Promise<void> {
    const term = this.term
    if (!term || term.ended) return
    try {
      // The announcement may be another process's migration (migrateStores): a newer one retires this runner.
      await this.options.schemaGuard?.check()
      const stored = await this.storedCheckpoints()
      const movedBack = [...stored].some(([name, position]) => this.byName.has(name) && position < (this.checkpoints.get(name) ?? START))
      if (!movedBack || term.ended) return
      this.options.logger.info('a projection was reset by another process; starting again from the database')
      term.ended = true
      for (const group of [term.main, term.catchUp]) group.closeSubscription?.()
    } catch (error) {
      if (error instanceof NewerSchemaError) this.fail(term, error)
      else this.options.logger.warn({ err: error }, 'could not read the schema or the projections\' checkpoints')
    }
  }

  /** A follower reads the checkpoints another process committed; one refresh at a time, again if asked meanwhile. */
  private async refresh(): Promise<void> {
    if (this.projecting || this.stopping) return
    if (this.refreshing) {
      this.refreshAgain = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false
        try {
          await this.loadCheckpoints(true)
          await this.checkSchema()
        } catch (error) {
          if (error instanceof NewerSchemaError) this.retire(error)
          else {
            this.options.logger.warn({ err: error }, 'could not read the projections\' checkpoints or the schema; trying again in a second')
            // No announcement may come for a while: try again, so that waiters are not left waiting.
            setTimeout(() => void this.refresh(), 1_000).unref()
          }
        }
        if (!this.projecting) this.notifyWaiters()
      } while (this.refreshAgain && !this.stopping)
    })().finally(() => (this.refreshing = undefined))
    return this.refreshing
  }

  private beginTerm(): void {
    if (this.term || this.stopping || this.retired !== undefined || !this.projecting) return
    const term: Term = {
      main: newGroup('main'),
      catchUp: newGroup('catch-up'),
      mainHighWater: START,
      ended: false,
      failed: false,
      unavailable: false,
    }
    this.term = term
    this.termEnded = (async () => {
      try {
        await this.options.schemaGuard?.check()
        await this.loadCheckpoints()
        await this.deferReplayIndexes(term)
        let highest = START
        for (const position of this.checkpoints.values()) if (position > highest) highest = position
        for (const [name, position] of this.checkpoints) (position === highest ? term.main : term.catchUp).members.add(name)
        term.mainHighWater = highest
        this.processed = highest
        const loops = [this.run(term, term.main)]
        if (term.catchUp.members.size > 0) {
          this.options.logger.info({ projections: [...term.catchUp.members] }, 'projections catch up')
          loops.push(this.run(term, term.catchUp))
        }
        await Promise.all(loops)
      } catch (error) {
        this.fail(term, error)
      }
      this.afterTerm(term)
    })()
  }

  /**
   * At a term's start: a projection that replays from the start far behind the head drops its
   * tables' secondary indexes (deferred-indexes.ts), and one whose indexes are deferred but that
   * has caught up (a crash or a stop came between its last batch and the build) builds them now.
   */
  private async deferReplayIndexes(term: Term): Promise<void> {
    const behind = this.deferIndexesBehind
    if (behind === undefined) return
    const { db, logger } = this.options
    this.deferredIndexes = await projectionsWithDeferredIndexes(db)
    const head = await this.options.store.headPosition()
    for (const [name, projection] of this.byName) {
      if (this.deferredIndexes.has(name) || this.checkpoints.get(name) !== START || head < behind) continue
      const dropped = await deferIndexes(db, projection)
      if (dropped === 0) continue
      this.deferredIndexes.add(name)
      logger.info({ projection: name, indexes: dropped }, 'projection replays from the start; its indexes are built once it has caught up')
    }
    for (const name of this.deferredIndexes) if (this.hasReachedTarget(name)) await this.buildIndexes(term, name)
  }

  /** Builds a projection's deferred indexes; once all are there it serves, and says so at once. */
  private async buildIndexes(term: Term, name: string): Promise<void> {
    const started = performance.now()
    await buildDeferredIndexes(this.options.db, name, this.options.logger, () => term.ended)
    if (term.ended) return
    this.deferredIndexes.delete(name)
    this.options.logger.info({ projection: name, ms: Math.round(performance.now() - started) }, 'projection\'s indexes built')
    // A build that failed before (a full disk) reported an error that this one has answered.
    this.error = undefined
    this.notifyWaiters()
  }

  /** Ends the current term: its subscriptions close, its batch under way finishes or fails. */
  private async endTerm(): Promise<void> {
    const term = this.term
    if (term) {
      term.ended = true
      for (const group of [term.main, term.catchUp]) group.closeSubscription?.()
    }
    await this.termEnded
  }

  /** After a failed term, another starts from the database's checkpoints once the retry delay has passed. */
  private afterTerm(term: Term): void {
    if (this.term === term) this.term = undefined
    if (this.stopping) return
    // The lease went to another process: follow its checkpoints from now on.
    if (!this.projecting) return void this.refresh()
    // The lease was lost and taken again while this term ended: project again at once.
    if (!term.failed) return this.beginTerm()
    const longest = term.unavailable ? Math.min(this.maxRetryDelayMs, MAX_UNAVAILABLE_RETRY_DELAY_MS) : this.maxRetryDelayMs
    const delay = Math.min(this.retryDelayMs, longest)
    this.retryDelayMs = Math.min(delay * 2, longest)
    this.retryTimer = setTimeout(() => this.beginTerm(), delay)
  }

  private fail(term: Term, error: unknown): void {
    if (term.ended && !term.failed) return
    term.failed = true
    term.ended = true
    term.unavailable = error instanceof StoreUnavailableError
    for (const group of [term.main, term.catchUp]) group.closeSubscription?.()
    if (error instanceof NewerSchemaError) return this.retire(error)
    this.error = error instanceof Error ? error.message : String(error)
    this.options.onProgress?.()
    const moved = error instanceof RowCountError
    this.options.logger[moved ? 'warn' : 'error'](
      { err: error, retryDelayMs: this.retryDelayMs },
      moved ? 'a checkpoint was moved by another runner; starting again from the database' : 'projection batch failed; retrying from the checkpoints',
    )
  }

  /**
   * A newer version migrated the database (the guard rolled a batch back, or a check found it):
   * this runner gives the lease up for good, so that a process that knows the schema takes it,
   * and follows that one's checkpoints.
   */
  private retire(error: NewerSchemaError): void {
    if (this.retired !== undefined) return
    // In /ready (degraded): a load balancer stops sending reads this version could misjudge.
    this.retired = error.message
    this.projecting = false
    // A term the lease began while a follower's check was under way ends too (its batches would roll back).
    void this.endTerm()
    this.options.logger.error({ err: error }, 'a newer version migrated the database: this process no longer projects; replace it with that version')
    void this.lease.stop()
    this.options.onProgress?.()
  }

  /**
   * A follower looks whether a newer version migrated the database when it hears an announcement,
   * at most every SCHEMA_CHECK_MS: one that comes sooner is looked at once that time is up.
   */
  private async checkSchema(): Promise<void> {
    const guard = this.options.schemaGuard
    if (guard === undefined || this.retired !== undefined) return
    const wait = this.schemaCheckedAt + SCHEMA_CHECK_MS - performance.now()
    if (wait > 0) {
      this.schemaCheckTimer ??= setTimeout(() => {
        this.schemaCheckTimer = undefined
        void this.refresh()
      }, wait).unref()
      return
    }
    this.schemaCheckedAt = performance.now()
    await guard.check()
  }

  private async run(term: Term, group: Group): Promise<void> {
    try {
      await this.follow(term, group)
    } catch (error) {
      if (!term.ended) this.fail(term, error)
    }
  }

  private lowestCheckpoint(term: Term, group: Group): Position {
    let lowest: Position | undefined
    for (const name of group.members) {
      const position = this.checkpoints.get(name) ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? term.mainHighWater
  }

  /**
   * Feeds a group: first in pages read straight from the log, as large as the time budget allows,
   * while the group is behind (a page that comes back full says there is more); then from a
   * subscription, in small batches of what it has at hand, once the group has reached the head.
   */
  private async follow(term: Term, group: Group): Promise<void> {
    let closed = false
    group.closeSubscription = () => (closed = true)
    const reachedHead = await this.catchUp(term, group, () => closed)
    if (reachedHead === undefined || closed) return
    await this.followLive(term, group, reachedHead, () => closed)
  }

  /**
   * Catch-up: reads pages from the log and applies each in one transaction, sized by the pacer,
   * and gives the event loop a turn after each. Resolves with the position where the log ended
   * (a page came back short), or undefined when the term or the group ended first.
   */
  private async catchUp(term: Term, group: Group, closed: () => boolean): Promise<Position | undefined> {
    const pacer = new BatchPacer({ min: Math.min(this.batchSize, 100), max: this.catchUpBatchSize, budgetMs: this.batchBudgetMs })
    let after = this.lowestCheckpoint(term, group)
    while (!term.ended && !closed() && (group.kind === 'main' || group.members.size > 0)) {
      const size = pacer.size()
      const started = performance.now()
      const page = await this.options.store.readAll({ after, maxCount: size })
      if (term.ended || closed()) return undefined
      if (page.length > 0) {
        const javascriptMs = await this.apply(term, group, page, started)
        after = page[page.length - 1]?.position ?? after
        // On SQLite the commit holds the event loop too; on PostgreSQL only the JavaScript does.
        pacer.record(page.length, this.options.db.dialect === 'sqlite' ? performance.now() - started : javascriptMs)
      }
      if (page.length < size) return after
      // SQLite reads and commits synchronously: without this turn, a long replay would hold
      // the event loop until it ends, and not even /health would be answered meanwhile.
      await nextTick(undefined)
    }
    return undefined
  }

  private async followLive(term: Term, group: Group, after: Position, closed: () => boolean): Promise<void> {
    const subscription = this.options.store.subscribeToAll({ after, batchSize: this.batchSize })
    let closing = false
    let stopGathering: (() => void) | undefined
    group.closeSubscription = () => {
      closing = true
      subscription.close()
      stopGathering?.()
    }
    if (term.ended || closed()) subscription.close()
    const iterator = subscription[Symbol.asyncIterator]()
    let pending: Promise<IteratorResult<RecordedEvent>> | undefined
    let lastStarted = Number.NEGATIVE_INFINITY
    try {
      pending = iterator.next()
      while (!term.ended && (group.kind === 'main' || group.members.size > 0)) {
        const first = await pending
        if (first.done) return
        // Closed while the event was handed over: no pause that nothing would end.
        if (term.ended || closing) return
        // On the embedded store each commit writes every page the batch touched: a page that
        // several events touch is written once in a large batch, once per batch in small ones.
        const early = lastStarted + this.followIntervalMs - performance.now()
        if (early > 0 && performance.now() >= this.hurriedUntil) await this.pause(early, (stop) => (stopGathering = stop))
        lastStarted = performance.now()
        const batch: RecordedEvent[] = [first.value]
        pending = iterator.next()
        // Take what the subscription already has at hand into the same transaction; stop at the
        // first event that would need a wait.
        while (batch.length < this.batchSize) {
          const next = await Promise.race([pending, nextTick(undefined)])
          if (next === undefined || next.done) break
          batch.push(next.value)
          pending = iterator.next()
        }
        if (term.ended) return
        await this.apply(term, group, batch, performance.now())
        await nextTick(undefined)
      }
    } finally {
      subscription.close()
      // A read already under way for the next batch may fail (the database is away): nobody waits for it now.
      pending?.catch(() => undefined)
    }
  }

  /** Waits `ms`, less when someone hurries the runner or the group closes (`onStop` is given the means). */
  private pause(ms: number, onStop: (stop: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const stop = (): void => {
        clearTimeout(timer)
        this.gathering.delete(stop)
        resolve()
      }
      const timer = setTimeout(stop, ms)
      this.gathering.add(stop)
      onStop(stop)
    })
  }

  /**
   * Applies a batch to the group's projections, with their checkpoints, in one transaction.
   * Resolves with the milliseconds spent in JavaScript since `started` before the commit.
   */
  private async apply(term: Term, group: Group, batch: readonly RecordedEvent[], started: number): Promise<number> {
    if (group.kind === 'main') this.admitCaughtUp(term)
    const stored = batch.map(toStoredEvent)
    const statements: Statement[] = []
    const advanced = new Map<string, Position>()
    const last = batch[batch.length - 1]?.position ?? START
    for (const name of group.members) {
      const projection = this.byName.get(name)
      const events = eventsAfter(stored, this.checkpoints.get(name) ?? START)
      if (projection === undefined || events.length === 0) continue
      // One projection's statements after another's: each writes only its own tables, so only
      // the order within a projection matters. Pushed one by one: a spread of 100,000 overflows.
      for (const statement of projectAll(projection, events)) statements.push(statement)
      advanced.set(name, last)
    }
    // The checkpoints first: their row locks order this batch against another runner's and against
    // a reset (resetProjection), so that neither can slip between this batch's changes and its commit.
    const moves: Statement[] = [...advanced].map(([name, position]) => ({
      sql: CHECKPOINT_MOVE,
      params: [position, name, this.checkpoints.get(name) ?? START],
      expectRows: 1,
    }))
    // Set before the transaction's await: a catch-up projection joins only at or beyond what the
    // main group has taken on, so that no event falls between the two groups.
    if (group.kind === 'main' && last > term.mainHighWater) term.mainHighWater = last
    const javascriptMs = performance.now() - started
    if (moves.length > 0) await this.commit([...moves, ...statements, ...this.lease.announce])

    for (const [name, position] of advanced) this.checkpoints.set(name, position)
    if (group.kind === 'main' && last > this.processed) this.processed = last
    // A replay that has reached its target builds its indexes before it serves (isServing).
    for (const name of advanced.keys()) if (this.deferredIndexes.has(name) && this.hasReachedTarget(name)) await this.buildIndexes(term, name)
    this.error = undefined
    this.retryDelayMs = 100
    if (group.kind === 'catch-up') this.admitCaughtUp(term)
    this.notifyWaiters()
    return javascriptMs
  }

  /** Commits a batch, behind the schema guard where there is one; a batch the guard rolled back fails with NewerSchemaError. */
  private async commit(statements: readonly Statement[]): Promise<void> {
    const guard = this.options.schemaGuard
    if (guard === undefined) return this.options.db.transaction(statements)
    try {
      await this.options.db.transaction([...guard.statements, ...statements])
    } catch (error) {
      // The guard refused the batch (or a schema change no migration recorded broke it): the
      // check names the migrations this version does not know. Else the batch failed for its own
      // reason, which is what the runner reports, whatever the check ran into.
      await guard.check().catch((checked: unknown) => {
        if (checked instanceof NewerSchemaError) throw new NewerSchemaError(checked.unknown, { cause: error })
      })
      throw error
    }
  }

  /** Moves the catch-up projections that have reached the main group's position into it. */
  private admitCaughtUp(term: Term): void {
    for (const name of term.catchUp.members) {
      if ((this.checkpoints.get(name) ?? START) < term.mainHighWater) continue
      term.catchUp.members.delete(name)
      term.main.members.add(name)
      this.options.logger.info({ projection: name }, 'projection caught up')
    }
    if (term.catchUp.members.size === 0) term.catchUp.closeSubscription?.()
  }

  private notifyWaiters(): void {
    this.waiters.notify()
    this.options.onProgress?.()
  }
}

/** The events of a batch (in log order) after a checkpoint. */
function eventsAfter(events: readonly StoredEvent[], checkpoint: Position): readonly StoredEvent[] {
  if ((events[0]?.position ?? START) > checkpoint) return events
  const first = events.findIndex((stored) => stored.position > checkpoint)
  return first === -1 ? [] : events.slice(first)
}

function newGroup(kind: Group['kind']): Group {
  return { kind, members: new Set(), closeSubscription: undefined }
}

/**
 * Empties a projection's tables and resets its checkpoint: the projector then replays it from the
 * start. On PostgreSQL this may run beside the service: the checkpoint is reset first, so that a
 * batch under way (which moves its checkpoints first) either commits before the tables are emptied
 * or fails its compare-and-set; `announce` tells the projector, which starts again at once.
 */
export async function resetProjection(db: SqlDatabase, projection: Projection, announce: readonly Statement[] = []): Promise<void> {
  await db.transaction([
    { sql: CHECKPOINT_CREATE, params: [projection.name, START] },
    { sql: 'UPDATE projection_checkpoints SET position = ? WHERE name = ?', params: [START, projection.name] },
    ...projection.tables.map((table): Statement => ({ sql: `DELETE FROM ${table}`, params: [] })),
    ...announce,
  ])
}

import { setImmediate as nextTick } from 'node:timers/promises'
import type { Logger } from 'pino'
import { toStoredEvent } from '../src/application/stored-event.js'
import { START, type EventStore, type Position, type RecordedEvent } from '../src/eventstore/port.js'
import type { SqlDatabase, Statement } from '../src/sql/port.js'
import type { Projection } from './projection.js'

export interface ProjectionRunnerOptions {
  store: EventStore
  db: SqlDatabase
  projections: readonly Projection[]
  logger: Logger
  /** Most events applied in one transaction. */
  batchSize?: number
  /** Longest pause before trying again after a failed batch. */
  maxRetryDelayMs?: number
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
  projections: ProjectionProgress[]
}

const MAX_WAITERS = 10_000
const CHECKPOINT_UPSERT =
  'INSERT INTO projection_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position'

interface Waiter {
  position: Position
  names: readonly string[] | undefined
  resolve: (reached: boolean) => void
  timer: NodeJS.Timeout
}

/**
 * A set of projections fed by one subscription, applied in one transaction per batch. The main
 * group holds the projections that are up to date; projections that start far behind (reset for
 * a rebuild, or new) replay in a catch-up group of their own, so that the main group keeps
 * following the log meanwhile, and join it once they have reached it.
 */
interface Group {
  readonly kind: 'main' | 'catch-up'
  readonly members: Set<string>
  error: string | undefined
  closeSubscription: (() => void) | undefined
  wakeRetry: (() => void) | undefined
}

/**
 * Feeds the projections from catch-up subscriptions. Each batch of events is applied to its
 * group's tables together with their checkpoints in one transaction, so that a crash can neither
 * apply an event twice nor lose one.
 */
export class ProjectionRunner {
  private readonly checkpoints = new Map<string, Position>()
  private readonly targets = new Map<string, Position>()
  private readonly byName: ReadonlyMap<string, Projection>
  private readonly main: Group = newGroup('main')
  private readonly catchUp: Group = newGroup('catch-up')
  /** How far the main group has read: committed, or in the transaction under way. */
  private mainHighWater: Position = START
  /** The position of the main group's last committed batch (it moves even with no projections). */
  private mainProcessed: Position = START
  private readonly waiters = new Set<Waiter>()
  private stopping = false
  private readonly loops: Array<Promise<void>> = []
  private readonly batchSize: number
  private readonly maxRetryDelayMs: number

  constructor(private readonly options: ProjectionRunnerOptions) {
    this.batchSize = options.batchSize ?? 500
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
    this.byName = new Map(options.projections.map((projection) => [projection.name, projection]))
    if (this.byName.size !== options.projections.length) throw new Error('two projections share a name')
  }

  async start(): Promise<void> {
    const rows = await this.options.db.query<{ name: string; position: number | string | bigint }>(
      'SELECT name, position FROM projection_checkpoints',
    )
    const stored = new Map(rows.map((row) => [row.name, BigInt(row.position)]))
    const head = await this.options.store.headPosition()
    let highest = START
    for (const name of this.byName.keys()) {
      const position = stored.get(name) ?? START
      this.checkpoints.set(name, position)
      this.targets.set(name, head)
      if (position > highest) highest = position
    }
    for (const [name, position] of this.checkpoints) (position === highest ? this.main : this.catchUp).members.add(name)
    this.mainHighWater = highest
    this.mainProcessed = highest
    if (this.catchUp.members.size > 0) {
      this.options.logger.info({ projections: [...this.catchUp.members], head: head.toString() }, 'projections catch up')
      this.loops.push(this.run(this.catchUp))
    }
    this.loops.push(this.run(this.main))
  }

  /** Whether a projection has reached the head of the log as it was at start, and serves reads. */
  isServing(name: string): boolean {
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
    return { position: this.reached(undefined), error: this.main.error ?? this.catchUp.error, projections }
  }

  /**
   * Resolves true once the named projections (every one when `names` is undefined) have processed
   * `position`, false after `timeoutMs`.
   */
  waitFor(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean> {
    if (this.reached(names) >= position) return Promise.resolve(true)
    if (this.waiters.size >= MAX_WAITERS) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        names,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          resolve(false)
        }, timeoutMs),
      }
      this.waiters.add(waiter)
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    for (const group of [this.main, this.catchUp]) {
      group.closeSubscription?.()
      group.wakeRetry?.()
    }
    await Promise.all(this.loops)
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.resolve(false)
    }
    this.waiters.clear()
  }

  /** The lowest position the named projections (all, and the main group, when undefined) have processed. */
  private reached(names: readonly string[] | undefined): Position {
    let lowest = names === undefined ? this.mainProcessed : undefined
    for (const name of names ?? this.byName.keys()) {
      const position = this.checkpoints.get(name) ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? this.mainProcessed
  }

  private lowestCheckpoint(group: Group): Position {
    let lowest: Position | undefined
    for (const name of group.members) {
      const position = this.checkpoints.get(name) ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? this.mainHighWater
  }

  private async run(group: Group): Promise<void> {
    let retryDelayMs = 100
    while (!this.stopping && (group.kind === 'main' || group.members.size > 0)) {
      try {
        await this.follow(group)
        return
      } catch (error) {
        if (this.stopping) return
        group.error = error instanceof Error ? error.message : String(error)
        this.options.logger.error({ err: error, group: group.kind, retryDelayMs }, 'projection batch failed; retrying from the checkpoints')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryDelayMs)
          group.wakeRetry = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        retryDelayMs = Math.min(retryDelayMs * 2, this.maxRetryDelayMs)
      }
    }
  }

  private async follow(group: Group): Promise<void> {
    const subscription = this.options.store.subscribeToAll({ after: this.lowestCheckpoint(group), batchSize: this.batchSize })
    group.closeSubscription = () => subscription.close()
    if (this.stopping) subscription.close()
    const iterator = subscription[Symbol.asyncIterator]()
    try {
      let pending = iterator.next()
      while (!this.stopping && (group.kind === 'main' || group.members.size > 0)) {
        const first = await pending
        if (first.done) return
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
        await this.apply(group, batch)
        // SQLite reads and commits synchronously: without this turn, a long replay would hold
        // the event loop until it ends, and not even /health would be answered meanwhile.
        await nextTick(undefined)
      }
    } finally {
      subscription.close()
    }
  }

  private async apply(group: Group, batch: readonly RecordedEvent[]): Promise<void> {
    if (group.kind === 'main') this.admitCaughtUp()
    const statements: Statement[] = []
    const advanced = new Map<string, Position>()
    const last = batch[batch.length - 1]?.position ?? START
    for (const recorded of batch) {
      const stored = toStoredEvent(recorded)
      for (const name of group.members) {
        const checkpoint = advanced.get(name) ?? this.checkpoints.get(name) ?? START
        if (recorded.position <= checkpoint) continue
        statements.push(...(this.byName.get(name)?.project(stored) ?? []))
        advanced.set(name, recorded.position)
      }
    }
    for (const [name, position] of advanced) statements.push({ sql: CHECKPOINT_UPSERT, params: [name, position] })
    // Set before the transaction's await: a catch-up projection joins only at or beyond what the
    // main group has taken on, so that no event falls between the two groups.
    if (group.kind === 'main' && last > this.mainHighWater) this.mainHighWater = last
    if (statements.length > 0) await this.options.db.transaction(statements)

    for (const [name, position] of advanced) this.checkpoints.set(name, position)
    if (group.kind === 'main' && last > this.mainProcessed) this.mainProcessed = last
    group.error = undefined
    if (group.kind === 'catch-up') this.admitCaughtUp()
    this.notifyWaiters()
  }

  /** Moves the catch-up projections that have reached the main group's position into it. */
  private admitCaughtUp(): void {
    for (const name of this.catchUp.members) {
      if ((this.checkpoints.get(name) ?? START) < this.mainHighWater) continue
      this.catchUp.members.delete(name)
      this.main.members.add(name)
      this.options.logger.info({ projection: name }, 'projection caught up')
    }
    if (this.catchUp.members.size === 0) this.catchUp.closeSubscription?.()
  }

  private notifyWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.reached(waiter.names) < waiter.position) continue
      clearTimeout(waiter.timer)
      this.waiters.delete(waiter)
      waiter.resolve(true)
    }
  }
}

function newGroup(kind: Group['kind']): Group {
  return { kind, members: new Set(), error: undefined, closeSubscription: undefined, wakeRetry: undefined }
}

/** Empties a projection's tables and resets its checkpoint: the runner then replays it from the start. */
export async function resetProjection(db: SqlDatabase, projection: Projection): Promise<void> {
  await db.transaction([
    ...projection.tables.map((table): Statement => ({ sql: `DELETE FROM ${table}`, params: [] })),
    { sql: CHECKPOINT_UPSERT, params: [projection.name, START] },
  ])
}

import { setImmediate as nextTick } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Projection } from '../../projections/index.js'
import { toStoredEvent } from '../application/stored-event.js'
import { START, type EventStore, type Position, type RecordedEvent } from '../eventstore/port.js'
import type { SqlDatabase, Statement } from '../sql/port.js'

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

export interface ProjectionStatus {
  position: Position
  error: string | undefined
}

const MAX_WAITERS = 10_000
const CHECKPOINT_UPSERT =
  'INSERT INTO projection_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position'

interface Waiter {
  position: Position
  resolve: (reached: boolean) => void
  timer: NodeJS.Timeout
}

/**
 * Feeds the projections from a catch-up subscription. Each batch of events is applied to every
 * projection's tables together with the projections' checkpoints in one transaction, so that a
 * crash can neither apply an event twice nor lose one.
 */
export class ProjectionRunner {
  private readonly checkpoints = new Map<string, Position>()
  private processed: Position = START
  private lastError: string | undefined
  private waiters = new Set<Waiter>()
  private stopping = false
  private loop: Promise<void> | undefined
  private closeSubscription: (() => void) | undefined
  private wakeRetry: (() => void) | undefined
  private readonly batchSize: number
  private readonly maxRetryDelayMs: number

  constructor(private readonly options: ProjectionRunnerOptions) {
    this.batchSize = options.batchSize ?? 500
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
  }

  async start(): Promise<void> {
    await this.loadCheckpoints()
    this.loop = this.run()
  }

  status(): ProjectionStatus {
    return { position: this.processed, error: this.lastError }
  }

  /** Resolves true once every projection has processed `position`, false after `timeoutMs`. */
  waitFor(position: Position, timeoutMs: number): Promise<boolean> {
    if (this.processed >= position) return Promise.resolve(true)
    if (this.waiters.size >= MAX_WAITERS) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
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
    this.closeSubscription?.()
    this.wakeRetry?.()
    await this.loop
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.resolve(false)
    }
    this.waiters.clear()
  }

  private async loadCheckpoints(): Promise<void> {
    const rows = await this.options.db.query<{ name: string; position: number | string | bigint }>(
      'SELECT name, position FROM projection_checkpoints',
    )
    const stored = new Map(rows.map((row) => [row.name, BigInt(row.position)]))
    for (const projection of this.options.projections) {
      this.checkpoints.set(projection.name, stored.get(projection.name) ?? START)
    }
    this.processed = this.lowestCheckpoint()
  }

  private lowestCheckpoint(): Position {
    let lowest: Position | undefined
    for (const position of this.checkpoints.values()) if (lowest === undefined || position < lowest) lowest = position
    return lowest ?? START
  }

  private async run(): Promise<void> {
    let retryDelayMs = 100
    while (!this.stopping) {
      try {
        await this.follow()
        return
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error)
        this.options.logger.error({ err: error, retryDelayMs }, 'projection batch failed; retrying from the checkpoints')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryDelayMs)
          this.wakeRetry = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        retryDelayMs = Math.min(retryDelayMs * 2, this.maxRetryDelayMs)
        await this.loadCheckpoints()
      }
    }
  }

  private async follow(): Promise<void> {
    const subscription = this.options.store.subscribeToAll({ after: this.lowestCheckpoint(), batchSize: this.batchSize })
    this.closeSubscription = () => subscription.close()
    if (this.stopping) subscription.close()
    const iterator = subscription[Symbol.asyncIterator]()
    try {
      let pending = iterator.next()
      while (!this.stopping) {
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
        await this.apply(batch)
      }
    } finally {
      subscription.close()
    }
  }

  private async apply(batch: readonly RecordedEvent[]): Promise<void> {
    const statements: Statement[] = []
    const advanced = new Map<string, Position>()
    for (const recorded of batch) {
      const stored = toStoredEvent(recorded)
      for (const projection of this.options.projections) {
        const checkpoint = advanced.get(projection.name) ?? this.checkpoints.get(projection.name) ?? START
        if (recorded.position <= checkpoint) continue
        statements.push(...projection.project(stored))
        advanced.set(projection.name, recorded.position)
      }
    }
    for (const [name, position] of advanced) statements.push({ sql: CHECKPOINT_UPSERT, params: [name, position] })
    if (statements.length > 0) await this.options.db.transaction(statements)

    for (const [name, position] of advanced) this.checkpoints.set(name, position)
    this.processed = this.lowestCheckpoint()
    this.lastError = undefined
    this.notifyWaiters()
  }

  private notifyWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.processed < waiter.position) continue
      clearTimeout(waiter.timer)
      this.waiters.delete(waiter)
      waiter.resolve(true)
    }
  }
}

/** Empties a projection's tables and resets its checkpoint: the runner then replays it from the start. */
export async function resetProjection(db: SqlDatabase, projection: Projection): Promise<void> {
  await db.transaction([
    ...projection.tables.map((table): Statement => ({ sql: `DELETE FROM ${table}`, params: [] })),
    { sql: CHECKPOINT_UPSERT, params: [projection.name, START] },
  ])
}

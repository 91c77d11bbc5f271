import type { Worker } from 'node:worker_threads'
import { pino, type Logger } from 'pino'
import { START, type Position } from '../src/eventstore/port.js'
import type { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { startWorker } from '../src/threads.js'
import type { ProjectionProgress, Projector, ProjectionStatus } from './runner.js'
import type { FromProjectionThread, ProjectionThreadData, RunnerTuning, ToProjectionThread } from './thread.js'
import { PositionWaiters } from './waiters.js'

export interface ThreadRunnerOptions {
  /** The embedded store's file: the thread opens its own connections to it. */
  path: string
  /** This process's event store: the thread hears of each of its appends at once. */
  store: SqliteEventStore
  logger: Logger
  tuning?: RunnerTuning
  /** How often the thread's store looks for appends it was not told of (500 ms). */
  pollIntervalMs?: number
}

/**
 * About how long one catch-up batch may take on the thread. The event loop's runner keeps its
 * batches to 25 ms, so that /health waits no longer; on the thread only a write that needs the
 * file's write lock meanwhile waits for a batch, and fewer, larger transactions replay faster.
 * Measured on 212,114 events (bench/rebuild.ts): 25 ms 15,400 events/s, 100 ms 18,500, 400 ms
 * 16,300 with more memory (peak RSS 316 MB against 258).
 */
export const CATCH_UP_BATCH_MS = 100

/**
 * Least time between two batches of the thread while it follows the head (ProjectionRunner's
 * followIntervalMs). Each commit writes every page its batch touched, and the events of a steady
 * write load touch the same pages (the audit trail's and the balance history's last pages, the
 * budgets' rows): in batches of 20 events a replay ran at 5,200-7,000 events/s, in batches of 100
 * at 8,400-9,600 (bench/profile-rebuild.ts, BENCH_MAX_BATCH). Under the write benchmark's load
 * the thread's CPU per write fell by about a third (bench/profile-writes.ts, alternated). A batch
 * after a quiet spell starts at once, and so does each one while a reader waits for a position.
 */
export const FOLLOW_INTERVAL_MS = 50

/**
 * Pages in the write-ahead log before the thread's commits copy them into the database file
 * (SQLite's default is 1,000 pages): each copy ends with an fsync. Measured on a replay of 212,114
 * events, 10,000 pages (40 MB) replayed 1.7 times faster (bench/profile-rebuild.ts); 100,000 gained
 * nothing more.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000

/** How long a start waits for the thread to catch up with the log before the service serves anyway. */
const STARTUP_CATCH_UP_MS = 1_000
/** How long a stop waits for the thread to finish its batch and close, before it is ended (less than main.ts gives a shutdown). */
const STOP_TIMEOUT_MS = 5_000
/** The first and the longest pause before a thread that died is started again. */
const FIRST_RESTART_DELAY_MS = 1_000
const MAX_RESTART_DELAY_MS = 30_000

/**
 * The projections of the embedded store, run on a thread of their own (projections/thread.ts):
 * this is their stand-in on the event loop. It knows what the thread last reported, which is what
 * /ready, the read routes and `?minPosition=` ask; it tells the thread of every append; and it
 * starts a thread that died again, after a pause that grows while it keeps dying.
 */
export class ThreadRunner implements Projector {
  private current: ProjectionStatus = { position: START, error: undefined, projecting: false, projections: [] }
  /** The last status's projections by name: what isServing and waitFor ask on every read. */
  private byName = new Map<string, ProjectionProgress>()
  private readonly waiters = new PositionWaiters((names) => this.reached(names), () => this.hurry())
  private readonly pragmas = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  private nextPragma = 1
  private worker: Worker | undefined
  private exited: Promise<void> = Promise.resolve()
  private stopping = false
  private appendScheduled = false
  private hurryScheduled = false
  private stopListening: (() => void) | undefined
  private restartDelayMs = FIRST_RESTART_DELAY_MS
  private restartTimer: NodeJS.Timeout | undefined
  /** Between a thread's start and its exit. */
  private alive = false

  constructor(private readonly options: ThreadRunnerOptions) {}

  /**
   * Starts the thread; resolves once its runner has started (its checkpoints read) and has caught
   * up with the log, or after STARTUP_CATCH_UP_MS while a longer replay goes on; rejects if it
   * could not start. A short lag, as after a crash, is so made up before the service serves, as
   * the runner on the event loop did in its first turns; until then, routes that read a projection
   * still behind would answer 503.
   */
  async start(): Promise<void> {
    this.stopListening = this.options.store.onAppend(this.appended)
    try {
      await this.spawn()
    } catch (error) {
      await this.stop()
      throw error
    }
    let target = START
    for (const projection of this.current.projections) if (projection.target > target) target = projection.target
    await this.waiters.wait(target, STARTUP_CATCH_UP_MS)
  }

  /** A thread, resolved once it reports its runner started. */
  private spawn(): Promise<void> {
    const data: ProjectionThreadData = {
      path: this.options.path,
      logLevel: this.options.logger.level,
      tuning: { batchBudgetMs: CATCH_UP_BATCH_MS, followIntervalMs: FOLLOW_INTERVAL_MS, ...this.options.tuning },
      walAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES,
      ...(this.options.pollIntervalMs === undefined ? {} : { pollIntervalMs: this.options.pollIntervalMs }),
    }
    const worker = startWorker(import.meta.url, 'thread', data)
    this.worker = worker
    this.alive = true
    let failure: string | undefined
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: FromProjectionThread) => {
        if (reply.type === 'started') {
          this.restartDelayMs = FIRST_RESTART_DELAY_MS
          resolve()
        } else if (reply.type === 'failed-to-start') {
          failure = `the projections could not start: ${reply.error}`
          reject(new Error(failure))
        }
        this.receive(reply)
      })
      worker.on('error', (error) => {
        failure = `the projection thread failed: ${error.message}`
        this.options.logger.error({ err: error }, 'the projection thread failed')
        reject(error)
      })
      this.exited = new Promise((exited) =>
        worker.once('exit', (code) => {
          this.alive = false
          reject(new Error(failure ?? 'the projection thread stopped before it started'))
          exited()
          this.died(failure ?? `the projection thread stopped (exit code ${code})`)
        }),
      )
    })
  }

  /** The thread ended without being asked: /ready says why, and another starts after a pause. */
  private died(reason: string): void {
    for (const waiting of this.pragmas.values()) waiting.reject(new Error(reason))
    this.pragmas.clear()
    if (this.stopping) return
    this.report({ ...this.current, error: reason })
    const delay = this.restartDelayMs
    this.restartDelayMs = Math.min(delay * 2, MAX_RESTART_DELAY_MS)
    this.options.logger.error({ reason, restartInMs: delay }, 'the projection thread stopped; starting it again')
    this.restartTimer = setTimeout(() => void this.spawn().catch(() => undefined), delay)
  }

  status(): ProjectionStatus {
    return this.current
  }

  isServing(name: string): boolean {
    return this.byName.get(name)?.serving ?? false
  }

  waitFor(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean> {
    return this.waiters.wait(position, timeoutMs, names)
  }

  /** A PRAGMA on the thread's read-model connection (tests fill the disk with `max_page_count`). */
  pragma(pragma: string): Promise<unknown> {
    const worker = this.worker
    if (worker === undefined || !this.alive || this.stopping) return Promise.reject(new Error('the projection thread is not running'))
    const id = this.nextPragma++
    return new Promise((resolve, reject) => {
      this.pragmas.set(id, { resolve, reject })
      worker.postMessage({ type: 'pragma', id, pragma } satisfies ToProjectionThread)
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.stopListening?.()
    clearTimeout(this.restartTimer)
    const worker = this.worker
    if (worker !== undefined) {
      worker.postMessage({ type: 'stop' } satisfies ToProjectionThread)
      const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS)
      await this.exited
      clearTimeout(timer)
    }
    this.waiters.clear()
  }

  /** Appends of one turn of the event loop reach the thread as one message. */
  private readonly appended = (): void => {
    if (this.appendScheduled) return
    this.appendScheduled = true
    setImmediate(() => {
      this.appendScheduled = false
      if (!this.stopping) this.worker?.postMessage({ type: 'appended' } satisfies ToProjectionThread)
    })
  }

  /**
   * A reader waits for a position: the thread stops gathering events for a larger batch (ProjectionRunner.hurry).
   * After the appends of this turn, so that it comes after the news of the write the reader waits for.
   */
  private hurry(): void {
    if (this.hurryScheduled) return
    this.hurryScheduled = true
    setImmediate(() => {
      this.hurryScheduled = false
      if (!this.stopping) this.worker?.postMessage({ type: 'hurry' } satisfies ToProjectionThread)
    })
  }

  private receive(reply: FromProjectionThread): void {
    if (reply.type === 'started' || reply.type === 'status') this.report(reply.status)
    else if (reply.type === 'log') this.log(reply.line)
    else if (reply.type === 'pragma') {
      const waiting = this.pragmas.get(reply.id)
      this.pragmas.delete(reply.id)
      if (reply.error === undefined) waiting?.resolve(reply.value)
      else waiting?.reject(new Error(reply.error))
    }
  }

  private report(status: ProjectionStatus): void {
    this.current = status
    this.byName = new Map(status.projections.map((projection) => [projection.name, projection]))
    this.waiters.notify()
  }

  /** The lowest position the named projections (every one, and the thread's main group, when undefined) have processed. */
  private reached(names: readonly string[] | undefined): Position {
    if (names === undefined) return this.current.position
    let lowest: Position | undefined
    for (const name of names) {
      const position = this.byName.get(name)?.position ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? this.current.position
  }

  /** A line the thread logged, logged again here with its level, without the fields this logger adds itself. */
  private log(line: string): void {
    try {
      const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown>
      const label = pino.levels.labels[Number(level)] as pino.Level | undefined
      if (fields.err !== null && typeof fields.err === 'object') fields.err = rebuiltError(fields.err as WireError)
      if (label !== undefined) this.options.logger[label](fields, typeof msg === 'string' ? msg : '')
    } catch {
      this.options.logger.warn({ line }, 'the projection thread logged a line that is not JSON')
    }
  }
}

/** An error as the thread's pino wrote it. */
interface WireError {
  type?: unknown
  message?: unknown
  stack?: unknown
}

/**
 * The thread's logged error as an Error again, so that this logger's serializer writes it as the
 * thread's did: pino names an error by its constructor (which here would be Error, or Object for
 * the plain record), or else by its `name`, which keeps the thread's class name (StorageFullError).
 */
function rebuiltError(wire: WireError): Error {
  const error = new Error(typeof wire.message === 'string' ? wire.message : '')
  error.name = typeof wire.type === 'string' ? wire.type : 'Error'
  if (typeof wire.stack === 'string') error.stack = wire.stack
  Object.defineProperty(error, 'constructor', { value: undefined })
  return error
}

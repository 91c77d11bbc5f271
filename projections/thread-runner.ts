import type { Worker } from 'node:worker_threads'
import { pino, type Logger } from 'pino'
import { START, type Position } from '../src/eventstore/port.js'
import type { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { startWorker } from '../src/threads.js'
import type { Projector, ProjectionStatus } from './runner.js'
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
 * batches to 25 ms, so that /health waits no longer; on the thread nothing waits for them, and
 * fewer, larger transactions replay faster. Measured on 212,114 events (bench/rebuild.ts): 25 ms
 * 15,400 events/s, 100 ms 18,500, 400 ms 16,300 with more memory (peak RSS 316 MB against 258).
 */
const CATCH_UP_BATCH_MS = 100

/** How long a stop waits for the thread to finish its batch and close, before it is ended. */
const STOP_TIMEOUT_MS = 10_000

/**
 * The projections of the embedded store, run on a thread of their own (projections/thread.ts):
 * this is their stand-in on the event loop. It knows what the thread last reported, which is what
 * /ready, the read routes and `?minPosition=` ask; and it tells the thread of every append.
 */
export class ThreadRunner implements Projector {
  private current: ProjectionStatus = { position: START, error: undefined, projecting: false, projections: [] }
  private serving = new Set<string>()
  private readonly waiters = new PositionWaiters((names) => this.reached(names))
  private readonly pragmas = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  private nextPragma = 1
  private worker: Worker | undefined
  private exited: Promise<void> = Promise.resolve()
  private stopping = false
  private appendScheduled = false
  private stopListening: (() => void) | undefined

  constructor(private readonly options: ThreadRunnerOptions) {}

  /** Starts the thread; resolves once its runner has started (its checkpoints read), rejects if it could not. */
  async start(): Promise<void> {
    const data: ProjectionThreadData = {
      path: this.options.path,
      logLevel: this.options.logger.level,
      tuning: { batchBudgetMs: CATCH_UP_BATCH_MS, ...this.options.tuning },
      ...(this.options.pollIntervalMs === undefined ? {} : { pollIntervalMs: this.options.pollIntervalMs }),
    }
    const worker = startWorker(import.meta.url, 'thread', data)
    this.worker = worker
    const started = new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: FromProjectionThread) => {
        if (reply.type === 'started') resolve()
        else if (reply.type === 'failed-to-start') reject(new Error(`the projections could not start: ${reply.error}`))
        this.receive(reply)
      })
      worker.on('error', (error) => {
        this.options.logger.error({ err: error }, 'the projection thread failed')
        this.report({ ...this.current, error: `the projection thread failed: ${error.message}` })
        reject(error)
      })
      this.exited = new Promise((exited) =>
        worker.once('exit', () => {
          if (!this.stopping) this.report({ ...this.current, error: 'the projection thread has stopped' })
          reject(new Error('the projection thread stopped before it started'))
          exited()
        }),
      )
    })
    this.stopListening = this.options.store.onAppend(this.appended)
    try {
      await started
    } catch (error) {
      await this.stop()
      throw error
    }
  }

  status(): ProjectionStatus {
    return this.current
  }

  isServing(name: string): boolean {
    return this.serving.has(name)
  }

  waitFor(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean> {
    return this.waiters.wait(position, timeoutMs, names)
  }

  /** A PRAGMA on the thread's read-model connection (tests fill the disk with `max_page_count`). */
  pragma(pragma: string): Promise<unknown> {
    const worker = this.worker
    if (worker === undefined || this.stopping) return Promise.reject(new Error('the projection thread is not running'))
    const id = this.nextPragma++
    return new Promise((resolve, reject) => {
      this.pragmas.set(id, { resolve, reject })
      worker.postMessage({ type: 'pragma', id, pragma } satisfies ToProjectionThread)
    })
  }

  async stop(): Promise<void> {
    this.stopListening?.()
    const worker = this.worker
    if (worker !== undefined && !this.stopping) {
      this.stopping = true
      worker.postMessage({ type: 'stop' } satisfies ToProjectionThread)
      const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS)
      await this.exited
      clearTimeout(timer)
    }
    await this.exited
    this.waiters.clear()
    for (const waiting of this.pragmas.values()) waiting.reject(new Error('the projection thread has stopped'))
    this.pragmas.clear()
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
    this.serving = new Set(status.projections.filter((projection) => projection.serving).map((projection) => projection.name))
    this.waiters.notify()
  }

  /** The lowest position the named projections (every one, and the thread's main group, when undefined) have processed. */
  private reached(names: readonly string[] | undefined): Position {
    if (names === undefined) return this.current.position
    let lowest: Position | undefined
    for (const name of names) {
      const position = this.current.projections.find((projection) => projection.name === name)?.position ?? START
      if (lowest === undefined || position < lowest) lowest = position
    }
    return lowest ?? this.current.position
  }

  /** A line the thread logged, logged again here with its level, without the fields this logger adds itself. */
  private log(line: string): void {
    try {
      const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown>
      const label = pino.levels.labels[Number(level)] as pino.Level | undefined
      if (label !== undefined) this.options.logger[label](fields, typeof msg === 'string' ? msg : '')
    } catch {
      this.options.logger.warn({ line }, 'the projection thread logged a line that is not JSON')
    }
  }
}

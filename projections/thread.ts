import { pino } from 'pino'
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { SqliteDatabase } from '../src/sql/sqlite.js'
import { DEFER_INDEXES_BEHIND } from './deferred-indexes.js'
import { projections } from './index.js'
import { ProjectionRunner, type ProjectionRunnerOptions, type ProjectionStatus } from './runner.js'

/**
 * The projection thread of the embedded store (see ThreadRunner): it runs the ProjectionRunner on
 * connections of its own, so that projecting, and replaying a long log above all, leaves the event
 * loop that serves HTTP free. It tells the event loop its status after every change.
 */

export type RunnerTuning = Pick<ProjectionRunnerOptions, 'batchSize' | 'catchUpBatchSize' | 'batchBudgetMs' | 'followIntervalMs' | 'maxRetryDelayMs' | 'deferIndexesBehind'>

export interface ProjectionThreadData {
  path: string
  logLevel: string
  tuning: RunnerTuning
  /** How often the thread's store looks for appends it was not told of (tests raise it, to show it is told). */
  pollIntervalMs?: number
  walAutocheckpointPages: number
}

export type ToProjectionThread =
  /** The event loop's store committed an append: read the log now, not at the next poll. */
  | { type: 'appended' }
  /** A reader on the event loop waits for a position: apply what there is now, do not gather more. */
  | { type: 'hurry' }
  /** A PRAGMA on the thread's read-model connection: how tests fill the disk (`max_page_count`). */
  | { type: 'pragma'; id: number; pragma: string }
  | { type: 'stop' }

export type FromProjectionThread =
  | { type: 'started'; status: ProjectionStatus }
  | { type: 'failed-to-start'; error: string }
  | { type: 'status'; status: ProjectionStatus }
  /** A line the thread logged (pino's JSON), for the event loop's logger. */
  | { type: 'log'; line: string }
  | { type: 'pragma'; id: number; value: unknown; error?: string }

const port = parentPort
if (port === null) throw new Error('projections/thread.ts runs as a worker thread')
const data = workerData as ProjectionThreadData
const post = (message: FromProjectionThread): void => port.postMessage(message)
const logger = pino({ level: data.logLevel }, { write: (line: string) => post({ type: 'log', line }) })
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error))

let store: SqliteEventStore | undefined
let db: SqliteDatabase | undefined
let runner: ProjectionRunner | undefined
let statusScheduled = false

/** One status message per turn of this thread's loop, however many batches committed in it. */
function reportStatus(): void {
  if (statusScheduled) return
  statusScheduled = true
  setImmediate(() => {
    statusScheduled = false
    if (runner) post({ type: 'status', status: runner.status() })
  })
}

async function close(): Promise<void> {
  await runner?.stop()
  await store?.close()
  await db?.close()
}

port.on('message', (request: ToProjectionThread) => {
  if (request.type === 'appended') store?.noticeAppend()
  else if (request.type === 'hurry') runner?.hurry()
  else if (request.type === 'pragma') {
    try {
      if (db === undefined) throw new Error('the read models are not open yet')
      post({ type: 'pragma', id: request.id, value: db.pragma(request.pragma) })
    } catch (error) {
      post({ type: 'pragma', id: request.id, value: undefined, error: message(error) })
    }
  } else {
    // A stop while the runner starts waits for the start: closing the connections under it would fail it.
    void started
      .then(close)
      .catch((error: unknown) => logger.error({ err: error }, 'the projection thread did not close cleanly'))
      .finally(() => port.close())
  }
})

async function start(): Promise<void> {
  store = new SqliteEventStore(data.path, { writer: 'inline', ...(data.pollIntervalMs === undefined ? {} : { pollIntervalMs: data.pollIntervalMs }) })
  db = new SqliteDatabase(data.path, { walAutocheckpointPages: data.walAutocheckpointPages })
  // Here, off the event loop, a replay from the start builds its indexes at the end (deferred-indexes.ts).
  runner = new ProjectionRunner({ store, db, projections, logger, deferIndexesBehind: DEFER_INDEXES_BEHIND, ...data.tuning, onProgress: reportStatus })
  await runner.start()
  post({ type: 'started', status: runner.status() })
}

// Not awaited at the top: the message handler above must be there while the runner starts.
const started: Promise<void> = start().catch(async (error: unknown) => {
  post({ type: 'failed-to-start', error: message(error) })
  await close().catch(() => undefined)
  port.close()
})

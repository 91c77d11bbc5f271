import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'
import { MAX_GROUP_COMMIT, SqliteAppender, configureStoreConnection, toWire, type AppendRequest, type WireError } from './sqlite-appender.js'
import type { AppendResult } from './port.js'

/**
 * The worker thread that writes the SQLite event store (see SqliteEventStore): it owns the write
 * connection and commits the appends that arrive while it is busy as one group, so that the
 * commit and its fsync run beside the event loop that serves HTTP instead of on it.
 */

export interface WriterData {
  path: string
}

export type WriterRequest =
  | { type: 'append'; appends: Array<{ id: number; append: AppendRequest }> }
  /** A PRAGMA on the write connection: how tests fill the disk (`max_page_count`). */
  | { type: 'pragma'; id: number; pragma: string }
  | { type: 'close' }

export type WriterReply =
  | { type: 'ready' }
  | { type: 'failed-to-open'; error: WireError }
  | { type: 'appended'; outcomes: Array<{ id: number; result: AppendResult; written: boolean } | { id: number; error: WireError }> }
  | { type: 'pragma'; id: number; value: unknown; error?: WireError }

const port = parentPort
if (port === null) throw new Error('sqlite-writer.ts runs as a worker thread')
const { path } = workerData as WriterData

let appender: SqliteAppender
let db: Database.Database
try {
  db = new Database(path)
  configureStoreConnection(db)
  appender = new SqliteAppender(db)
  port.postMessage({ type: 'ready' } satisfies WriterReply)
} catch (error) {
  port.postMessage({ type: 'failed-to-open', error: toWire(error) } satisfies WriterReply)
  process.exit(1)
}

let pending: Array<{ id: number; append: AppendRequest }> = []
let flushScheduled = false

/** Commits what arrived while the last commit ran, up to MAX_GROUP_COMMIT at a time. */
function flush(): void {
  flushScheduled = false
  while (pending.length > 0) {
    const group = pending.splice(0, MAX_GROUP_COMMIT)
    port?.postMessage({ type: 'appended', outcomes: commit(group) } satisfies WriterReply)
  }
}

function commit(group: ReadonlyArray<{ id: number; append: AppendRequest }>): Extract<WriterReply, { type: 'appended' }>['outcomes'] {
  // The appender answers every append of the group, in order (SqliteAppender.commit).
  return appender.commit(group.map((item) => item.append)).map((outcome, index) => {
    const id = group[index]!.id
    return outcome.ok ? { id, result: outcome.result, written: outcome.written } : { id, error: toWire(outcome.error) }
  })
}

port.on('message', (request: WriterRequest) => {
  if (request.type === 'append') {
    pending.push(...request.appends)
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  } else if (request.type === 'pragma') {
    flush()
    try {
      port.postMessage({ type: 'pragma', id: request.id, value: db.pragma(request.pragma) } satisfies WriterReply)
    } catch (error) {
      port.postMessage({ type: 'pragma', id: request.id, value: undefined, error: toWire(error) } satisfies WriterReply)
    }
  } else {
    // Appends that arrived before the close are committed, not dropped.
    flush()
    db.close()
    port.close()
  }
})

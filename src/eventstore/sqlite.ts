import Database from 'better-sqlite3'
import { createPrivateFile } from './store-lock.js'
import {
  START,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from './port.js'
import { configureStoreConnection } from './sqlite-appender.js'
import { sqliteStoreError } from './sqlite-errors.js'
import { InlineWriter, ThreadWriter, type SqliteWriter } from './sqlite-writers.js'
import { AppendSignal, IDEMPOTENCY_CLAIMS_TABLE, boundedCount, serialiseAppend, toRecorded, type EventRow as StoredRow } from './stored-events.js'
import { pollingSubscription } from './subscription.js'

type EventRow = StoredRow<bigint>

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position  INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id TEXT    NOT NULL,
  revision  INTEGER NOT NULL,
  event_id  TEXT    NOT NULL UNIQUE,
  type      TEXT    NOT NULL,
  data      TEXT    NOT NULL,
  metadata  TEXT    NOT NULL,
  UNIQUE (stream_id, revision)
);
${IDEMPOTENCY_CLAIMS_TABLE}
`

export interface SqliteEventStoreOptions {
  /** How often a waiting subscription looks for events appended by another process. */
  pollIntervalMs?: number
  /**
   * Where appends are committed: on a worker thread of the store's own (the default), so that the
   * commit and its fsync leave the event loop free, or on the event loop (always for `:memory:`,
   * which another thread cannot open).
   */
  writer?: 'thread' | 'inline'
}

/**
 * The embedded event store: one SQLite file in WAL mode with synchronous=FULL, so that an
 * acknowledged append survives a crash or power loss. One connection writes (on its own worker
 * thread, sqlite-writer.ts), committing the appends that arrive meanwhile as one group; this
 * thread's connection reads. SQLite allows one writer at a time, so positions are assigned in
 * commit order and a reader can never skip an event committed late.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database
  private readonly writer: SqliteWriter
  private readonly signal: AppendSignal
  private closed = false

  private readonly statements: {
    forwards: Database.Statement<[string, bigint, number], EventRow>
    backwards: Database.Statement<[string, bigint, number], EventRow>
    all: Database.Statement<[bigint, number], EventRow>
    head: Database.Statement<[], { position: bigint | null }>
  }

  constructor(path: string, options: SqliteEventStoreOptions = {}) {
    if (path !== ':memory:') createPrivateFile(path)
    this.db = new Database(path)
    configureStoreConnection(this.db)
    this.db.exec(SCHEMA)
    this.signal = new AppendSignal(options.pollIntervalMs ?? 500)
    const columns = 'position, stream_id, revision, event_id, type, data, metadata'
    const prepare = <P extends unknown[], R>(sql: string) => this.db.prepare<P, R>(sql).safeIntegers(true)
    this.statements = {
      forwards: prepare(`SELECT ${columns} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`),
      backwards: prepare(`SELECT ${columns} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`),
      all: prepare(`SELECT ${columns} FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`),
      head: prepare('SELECT MAX(position) AS position FROM events'),
    }
    const inline = path === ':memory:' || options.writer === 'inline'
    this.writer = inline ? new InlineWriter(this.db) : new ThreadWriter(path)
  }

  /**
   * Appends commit in groups: one transaction and one fsync for every append that arrived while
   * the last group committed. Each append runs in its own savepoint, so a conflict fails that
   * append alone; a full disk fails the whole group; each promise resolves only after the commit.
   */
  async append(streamId: string, events: readonly EventToAppend[], expected: ExpectedState, options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen()
    const serialised = serialiseAppend(events)
    const { result, written } = await this.writer.append({ streamId, events: serialised, expected, claims: options.claims ?? [] })
    if (written) this.signal.notify()
    return result
  }

  /**
   * Calls `listener` after each append this store committed; answers how to stop. The projection
   * thread's own store hears of them through `noticeAppend`, sooner than its poll would find them.
   */
  onAppend(listener: () => void): () => void {
    return this.signal.listen(listener)
  }

  /** Another connection in this process appended: subscriptions waiting on this store read now. */
  noticeAppend(): void {
    this.signal.notify()
  }

  /** A PRAGMA on the connection that writes: tests fill the disk with `max_page_count`. */
  writerPragma(pragma: string): Promise<unknown> {
    return this.writer.pragma(pragma)
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    const count = boundedCount(options.maxCount)
    const rows = this.reading(() =>
      options.direction === 'backwards'
        ? this.statements.backwards.all(streamId, options.fromRevision ?? BigInt(Number.MAX_SAFE_INTEGER), count)
        : this.statements.forwards.all(streamId, options.fromRevision ?? 0n, count),
    )
    return rows.map(toRecorded)
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    return this.reading(() => this.statements.all.all(options.after, boundedCount(options.maxCount))).map(toRecorded)
  }

  async headPosition(): Promise<Position> {
    this.assertOpen()
    return this.reading(() => this.statements.head.get()?.position ?? START)
  }

  /** A read that fails on the disk (an I/O error) is the store being unavailable, as for writes. */
  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (error) {
      throw sqliteStoreError(error)
    }
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    this.assertOpen()
    return pollingSubscription({
      after: options.after,
      batchSize: boundedCount(options.batchSize ?? 500),
      readAll: (readOptions) => this.readAll(readOptions),
      appendCount: () => this.signal.count,
      // The next append in this process, or the poll interval for appends by others.
      waitForAppend: (seen, signal) => this.signal.wait(seen, signal),
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Appends accepted before close are committed, not dropped.
    await this.writer.close()
    this.signal.notify()
    this.db.close()
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event store is closed')
  }
}

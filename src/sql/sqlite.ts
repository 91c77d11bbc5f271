import Database from 'better-sqlite3'
import { createPrivateFile } from '../eventstore/store-lock.js'
import { rollBackLeftOver, sqliteStoreError } from '../eventstore/sqlite-errors.js'
import { RowCountError, type Query, type SqlDatabase, type SqlValue, type Statement } from './port.js'

/**
 * How long a transaction waits for the write lock in all, and at most between two tries. The lock
 * is the file's: the event store's writer thread takes it for each group commit. (Reads wait up to
 * the same time for the rare lock a reader needs in WAL mode, in SQLite's own busy handler.)
 */
const LOCK_TIMEOUT_MS = 5000
const MAX_LOCK_WAIT_MS = 20

export interface SqliteDatabaseOptions {
  /**
   * After how many pages in the write-ahead log a commit of this connection copies them back into
   * the database file (SQLite's default is 1,000). The projection thread raises it: each copy ends
   * with an fsync, and a replay of a long log otherwise spends about 40 % of its time copying.
   */
  walAutocheckpointPages?: number
}

/**
 * Read models in SQLite. better-sqlite3 is synchronous, so a transaction runs to its end before
 * any other JavaScript does: no other query can see it half done.
 *
 * synchronous=NORMAL: in WAL mode a commit stays atomic but may be lost on power failure. The
 * read models can afford that, unlike the events: a lost commit takes its checkpoint with it, and
 * the projections apply those events again from the log. It saves an fsync per projection batch.
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const
  private readonly db: Database.Database
  private readonly cache = new Map<string, Database.Statement>()
  private static readonly MAX_CACHED_STATEMENTS = 500

  constructor(path: string, options: SqliteDatabaseOptions = {}) {
    if (path !== ':memory:') createPrivateFile(path)
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma(`busy_timeout = ${LOCK_TIMEOUT_MS}`)
    this.db.pragma('foreign_keys = ON')
    if (options.walAutocheckpointPages !== undefined) this.db.pragma(`wal_autocheckpoint = ${options.walAutocheckpointPages}`)
  }

  /** A PRAGMA on this connection (tests fill the disk with `max_page_count`). */
  pragma(pragma: string): unknown {
    return this.db.pragma(pragma)
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.cache.get(sql)
    if (!statement) {
      if (this.cache.size >= SqliteDatabase.MAX_CACHED_STATEMENTS) this.cache.clear()
      statement = this.db.prepare(sql)
      this.cache.set(sql, statement)
    }
    return statement
  }

  async query<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    try {
      return this.prepare(sql).all(...params) as Row[]
    } catch (error) {
      throw sqliteStoreError(error)
    }
  }

  /** One deferred read transaction, run to its end before any other JavaScript: a snapshot of the file. */
  async queryTogether(queries: readonly Query[]): Promise<object[][]> {
    try {
      // Never inside a transaction left open (it would read its changes), nor leaving one open.
      rollBackLeftOver(this.db)
      return this.db.transaction(() => queries.map((query) => this.prepare(query.sql).all(...(query.params ?? [])) as object[])).deferred()
    } catch (error) {
      rollBackLeftOver(this.db)
      throw sqliteStoreError(error)
    }
  }

  private readonly runAll = (statements: readonly Statement[]): void => {
    for (const statement of statements) {
      if ('script' in statement) {
        this.db.exec(statement.script)
        continue
      }
      const { changes } = this.prepare(statement.sql).run(...statement.params)
      if (statement.expectRows !== undefined && changes !== statement.expectRows) {
        throw new RowCountError(statement.sql, statement.expectRows, changes)
      }
    }
  }

  /**
   * A full disk (SQLITE_FULL) fails the transaction as a StorageFullError, an I/O error as a
   * StoreUnavailableError: rolled back entirely either way, and the caller may try again (the
   * projection runner does, from its checkpoints).
   */
  async transaction(statements: readonly Statement[]): Promise<void> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS
    for (let wait = 1; ; wait = Math.min(wait * 2, MAX_LOCK_WAIT_MS)) {
      try {
        rollBackLeftOver(this.db)
        // No busy wait for the write lock: SQLite's busy handler would sleep on the event loop.
        this.db.pragma('busy_timeout = 0')
        this.db.transaction(this.runAll).immediate(statements)
        return
      } catch (error) {
        rollBackLeftOver(this.db)
        const busy = error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY'
        if (!busy || Date.now() >= deadline) throw sqliteStoreError(error)
      } finally {
        if (this.db.open) this.db.pragma(`busy_timeout = ${LOCK_TIMEOUT_MS}`)
      }
      // Another connection (the event store's writer thread) holds the write lock: let the event
      // loop serve requests meanwhile, and try again.
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  /** One process owns an SQLite store (StoreLock), and a transaction here runs to its end: no one else can interleave. */
  async exclusive<T>(_name: string, work: () => Promise<T>): Promise<T> {
    return work()
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}

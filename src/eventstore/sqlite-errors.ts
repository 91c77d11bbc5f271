import Database from 'better-sqlite3'
import { StorageFullError, StoreUnavailableError } from './port.js'

/** How the SQLite stores name themselves to an operator (and, through the 503's detail, to a client). */
export const SQLITE_STORE = 'the SQLite store'

/**
 * Maps what SQLite answers when its disk cannot take a write to the port's StoreUnavailableError,
 * which the HTTP layer answers with 503 and Retry-After: SQLITE_FULL (the disk, or the page limit
 * `max_page_count`, is full) becomes a StorageFullError, and an I/O error (SQLITE_IOERR_WRITE,
 * _FSYNC, _SHMSIZE, … — better-sqlite3 reports the extended codes) a StoreUnavailableError. SQLite
 * rolls the transaction back on both, so nothing of it is stored. Any other error is returned as
 * it is.
 */
export function sqliteStoreError(error: unknown): unknown {
  if (!(error instanceof Database.SqliteError)) return error
  if (error.code === 'SQLITE_FULL') return new StorageFullError(SQLITE_STORE, error)
  if (error.code.startsWith('SQLITE_IOERR')) return new StoreUnavailableError(`${SQLITE_STORE} (its disk failed a read or write)`, error)
  return error
}

/**
 * A transaction that failed may be left open when even its rollback failed (an I/O error): roll
 * it back now, so that the next transaction can begin, and writes resume once the disk is back.
 */
export function rollBackLeftOver(db: Database.Database): void {
  if (!db.open || !db.inTransaction) return
  try {
    db.exec('ROLLBACK')
  } catch {
    // Still failing: the next transaction's BEGIN reports it, and tries this again.
  }
}

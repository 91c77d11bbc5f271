import { execFileSync } from 'node:child_process'
import Database from 'better-sqlite3'
import { ThreadRunner } from '../../projections/thread-runner.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import type { SqliteDatabase } from '../../src/sql/sqlite.js'

/**
 * A full disk made with SQLite's page limit: `PRAGMA max_page_count`, a setting of each
 * connection, makes SQLite answer SQLITE_FULL exactly as a full disk does, on any machine.
 */

/** The store's own better-sqlite3 connection (a private field; checked, so that a rename fails here loudly). */
export function connectionOf(store: SqliteEventStore | SqliteDatabase | object): Database.Database {
  const db = (store as { db?: unknown }).db
  if (!(db instanceof Database)) throw new Error('the SQLite store keeps its connection in another field now: update connectionOf')
  return db
}

/** No room to grow: the file keeps the pages it has (SQLite never sets the limit below the file's size). */
export const fill = (db: Database.Database): void => void db.pragma('max_page_count = 1')

/** Room again: SQLite's default limit. */
export const free = (db: Database.Database): void => void db.pragma('max_page_count = 4294967294')

/**
 * The page limit of whatever writes: the event store's write connection (on its worker thread,
 * reached through `writerPragma`), the projection thread's read-model connection (through its
 * runner), or a read-model database's connection.
 */
export function pageLimitOf(target: SqliteEventStore | ThreadRunner | SqliteDatabase): { fill(): Promise<void>; free(): Promise<void> } {
  if (target instanceof SqliteEventStore || target instanceof ThreadRunner) {
    const pragma = (text: string) => (target instanceof ThreadRunner ? target.pragma(text) : target.writerPragma(text))
    return {
      fill: async () => void (await pragma('max_page_count = 1')),
      free: async () => void (await pragma('max_page_count = 4294967294')),
    }
  }
  const db = connectionOf(target)
  return { fill: async () => fill(db), free: async () => free(db) }
}

/**
 * Mounts a tmpfs of `options` (`size=8m`, an owner) on `dir`, for a real full disk: undefined once
 * mounted, else why the test cannot run here. In CI, as root, a failed mount throws: it must run.
 */
export function mountTmpfs(dir: string, options: string): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' })
    return undefined
  } catch (error) {
    const reason = `mount -t tmpfs failed: ${error instanceof Error ? error.message : String(error)}`
    if (process.env.CI === 'true') throw new Error(`running as root in CI, but ${reason}`)
    return reason
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' })
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
  }
}

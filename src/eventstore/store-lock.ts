import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

/**
 * One owner per embedded store. Two processes on one SQLite file would each run the projections
 * and apply every event twice, and a rebuild beside a running service would leave the balances
 * wrong for good; so the service, `migrate` and `rebuild-projections` each hold this lock for as
 * long as they use the store, and a second one stops at once.
 *
 * The lock is SQLite's own write lock on a small file beside the store (`<store>.lock`), held by
 * a transaction that never ends: the operating system drops it when the process dies, so a crash
 * never leaves a stale lock behind. The file also names its owner, which others can still read
 * while the lock is held (a reserved lock lets readers in), so a refusal says who holds it.
 */
export class StoreInUseError extends Error {
  override name = 'StoreInUseError'
}

interface Owner {
  pid: number
  host: string
  purpose: string
  since: string
}

const OWNER_SCHEMA = `CREATE TABLE IF NOT EXISTS owner (
  id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, purpose TEXT NOT NULL, since TEXT NOT NULL)`

/**
 * Creates the store's folder (0700) and file (0600) before SQLite does, so that social data is
 * never readable by other users; SQLite gives its -wal and -shm files the file's own mode.
 */
export function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
}

export class StoreLock {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /** Takes the lock of the store at `storePath` for `purpose`, or throws StoreInUseError naming the holder. */
  static acquire(storePath: string, purpose: string): StoreLock {
    const path = `${storePath}.lock`
    createPrivateFile(path)
    const db = new Database(path, { timeout: 0 })
    try {
      db.exec(OWNER_SCHEMA)
      db.exec('BEGIN IMMEDIATE')
      db.prepare('INSERT OR REPLACE INTO owner (id, pid, host, purpose, since) VALUES (1, ?, ?, ?, ?)').run(
        process.pid,
        hostname(),
        purpose,
        new Date().toISOString(),
      )
      // Commit the owner's name so that others can read it, and take the lock again at once. If
      // another process takes it in between, it wins and this one is refused: the lock decides.
      db.exec('COMMIT')
      db.exec('BEGIN IMMEDIATE')
      return new StoreLock(db, path)
    } catch (error) {
      const holder = StoreLock.ownerOf(db)
      db.close()
      if (!isBusy(error)) throw error
      throw new StoreInUseError(
        `the store ${storePath} is in use${holder ? ` by ${describe(holder)}` : ''}; stop that process first (lock file ${path})`,
      )
    }
  }

  private static ownerOf(db: Database.Database): Owner | undefined {
    try {
      return db.prepare('SELECT pid, host, purpose, since FROM owner WHERE id = 1').get() as Owner | undefined
    } catch {
      return undefined
    }
  }

  release(): void {
    if (!this.db.open) return
    this.db.exec('ROLLBACK')
    this.db.close()
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

function describe(owner: Owner): string {
  return `process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`
}

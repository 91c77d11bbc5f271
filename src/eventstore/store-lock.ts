import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

/**
 * One owner per embedded store. Two processes on one SQLite file would each run the projections
 * and apply every event twice, and a rebuild beside a running service would leave the balances
 * wrong for good; so the service, `migrate` and `rebuild-projections` each hold this lock for as
 * long as they use the store, and a second one stops at once.
 *
 * The lock is SQLite's own write lock on a small file beside the store (`<store>.lock`, named
 * after the store's real path, so that a symlink leads to the same lock), held by a transaction
 * that never ends: the operating system drops it when the process dies, so a crash never leaves
 * a stale lock. The file names its owner, which others can read while the lock is held (WAL
 * mode lets readers in). As a second guard against a lock file deleted by hand, the owner also
 * signs in inside the store itself, and a newcomer refuses a store whose owner is still alive (a
 * restore, which does not sign in, reads the owner as far as the store can be read).
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

const OWNER_TABLE = `CREATE TABLE IF NOT EXISTS store_owner (
  id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, purpose TEXT NOT NULL, since TEXT NOT NULL)`
const SELECT_OWNER = 'SELECT pid, host, purpose, since FROM store_owner WHERE id = 1'
const UPSERT_OWNER = 'INSERT OR REPLACE INTO store_owner (id, pid, host, purpose, since) VALUES (1, ?, ?, ?, ?)'

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
    private readonly lock: Database.Database,
    private readonly storePath: string,
    private readonly signedIn: boolean,
  ) {}

  /**
   * Takes the lock of the store at `storePath` for `purpose`, or throws StoreInUseError naming the
   * holder. `signIn: false` takes the lock file only and leaves the store itself unopened: a restore
   * must be able to replace a store too damaged to open.
   */
  static acquire(storePath: string, purpose: string, options: { signIn?: boolean } = {}): StoreLock {
    const signsIn = options.signIn ?? true
    createPrivateFile(storePath)
    const realPath = realpathSync(storePath)
    const lockPath = `${realPath}.lock`
    createPrivateFile(lockPath)
    const lock = new Database(lockPath, { timeout: 0 })
    try {
      lock.pragma('journal_mode = WAL')
      lock.exec(OWNER_TABLE)
      lock.exec('BEGIN IMMEDIATE')
    } catch (error) {
      const holder = ownerIn(lock)
      lock.close()
      if (!isBusy(error)) throw error
      throw new StoreInUseError(`the store ${storePath} is in use${holder ? ` by ${describe(holder)}` : ''}; stop that process first (lock file ${lockPath})`)
    }
    try {
      const owner: Owner = { pid: process.pid, host: hostname(), purpose, since: new Date().toISOString() }
      if (signsIn) signIn(realPath, owner)
      else refuseLiveOwner(realPath)
      // Commit the owner's name so that others can read it; the write lock is held throughout.
      lock.prepare(UPSERT_OWNER).run(owner.pid, owner.host, owner.purpose, owner.since)
      lock.exec('COMMIT')
      lock.exec('BEGIN IMMEDIATE')
      return new StoreLock(lock, realPath, signsIn)
    } catch (error) {
      lock.close()
      throw error
    }
  }

  release(): void {
    if (!this.lock.open) return
    if (this.signedIn) signOut(this.storePath)
    this.lock.exec('ROLLBACK')
    this.lock.close()
  }
}

/** Signs the owner in inside the store, unless a live owner is signed in there already. */
function signIn(storePath: string, owner: Owner): void {
  const store = new Database(storePath, { timeout: 5000 })
  try {
    store.exec(OWNER_TABLE)
    store
      .transaction(() => {
        const current = store.prepare(SELECT_OWNER).get() as Owner | undefined
        if (current && isOtherLiveOwner(current)) throw liveOwnerError(storePath, current)
        store.prepare(UPSERT_OWNER).run(owner.pid, owner.host, owner.purpose, owner.since)
      })
      .immediate()
  } finally {
    store.close()
  }
}

/**
 * The second guard for a lock that does not sign in (a restore, which replaces the store): a
 * store whose signed-in owner is still alive is refused, as far as the store can be read; one too
 * damaged to read, or never signed in, has no owner to ask.
 */
function refuseLiveOwner(storePath: string): void {
  let current: Owner | undefined
  try {
    const store = new Database(storePath, { readonly: true, fileMustExist: true, timeout: 5000 })
    try {
      current = store.prepare(SELECT_OWNER).get() as Owner | undefined
    } finally {
      store.close()
    }
  } catch {
    return
  }
  if (current && isOtherLiveOwner(current)) throw liveOwnerError(storePath, current)
}

const isOtherLiveOwner = (owner: Owner): boolean => owner.pid !== process.pid && owner.host === hostname() && isAlive(owner.pid)

const liveOwnerError = (storePath: string, owner: Owner): StoreInUseError =>
  new StoreInUseError(
    `the store ${storePath} is in use by ${describe(owner)}, although its lock file was not held: ` +
      'was the lock file deleted, or the store copied? Stop that process first',
  )

/** The owner a lock file names, if it can be read. */
function ownerIn(db: Database.Database): Owner | undefined {
  try {
    return db.prepare(SELECT_OWNER).get() as Owner | undefined
  } catch {
    return undefined
  }
}

function signOut(storePath: string): void {
  const store = new Database(storePath, { timeout: 5000 })
  try {
    store.prepare('DELETE FROM store_owner WHERE id = 1 AND pid = ? AND host = ?').run(process.pid, hostname())
  } finally {
    store.close()
  }
}

/** Whether a process with this id runs a Node.js program (on Linux; elsewhere, whether it runs at all). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // A process id is reused after its process ended: only a Node.js process can be an owner.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node')
  } catch {
    return true
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

function describe(owner: Owner): string {
  return `process ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.since})`
}

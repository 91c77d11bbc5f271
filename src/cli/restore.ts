import { closeSync, existsSync, linkSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { sqlEventLocator, verifyLog, type VerifyProgress, type VerifyReport } from '../audit/verify.js'
import { ConfigError, parseConfig } from '../config.js'
import { SqliteEventStore } from '../eventstore/sqlite.js'
import { createPrivateFile, StoreLock } from '../eventstore/store-lock.js'
import { loadMigrations } from '../sql/migrate.js'
import { SqliteDatabase } from '../sql/sqlite.js'
import { besidePath, fsyncPath, notSqlite, removeDatabaseFiles, removeOnSignal, removeStalePartials, tableExists } from './backup.js'
import { writeOut } from './run.js'

/**
 * `sojus-ledger restore <file>`: puts a backup (`sojus-ledger backup`) in place of the embedded
 * SQLite store. The service must be stopped: restore takes the store's lock as the service does
 * (src/eventstore/store-lock.ts) and is refused while another process holds it.
 *
 * It refuses a file that is not a sojus-ledger backup, before touching the store: not SQLite, not
 * passing SQLite's integrity check, without the event log or the migrations table, with a
 * migration this version does not know (a backup of a newer version), or (unless --no-verify)
 * whose hash chains or read models do not verify (src/audit/verify.ts, as `sojus-ledger verify`).
 *
 * Atomically: the backup is copied beside the store (`.<name>.restore-<pid>`), checked there,
 * fsynced, and renamed over the store; the folder is fsynced. The store it replaces stays beside
 * as `<name>.before-restore-<time>` (a hard link taken before the rename, with its -wal), so that
 * nothing is lost by a restore of the wrong file; the operator deletes it once satisfied. The old
 * -wal and -shm move away before the rename: SQLite would otherwise apply the old store's
 * write-ahead log to the restored file.
 */

export const RESTORE_USAGE = `usage: sojus-ledger restore <file> [--no-verify]
  Replaces the embedded SQLite store (DATABASE_URL=sqlite:…) with a backup made by
  sojus-ledger backup. The service must be stopped: restore takes the store's lock.
  The file must be a sojus-ledger backup: SQLite's integrity check ok, the event log and the
  migrations present, and the hash chains and read models verifying (as sojus-ledger verify).
  The store it replaces is kept beside it as <database>.before-restore-<time>.
  --no-verify  skip the verify of the hash chains and read models (long on a large log)
  On PostgreSQL use pg_restore (README, "Backup and restore").`

const SQLITE_HEADER = 'SQLite format 3\0'

/** A file that is not a backup this version can restore. */
export class NotABackupError extends ConfigError {
  override name = 'NotABackupError'
}

export interface BackupSummary {
  events: number
  head: string
  migrations: number[]
}

function readHeader(path: string): string {
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.alloc(16)
    const read = readSync(fd, buffer, 0, 16, 0)
    return buffer.subarray(0, read).toString('latin1')
  } finally {
    closeSync(fd)
  }
}

/** Checks that `path` is a SQLite file holding a sojus-ledger store this version can run on; answers what it holds. */
export async function checkBackupFile(path: string): Promise<BackupSummary> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new NotABackupError(`restore: ${path} is not a file`)
  if (readHeader(path) !== SQLITE_HEADER) throw new NotABackupError(`restore: ${path} is not a sojus-ledger backup: not a SQLite database`)
  let db: Database.Database
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw new NotABackupError(`restore: ${path} cannot be opened as SQLite: ${error instanceof Error ? error.message : String(error)}`)
  }
  try {
    let integrity: unknown
    try {
      integrity = db.pragma('integrity_check', { simple: true })
    } catch (error) {
      integrity = error instanceof Error ? error.message : String(error)
    }
    if (integrity !== 'ok') throw new NotABackupError(`restore: ${path} is damaged: SQLite's integrity check says ${String(integrity)}`)
    const missing = ['events', 'schema_migrations'].filter((table) => !tableExists(db, table))
    if (missing.length > 0) {
      throw new NotABackupError(`restore: ${path} is not a sojus-ledger backup: it has no table ${missing.join(', ')}`)
    }
    const applied = (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((row) => row.version)
    const known = new Set((await loadMigrations()).map((migration) => migration.version))
    const unknown = applied.filter((version) => !known.has(version))
    if (unknown.length > 0) {
      throw new NotABackupError(`restore: ${path} was made by a newer sojus-ledger (migrations ${unknown.join(', ')} unknown here); restore it with that version`)
    }
    if (!applied.includes(1)) throw new NotABackupError(`restore: ${path} is not a sojus-ledger backup: its read-model migrations are missing`)
    const row = db.prepare('SELECT count(*) AS events, coalesce(max(position), 0) AS head FROM events').get() as { events: number; head: number }
    return { events: row.events, head: String(row.head), migrations: applied }
  } finally {
    db.close()
  }
}

/** The verify of the staged copy: its hash chains, and its read models against a replay. */
async function verifyStaged(path: string, onProgress?: (progress: VerifyProgress) => void): Promise<VerifyReport> {
  const store = new SqliteEventStore(path)
  const db = new SqliteDatabase(path)
  try {
    return await verifyLog({ store, db, locate: sqlEventLocator(db), ...(onProgress ? { onProgress } : {}) })
  } finally {
    await store.close()
    await db.close()
  }
}

function describeFailure(report: VerifyReport): string {
  const parts: string[] = []
  if (!report.chain.ok) {
    const at = report.chain.brokenAt
    parts.push(`${report.chain.breaksFound} break(s) of the hash chain${at ? ` (first in ${JSON.stringify(at)})` : ''}`)
  }
  if (report.mismatchesFound > 0) parts.push(`${report.mismatchesFound} read-model mismatch(es)`)
  if (!report.auditTrail.ok) parts.push(`${report.auditTrail.mismatchesFound} audit-trail mismatch(es)`)
  if (!report.balanceHistory.ok) parts.push(`${report.balanceHistory.mismatchesFound} balance-history mismatch(es)`)
  return parts.join(', ') || 'the verify failed'
}

function parseRestoreArguments(args: readonly string[]): { file: string; verify: boolean } {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options: { 'no-verify': { type: 'boolean', default: false } }, allowPositionals: true, strict: true })
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error))
  }
  const [file, ...rest] = parsed.positionals
  if (file === undefined || rest.length > 0) usage(file === undefined ? 'name the backup file' : `one backup file, not ${parsed.positionals.length}`)
  return { file, verify: !parsed.values['no-verify'] }
}

function usage(message: string): never {
  process.stderr.write(`${message}\n${RESTORE_USAGE}\n`)
  process.exit(2)
}

export interface RestoreResult {
  summary: BackupSummary
  /** Where the store it replaced was kept; undefined when there was none. */
  replacedKeptAt: string | undefined
}

/** Restores `file` over the SQLite store at `storePath`, holding the store's lock throughout. */
export async function restoreSqlite(
  file: string,
  storePath: string,
  options: { verify: boolean; onProgress?: (progress: VerifyProgress) => void },
): Promise<RestoreResult> {
  const source = resolve(file)
  const target = resolve(storePath)
  if (source === target) throw new ConfigError('restore: the backup file is the store itself')
  const summary = await checkBackupFile(source)
  const hadStore = existsSync(target) && statSync(target).size > 0
  // Refused while the service (or any other owner) runs; creates an empty store file when there is
  // none. The lock file only: the store it replaces may be too damaged to open.
  const lock = StoreLock.acquire(target, 'restore', { signIn: false })
  removeStalePartials(target, 'restore')
  const staged = besidePath(target, 'restore')
  const release = removeOnSignal(staged, 'restore')
  try {
    removeDatabaseFiles(staged)
    createPrivateFile(staged)
    // Through SQLite's backup API: a backup file with a -wal of its own is read whole too.
    const reader = new Database(source, { readonly: true, fileMustExist: true })
    try {
      await reader.backup(staged)
    } finally {
      reader.close()
    }
    const copy = new Database(staged)
    try {
      copy.pragma('journal_mode = DELETE')
      if (tableExists(copy, 'store_owner')) copy.exec('DELETE FROM store_owner')
    } finally {
      copy.close()
    }
    if (options.verify) {
      const report = await verifyStaged(staged, options.onProgress)
      if (!report.ok) throw new NotABackupError(`restore: ${file} does not verify: ${describeFailure(report)}; nothing was changed`)
      // The verify opened the copy in WAL mode; back to one file before the rename.
      const settle = new Database(staged)
      try {
        settle.pragma('journal_mode = DELETE')
      } finally {
        settle.close()
      }
    }
    fsyncPath(staged)
    let replacedKeptAt: string | undefined
    if (hadStore) {
      replacedKeptAt = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`
      linkSync(target, replacedKeptAt)
      if (existsSync(`${target}-wal`)) renameSync(`${target}-wal`, `${replacedKeptAt}-wal`)
    }
    // Never pair the restored file with the old store's write-ahead log or its index.
    rmSync(`${target}-wal`, { force: true })
    rmSync(`${target}-shm`, { force: true })
    rmSync(`${target}-journal`, { force: true })
    renameSync(staged, target)
    fsyncPath(dirname(target))
    return { summary, replacedKeptAt }
  } finally {
    removeDatabaseFiles(staged)
    release()
    lock.release()
  }
}

export async function restoreCommand(args: readonly string[]): Promise<void> {
  const { file, verify } = parseRestoreArguments(args)
  const config = parseConfig(process.env)
  const refusal = notSqlite(config, 'restore')
  if (refusal) throw refusal
  if (config.database.kind !== 'sqlite') throw new Error('unreachable')
  const progress = process.stderr.isTTY
    ? (step: VerifyProgress) => process.stderr.write(`\rrestore: verified ${step.eventsChecked} events, position ${step.position} of ${step.head}   `)
    : undefined
  const { summary, replacedKeptAt } = await restoreSqlite(file, config.database.path, { verify, ...(progress ? { onProgress: progress } : {}) })
  if (progress) process.stderr.write('\n')
  await writeOut(
    `restored ${summary.events} events (up to position ${summary.head}) from ${file} into ${config.database.path}` +
      `${verify ? ', verified' : ' (not verified: --no-verify)'}\n` +
      (replacedKeptAt ? `the store it replaced is kept as ${replacedKeptAt} (delete it once satisfied)\n` : '') +
      'the service needs the same JWT secret and audit seal key as before; start it: the projections catch up on start\n',
  )
}

import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { ConfigError, parseConfig, type Config } from '../config.js'
import { createPrivateFile, isAlive } from '../eventstore/store-lock.js'
import { refuseMissingStore, refuseStoreFile, writeOut } from './run.js'

/**
 * `sojus-ledger backup <file>`: a consistent online copy of the embedded SQLite store, taken while
 * the service runs and writes. It does not take the store's lock (the service holds it): it reads
 * through a connection of its own, opened read-only, with SQLite's online backup API
 * (better-sqlite3's `db.backup`). In WAL mode a reader never blocks the writer; each step of the
 * backup copies pages under one read transaction, and when another connection writes between
 * steps SQLite starts the copy again. So the copy goes in steps of BACKUP_STEP_PAGES (progress on
 * a terminal), and after RESTARTS_BEFORE_ONE_STEP restarts the rest goes in one step: one read
 * transaction, one snapshot of the whole file, whatever the writers do meanwhile.
 *
 * The result is one self-contained SQLite file (journal mode DELETE, no -wal beside it) holding
 * the events and the read models as of one moment: every write acknowledged before the backup
 * began is in it. It is written beside the target as `.<file>.partial-<pid>`, checked
 * (integrity_check), fsynced and renamed into place, so that a crash never leaves half a backup
 * under the target's name. SIGINT and SIGTERM remove the partial copy; one that a killed process
 * left is removed by the next backup to the same name. The owner the service signed in inside the store is removed from the
 * copy (a restored store has no owner until its service starts).
 *
 * The backup holds no secrets: the JWT secret and the audit seal key of the embedded default live
 * in files beside the database (jwt-secret, audit-seal-key), and the operator keeps them apart
 * from the backups (README, "Backup and restore").
 */

/** Pages copied per step while the copy can still restart (4 MiB with SQLite's 4 KiB pages). */
export const BACKUP_STEP_PAGES = 1024
/** Restarts (another connection wrote between steps) after which the rest is copied in one step. */
export const RESTARTS_BEFORE_ONE_STEP = 2
const ALL_PAGES = 0x7fffffff

export const BACKUP_USAGE = `usage: sojus-ledger backup <file> [--force]
  Copies the embedded SQLite store (DATABASE_URL=sqlite:…) to <file>, online: the service may run
  and write meanwhile. The copy holds the events and the read models as of one moment, and no
  secrets: keep jwt-secret and audit-seal-key (or JWT_SECRET, AUDIT_SEAL_KEY) apart.
  --force  replace <file> when it exists
  On PostgreSQL use pg_dump (README, "Backup and restore").`

export interface BackupProgress {
  totalPages: number
  remainingPages: number
  restarts: number
}

export interface BackupResult {
  path: string
  bytes: number
  events: number
  /** The newest event's position in the copy ("0" when it holds none). */
  head: string
}

/** The refusal of a store that is not the embedded SQLite one. */
export function notSqlite(config: Config, command: 'backup' | 'restore'): ConfigError | undefined {
  if (config.eventStoreUrl !== undefined) {
    return new ConfigError(
      `${command}: the events live in KurrentDB (EVENTSTORE_URL); back it up with KurrentDB's own tools, and the read models with ` +
        (config.database.kind === 'postgres' ? 'pg_dump/pg_restore' : 'this command on a store without EVENTSTORE_URL'),
    )
  }
  if (config.database.kind === 'postgres') {
    const tool = command === 'backup' ? PG_BACKUP : `${PG_RESTORE} (with the service stopped)`
    return new ConfigError(`${command} copies the embedded SQLite store; on PostgreSQL use ${tool} (README, "Backup and restore")`)
  }
  return undefined
}

/**
 * The service's schema as PostgreSQL's tools take it, asked of the database as the service finds
 * it (`search_path` in the URL or PGOPTIONS, the role's settings), quoted where it needs quotes.
 * Without `--schema` pg_dump copies, and pg_restore `--clean` overwrites, every schema of the
 * database: the other instances' too.
 */
const PG_SCHEMA = `--schema="$(psql "$DATABASE_URL" -Atc 'SELECT quote_ident(current_schema())')"`
/** The shell commands that back up and restore a PostgreSQL store (README, "Backup and restore"). */
export const PG_BACKUP = `pg_dump --format=custom ${PG_SCHEMA} --file=sojus-ledger.dump "$DATABASE_URL"`
export const PG_RESTORE = `pg_restore --clean --if-exists --no-owner ${PG_SCHEMA} --dbname="$DATABASE_URL" sojus-ledger.dump`

/** fsync a file, or a folder so that a rename in it is durable. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** A file beside `target` for writing before the rename: same folder, so the rename is atomic. */
export const besidePath = (target: string, what: string): string => join(dirname(target), `.${basename(target)}.${what}-${process.pid}`)

/** Removes a file and its -wal, -shm and -journal companions. */
export function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${path}${suffix}`, { force: true })
}

/**
 * Removes the partial copies (besidePath `what`: a backup's or export's `partial`, a restore's
 * `restore`) of `target` that a process no longer alive left behind, killed before it could
 * (SIGKILL, a crash): each is a full copy of personal data.
 */
export function removeStalePartials(target: string, what: 'partial' | 'restore' = 'partial'): void {
  const folder = dirname(target)
  const prefix = `.${basename(target)}.${what}-`
  let names: string[]
  try {
    names = readdirSync(folder)
  } catch {
    return
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) ? /^(\d+)(-wal|-shm|-journal)?$/.exec(name.slice(prefix.length))?.[1] : undefined
    if (pid !== undefined && !isAlive(Number(pid))) rmSync(join(folder, name), { force: true })
  }
}

/**
 * Until the answered function is called, SIGINT and SIGTERM remove `partial` (and its companions)
 * and end the process (status 130 or 143): an interrupted copy leaves no copy of the data behind.
 */
export function removeOnSignal(partial: string, command: string): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    removeDatabaseFiles(partial)
    process.stderr.write(`${command}: interrupted by ${signal}; the partial copy is removed\n`)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/**
 * Copies the store at `sourcePath` into `targetPath` online, from a read-only connection, and
 * leaves there a checked, self-contained SQLite file with no owner signed in.
 */
export async function backupSqlite(
  sourcePath: string,
  targetPath: string,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupResult> {
  refuseMissingStore(sourcePath, 'backup')
  const target = resolve(targetPath)
  if (!existsSync(dirname(target))) throw new ConfigError(`backup: the folder ${dirname(target)} does not exist`)
  refuseStoreFile(target, sourcePath, 'backup')
  if (existsSync(target) && statSync(target).isDirectory()) throw new ConfigError(`backup: ${target} is a folder; name a file (in it)`)
  removeStalePartials(target)
  const partial = besidePath(target, 'partial')
  removeDatabaseFiles(partial)
  const release = removeOnSignal(partial, 'backup')
  createPrivateFile(partial) // mode 0600: the backup holds the same social data as the store
  try {
    const source = new Database(sourcePath, { readonly: true, fileMustExist: true, timeout: 5000 })
    try {
      let restarts = 0
      let lastRemaining = Infinity
      await source.backup(partial, {
        progress: ({ totalPages, remainingPages }) => {
          // Another connection wrote between steps: SQLite started the copy again.
          if (remainingPages > lastRemaining) restarts += 1
          lastRemaining = remainingPages
          onProgress?.({ totalPages, remainingPages, restarts })
          return restarts >= RESTARTS_BEFORE_ONE_STEP ? ALL_PAGES : BACKUP_STEP_PAGES
        },
      })
    } finally {
      source.close()
    }
    const copy = new Database(partial, { timeout: 5000 })
    let events: number
    let head: string
    try {
      // One file, no -wal beside it: a backup travels alone.
      copy.pragma('journal_mode = DELETE')
      const integrity = copy.pragma('integrity_check', { simple: true })
      if (integrity !== 'ok') throw new Error(`backup: the copy does not pass SQLite's integrity check: ${String(integrity)}`)
      if (tableExists(copy, 'store_owner')) copy.exec('DELETE FROM store_owner')
      if (!tableExists(copy, 'events')) throw new ConfigError(`backup: ${sourcePath} holds no event log: is it a sojus-ledger store?`)
      const row = copy.prepare('SELECT count(*) AS events, coalesce(max(position), 0) AS head FROM events').get() as { events: number; head: number }
      events = row.events
      head = String(row.head)
    } finally {
      copy.close()
    }
    fsyncPath(partial)
    renameSync(partial, target)
    fsyncPath(dirname(target))
    return { path: target, bytes: statSync(target).size, events, head }
  } catch (error) {
    removeDatabaseFiles(partial)
    throw error
  } finally {
    release()
  }
}

export function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
}

function parseBackupArguments(args: readonly string[]): { file: string; force: boolean } {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options: { force: { type: 'boolean', default: false } }, allowPositionals: true, strict: true })
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error))
  }
  const [file, ...rest] = parsed.positionals
  if (file === undefined || rest.length > 0) usage(file === undefined ? 'name the backup file' : `one backup file, not ${parsed.positionals.length}`)
  return { file, force: parsed.values.force }
}

function usage(message: string): never {
  process.stderr.write(`${message}\n${BACKUP_USAGE}\n`)
  process.exit(2)
}

export async function backupCommand(args: readonly string[]): Promise<void> {
  const { file, force } = parseBackupArguments(args)
  const config = parseConfig(process.env)
  const refusal = notSqlite(config, 'backup')
  if (refusal) throw refusal
  if (config.database.kind !== 'sqlite') throw new Error('unreachable')
  if (existsSync(file) && !force) throw new ConfigError(`backup: ${file} exists already; name another file, or replace it with --force`)
  const progress = process.stderr.isTTY
    ? ({ totalPages, remainingPages, restarts }: BackupProgress) =>
        process.stderr.write(
          `\rbackup: ${totalPages - remainingPages} of ${totalPages} pages${restarts > 0 ? ` (started again ${restarts}×: the service wrote)` : ''}   `,
        )
    : undefined
  const result = await backupSqlite(config.database.path, file, progress)
  if (progress) process.stderr.write('\n')
  await writeOut(
    `backed up ${result.events} events (up to position ${result.head}) and the read models to ${result.path} (${result.bytes} bytes)\n` +
      'the backup holds no secrets: keep the JWT secret and the audit seal key apart (README, "Backup and restore")\n',
  )
}

import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../config.js'
import type { SqlDatabase, Statement } from './port.js'

/** `migrations/` at the top of the project, found from here whether run from src/ or dist/src/. */
export const MIGRATIONS_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/src/') ? '../../../migrations/' : '../../migrations/', import.meta.url),
)

const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/

export interface Migration {
  version: number
  name: string
  sql: string
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => FILE_PATTERN.test(file)).sort()
  const migrations: Migration[] = []
  for (const file of files) {
    const version = Number(FILE_PATTERN.exec(file)?.[1])
    if (migrations.some((migration) => migration.version === version)) {
      throw new Error(`two migrations have version ${version}`)
    }
    migrations.push({ version, name: file, sql: await readFile(join(dir, file), 'utf8') })
  }
  return migrations
}

/**
 * The database holds migrations this version does not know: a newer version migrated it. This one
 * would project into tables it does not fully know (a column a newer projection fills left empty,
 * its checkpoint moved on all the same), so it does not start on it.
 */
export class NewerSchemaError extends ConfigError {
  override name = 'NewerSchemaError'
  constructor(
    readonly unknown: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `the database was migrated by a newer sojus-ledger (migrations ${unknown.join(', ')} are unknown to this version): ` +
        'run that version or a newer one, or restore a backup taken before the newer version migrated it',
      options,
    )
  }
}

/** The migrations the database has seen; throws NewerSchemaError when one of them is unknown here. */
async function knownSchemaVersions(db: SqlDatabase, migrations: readonly Migration[]): Promise<Set<number>> {
  const rows = await db.query<{ version: number | string; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
  const known = new Set(migrations.map((migration) => migration.version))
  const unknown = rows.filter((row) => !known.has(Number(row.version))).map((row) => row.name)
  if (unknown.length > 0) throw new NewerSchemaError(unknown)
  return new Set(rows.map((row) => Number(row.version)))
}

/**
 * What keeps a running projector from writing into a schema a newer version migrated (PostgreSQL,
 * where processes of two versions may share the database during a rolling upgrade). The
 * start-time refusal (`migrate`) does not reach a process that is already running.
 */
export interface SchemaGuard {
  /**
   * Statements a projection batch begins with: they wait while any process migrates (a shared hold
   * on MIGRATIONS_LOCK, which `migrateExclusively` holds) and then find no migration this version
   * does not know, or fail, and the batch rolls back whole. Under the hold no migration can
   * commit before the batch does, so the check cannot go stale.
   */
  readonly statements: readonly Statement[]
  /** Throws NewerSchemaError when a newer version migrated the database. */
  check(): Promise<void>
}

/** The guard for a database that processes of several versions may share; none for one that has a single owner (SQLite). */
export function schemaGuard(db: SqlDatabase, migrations: readonly Migration[]): SchemaGuard | undefined {
  const hold = db.sharedHold?.(MIGRATIONS_LOCK)
  if (hold === undefined) return undefined
  // Written into the SQL: integers parsed from this version's own file names.
  const known = migrations.map((migration) => migration.version).join(', ') || 'NULL'
  // An error, not a row count: the server skips the rest of the batch. PostgreSQL, the only
  // database with a shared hold.
  const refuseNewer =
    `DO $$ BEGIN IF EXISTS (SELECT 1 FROM schema_migrations WHERE version NOT IN (${known})) ` +
    `THEN RAISE EXCEPTION 'a newer version migrated this database'; END IF; END $$`
  return {
    statements: [hold, { sql: refuseNewer, params: [] }],
    check: async () => void (await knownSchemaVersions(db, migrations)),
  }
}

/** The lock (`SqlDatabase.exclusive`) every process migrates under, so that two never apply one migration both. */
export const MIGRATIONS_LOCK = 'migrations'

/**
 * For a command that reads the read models without migrating them (verify): refuses a database a
 * newer version migrated, whose read models this version would misjudge. A database never
 * migrated passes: the command says what is missing itself.
 */
export async function assertKnownSchema(db: SqlDatabase, migrations: readonly Migration[]): Promise<void> {
  const [table] = await db.query<{ present: number }>(
    db.dialect === 'postgres'
      ? "SELECT 1 AS present FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
      : "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  )
  if (table !== undefined) await knownSchemaVersions(db, migrations)
}

/** Applies the migrations under the lock every process migrates under (MIGRATIONS_LOCK). */
export function migrateExclusively(db: SqlDatabase, migrations: readonly Migration[]): Promise<number[]> {
  return db.exclusive(MIGRATIONS_LOCK, () => migrate(db, migrations))
}

/**
 * Applies the migrations that the database has not seen, each in its own transaction together
 * with its row in schema_migrations, so a failed migration leaves nothing half applied. Refuses
 * (NewerSchemaError, before applying anything) a database that a newer version migrated.
 */
export async function migrate(db: SqlDatabase, migrations: readonly Migration[]): Promise<number[]> {
  await db.transaction([
    {
      script:
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    },
  ])
  const applied = await knownSchemaVersions(db, migrations)
  const newlyApplied: number[] = []
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue
    await db.transaction([
      { script: migration.sql },
      {
        sql: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
        params: [migration.version, migration.name, new Date().toISOString()],
      },
    ])
    newlyApplied.push(migration.version)
  }
  return newlyApplied
}

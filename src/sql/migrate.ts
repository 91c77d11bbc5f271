import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SqlDatabase } from './port.js'

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
 * Applies the migrations that the database has not seen, each in its own transaction together
 * with its row in schema_migrations, so a failed migration leaves nothing half applied.
 */
export async function migrate(db: SqlDatabase, migrations: readonly Migration[]): Promise<number[]> {
  await db.transaction([
    {
      script:
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    },
  ])
  const applied = new Set(
    (await db.query<{ version: number | string }>('SELECT version FROM schema_migrations')).map((row) =>
      Number(row.version),
    ),
  )
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

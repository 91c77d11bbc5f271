import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { pino } from 'pino'
import { parseConfig } from '../../src/config.js'
import { openStores, type StoreOptions, type Stores } from '../../src/service.js'
import { createPgPool, currentSchema } from '../../src/sql/pg-pool.js'
import type { SqlDatabase, Statement } from '../../src/sql/port.js'
import { PostgresDatabase } from '../../src/sql/postgres.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { createTestSchema } from './postgres.js'
import { createTestDatabase } from './service.js'
import { TEST_JWT_SECRET } from './tokens.js'

/**
 * The stores of a test without a service, on whichever store TEST_STORE names: what
 * `openStores` opens on a fresh SQLite file or a fresh PostgreSQL schema. And, for tests that
 * change a database by hand, plain SQL against either, and a copy of a closed one.
 */

type Teardown = { teardown(fn: () => unknown): void }

export interface TestStores extends Stores {
  /** The DATABASE_URL the stores were opened on: open another service or CLI on it. */
  url: string
  /** Closes the stores (once; later calls wait for the first). The database stays until dispose. */
  close(): Promise<void>
  /** Closes the stores and deletes the database (the file's folder, or the schema). */
  dispose(): Promise<void>
}

/** Opens the stores of the configuration for DATABASE_URL `url` (a second process on that database would). */
export async function openStoresAt(url: string, options: StoreOptions = {}): Promise<Stores> {
  const stores = await openStores(parseConfig({ DATABASE_URL: url, JWT_SECRET: TEST_JWT_SECRET }), 'test', options)
  let closing: Promise<void> | undefined
  return { ...stores, close: () => (closing ??= stores.close()) }
}

/** The stores on a fresh database; the caller disposes of them. */
export async function createTestStores(options: StoreOptions = {}): Promise<TestStores> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-stores-'))
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined
  try {
    database = await createTestDatabase(dir)
    const stores = await openStoresAt(database.url, options)
    const drop = database.drop
    let disposing: Promise<void> | undefined
    return {
      ...stores,
      url: database.url,
      dispose: () =>
        (disposing ??= (async () => {
          try {
            await stores.close()
          } finally {
            await drop()
            rmSync(dir, { recursive: true, force: true })
          }
        })()),
    }
  } catch (error) {
    await database?.drop()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** The stores on a fresh database, closed and deleted when the test ends. */
export async function openTestStores(t: Teardown, options: StoreOptions = {}): Promise<TestStores> {
  const stores = await createTestStores(options)
  t.teardown(() => stores.dispose())
  return stores
}

/**
 * The read-model port on the database at `url`, as a second connection beside whatever else
 * has it open (no store lock, no event store): for SQL by hand on tables both stores have, with
 * `?` placeholders. BIGINT columns come back as numbers from both.
 */
export async function withSql<T>(url: string, work: (db: SqlDatabase) => Promise<T>): Promise<T> {
  if (url.startsWith('sqlite:')) {
    const db = new SqliteDatabase(url.slice('sqlite:'.length))
    try {
      return await work(db)
    } finally {
      await db.close()
    }
  }
  const pool = createPgPool({ url, poolSize: 2, statementTimeoutMs: 30_000, logger: pino({ level: 'silent' }) })
  try {
    return await work(new PostgresDatabase(pool, await currentSchema(pool)))
  } finally {
    await pool.end()
  }
}

/** Runs the statements in one transaction on the database at `url` (see withSql). */
export function runSql(url: string, statements: readonly Statement[]): Promise<void> {
  return withSql(url, (db) => db.transaction(statements))
}

/**
 * A copy of the closed database at `url` (its SQLite file, or every table of its PostgreSQL
 * schema with its rows, keys, indexes and identity sequences), deleted when the test ends.
 * Answers the copy's DATABASE_URL.
 */
export async function copyDatabase(t: Teardown, url: string): Promise<string> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    const dir = mkdtempSync(join(tmpdir(), 'sojus-copy-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const copy = join(dir, 'ledger.db')
    for (const suffix of ['', '-wal']) if (existsSync(`${path}${suffix}`)) copyFileSync(`${path}${suffix}`, `${copy}${suffix}`)
    return `sqlite:${copy}`
  }
  const target = await createTestSchema()
  t.teardown(() => target.drop())
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const source = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]?.schema
    if (!source) throw new Error(`${url} names no schema to copy`)
    const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`
    const from = quoted(source)
    const to = quoted(target.schema)
    await client.query('BEGIN')
    const tables = await client.query<{ name: string }>('SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [source])
    for (const { name } of tables.rows) {
      await client.query(`CREATE TABLE ${to}.${quoted(name)} (LIKE ${from}.${quoted(name)} INCLUDING ALL)`)
      await client.query(`INSERT INTO ${to}.${quoted(name)} OVERRIDING SYSTEM VALUE SELECT * FROM ${from}.${quoted(name)}`)
    }
    // LIKE gives an identity column a sequence of its own: it goes on where the original's stands.
    const identities = await client.query<{ table: string; column: string }>(
      `SELECT table_name AS table, column_name AS column FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES'`,
      [source],
    )
    for (const { table, column } of identities.rows) {
      const sequence = async (schema: string) =>
        (await client.query<{ name: string }>('SELECT pg_get_serial_sequence($1, $2) AS name', [`${quoted(schema)}.${quoted(table)}`, column])).rows[0]?.name
      const [original, copied] = [await sequence(source), await sequence(target.schema)]
      if (!original || !copied) throw new Error(`no identity sequence for ${table}.${column}`)
      const [state] = (await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${original}`)).rows
      if (state) await client.query('SELECT setval($1, $2::bigint, $3)', [copied, state.last_value, state.is_called])
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    await client.end()
  }
  return target.url
}

import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { pino } from 'pino'
import { parseConfig } from '../../src/config.js'
import { PostgresEventStore } from '../../src/eventstore/postgres.js'
import { openService, type Service, type ServiceOverrides } from '../../src/service.js'
import { clientConfig, createPgPool, currentSchema } from '../../src/sql/pg-pool.js'
import { PgSession } from '../../src/sql/pg-session.js'
import { TEST_JWT_SECRET } from './tokens.js'

/**
 * PostgreSQL for the tests: every test gets a schema of its own in one database, dropped when it
 * ends. TEST_POSTGRES_URL names the database (default: the local server's `test`).
 */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

let reachable: Promise<string | undefined> | undefined

/** Undefined when the server answers, else why not. */
export function postgresUnreachable(): Promise<string | undefined> {
  return (reachable ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      return undefined
    } catch (error) {
      return `PostgreSQL at ${TEST_POSTGRES_URL} is not reachable: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      await client.end().catch(() => undefined)
    }
  })())
}

/**
 * The skip option for a test that needs PostgreSQL: false when it is reachable. In CI an
 * unreachable server throws, so that the suite fails rather than passing without these tests.
 */
export async function skipWithoutPostgres(): Promise<false | string> {
  const reason = await postgresUnreachable()
  if (reason === undefined) return false
  if (process.env.CI) throw new Error(`${reason} (CI needs it: .ci/run starts it)`)
  return reason
}

/** The connection string of a schema of its own: every connection made with it works in that schema. */
export function schemaUrl(schema: string, base = TEST_POSTGRES_URL): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

export interface TestSchema {
  schema: string
  url: string
  drop(): Promise<void>
}

export async function createTestSchema(): Promise<TestSchema> {
  const schema = `t_${randomUUID().replaceAll('-', '')}`
  await adminQuery(`CREATE SCHEMA ${schema}`)
  return {
    schema,
    url: schemaUrl(schema),
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    },
  }
}

export async function adminQuery(sql: string, values: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL })
  await client.connect()
  try {
    return (await client.query(sql, values)).rows
  } finally {
    await client.end()
  }
}

/** A store in a schema of its own, with its own pool and session; closing it drops the schema. */
export async function openTestStore(pollIntervalMs = 1000): Promise<PostgresEventStore> {
  const schema = await createTestSchema()
  return openStoreOn(schema.url, { pollIntervalMs, afterClose: schema.drop })
}

export interface StoreOnSchemaOptions {
  pollIntervalMs?: number
  /** Connections of the store's own pool (default 10). */
  poolSize?: number
  /** The pool's statement_timeout (default 30,000 ms). */
  statementTimeoutMs?: number
  /** Runs when the store has closed its pool and session. */
  afterClose?: () => Promise<void>
}

/**
 * A store on an existing schema (a TestSchema's url), with its own pool and session, as another
 * process would open it: several of them on one schema write truly concurrently. Closing it closes
 * its pool and session; the schema stays unless `afterClose` drops it.
 */
export async function openStoreOn(url: string, options: StoreOnSchemaOptions = {}): Promise<PostgresEventStore> {
  const logger = pino({ level: 'silent' })
  const poolOptions = { url, poolSize: options.poolSize ?? 10, statementTimeoutMs: options.statementTimeoutMs ?? 30_000, logger }
  const pool = createPgPool(poolOptions)
  const session = new PgSession(clientConfig(poolOptions), logger)
  const closeBoth = async () => {
    await session.close()
    await pool.end()
  }
  try {
    await session.start()
    return await PostgresEventStore.open({
      pool,
      session,
      schema: await currentSchema(pool),
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      onClose: async () => {
        await closeBoth()
        await options.afterClose?.()
      },
    })
  } catch (error) {
    await closeBoth()
    throw error
  }
}

/** The seal key of the services the PostgreSQL tests start (PostgreSQL makes none by itself). */
export const TEST_POSTGRES_SEAL_KEY = 'a-seal-key-for-the-postgres-tests-0123456789'

/**
 * The service in this process on an existing schema (a TestSchema's url), as one of several
 * processes sharing it: its own pool, session, projector lease and runner. The caller closes it.
 */
export async function openServiceOn(
  url: string,
  environment: Record<string, string> = {},
  overrides: ServiceOverrides = {},
): Promise<Service> {
  const config = parseConfig({ DATABASE_URL: url, JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: TEST_POSTGRES_SEAL_KEY, ...environment })
  return openService(config, pino({ level: 'silent' }), overrides)
}

/** A dedicated session on `url`, as a process keeps beside its pool; the caller closes it. */
export async function openSession(url: string): Promise<PgSession> {
  const logger = pino({ level: 'silent' })
  const session = new PgSession(clientConfig({ url, poolSize: 1, statementTimeoutMs: 30_000, logger }), logger)
  await session.start()
  if (!session.connected) throw new Error(`the session on ${url} did not connect`)
  return session
}

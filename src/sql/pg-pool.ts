import { createHash } from 'node:crypto'
import pg from 'pg'
import type { Logger } from 'pino'
import { StorageFullError, StoreTimeoutError, StoreUnavailableError } from '../eventstore/port.js'
import { ConfigError } from '../config.js'

export interface PgPoolOptions {
  /** postgres://…; TLS and other libpq options (sslmode, sslrootcert, options=-c search_path=…) pass through. */
  url: string
  /** Most connections this process opens: every query waits for one of them. */
  poolSize: number
  /** The server cancels a statement that runs longer. */
  statementTimeoutMs: number
  logger: Logger
}

/**
 * BIGINT and NUMERIC come back as numbers, as they do from SQLite, so that the read models'
 * queries read the same rows from both. Amounts stay far below 2^53 (MAX_BALANCE_CENTS); the
 * queries that must be exact cast to TEXT.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (text: string) => Number(text)
    return pg.types.getTypeParser(oid, format)
  },
}

/** The pool every PostgreSQL adapter of one process shares. */
export function createPgPool(options: PgPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs,
    // The server's timeout cannot fire when the network is gone: the client gives up a little later.
    query_timeout: options.statementTimeoutMs + 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A transaction left open (a process paused in the middle) must not hold its locks forever.
    idle_in_transaction_session_timeout: Math.max(options.statementTimeoutMs, 10_000),
    application_name: 'sojus-ledger',
    types,
  })
  // An idle connection that the server closes must not take the process down; the pool opens a
  // new one for the next query.
  pool.on('error', (error) => options.logger.warn({ err: error }, 'an idle database connection failed'))
  return pool
}

/**
 * Runs `work` on a connection of the pool. A connection that breaks while it is checked out, but
 * between queries, emits 'error' with nobody listening, which would end the process: the listener
 * here keeps it, and the next query fails instead. A connection that failed is not reused.
 */
export async function withPooledClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (error) {
    throw asUnavailable(error)
  }
  let broken: Error | undefined
  const onError = (error: Error) => (broken = error)
  client.on('error', onError)
  try {
    return await work(client)
  } catch (error) {
    if (isConnectionError(error)) broken ??= error as Error
    throw asUnavailable(error)
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}

/** Connection settings for a dedicated client (LISTEN, the projector's lock) beside the pool. */
export function clientConfig(options: PgPoolOptions): pg.ClientConfig {
  return {
    connectionString: options.url,
    connectionTimeoutMillis: 5_000,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 5_000,
    application_name: 'sojus-ledger',
    types,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  }
}

/** How the PostgreSQL stores name themselves to an operator (and, through the 503's detail, to a client). */
const POSTGRES_STORE = 'the database (PostgreSQL)'

/**
 * The database could not be reached or the connection broke: the command may be retried (with
 * its Idempotency-Key) once the database is back. Its write committed entirely or not at all.
 */
export class DatabaseUnavailableError extends StoreUnavailableError {
  constructor(cause: unknown) {
    super(POSTGRES_STORE, cause)
    this.name = 'DatabaseUnavailableError'
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])

/** Whether an error means the database is away (class 08, shutdown, a broken socket), not that a query is wrong. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true
    // admin_shutdown, crash_shutdown, cannot_connect_now; too_many_connections (the server's
    // max_connections are taken: a new connection is refused until another one ends)
    if (code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true
  }
  // "Query read timeout": the server did not answer within query_timeout (the network is gone, or
  // the server hangs). pg leaves the query running on that connection, so it must not go back to
  // the pool; had the query been a COMMIT, its outcome is unknown, which a retry with the same
  // Idempotency-Key settles (it is answered from the stored write, or written now).
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|Query read timeout/i.test(
    error.message,
  )
}

/** Whether the server answered with this SQLSTATE (pg puts it on the error as `code`). */
const hasSqlState = (error: unknown, code: string): boolean => error instanceof Error && (error as { code?: unknown }).code === code

/**
 * SQLSTATE 53100 disk_full: the server found no room to extend a table or an index (its disk or
 * the tablespace's is full). The statement failed and its transaction is rolled back whole; the
 * connection stays usable, and the same write succeeds once there is room.
 */
export const isDiskFull = (error: unknown): boolean => hasSqlState(error, '53100')

/**
 * SQLSTATE 57014 query_canceled: the statement ran past statement_timeout (or an administrator
 * cancelled it). Its transaction is rolled back whole; nothing of it is stored.
 */
const isCancelled = (error: unknown): boolean => hasSqlState(error, '57014')

/**
 * Rethrows a lost connection as DatabaseUnavailableError, a full disk as StorageFullError and a
 * statement timeout as StoreTimeoutError (each a StoreUnavailableError: 503 with Retry-After, and
 * the projections try again within seconds), anything else as it is.
 */
export function asUnavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error
  if (isDiskFull(error)) return new StorageFullError(POSTGRES_STORE, error)
  if (isCancelled(error)) return new StoreTimeoutError(POSTGRES_STORE, error)
  return isConnectionError(error) ? new DatabaseUnavailableError(error) : error
}

/**
 * A 64-bit advisory lock key for `purpose` in the schema the connection works in: two ledgers in
 * two schemas of one database never share a lock or a notification channel.
 */
export function lockKey(schema: string, purpose: string): bigint {
  return createHash('sha256').update(`${schema}\0${purpose}`).digest().readBigInt64BE(0)
}

/** A LISTEN channel name for `purpose` in `schema` (identifiers are at most 63 bytes). */
export function channelName(schema: string, purpose: string): string {
  return `sojus_${createHash('sha256').update(`${schema}\0${purpose}`).digest('hex').slice(0, 24)}`
}

export async function currentSchema(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ schema: string | null }>('SELECT current_schema() AS schema')
  const schema = rows[0]?.schema
  // The operator's to mend (a search_path in DATABASE_URL naming a schema that does not exist): one line.
  if (!schema) throw new ConfigError('the database connection has no schema to work in: the search_path (DATABASE_URL) names no schema that exists')
  return schema
}

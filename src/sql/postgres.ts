import type pg from 'pg'
import { asUnavailable, DatabaseUnavailableError, lockKey, withPooledClient } from './pg-pool.js'
import { RowCountError, type Query, type SqlDatabase, type SqlValue, type Statement } from './port.js'

const MAX_TRANSLATED = 1_000
/** Distinct statements each connection keeps prepared; statements beyond them are planned each time. */
const MAX_PREPARED = 300

/**
 * Read models in PostgreSQL, on the pool the event store shares. The projections and queries are
 * written once with `?` placeholders; they become `$1…$n` here (no statement of ours has a `?`
 * inside a string literal).
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const
  private readonly translated = new Map<string, string>()
  /** Names of the statements prepared on first use; node-postgres keeps them per connection for its life. */
  private readonly prepared = new Map<string, string>()

  constructor(
    private readonly pool: pg.Pool,
    /** The schema the connection works in: it names the locks of `exclusive`. */
    private readonly schema: string,
  ) {}

  private translate(sql: string): string {
    let text = this.translated.get(sql)
    if (text === undefined) {
      let n = 0
      text = sql.replace(/\?/g, () => `$${++n}`)
      if (this.translated.size >= MAX_TRANSLATED) this.translated.clear()
      this.translated.set(sql, text)
    }
    return text
  }

  /** A name for the statement, so that each connection parses and plans it once; none once the set is full. */
  private nameOf(sql: string): string | undefined {
    let name = this.prepared.get(sql)
    if (name === undefined && this.prepared.size < MAX_PREPARED) {
      name = `sojus-read-${this.prepared.size}`
      this.prepared.set(sql, name)
    }
    return name
  }

  /** A read as node-postgres takes it: `$n` placeholders, converted values, and a name to prepare it by. */
  private readOf(sql: string, params: readonly SqlValue[]): pg.QueryConfig {
    const name = this.nameOf(sql)
    const text = this.translate(sql)
    const values = params.map(toParam)
    return name === undefined ? { text, values } : { name, text, values }
  }

  async query<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    try {
      const result = await this.pool.query<Row>(this.readOf(sql, params))
      return result.rows
    } catch (error) {
      throw asUnavailable(error)
    }
  }

  /** One REPEATABLE READ transaction on one connection: every query sees the snapshot its first one took. */
  async queryTogether(queries: readonly Query[]): Promise<object[][]> {
    if (queries.length === 0) return []
    return this.withClient(async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      try {
        const answers: object[][] = []
        for (const { sql, params = [] } of queries) answers.push((await client.query<object>(this.readOf(sql, params))).rows)
        await client.query('COMMIT')
        return answers
      } catch (error) {
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        )
        // A connection whose transaction could not be ended must not go back to the pool, where a
        // later read would see this old snapshot: as unavailable, withPooledClient discards it.
        throw rolledBack ? error : new DatabaseUnavailableError(error)
      }
    })
  }

  async transaction(statements: readonly Statement[]): Promise<void> {
    if (statements.every((statement) => !('script' in statement))) return this.batch(statements as PlainStatement[])
    await this.withClient(async (client) => {
      await client.query('BEGIN')
      try {
        for (const statement of statements) {
          if ('script' in statement) {
            await client.query(statement.script)
            continue
          }
          const result = await client.query(this.translate(statement.sql), statement.params.map(toParam))
          if (statement.expectRows !== undefined && result.rowCount !== statement.expectRows) {
            throw new RowCountError(statement.sql, statement.expectRows, result.rowCount ?? 0)
          }
        }
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
  }

  /**
   * A transaction of plain statements in two round trips, however many there are (a projection
   * batch has thousands): the statements, with their parameters as escaped literals, go in one
   * multi-statement text after BEGIN; their row counts are checked; then COMMIT, or ROLLBACK.
   */
  private async batch(statements: readonly PlainStatement[]): Promise<void> {
    await this.withClient(async (client) => {
      const texts = statements.map((statement) => inline(client, statement.sql, statement.params))
      try {
        const results = await client.query(`BEGIN;\n${texts.join(';\n')}`)
        const counts = (Array.isArray(results) ? results : [results]) as pg.QueryResult[]
        statements.forEach((statement, index) => {
          const changed = counts[index + 1]?.rowCount ?? 0
          if (statement.expectRows !== undefined && changed !== statement.expectRows) {
            throw new RowCountError(statement.sql, statement.expectRows, changed)
          }
        })
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
  }

  /** A session advisory lock on a connection of its own, held while `work` runs on any connection. */
  async exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      const key = lockKey(this.schema, name).toString()
      await client.query('SELECT pg_advisory_lock($1)', [key])
      try {
        return await work()
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined)
      }
    })
  }

  /** A shared transaction-level advisory lock on the key `exclusive(name)` holds exclusively at session level: the two conflict. */
  sharedHold(name: string): Statement {
    return { sql: 'SELECT pg_advisory_xact_lock_shared(?)', params: [lockKey(this.schema, name)] }
  }

  private withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return withPooledClient(this.pool, work)
  }

  /** The pool belongs to the stores together (src/service.ts closes it). */
  async close(): Promise<void> {}
}

type PlainStatement = Extract<Statement, { sql: string }>

/** The statement with its `?` placeholders replaced by the parameters as SQL literals, escaped by the driver. */
function inline(client: pg.PoolClient, sql: string, params: readonly SqlValue[]): string {
  let index = 0
  const text = sql.replace(/\?/g, () => {
    if (index >= params.length) throw new Error(`a statement has more placeholders than parameters: ${sql.slice(0, 120)}`)
    const value = params[index++]
    if (value === null || value === undefined) return 'NULL'
    if (typeof value === 'bigint') return value < 0n ? `(${value})` : value.toString()
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`a statement parameter is not a finite number: ${value}`)
      // In parentheses: `x -?` with -5 must not become `x --5`, a comment.
      return value < 0 ? `(${value})` : String(value)
    }
    return client.escapeLiteral(value)
  })
  if (index !== params.length) throw new Error(`a statement has fewer placeholders than parameters: ${sql.slice(0, 120)}`)
  return text
}

/** bigint parameters go as text, which PostgreSQL casts exactly; numbers and strings as they are. */
const toParam = (value: SqlValue): string | number | null => (typeof value === 'bigint' ? value.toString() : value)

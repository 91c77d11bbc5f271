import type pg from 'pg'
import { asUnavailable, lockKey } from './pg-pool.js'
import { RowCountError, type SqlDatabase, type SqlValue, type Statement } from './port.js'

const MAX_TRANSLATED = 1_000

/**
 * Read models in PostgreSQL, on the pool the event store shares. The projections and queries are
 * written once with `?` placeholders; they become `$1…$n` here (no statement of ours has a `?`
 * inside a string literal).
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const
  private readonly translated = new Map<string, string>()

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

  async query<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    try {
      const result = await this.pool.query<Row>(this.translate(sql), params.map(toParam))
      return result.rows
    } catch (error) {
      throw asUnavailable(error)
    }
  }

  async transaction(statements: readonly Statement[]): Promise<void> {
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

  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      throw asUnavailable(error)
    }
    let broken: Error | undefined
    try {
      return await work(client)
    } catch (error) {
      // A connection that failed mid-transaction is not given back to the pool for reuse.
      if (asUnavailable(error) !== error) broken = error as Error
      throw asUnavailable(error)
    } finally {
      client.release(broken)
    }
  }

  /** The pool belongs to the stores together (src/service.ts closes it). */
  async close(): Promise<void> {}
}

/** bigint parameters go as text, which PostgreSQL casts exactly; numbers and strings as they are. */
const toParam = (value: SqlValue): string | number | null => (typeof value === 'bigint' ? value.toString() : value)

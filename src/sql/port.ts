/**
 * The read-model database port: just enough SQL to serve SQLite and PostgreSQL with the same
 * projections and queries. Placeholders are `?`; an adapter translates them where its driver
 * wants another form.
 */
export type SqlValue = string | number | bigint | null

export type Statement =
  | {
      sql: string
      params: readonly SqlValue[]
      /**
       * How many rows the statement must change; any other count rolls the whole transaction
       * back with a RowCountError (a compare-and-set, such as a checkpoint moved by its holder).
       */
      expectRows?: number
    }
  /** Several statements without parameters, such as a migration file. */
  | { script: string }

export type Dialect = 'sqlite' | 'postgres'

/** A statement changed another number of rows than it expected: nothing of its transaction took effect. */
export class RowCountError extends Error {
  constructor(
    readonly sql: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`expected ${expected} changed row(s), but ${actual} changed: ${sql.slice(0, 120)}`)
    this.name = 'RowCountError'
  }
}

/** A query of several that must see one state of the database (`queryTogether`). */
export interface Query {
  sql: string
  params?: readonly SqlValue[]
}

export interface SqlDatabase {
  readonly dialect: Dialect
  query<Row extends object>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>
  /**
   * Runs the queries on one snapshot, and answers their rows in their order: a transaction another
   * connection commits meanwhile (the projections', on their thread or in another process) shows
   * in all of the answers or in none. For a read made of several queries, such as a commitment
   * and its invoices.
   */
  queryTogether(queries: readonly Query[]): Promise<object[][]>
  /** Runs every statement in one transaction: all of them take effect, or none. */
  transaction(statements: readonly Statement[]): Promise<void>
  /**
   * Runs `work` while this process holds the database's lock named `name`, which other processes
   * (and other calls here) wait for: migrations take it, so that two processes starting at once
   * do not both apply one.
   */
  exclusive<T>(name: string, work: () => Promise<T>): Promise<T>
  /**
   * A statement that, in a transaction, waits while another process runs `exclusive(name)`, and
   * keeps it from starting until the transaction ends. Only where several processes share the
   * database (PostgreSQL); the embedded store has one owner.
   */
  sharedHold?(name: string): Statement
  close(): Promise<void>
}

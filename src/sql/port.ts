/**
 * The read-model database port: just enough SQL to serve SQLite and PostgreSQL with the same
 * projections and queries. Placeholders are `?`; an adapter translates them where its driver
 * wants another form.
 */
export type SqlValue = string | number | bigint | null

export type Statement =
  | { sql: string; params: readonly SqlValue[] }
  /** Several statements without parameters, such as a migration file. */
  | { script: string }

export type Dialect = 'sqlite' | 'postgres'

export interface SqlDatabase {
  readonly dialect: Dialect
  query<Row extends object>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>
  /** Runs every statement in one transaction: all of them take effect, or none. */
  transaction(statements: readonly Statement[]): Promise<void>
  close(): Promise<void>
}

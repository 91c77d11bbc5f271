import type { StoredEvent } from '../src/application/stored-event.js'
import type { SqlValue, Statement } from '../src/sql/port.js'

/**
 * A projection is a named, pure function from one event to the SQL changes on its own tables.
 * The runner applies those changes and the projection's checkpoint in one transaction.
 */
export interface Projection {
  name: string
  /** The tables this projection alone writes; a rebuild empties them. */
  tables: readonly string[]
  project(stored: StoredEvent): Statement[]
  /**
   * The changes of several consecutive events at once (in log order), where a projection can say
   * them in fewer statements than one event at a time: a running figure moved once per batch by
   * the sum of its events, rather than once per event. Applied, it must leave the tables exactly as
   * `project` applied to each event in turn would (test/projections/batch.property.test.ts checks
   * that for any split of the log into batches). The runner prefers it when it is there.
   */
  projectBatch?(events: readonly StoredEvent[]): Statement[]
}

export const sql = (text: string, ...params: Array<string | number | bigint | null>): Statement => ({
  sql: text,
  params,
})

/** A batch's statements: `projectBatch`'s, or else every event's from `project` in turn. */
export function projectAll(projection: Projection, events: readonly StoredEvent[]): Statement[] {
  if (projection.projectBatch) return projection.projectBatch(events)
  const statements: Statement[] = []
  for (const stored of events) for (const statement of projection.project(stored)) statements.push(statement)
  return statements
}

/**
 * How many rows one statement of a batch writes. Running a statement has a cost of its own besides
 * its rows' (binding, stepping; on PostgreSQL, where a batch goes as one text with its values
 * inlined, parsing and planning it anew each time), so many rows go to a statement. The rows are
 * cut into pieces of these sizes, largest first: six statement texts in all, whatever the count,
 * so that SQLite's cache of prepared statements holds them. 32 rows of a dozen values stay far
 * below every dialect's limit on parameters (SQLite 32,766, PostgreSQL 65,535).
 */
const ROWS_PER_STATEMENT = [32, 16, 8, 4, 2, 1] as const

/**
 * Writes rows many to a statement: `statementFor(count)` is the SQL that takes `count` rows' values
 * in order (an INSERT … VALUES of `count` tuples, say). Answers the statements for a list of rows
 * (each an array of the same length), in the rows' order.
 */
export function rowsInBulk(statementFor: (count: number) => string): (rows: readonly (readonly SqlValue[])[]) => Statement[] {
  const texts = new Map(ROWS_PER_STATEMENT.map((count) => [count, statementFor(count)]))
  return (rows) => {
    const statements: Statement[] = []
    let next = 0
    for (const count of ROWS_PER_STATEMENT) {
      for (; next + count <= rows.length; next += count) {
        const params: SqlValue[] = []
        for (let row = next; row < next + count; row += 1) for (const value of rows[row] as readonly SqlValue[]) params.push(value)
        statements.push({ sql: texts.get(count) as string, params })
      }
    }
    return statements
  }
}

/** `(?, ?, …)` with `values` placeholders, `count` times: the tuples of a multi-row VALUES. */
export const tuples = (count: number, values: number): string =>
  Array.from({ length: count }, () => `(${Array.from({ length: values }, () => '?').join(', ')})`).join(', ')

import type { StoredEvent } from '../src/application/stored-event.js'
import type { Statement } from '../src/sql/port.js'

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

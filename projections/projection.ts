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
}

export const sql = (text: string, ...params: Array<string | number | bigint | null>): Statement => ({
  sql: text,
  params,
})

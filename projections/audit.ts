import type { StoredEvent } from '../src/application/stored-event.js'
import { isBudgetEvent, isSozialraumEvent, isYearEvent } from '../src/domain/events.js'
import type { SqlValue, Statement } from '../src/sql/port.js'
import type { Projection } from './projection.js'

const COLUMNS = `position, stream_id, revision, event_id, type, version, year, sozialraum,
  recorded_at, actor_sub, actor_role, data, metadata`
const ROW = `(${COLUMNS.split(',').map(() => '?').join(', ')})`
/**
 * Rows written by one INSERT in a batch. A statement costs about as much to run as the rows it
 * writes, whatever their number; 50 rows of 13 values stay far below every dialect's limit on
 * parameters (SQLite 32,766, PostgreSQL 65,535).
 */
const ROWS_PER_INSERT = 50
const insertOf = (rows: number): string => `INSERT INTO audit_events (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => ROW).join(', ')}`
const INSERT_ONE = insertOf(1)
const INSERT_MANY = insertOf(ROWS_PER_INSERT)

/** An event's row: where it stands in the log and in its stream, who recorded it when, and its data as recorded. */
function rowOf({ event, metadata, position, streamId, revision, eventId, recordedData }: StoredEvent): SqlValue[] {
  // An export (AuditExported) names the year it exported but belongs to no budget, nor to a
  // Sozialraum: `?year=` and `?sozialraum=` find the events of budgets and Sozialräume only,
  // and of the year's close (stream `year-<year>`), which has a year but no Sozialraum.
  const budget = isBudgetEvent(event) ? event.data : undefined
  const sozialraum = isSozialraumEvent(event) ? event.data.sozialraumId : (budget?.sozialraum ?? null)
  return [
    position,
    streamId,
    revision,
    eventId,
    event.type,
    metadata.schemaVersion,
    budget ? budget.year : isYearEvent(event) ? event.data.year : null,
    sozialraum,
    metadata.recordedAt,
    metadata.actor.sub,
    metadata.actor.role,
    // As recorded, with the version it was written with: never a field an upcaster added.
    JSON.stringify(recordedData),
    JSON.stringify(metadata),
  ]
}

/** Every event with its position, actor and data as recorded: the trail auditors read. */
export const auditProjection: Projection = {
  name: 'audit',
  tables: ['audit_events'],
  project(stored) {
    return [{ sql: INSERT_ONE, params: rowOf(stored) }]
  },
  /** The batch's rows in INSERTs of 50, the rest one by one: two statements to prepare, not one per count. */
  projectBatch(events) {
    const statements: Statement[] = []
    let next = 0
    for (; next + ROWS_PER_INSERT <= events.length; next += ROWS_PER_INSERT) {
      const params: SqlValue[] = []
      for (const stored of events.slice(next, next + ROWS_PER_INSERT)) for (const value of rowOf(stored)) params.push(value)
      statements.push({ sql: INSERT_MANY, params })
    }
    for (const stored of events.slice(next)) statements.push({ sql: INSERT_ONE, params: rowOf(stored) })
    return statements
  },
}

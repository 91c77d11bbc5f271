import { isBudgetEvent, isSozialraumEvent, isYearEvent } from '../src/domain/events.js'
import { sql, type Projection } from './projection.js'

/** Every event with its position, actor and data as recorded: the trail auditors read. */
export const auditProjection: Projection = {
  name: 'audit',
  tables: ['audit_events'],
  project({ event, metadata, position, streamId, revision, eventId, recordedData }) {
    // An export (AuditExported) names the year it exported but belongs to no budget, nor to a
    // Sozialraum: `?year=` and `?sozialraum=` find the events of budgets and Sozialräume only,
    // and of the year's close (stream `year-<year>`), which has a year but no Sozialraum.
    const budget = isBudgetEvent(event) ? event.data : undefined
    const sozialraum = isSozialraumEvent(event) ? event.data.sozialraumId : (budget?.sozialraum ?? null)
    return [
      sql(
        `INSERT INTO audit_events (position, stream_id, revision, event_id, type, version, year, sozialraum,
           recorded_at, actor_sub, actor_role, data, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      ),
    ]
  },
}

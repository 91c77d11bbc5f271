import { sql, type Projection } from './projection.js'

/** Every event with its position, actor and data: the trail auditors read. */
export const auditProjection: Projection = {
  name: 'audit',
  tables: ['audit_events'],
  project({ event, metadata, position, streamId, revision, eventId }) {
    const data = event.data
    const budget = 'year' in data ? data : undefined
    const sozialraum = 'sozialraumId' in data ? data.sozialraumId : data.sozialraum
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
        budget ? budget.year : null,
        sozialraum,
        metadata.recordedAt,
        metadata.actor.sub,
        metadata.actor.role,
        JSON.stringify(event.data),
        JSON.stringify(metadata),
      ),
    ]
  },
}

import { sql, type Projection } from './projection.js'

/** The first write of every idempotency key, per actor. */
export const idempotencyKeysProjection: Projection = {
  name: 'idempotency-keys',
  tables: ['idempotency_keys'],
  project({ metadata, streamId, position }) {
    if (metadata.idempotencyKey === null) return []
    return [
      sql(
        `INSERT INTO idempotency_keys (actor_sub, idempotency_key, stream_id, request_hash, position)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (actor_sub, idempotency_key) DO NOTHING`,
        metadata.actor.sub,
        metadata.idempotencyKey,
        streamId,
        metadata.requestHash,
        position,
      ),
    ]
  },
}

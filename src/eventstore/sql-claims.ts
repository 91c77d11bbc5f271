import type { SqlDatabase } from '../sql/port.js'
import { claimToStore } from './append-plan.js'
import type { ClaimRegistry } from './kurrentdb.js'
import type { IdempotencyClaim } from './port.js'

/**
 * Idempotency claims in the read models' database (migration 005), for an event store that cannot
 * store them with the events: the first claim of a key wins (the primary key decides between
 * processes), and a claim for another stream or request is refused.
 */
export class SqlClaims implements ClaimRegistry {
  constructor(private readonly db: SqlDatabase) {}

  async claim(streamId: string, claim: IdempotencyClaim): Promise<boolean> {
    const [before] = await this.find(claim)
    if (claimToStore(streamId, claim, before) === undefined) return false
    await this.db.transaction([
      {
        sql: `INSERT INTO idempotency_claims (scope, key, stream_id, request_hash) VALUES (?, ?, ?, ?)
              ON CONFLICT (scope, key) DO NOTHING`,
        params: [claim.scope, claim.key, streamId, claim.requestHash],
      },
    ])
    // Another process may have claimed it between the two: the primary key kept the first.
    const [stored] = await this.find(claim)
    claimToStore(streamId, claim, stored)
    return true
  }

  async release(streamId: string, claim: IdempotencyClaim): Promise<void> {
    await this.db.transaction([
      {
        sql: `DELETE FROM idempotency_claims WHERE scope = ? AND key = ? AND stream_id = ?
              AND (request_hash = ? OR (request_hash IS NULL AND ? IS NULL))`,
        params: [claim.scope, claim.key, streamId, claim.requestHash, claim.requestHash],
      },
    ])
  }

  private async find(claim: IdempotencyClaim): Promise<Array<{ streamId: string; requestHash: string | null }>> {
    const rows = await this.db.query<{ stream_id: string; request_hash: string | null }>(
      'SELECT stream_id, request_hash FROM idempotency_claims WHERE scope = ? AND key = ?',
      [claim.scope, claim.key],
    )
    return rows.map((row) => ({ streamId: row.stream_id, requestHash: row.request_hash }))
  }
}

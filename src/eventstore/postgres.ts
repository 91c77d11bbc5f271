import type pg from 'pg'
import { asUnavailable, channelName, lockKey, withPooledClient } from '../sql/pg-pool.js'
import type { PgSession } from '../sql/pg-session.js'
import { claimKey, planAppends, type AppendDecision, type StoreSnapshot, type StoredRef } from './append-plan.js'
import {
  appendResultOf,
  START,
  StoreUnavailableError,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type IdempotencyClaim,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from './port.js'
import { AppendSignal, IDEMPOTENCY_CLAIMS_TABLE, boundedCount, serialiseAppend, toRecorded, type EventRow, type SerialisedEvent } from './stored-events.js'
import { pollingSubscription } from './subscription.js'

/**
 * The events table of the PostgreSQL store. Data and metadata are kept as the text that was
 * written (like SQLite), not as jsonb, which would reorder keys and round numbers.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id TEXT   NOT NULL,
  revision  BIGINT NOT NULL,
  event_id  TEXT   NOT NULL UNIQUE,
  type      TEXT   NOT NULL,
  data      TEXT   NOT NULL,
  metadata  TEXT   NOT NULL,
  CONSTRAINT events_stream_revision UNIQUE (stream_id, revision)
);
${IDEMPOTENCY_CLAIMS_TABLE}
`

export interface PostgresEventStoreOptions {
  pool: pg.Pool
  /** The process's dedicated session: appends by other processes wake subscriptions through it. */
  session: PgSession
  /** The schema the pool's connections work in (its search_path). */
  schema: string
  /** How often a waiting subscription looks for appends when no notification came. */
  pollIntervalMs?: number
  /** Called by close() after the appends under way have ended (the wiring closes the pool there). */
  onClose?: () => Promise<void>
}

interface PendingAppend {
  streamId: string
  events: readonly SerialisedEvent[]
  expected: ExpectedState
  claims: readonly IdempotencyClaim[]
  resolve: (result: AppendResult) => void
  reject: (error: unknown) => void
}

const COLUMNS = 'position::text, stream_id, revision::text, event_id, type, data, metadata'
const MAX_GROUP_COMMIT = 256

export class PostgresEventStore implements EventStore {
  private readonly pool: pg.Pool
  private readonly session: PgSession
  private readonly appendLock: string
  private readonly channel: string
  private readonly signal: AppendSignal
  private readonly onClose: (() => Promise<void>) | undefined
  private pending: PendingAppend[] = []
  private flushing = false
  private closed = false

  private constructor(options: PostgresEventStoreOptions) {
    this.pool = options.pool
    this.session = options.session
    this.appendLock = lockKey(options.schema, 'append').toString()
    this.channel = channelName(options.schema, 'events')
    this.signal = new AppendSignal(options.pollIntervalMs ?? 1_000)
    this.onClose = options.onClose
    this.session.on('notification', (channel: string) => {
      if (channel === this.channel) this.signal.notify()
    })
    // Notifications sent while the session was away are lost: look again after a reconnect.
    this.session.on('connected', () => this.signal.notify())
  }

  /** Creates the tables when they are missing (under a lock: two processes may start at once). */
  static async open(options: PostgresEventStoreOptions): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(options)
    await withPooledClient(options.pool, async (client) => {
      try {
        await client.query('BEGIN')
        await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey(options.schema, 'event-store-schema').toString()])
        await client.query(SCHEMA)
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
    await options.session.listen(store.channel)
    return store
  }

  append(streamId: string, events: readonly EventToAppend[], expected: ExpectedState, options: AppendOptions = {}): Promise<AppendResult> {
    let serialised: SerialisedEvent[]
    try {
      this.assertOpen()
      serialised = serialiseAppend(events)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ streamId, events: serialised, expected, claims: options.claims ?? [], resolve, reject })
      this.flushMore()
    })
  }

  /** One group transaction at a time: groups of other processes queue on the lock anyway. */
  private flushMore(): void {
    if (this.flushing || this.pending.length === 0) return
    const group = this.pending.splice(0, MAX_GROUP_COMMIT)
    this.flushing = true
    void this.flush(group).finally(() => {
      this.flushing = false
      this.flushMore()
    })
  }

  private async flush(group: readonly PendingAppend[]): Promise<void> {
    let outcomes: Array<{ ok: true; result: AppendResult } | { ok: false; error: unknown }>
    try {
      outcomes = await this.commitGroup(group)
    } catch (error) {
      // One append the database refuses (a trigger, a constraint) must not fail the others that
      // happened to share its transaction: they commit one by one. A lost connection, a full disk
      // or a statement timeout (each a StoreUnavailableError) fails them all: one by one they would
      // fail the same way, and after a timeout on the lock each would wait its own statement_timeout
      // (an append that repeats one already stored fails with them, and is answered on its retry).
      if (group.length > 1 && !(error instanceof StoreUnavailableError)) {
        for (const append of group) await this.flush([append])
        return
      }
      for (const append of group) append.reject(asUnavailable(error))
      return
    }
    let written = false
    for (const [index, append] of group.entries()) {
      const outcome = outcomes[index]
      if (!outcome) append.reject(new Error('the group commit lost an append'))
      else if (outcome.ok) {
        written = true
        append.resolve(outcome.result)
      } else append.reject(outcome.error)
    }
    if (written) this.signal.notify()
  }

  /**
   * Commits the group in one transaction under the append lock, held to the commit: positions
   * are drawn in commit order, so a reader following positions never skips a late commit (see
   * docs/architecture.md, "The global order on PostgreSQL"). Under the lock, what the group's
   * decisions read cannot change before they are written.
   */
  private commitGroup(group: readonly PendingAppend[]): Promise<Array<{ ok: true; result: AppendResult } | { ok: false; error: unknown }>> {
    return withPooledClient(this.pool, async (client) => {
      try {
        // Read committed, whatever the database's default: the plan must read what committed
        // before the lock was granted, not a snapshot taken before the wait.
        // One round trip for both: the lock's key is a number of ours, not a client's text.
        await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(${this.appendLock})`)
        const outcomes = await this.writeGroup(client, group)
        await client.query('COMMIT')
        return outcomes
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
  }

  private async writeGroup(client: pg.PoolClient, group: readonly PendingAppend[]) {
    const decisions = planAppends(
      group.map((append) => ({
        streamId: append.streamId,
        eventIds: append.events.map((event) => event.id),
        expected: append.expected,
        claims: append.claims,
      })),
      await this.snapshot(client, group),
    )
    const rows = { stream: [] as string[], revision: [] as string[], id: [] as string[], type: [] as string[], data: [] as string[], metadata: [] as string[] }
    const claims = { scope: [] as string[], key: [] as string[], stream: [] as string[], hash: [] as Array<string | null> }
    for (const [index, decision] of decisions.entries()) {
      if (decision.kind !== 'write') continue
      const append = group[index]
      if (!append) continue
      append.events.forEach((event, i) => {
        rows.stream.push(append.streamId)
        rows.revision.push(String(decision.revisions[i]))
        rows.id.push(event.id)
        rows.type.push(event.type)
        rows.data.push(event.data)
        rows.metadata.push(event.metadata)
      })
      for (const claim of decision.newClaims) {
        claims.scope.push(claim.scope)
        claims.key.push(claim.key)
        claims.stream.push(append.streamId)
        claims.hash.push(claim.requestHash)
      }
    }
    const positions = new Map<string, Position>()
    if (rows.id.length > 0) {
      // One statement, one round trip under the lock: the events, their claims and the notification.
      // Positions are drawn in the order of the rows, so each stream's revisions follow its positions.
      const inserted = await client.query<{ event_id: string; position: string }>({
        name: 'sojus-append',
        text: `WITH inserted AS (
                 INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
                 SELECT s, r, i, t, d, m FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
                   WITH ORDINALITY AS rows(s, r, i, t, d, m, n) ORDER BY n
                 RETURNING event_id, position
               ), claimed AS (
                 INSERT INTO idempotency_claims (scope, key, stream_id, request_hash)
                 SELECT * FROM unnest($7::text[], $8::text[], $9::text[], $10::text[])
               ), notified AS MATERIALIZED (SELECT pg_notify($11, ''))
               SELECT inserted.event_id, inserted.position::text FROM inserted, notified`,
        values: [rows.stream, rows.revision, rows.id, rows.type, rows.data, rows.metadata, claims.scope, claims.key, claims.stream, claims.hash, this.channel],
      })
      for (const row of inserted.rows) positions.set(row.event_id, BigInt(row.position))
    }
    return this.outcomes(group, decisions, positions)
  }

  private outcomes(group: readonly PendingAppend[], decisions: readonly AppendDecision[], positions: ReadonlyMap<string, Position>) {
    const results: Array<{ ok: true; result: AppendResult } | { ok: false; error: unknown }> = []
    for (const [index, decision] of decisions.entries()) {
      if (decision.kind === 'refused') results.push({ ok: false, error: decision.error })
      else if (decision.kind === 'stored') results.push({ ok: true, result: appendResultOf(decision.nextExpectedRevision, decision.positions) })
      else if (decision.kind === 'same-as') {
        const earlier = results[decision.index]
        results.push(earlier ?? { ok: false, error: new Error('a retried append lost its first attempt') })
      } else {
        const written = (group[index]?.events ?? []).map((event) => positions.get(event.id))
        const revision = decision.revisions.at(-1)
        if (written.length === 0 || !written.every((position) => position !== undefined) || revision === undefined) {
          throw new Error('an appended event got no position')
        }
        results.push({ ok: true, result: appendResultOf(revision, written as Position[]) })
      }
    }
    return results
  }

  /**
   * What the group's decisions depend on, read in the group's transaction, in one round trip under
   * the lock: the group's event ids already stored, its streams' revisions, its claims already held.
   */
  private async snapshot(client: pg.PoolClient, group: readonly PendingAppend[]): Promise<StoreSnapshot> {
    const claimed = group.flatMap((append) => append.claims)
    type Stored = { event_id: string; stream_id: string; revision: string; position: string }
    type Claim = { scope: string; key: string; stream_id: string; request_hash: string | null }
    const { rows } = await client.query<{ stored: Stored[]; revisions: Array<{ stream_id: string; revision: string | null }>; claims: Claim[] }>({
      name: 'sojus-snapshot',
      text: `SELECT
               (SELECT coalesce(json_agg(json_build_object('event_id', event_id, 'stream_id', stream_id, 'revision', revision::text, 'position', position::text)), '[]')
                  FROM events WHERE event_id = ANY($1::text[])) AS stored,
               (SELECT coalesce(json_agg(json_build_object('stream_id', s, 'revision', (SELECT max(revision) FROM events WHERE stream_id = s)::text)), '[]')
                  FROM unnest($2::text[]) AS s) AS revisions,
               (SELECT coalesce(json_agg(json_build_object('scope', c.scope, 'key', c.key, 'stream_id', c.stream_id, 'request_hash', c.request_hash)), '[]')
                  FROM idempotency_claims c JOIN unnest($3::text[], $4::text[]) AS k(scope, key) ON c.scope = k.scope AND c.key = k.key) AS claims`,
      values: [
        group.flatMap((append) => append.events.map((event) => event.id)),
        [...new Set(group.map((append) => append.streamId))],
        claimed.map((claim) => claim.scope),
        claimed.map((claim) => claim.key),
      ],
    })
    const { stored, revisions, claims } = rows[0] ?? { stored: [], revisions: [], claims: [] }
    return {
      byEventId: new Map<string, StoredRef>(
        stored.map((row) => [row.event_id, { streamId: row.stream_id, revision: BigInt(row.revision), position: BigInt(row.position) }]),
      ),
      revisions: new Map(revisions.filter((row) => row.revision !== null).map((row) => [row.stream_id, BigInt(row.revision as string)])),
      claims: new Map(claims.map((row) => [claimKey(row), { streamId: row.stream_id, requestHash: row.request_hash }])),
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    const count = boundedCount(options.maxCount)
    const backwards = options.direction === 'backwards'
    const rows = await this.query<EventRow>(
      backwards ? 'sojus-stream-backwards' : 'sojus-stream-forwards',
      backwards
        ? `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND revision <= $2 ORDER BY events.revision DESC LIMIT $3`
        : `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND revision >= $2 ORDER BY events.revision ASC LIMIT $3`,
      [streamId, String(options.fromRevision ?? (backwards ? BigInt(Number.MAX_SAFE_INTEGER) : 0n)), count],
    )
    return rows.map(toRecorded)
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    const rows = await this.query<EventRow>(
      'sojus-read-all',
      `SELECT ${COLUMNS} FROM events WHERE position > $1 ORDER BY events.position LIMIT $2`,
      [String(options.after), boundedCount(options.maxCount)],
    )
    return rows.map(toRecorded)
  }

  async headPosition(): Promise<Position> {
    this.assertOpen()
    const [row] = await this.query<{ position: string | null }>('sojus-head', 'SELECT max(position)::text AS position FROM events', [])
    return row?.position == null ? START : BigInt(row.position)
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    this.assertOpen()
    return pollingSubscription({
      after: options.after,
      batchSize: boundedCount(options.batchSize ?? 500),
      readAll: (readOptions) => this.readAll(readOptions),
      appendCount: () => this.signal.count,
      waitForAppend: (seen, signal) => this.signal.wait(seen, signal),
    })
  }

  private async query<Row extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>({ name, text, values })).rows
    } catch (error) {
      throw asUnavailable(error)
    }
  }

  /** Waits for the appends under way; the pool and the session belong to the caller. */
  async close(): Promise<void> {
    if (this.closed) return
    while (this.pending.length > 0 || this.flushing) await new Promise((resolve) => setTimeout(resolve, 5))
    this.closed = true
    this.signal.notify()
    await this.onClose?.()
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event store is closed')
  }
}

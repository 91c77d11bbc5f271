import Database from 'better-sqlite3'
import { claimToStore, conflicts } from './append-plan.js'
import {
  appendResultOf,
  DuplicateEventIdError,
  IdempotencyKeyClaimedError,
  StorageFullError,
  StoreUnavailableError,
  WrongExpectedVersionError,
  type AppendResult,
  type ExpectedState,
  type IdempotencyClaim,
  type Position,
} from './port.js'
import { rollBackLeftOver, sqliteStoreError } from './sqlite-errors.js'
import type { EventRow as StoredRow, SerialisedEvent } from './stored-events.js'

type EventRow = StoredRow<bigint>

/** One append as the writer takes it: events serialised already, so that bad data fails alone. */
export interface AppendRequest {
  streamId: string
  events: readonly SerialisedEvent[]
  expected: ExpectedState
  claims: readonly IdempotencyClaim[]
}

export type AppendOutcome = { ok: true; result: AppendResult; written: boolean } | { ok: false; error: unknown }

/** Most appends committed in one transaction. */
export const MAX_GROUP_COMMIT = 256

/**
 * Pages in the write-ahead log before a commit of the event store's connection copies them into
 * the database file (SQLite's default is 1,000). The read models share the file and write far more
 * pages; their connection copies at 10,000 (WAL_AUTOCHECKPOINT_PAGES in
 * projections/thread-runner.ts), or at SQLite's 1,000 on the event loop. Below theirs, this
 * connection did every copy, each ending with an fsync of the database, inside a commit that
 * writes wait for. Above theirs, it copies only when nothing else writes the file (a seed: its
 * log then grows to about 80 MB between copies). Measured (bench/profile-writes.ts): the COMMIT
 * of a group of about ten appends 2.5–2.9 ms instead of 3.4–3.8 ms, the writer thread's CPU per
 * write 15–39 % lower, the projection thread's about a tenth higher; writes per second within
 * the noise.
 */
export const STORE_WAL_AUTOCHECKPOINT_PAGES = 20_000

/** The settings of every connection to the event store: WAL, and durable commits (synchronous=FULL). */
export function configureStoreConnection(db: Database.Database): void {
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 5000')
  db.pragma(`wal_autocheckpoint = ${STORE_WAL_AUTOCHECKPOINT_PAGES}`)
}

/**
 * The write side of the SQLite event store: owns the one connection that writes, and commits a
 * group of appends as one transaction (one fsync). It runs on a worker thread of its own
 * (sqlite-writer.ts), so that the commit and its fsync leave the event loop free for HTTP, or, for
 * a database in memory, on the event loop itself.
 */
export class SqliteAppender {
  private readonly statements: {
    streamRevision: Database.Statement<[string], { revision: bigint | null }>
    insert: Database.Statement<[string, bigint, string, string, string, string], unknown>
    byEventId: Database.Statement<[string], EventRow>
    claimOf: Database.Statement<[string, string], { stream_id: string; request_hash: string | null }>
    claim: Database.Statement<[string, string, string, string | null], unknown>
  }
  private readonly groupCommit: Database.Transaction<(group: readonly AppendRequest[]) => AppendOutcome[]>

  constructor(private readonly db: Database.Database) {
    const columns = 'position, stream_id, revision, event_id, type, data, metadata'
    const prepare = <P extends unknown[], R>(sql: string) => db.prepare<P, R>(sql).safeIntegers(true)
    this.statements = {
      streamRevision: prepare('SELECT MAX(revision) AS revision FROM events WHERE stream_id = ?'),
      insert: prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)'),
      byEventId: prepare(`SELECT ${columns} FROM events WHERE event_id = ?`),
      claimOf: prepare('SELECT stream_id, request_hash FROM idempotency_claims WHERE scope = ? AND key = ?'),
      claim: prepare('INSERT INTO idempotency_claims (scope, key, stream_id, request_hash) VALUES (?, ?, ?, ?)'),
    }
    // Nested inside the group's transaction, better-sqlite3 runs each append as a savepoint. Only
    // the port's own refusals fail one append; any other error (disk full, I/O) may have rolled
    // back the whole transaction, so it aborts the group and nothing of it is committed.
    const appendOne = db.transaction(this.appendTransaction)
    this.groupCommit = db.transaction((group: readonly AppendRequest[]) =>
      group.map((append): AppendOutcome => {
        try {
          const { written, ...result } = appendOne(append)
          return { ok: true, result, written }
        } catch (error) {
          if (isRefusal(error)) return { ok: false, error }
          throw error
        }
      }),
    )
  }

  /**
   * Commits the group: an outcome per append, each a result or the port's refusal of that append
   * alone. When the whole group was rolled back (a full disk: StorageFullError), every append in it
   * fails with that error, and none is left without an outcome.
   */
  commit(group: readonly AppendRequest[]): AppendOutcome[] {
    let outcomes: AppendOutcome[]
    try {
      rollBackLeftOver(this.db)
      outcomes = this.groupCommit.immediate(group)
    } catch (error) {
      rollBackLeftOver(this.db)
      const refused = sqliteStoreError(error)
      return group.map(() => ({ ok: false, error: refused }))
    }
    return group.map((_, index) => outcomes[index] ?? { ok: false, error: new Error('the group commit lost an append') })
  }

  private readonly appendTransaction = (append: AppendRequest): AppendResult & { written: boolean } => {
    const { streamId, events, expected, claims } = append
    const retried = this.findRetriedAppend(streamId, events)
    if (retried) return { ...retried, written: false }

    const current = this.statements.streamRevision.get(streamId)?.revision ?? undefined
    if (conflicts(expected, current)) throw new WrongExpectedVersionError(streamId, expected, current)
    for (const claim of claims) {
      const existing = this.statements.claimOf.get(claim.scope, claim.key)
      const toStore = claimToStore(streamId, claim, existing && { streamId: existing.stream_id, requestHash: existing.request_hash })
      if (toStore) this.statements.claim.run(toStore.scope, toStore.key, streamId, toStore.requestHash)
    }

    let revision = current ?? -1n
    const positions: Position[] = []
    for (const event of events) {
      revision += 1n
      const result = this.statements.insert.run(streamId, revision, event.id, event.type, event.data, event.metadata)
      positions.push(BigInt(result.lastInsertRowid))
    }
    return { ...appendResultOf(revision, positions), written: true }
  }

  /**
   * A retried append repeats the same event ids in the same stream and order: answer with what
   * the first attempt wrote. Any other reuse of a stored event id is an error.
   */
  private findRetriedAppend(streamId: string, events: readonly SerialisedEvent[]): AppendResult | undefined {
    const ids = new Set<string>()
    for (const event of events) {
      if (ids.has(event.id)) throw new DuplicateEventIdError(event.id)
      ids.add(event.id)
    }
    let previous: EventRow | undefined
    const positions: Position[] = []
    for (const [index, event] of events.entries()) {
      const stored = this.statements.byEventId.get(event.id)
      if (!stored) {
        if (index > 0) throw new DuplicateEventIdError(events[index - 1]?.id ?? event.id)
        // A new first event: not a retry, but none of the others may be stored either.
        const reused = events.find((later) => this.statements.byEventId.get(later.id) !== undefined)
        if (reused) throw new DuplicateEventIdError(reused.id)
        return undefined
      }
      const follows = previous === undefined || stored.revision === previous.revision + 1n
      if (stored.stream_id !== streamId || !follows) throw new DuplicateEventIdError(event.id)
      previous = stored
      positions.push(stored.position)
    }
    if (!previous) return undefined
    return appendResultOf(previous.revision, positions)
  }
}

const isRefusal = (error: unknown): boolean =>
  error instanceof WrongExpectedVersionError || error instanceof DuplicateEventIdError || error instanceof IdempotencyKeyClaimedError

// Across the thread boundary errors lose their class: they travel as data and are made again.

export type WireError =
  | { kind: 'wrong-expected-version'; streamId: string; expected: ExpectedState; actual: bigint | undefined }
  | { kind: 'duplicate-event-id'; eventId: string }
  | { kind: 'idempotency-key-claimed'; claim: IdempotencyClaim; claimedBy: { streamId: string; requestHash: string | null } }
  | { kind: 'storage-full' | 'unavailable'; store: string; cause: string }
  | { kind: 'other'; message: string; stack: string | undefined }

export function toWire(error: unknown): WireError {
  if (error instanceof WrongExpectedVersionError) {
    return { kind: 'wrong-expected-version', streamId: error.streamId, expected: error.expected, actual: error.actual }
  }
  if (error instanceof DuplicateEventIdError) return { kind: 'duplicate-event-id', eventId: error.eventId }
  if (error instanceof IdempotencyKeyClaimedError) return { kind: 'idempotency-key-claimed', claim: error.claim, claimedBy: error.claimedBy }
  if (error instanceof StoreUnavailableError) {
    const cause = error.cause instanceof Error ? error.cause.message : String(error.cause)
    return { kind: error instanceof StorageFullError ? 'storage-full' : 'unavailable', store: error.store, cause }
  }
  return error instanceof Error ? { kind: 'other', message: error.message, stack: error.stack } : { kind: 'other', message: String(error), stack: undefined }
}

export function fromWire(wire: WireError, store: string): Error {
  switch (wire.kind) {
    case 'wrong-expected-version':
      return new WrongExpectedVersionError(wire.streamId, wire.expected, wire.actual)
    case 'duplicate-event-id':
      return new DuplicateEventIdError(wire.eventId)
    case 'idempotency-key-claimed':
      return new IdempotencyKeyClaimedError(wire.claim, wire.claimedBy)
    case 'storage-full':
      return new StorageFullError(store, new Error(wire.cause))
    case 'unavailable':
      return new StoreUnavailableError(wire.store, new Error(wire.cause))
    case 'other': {
      const error = new Error(`the SQLite writer failed: ${wire.message}`)
      if (wire.stack) error.stack = `${error.stack ?? ''}\n  in the writer: ${wire.stack}`
      return error
    }
  }
}

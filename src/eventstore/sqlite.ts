import Database from 'better-sqlite3'
import { createPrivateFile } from './store-lock.js'
import { claimToStore, conflicts } from './append-plan.js'
import {
  appendResultOf,
  DuplicateEventIdError,
  IdempotencyKeyClaimedError,
  START,
  WrongExpectedVersionError,
  type AppendOptions,
  type AppendResult,
  type IdempotencyClaim,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from './port.js'
import { AppendSignal, IDEMPOTENCY_CLAIMS_TABLE, boundedCount, serialiseAppend, toRecorded, type EventRow as StoredRow, type SerialisedEvent } from './stored-events.js'

type EventRow = StoredRow<bigint>
import { pollingSubscription } from './subscription.js'
import { rollBackLeftOver, sqliteStoreError } from './sqlite-errors.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position  INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id TEXT    NOT NULL,
  revision  INTEGER NOT NULL,
  event_id  TEXT    NOT NULL UNIQUE,
  type      TEXT    NOT NULL,
  data      TEXT    NOT NULL,
  metadata  TEXT    NOT NULL,
  UNIQUE (stream_id, revision)
);
${IDEMPOTENCY_CLAIMS_TABLE}
`

interface PendingAppend {
  streamId: string
  events: readonly SerialisedEvent[]
  expected: ExpectedState
  claims: readonly IdempotencyClaim[]
  resolve: (result: AppendResult) => void
  reject: (error: unknown) => void
}

/** Most appends committed in one transaction. */
const MAX_GROUP_COMMIT = 256

export interface SqliteEventStoreOptions {
  /** How often a waiting subscription looks for events appended by another process. */
  pollIntervalMs?: number
}

/**
 * The embedded event store: one SQLite file in WAL mode with synchronous=FULL, so that an
 * acknowledged append survives a crash or power loss. SQLite allows one writer at a time, and
 * better-sqlite3 runs each append as one synchronous transaction, so positions are assigned in
 * commit order and a reader can never skip an event committed late.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database
  private readonly signal: AppendSignal
  private closed = false
  private pendingAppends: PendingAppend[] = []
  private flushScheduled = false
  private readonly groupCommit: Database.Transaction<
    (group: readonly PendingAppend[]) => Array<{ ok: true; result: AppendResult & { written: boolean } } | { ok: false; error: unknown }>
  >

  private readonly statements: {
    streamRevision: Database.Statement<[string], { revision: bigint | null }>
    insert: Database.Statement<[string, bigint, string, string, string, string], unknown>
    byEventId: Database.Statement<[string], EventRow>
    forwards: Database.Statement<[string, bigint, number], EventRow>
    backwards: Database.Statement<[string, bigint, number], EventRow>
    all: Database.Statement<[bigint, number], EventRow>
    head: Database.Statement<[], { position: bigint | null }>
    claimOf: Database.Statement<[string, string], { stream_id: string; request_hash: string | null }>
    claim: Database.Statement<[string, string, string, string | null], unknown>
  }

  constructor(path: string, options: SqliteEventStoreOptions = {}) {
    if (path !== ':memory:') createPrivateFile(path)
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(SCHEMA)
    this.signal = new AppendSignal(options.pollIntervalMs ?? 500)
    const columns = 'position, stream_id, revision, event_id, type, data, metadata'
    const prepare = <P extends unknown[], R>(sql: string) => this.db.prepare<P, R>(sql).safeIntegers(true)
    this.statements = {
      streamRevision: prepare('SELECT MAX(revision) AS revision FROM events WHERE stream_id = ?'),
      insert: prepare(
        'INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      byEventId: prepare(`SELECT ${columns} FROM events WHERE event_id = ?`),
      forwards: prepare(
        `SELECT ${columns} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`,
      ),
      backwards: prepare(
        `SELECT ${columns} FROM events WHERE stream_id = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      ),
      all: prepare(`SELECT ${columns} FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`),
      head: prepare('SELECT MAX(position) AS position FROM events'),
      claimOf: prepare('SELECT stream_id, request_hash FROM idempotency_claims WHERE scope = ? AND key = ?'),
      claim: prepare('INSERT INTO idempotency_claims (scope, key, stream_id, request_hash) VALUES (?, ?, ?, ?)'),
    }
    // Nested inside the group's transaction, better-sqlite3 runs each append as a savepoint. Only
    // the port's own refusals fail one append; any other error (disk full, I/O) may have rolled
    // back the whole transaction, so it aborts the group and nothing of it is committed.
    const appendOne = this.db.transaction(this.appendTransaction)
    this.groupCommit = this.db.transaction((group: readonly PendingAppend[]) =>
      group.map((append) => {
        try {
          return { ok: true as const, result: appendOne(append.streamId, append.events, append.expected, append.claims) }
        } catch (error) {
          if (
            error instanceof WrongExpectedVersionError ||
            error instanceof DuplicateEventIdError ||
            error instanceof IdempotencyKeyClaimedError
          ) {
            return { ok: false as const, error }
          }
          throw error
        }
      }),
    )
  }

  private readonly appendTransaction = (
    streamId: string,
    events: readonly SerialisedEvent[],
    expected: ExpectedState,
    claims: readonly IdempotencyClaim[],
  ): AppendResult & { written: boolean } => {
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

  /**
   * Appends wait for the next turn of the event loop and commit together: one transaction and one
   * fsync for every append that arrived meanwhile (group commit). Each append runs in its own
   * savepoint, so a conflict fails that append alone; each promise resolves only after the commit.
   */
  append(streamId: string, events: readonly EventToAppend[], expected: ExpectedState, options: AppendOptions = {}): Promise<AppendResult> {
    let serialised: SerialisedEvent[]
    try {
      this.assertOpen()
      serialised = serialiseAppend(events)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      this.pendingAppends.push({ streamId, events: serialised, expected, claims: options.claims ?? [], resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(this.flushAppends)
      }
    })
  }

  private readonly flushAppends = (): void => {
    this.flushScheduled = false
    if (this.pendingAppends.length === 0) return
    const group = this.pendingAppends.splice(0, MAX_GROUP_COMMIT)
    if (this.pendingAppends.length > 0) {
      this.flushScheduled = true
      setImmediate(this.flushAppends)
    }
    let outcomes: Array<{ ok: true; result: AppendResult & { written: boolean } } | { ok: false; error: unknown }>
    try {
      rollBackLeftOver(this.db)
      outcomes = this.groupCommit.immediate(group)
    } catch (error) {
      // The whole group was rolled back (a full disk: StorageFullError, answered 503): every
      // append in it fails, none hangs, and nothing of it is visible.
      rollBackLeftOver(this.db)
      const refused = sqliteStoreError(error)
      for (const append of group) append.reject(refused)
      return
    }
    let written = false
    for (const [index, append] of group.entries()) {
      const outcome = outcomes[index]
      if (!outcome) append.reject(new Error('the group commit lost an append'))
      else if (!outcome.ok) append.reject(outcome.error)
      else {
        written ||= outcome.result.written
        append.resolve(appendResultOf(outcome.result.nextExpectedRevision, outcome.result.positions))
      }
    }
    if (written) this.signal.notify()
  }

  async readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    const count = boundedCount(options.maxCount)
    const rows = this.reading(() =>
      options.direction === 'backwards'
        ? this.statements.backwards.all(streamId, options.fromRevision ?? BigInt(Number.MAX_SAFE_INTEGER), count)
        : this.statements.forwards.all(streamId, options.fromRevision ?? 0n, count),
    )
    return rows.map(toRecorded)
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.assertOpen()
    return this.reading(() => this.statements.all.all(options.after, boundedCount(options.maxCount))).map(toRecorded)
  }

  async headPosition(): Promise<Position> {
    this.assertOpen()
    return this.reading(() => this.statements.head.get()?.position ?? START)
  }

  /** A read that fails on the disk (an I/O error) is the store being unavailable, as for writes. */
  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (error) {
      throw sqliteStoreError(error)
    }
  }

  subscribeToAll(options: SubscribeOptions): Subscription {
    this.assertOpen()
    return pollingSubscription({
      after: options.after,
      batchSize: boundedCount(options.batchSize ?? 500),
      readAll: (readOptions) => this.readAll(readOptions),
      appendCount: () => this.signal.count,
      // The next append in this process, or the poll interval for appends by others.
      waitForAppend: (seen, signal) => this.signal.wait(seen, signal),
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    // Appends accepted before close are committed, not dropped.
    while (this.pendingAppends.length > 0) this.flushAppends()
    this.closed = true
    this.signal.notify()
    this.db.close()
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the event store is closed')
  }
}

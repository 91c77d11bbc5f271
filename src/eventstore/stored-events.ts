import { EventEmitter } from 'node:events'
import { MAX_READ_COUNT, type EventToAppend, type RecordedEvent } from './port.js'

/** What the SQL event stores (SQLite, PostgreSQL) share: their row, its reading, and how appends are announced. */

/**
 * The idempotency claims (AppendOptions.claim) beside the events, filled in the append's own
 * transaction. Migration 005 creates the same table in the read models' database for KurrentDB.
 */
export const IDEMPOTENCY_CLAIMS_TABLE = `CREATE TABLE IF NOT EXISTS idempotency_claims (
  scope        TEXT NOT NULL,
  key          TEXT NOT NULL,
  stream_id    TEXT NOT NULL,
  request_hash TEXT,
  PRIMARY KEY (scope, key)
);`

/** A row of an `events` table: integers as bigint (SQLite) or text (PostgreSQL), data and metadata as JSON text. */
export interface EventRow<Integer extends bigint | string = bigint | string> {
  position: Integer
  stream_id: string
  revision: Integer
  event_id: string
  type: string
  data: string
  metadata: string
}

/**
 * A stored integer column as a bigint. SQLite keeps whatever it is given, so a changed file may
 * hold text, a fraction or a blob there: the row does not read, a SyntaxError as for broken JSON
 * (the audit verify reports such an event instead of stopping).
 */
function integerOf(value: unknown, column: string): bigint {
  if (typeof value === 'bigint') return value
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
  throw new SyntaxError(`the ${column} column holds no integer`)
}

export function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    revision: integerOf(row.revision, 'revision'),
    position: integerOf(row.position, 'position'),
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as unknown,
  }
}

/** Every read is bounded: a count the caller gives is checked and kept to MAX_READ_COUNT. */
export function boundedCount(maxCount: number): number {
  if (!Number.isInteger(maxCount) || maxCount < 1) throw new RangeError('maxCount must be a positive integer')
  return Math.min(maxCount, MAX_READ_COUNT)
}

/** An event as it is stored: serialised before it joins a group, so that bad data fails alone. */
export interface SerialisedEvent {
  id: string
  type: string
  data: string
  metadata: string
}

/** The events of one append, checked for size and serialised; throws for an append no store takes. */
export function serialiseAppend(events: readonly EventToAppend[]): SerialisedEvent[] {
  if (events.length === 0) throw new RangeError('an append needs at least one event')
  if (events.length > MAX_READ_COUNT) throw new RangeError(`an append holds at most ${MAX_READ_COUNT} events`)
  return events.map((event) => ({
    id: event.id,
    type: event.type,
    data: JSON.stringify(event.data),
    metadata: JSON.stringify(event.metadata),
  }))
}

/**
 * Counts the appends a store has seen (its own, and others' it was told of) and wakes the
 * subscriptions waiting for one; a waiting subscription also looks again after `pollIntervalMs`.
 */
export class AppendSignal {
  private readonly emitter = new EventEmitter()
  count = 0

  constructor(private readonly pollIntervalMs: number) {
    this.emitter.setMaxListeners(0)
  }

  notify(): void {
    this.count += 1
    this.emitter.emit('appended')
  }

  /** Calls `listener` after every append this signal hears of; answers how to stop. */
  listen(listener: () => void): () => void {
    this.emitter.on('appended', listener)
    return () => void this.emitter.off('appended', listener)
  }

  /** Resolves once the count differs from `seen`, after the poll interval, or on abort. */
  wait(seen: number, signal: AbortSignal): Promise<void> {
    if (seen !== this.count || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.emitter.off('appended', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, this.pollIntervalMs)
      this.emitter.on('appended', done)
      signal.addEventListener('abort', done)
    })
  }
}

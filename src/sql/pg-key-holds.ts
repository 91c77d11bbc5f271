import { setTimeout as sleep } from 'node:timers/promises'
import type { KeyHolds, Unhold } from '../application/idempotency-keys.js'
import { lockKey } from './pg-pool.js'
import type { PgSession } from './pg-session.js'

/** How long a write waits for another process's hold on its key before it is answered 409. */
export const KEY_HOLD_WAIT_MS = 5_000
const FIRST_POLL_MS = 5
const MAX_POLL_MS = 100
/** Most takes and gives-back sent in one query. */
const MAX_BATCH = 512

/**
 * Each row one operation, in order: try to take the lock (true) or give it back (false). A session
 * may hold a lock several times over (two requests of this process with one key): the order of
 * takes and gives-back within one query changes nothing then, and another session's take fails.
 */
const OPERATE = `SELECT CASE WHEN t.take THEN pg_try_advisory_lock(t.key) ELSE pg_advisory_unlock(t.key) END AS ok
  FROM unnest($1::bigint[], $2::boolean[]) WITH ORDINALITY AS t(key, take, n) ORDER BY t.n`

interface Operation {
  key: string
  take: boolean
  /** The connection a give-back belongs to (see `generation`). */
  generation: number
  /** A take's answer: whether it holds the key now; undefined while the session is away. */
  answer?: (taken: { ok: boolean; generation: number } | undefined) => void
}

/**
 * Idempotency keys held across processes on PostgreSQL: a session advisory lock per key on the
 * process's dedicated connection (PgSession), taken before a keyed write is decided and given back
 * once it is answered. Another process polls for it (a blocking lock would stall the session's
 * other queries). The server drops the locks of a killed process with its connection, so a crash
 * never leaves a key held. The takes and gives-back of concurrent writes go out together, one
 * query per round trip, so that a busy process pays one query for many writes.
 *
 * While the session is not connected a write goes on unheld rather than being refused: the store's
 * claim still keeps the key to one request, and only a retry racing its first request across
 * processes may then be decided on its own, as docs/api.md says.
 */
export class PgKeyHolds implements KeyHolds {
  /**
   * Counts the session's connections. A lock taken on an earlier one went with it; giving it back
   * on the new one could give back another request's hold of the same key.
   */
  private generation = 0
  private readonly queue: Operation[] = []
  private sending = false

  constructor(
    private readonly session: PgSession,
    private readonly schema: string,
    private readonly maxWaitMs = KEY_HOLD_WAIT_MS,
  ) {
    session.on('connected', () => this.generation++)
  }

  async hold(scopedKey: string): Promise<Unhold | undefined> {
    // Per schema, so that two ledgers in one database never wait for each other.
    const key = lockKey(this.schema, `idempotency-key\0${scopedKey}`).toString()
    const deadline = Date.now() + this.maxWaitMs
    for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
      const taken = await new Promise<{ ok: boolean; generation: number } | undefined>((answer) =>
        this.submit({ key, take: true, generation: this.generation, answer }),
      )
      if (taken === undefined) return () => {}
      if (taken.ok) return () => this.submit({ key, take: false, generation: taken.generation })
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await sleep(Math.min(pause, left))
    }
  }

  private submit(operation: Operation): void {
    this.queue.push(operation)
    if (!this.sending) void this.send()
  }

  /** Sends what is queued, one query at a time, until nothing is; only one sender runs. */
  private async send(): Promise<void> {
    this.sending = true
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH).filter((op) => op.take || op.generation === this.generation)
        if (batch.length === 0) continue
        // Read in the same turn as the query picks its connection (PgSession sets both in one turn too).
        const generation = this.generation
        let rows: Array<{ ok: boolean | null }> | undefined
        try {
          rows = await this.session.query<{ ok: boolean | null }>(OPERATE, [batch.map((op) => op.key), batch.map((op) => op.take)])
        } catch {
          rows = undefined
        }
        batch.forEach((op, index) => op.answer?.(rows === undefined ? undefined : { ok: rows[index]?.ok === true, generation }))
      }
    } finally {
      this.sending = false
    }
  }
}

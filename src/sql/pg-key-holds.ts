import { setTimeout as sleep } from 'node:timers/promises'
import type { KeyHolds, Unhold } from '../application/idempotency-keys.js'
import { lockKey } from './pg-pool.js'
import type { PgSession } from './pg-session.js'

/** How long a write waits for another process's hold on its key before it is answered 409. */
export const KEY_HOLD_WAIT_MS = 5_000
/** After the session was reset for a failed batch, writes go on unheld this long: a cause that lasts (the lock table full) must not reconnect it on every write. */
const RESET_PAUSE_MS = 1_000
/** How long one take may go unanswered before the write goes on unheld: the session hangs. */
const TAKE_ANSWER_MS = 5_000
const FIRST_POLL_MS = 5
const MAX_POLL_MS = 100
/** Most takes and gives-back sent in one query. */
const MAX_BATCH = 512
/**
 * Most keys one process holds at once; beyond them a write goes on unheld. Each held key is an
 * entry in the server's shared lock table (max_locks_per_transaction × max_connections, 6,400 by
 * default), which the appends' own locks need too.
 */
export const MAX_HELD_KEYS = 256

/**
 * Each row one operation, in order: try to take the lock (true) or give it back (false). A session
 * may hold a lock several times over (two requests of this process with one key): the order of
 * takes and gives-back within one query changes nothing then, and another session's take fails.
 */
const OPERATE = `SELECT CASE WHEN t.take THEN pg_try_advisory_lock(t.key) ELSE pg_advisory_unlock(t.key) END AS ok
  FROM unnest($1::bigint[], $2::boolean[]) WITH ORDINALITY AS t(key, take, n) ORDER BY t.n`

interface Taken {
  ok: boolean
  generation: number
}

const UNHELD: Unhold = () => {}

/** The answer, or 'late' when it did not come within `ms`. */
async function answerWithin<T>(answer: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)))
  try {
    return await Promise.race([answer, late])
  } finally {
    clearTimeout(timer)
  }
}

interface Operation {
  key: string
  take: boolean
  /** The connection a give-back belongs to (see `generation`). */
  generation: number
  /** A take's answer: whether it holds the key now; undefined while the session is away. */
  answer?: (taken: Taken | undefined) => void
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
  /** Keys held on the current connection (a take that succeeded and is not yet given back). */
  private held = 0
  /** Takes sent and not yet answered: they count against MAX_HELD_KEYS too. */
  private taking = 0
  private resetAt = Number.NEGATIVE_INFINITY
  private readonly queue: Operation[] = []
  private sending = false

  constructor(
    private readonly session: PgSession,
    private readonly schema: string,
    private readonly maxWaitMs = KEY_HOLD_WAIT_MS,
  ) {
    session.on('connected', () => {
      this.generation++
      this.held = 0
    })
  }

  async hold(scopedKey: string): Promise<Unhold | undefined> {
    if (this.held + this.taking >= MAX_HELD_KEYS || Date.now() - this.resetAt < RESET_PAUSE_MS) return UNHELD
    // Per schema, so that two ledgers in one database never wait for each other.
    const key = lockKey(this.schema, `idempotency-key\0${scopedKey}`).toString()
    const deadline = Date.now() + this.maxWaitMs
    for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
      this.taking++
      const take = new Promise<Taken | undefined>((answer) => this.submit({ key, take: true, generation: this.generation, answer }))
      void take.then(() => this.taking--)
      const taken = await answerWithin(take, TAKE_ANSWER_MS)
      if (taken === 'late') {
        // The session hangs: go on unheld, and give the key back should the take still land.
        void take.then((late) => late?.ok && this.giveBack(key, late.generation))
        return UNHELD
      }
      if (taken === undefined) return UNHELD
      if (taken.ok) return () => this.giveBack(key, taken.generation)
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await sleep(Math.min(pause, left))
    }
  }

  private giveBack(key: string, generation: number): void {
    if (generation !== this.generation) return
    this.held--
    this.submit({ key, take: false, generation })
  }

  private reset(error: unknown): void {
    this.resetAt = Date.now()
    try {
      this.session.reset(error)
    } catch {
      // A listener of the session failed: the batch's takes are still answered below.
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
        } catch (error) {
          rows = undefined
          // A statement that failed part-way (the server's lock table full, a cancel) keeps the locks
          // its rows took before the error, and nobody knows which: a new connection drops them all.
          if (generation === this.generation) this.reset(error)
        }
        for (const [index, op] of batch.entries()) {
          const ok = rows?.[index]?.ok === true
          if (ok && op.take && generation === this.generation) this.held++
          op.answer?.(rows === undefined ? undefined : { ok, generation })
        }
      }
    } finally {
      this.sending = false
    }
  }
}

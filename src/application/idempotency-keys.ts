/** Idempotency keys belong to the actor who sent them: two users never share one. */
export const scopedKey = (actorSub: string, key: string): string => JSON.stringify([actorSub, key])

export interface IdempotentWriteRecord {
  streamId: string
  requestHash: string | null
}

/** Where an actor's key was first used, as the read models know it (they may lag a little). */
export type FindIdempotentWrite = (actorSub: string, key: string) => Promise<IdempotentWriteRecord | undefined>

/** Keys remembered in memory; beyond this the oldest are forgotten and the read model answers. */
const MAX_REMEMBERED_KEYS = 100_000

/**
 * Makes one idempotency key serve one request, across all streams, without a query on the write
 * path. A key is claimed in memory before its write starts, so two requests racing in this process
 * cannot both use it; the store claims it again with the events, atomically, which refuses a key
 * that an earlier run or another process took for another stream. Only a write that is refused
 * without reaching the store asks the read model (`servesAnother`), so that a reused key is
 * answered as reused whether or not the request was valid. (Reuse on the same stream is caught
 * from the stream itself, which never lags.)
 */
export class IdempotencyKeyIndex {
  private readonly claims = new Map<string, IdempotentWriteRecord>()

  constructor(private readonly find: FindIdempotentWrite | undefined) {}

  /** True when the key may serve this request on this stream as far as this process knows; false when it serves another. */
  claim(actorSub: string, key: string, request: IdempotentWriteRecord): boolean {
    const scoped = scopedKey(actorSub, key)
    const claimed = this.claims.get(scoped)
    if (claimed) return sameRequest(claimed, request)
    this.remember(scoped, request)
    return true
  }

  /** Whether the read models know the key serving another request (from an earlier run or another process). */
  async servesAnother(actorSub: string, key: string, request: IdempotentWriteRecord): Promise<boolean> {
    const stored = await this.find?.(actorSub, key)
    return stored !== undefined && !sameRequest(stored, request)
  }

  /** Frees a claim whose request wrote nothing: a key binds to a write, as it does in the stream. */
  release(actorSub: string, key: string, request: IdempotentWriteRecord): void {
    const scoped = scopedKey(actorSub, key)
    const claimed = this.claims.get(scoped)
    if (claimed && sameRequest(claimed, request)) this.claims.delete(scoped)
  }

  private remember(scoped: string, record: IdempotentWriteRecord): void {
    this.claims.delete(scoped)
    this.claims.set(scoped, record)
    if (this.claims.size > MAX_REMEMBERED_KEYS) {
      const oldest = this.claims.keys().next().value
      if (oldest !== undefined) this.claims.delete(oldest)
    }
  }
}

const sameRequest = (a: IdempotentWriteRecord, b: IdempotentWriteRecord): boolean =>
  a.streamId === b.streamId && a.requestHash === b.requestHash

/** Gives back a hold on a key; it never throws. */
export type Unhold = () => void

/**
 * Holds an actor's key for every process that writes to the same store, from before its request is
 * decided until it is answered. The store's own claim keeps a key to one request in any case; the
 * hold makes a retry sent to a second process while the first is still writing wait for that write,
 * and so answer as it did (a replay), instead of being decided on a state that does not hold it yet.
 * One process needs none: its writes to a stream are decided in order.
 */
export interface KeyHolds {
  /** The key held by this process, or undefined when another process still held it after the wait. */
  hold(scopedKey: string): Promise<Unhold | undefined>
}

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
 * Makes one idempotency key serve one request, across all streams. A key is claimed in memory
 * before its write starts, so two requests racing in this process cannot both use it; keys from
 * earlier runs or other processes are found in the read model. (Reuse on the same stream is
 * caught from the stream itself, which never lags.)
 */
export class IdempotencyKeyIndex {
  private readonly claims = new Map<string, IdempotentWriteRecord>()

  constructor(private readonly find: FindIdempotentWrite | undefined) {}

  /** True when the key may serve this request on this stream; false when it serves another. */
  async claim(actorSub: string, key: string, request: IdempotentWriteRecord): Promise<boolean> {
    const scoped = scopedKey(actorSub, key)
    const claimed = this.claims.get(scoped)
    if (claimed) return sameRequest(claimed, request)
    this.remember(scoped, request)
    const stored = await this.find?.(actorSub, key)
    if (stored && !sameRequest(stored, request)) {
      this.remember(scoped, stored)
      return false
    }
    return true
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

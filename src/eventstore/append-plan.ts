import {
  DuplicateEventIdError,
  IdempotencyKeyClaimedError,
  WrongExpectedVersionError,
  type ExpectedState,
  type IdempotencyClaim,
  type Position,
} from './port.js'

/**
 * What a group of appends does, decided from what the store holds before it: pure, so that an
 * adapter reads once for the whole group, decides here, and writes once (src/eventstore/postgres.ts).
 * The appends are decided in order, each seeing what the ones before it in the group write.
 */

export interface PlannedAppend {
  streamId: string
  eventIds: readonly string[]
  expected: ExpectedState
  claims: readonly IdempotencyClaim[]
}

export interface StoredRef {
  streamId: string
  revision: bigint
  position: Position
}

export interface StoreSnapshot {
  /** The stored events among the group's event ids. */
  byEventId: ReadonlyMap<string, StoredRef>
  /** The current revision of each of the group's streams that exists. */
  revisions: ReadonlyMap<string, bigint>
  /** The stored claims among the group's claims, by claimKey. */
  claims: ReadonlyMap<string, { streamId: string; requestHash: string | null }>
}

export type AppendDecision =
  /** Write the events at these revisions (and the claims that are new). */
  | { kind: 'write'; revisions: bigint[]; newClaims: IdempotencyClaim[] }
  /** A retry of an append stored before the group: answer with what it wrote. */
  | { kind: 'stored'; nextExpectedRevision: bigint; positions: Position[] }
  /** A retry of an earlier append of this group: answer with its result. */
  | { kind: 'same-as'; index: number }
  | { kind: 'refused'; error: Error }

export const claimKey = (claim: { scope: string; key: string }): string => JSON.stringify([claim.scope, claim.key])

export function planAppends(appends: readonly PlannedAppend[], snapshot: StoreSnapshot): AppendDecision[] {
  const revisions = new Map(snapshot.revisions)
  const claims = new Map(snapshot.claims)
  /** Event ids written by earlier appends of the group: which append, at which revision. */
  const planned = new Map<string, { index: number; streamId: string; revision: bigint }>()
  return appends.map((append, index) => {
    try {
      const retry = findRetry(append, snapshot.byEventId, planned)
      if (retry) return retry
      const current = revisions.get(append.streamId)
      if (conflicts(append.expected, current)) throw new WrongExpectedVersionError(append.streamId, append.expected, current)
      const newClaims = newClaimsOf(append, claims)
      let revision = current ?? -1n
      const written = append.eventIds.map(() => (revision += 1n))
      revisions.set(append.streamId, revision)
      append.eventIds.forEach((id, i) => planned.set(id, { index, streamId: append.streamId, revision: written[i] ?? 0n }))
      for (const claim of newClaims) claims.set(claimKey(claim), { streamId: append.streamId, requestHash: claim.requestHash })
      return { kind: 'write', revisions: written, newClaims }
    } catch (error) {
      if (error instanceof Error) return { kind: 'refused', error }
      throw error
    }
  })
}

/** The append's claims that are new; throws when one serves another request (or one key comes twice for two). */
function newClaimsOf(
  append: PlannedAppend,
  stored: ReadonlyMap<string, { streamId: string; requestHash: string | null }>,
): IdempotencyClaim[] {
  const taken = new Map(stored)
  const fresh: IdempotencyClaim[] = []
  for (const claim of append.claims) {
    const toStore = claimToStore(append.streamId, claim, taken.get(claimKey(claim)))
    if (!toStore) continue
    fresh.push(toStore)
    taken.set(claimKey(toStore), { streamId: append.streamId, requestHash: toStore.requestHash })
  }
  return fresh
}

export function conflicts(expected: ExpectedState, current: bigint | undefined): boolean {
  return (
    (expected === 'no_stream' && current !== undefined) ||
    (expected === 'stream_exists' && current === undefined) ||
    (typeof expected === 'object' && expected.revision !== current)
  )
}

/**
 * A retried append repeats the same event ids in the same stream and order: it is answered with
 * what the first attempt wrote. Any other reuse of a stored event id is an error.
 */
function findRetry(
  append: PlannedAppend,
  stored: ReadonlyMap<string, StoredRef>,
  planned: ReadonlyMap<string, { index: number; streamId: string; revision: bigint }>,
): AppendDecision | undefined {
  const ids = new Set<string>()
  for (const id of append.eventIds) {
    if (ids.has(id)) throw new DuplicateEventIdError(id)
    ids.add(id)
  }
  const found = append.eventIds.map((id) => stored.get(id) ?? planned.get(id))
  if (found.every((ref) => ref === undefined)) return undefined
  const first = found[0]
  const consecutive = found.every(
    (ref, i) => ref !== undefined && ref.streamId === append.streamId && ref.revision === (first?.revision ?? 0n) + BigInt(i),
  )
  const firstId = append.eventIds[found.findIndex((ref) => ref !== undefined)] ?? ''
  if (!consecutive || first === undefined) throw new DuplicateEventIdError(firstId)
  const last = found[found.length - 1]
  if (last !== undefined && 'position' in last) {
    // Stored before the group; all of them then, since positions follow revisions in a stream.
    const positions = found.map((ref) => (ref !== undefined && 'position' in ref ? ref.position : undefined))
    if (!positions.every((position) => position !== undefined)) throw new DuplicateEventIdError(firstId)
    return { kind: 'stored', nextExpectedRevision: last.revision, positions: positions as Position[] }
  }
  const indexes = new Set(found.map((ref) => (ref !== undefined && 'index' in ref ? ref.index : -1)))
  const [index] = indexes
  if (indexes.size !== 1 || index === undefined || index < 0) throw new DuplicateEventIdError(firstId)
  return { kind: 'same-as', index }
}

/**
 * The claim to store with an append to `streamId`: the claim when the key is new, undefined when
 * it is stored already for this request and stream; throws when it serves another.
 */
export function claimToStore(
  streamId: string,
  claim: IdempotencyClaim,
  existing: { streamId: string; requestHash: string | null } | undefined,
): IdempotencyClaim | undefined {
  if (existing === undefined) return claim
  if (existing.streamId === streamId && existing.requestHash === claim.requestHash) return undefined
  throw new IdempotencyKeyClaimedError(claim, existing)
}

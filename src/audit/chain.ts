import { createHash } from 'node:crypto'
import { canonicalJson } from './canonical-json.js'

/**
 * The tamper-evident chain. Every event carries in its metadata `previousHash`, the hash of the
 * event before it in its stream (null for the first), and `hash`, a SHA-256 over its canonical
 * content: stream, revision, type, data, and metadata without `hash` and `previousHash`, plus the
 * previous hash. The content is canonical JSON (RFC 8785), so a store that reorders keys, as
 * PostgreSQL's jsonb does, cannot break it; the revision is in it, so an event moved, swapped or
 * deleted breaks the chain too.
 *
 * Events written before the chain existed (0.2.0) carry no hashes: their links are computed the
 * same way when a stream is read, and the first event written with a hash links to the last of
 * them. So the first link covers every older event of the stream: changing one changes it.
 */

/** A stored event as the chain sees it: the content exactly as stored, not as read today. */
export interface ChainedContent {
  streamId: string
  revision: bigint
  type: string
  data: unknown
  metadata: unknown
}

const HASH_PATTERN = /^[0-9a-f]{64}$/

export interface ChainLinks {
  previousHash: string | null | undefined
  hash: string | undefined
}

/** The chain's fields of a stored event's metadata, where it has them. */
export function linksOf(metadata: unknown): ChainLinks {
  const fields = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as Record<string, unknown>
  const previous = fields.previousHash
  const hash = fields.hash
  return {
    previousHash: previous === null ? null : typeof previous === 'string' ? previous : undefined,
    hash: typeof hash === 'string' ? hash : undefined,
  }
}

const LINK_FIELDS: ReadonlySet<string> = new Set(['hash', 'previousHash'])

/**
 * The hash of an event that follows `previousHash` in its stream: SHA-256 of the canonical JSON of
 * { streamId, revision (as a string), type, data, metadata without its links, previousHash }.
 */
export function eventHash(event: ChainedContent, previousHash: string | null): string {
  const metadata = typeof event.metadata === 'object' && event.metadata !== null ? event.metadata : {}
  // That object's members in canonical (sorted) order: data, metadata, previousHash, revision,
  // streamId, type; written out here so that only the members' values need canonicalJson. An array
  // as metadata (never written, but a store could hold one) is hashed as the object of its indexes.
  const text =
    `{"data":${canonicalJson(event.data)},"metadata":${canonicalJson(Array.isArray(metadata) ? { ...metadata } : metadata, LINK_FIELDS)},` +
    `"previousHash":${canonicalJson(previousHash)},"revision":${canonicalJson(event.revision.toString())},` +
    `"streamId":${canonicalJson(event.streamId)},"type":${canonicalJson(event.type)}}`
  return createHash('sha256').update(text).digest('hex')
}

/** The metadata an event is stored with: its own, plus its links after `previousHash`. */
export function withLinks<M extends object>(
  event: { streamId: string; revision: bigint; type: string; data: unknown },
  metadata: M,
  previousHash: string | null,
): M & { previousHash: string | null; hash: string } {
  const linked = { ...metadata, previousHash }
  return { ...linked, hash: eventHash({ ...event, metadata: linked }, previousHash) }
}

/**
 * The link of a stored event as the chain continues: its stored hash when it has one (whether
 * that is right is the verifier's question), else the hash computed over what is stored.
 */
export function linkOf(event: ChainedContent, previousHash: string | null): string {
  const stored = linksOf(event.metadata).hash
  return stored !== undefined && HASH_PATTERN.test(stored) ? stored : eventHash(event, previousHash)
}

export const isHash = (value: unknown): value is string => typeof value === 'string' && HASH_PATTERN.test(value)

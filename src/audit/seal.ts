import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { existsSync } from 'node:fs'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { canonicalJson } from './canonical-json.js'
import { z } from 'zod'
import { loadOrCreateSecret, MIN_SECRET_LENGTH, SecretFileError } from '../auth/tokens.js'
import { ConfigError, type AuditSealKeyConfig } from '../config.js'
import { MAX_READ_COUNT, START, type EventStore, type Position } from '../eventstore/port.js'
import { linkOf } from './chain.js'

/**
 * The seal: a signed snapshot of where every stream stood, so that a later verify can tell that
 * no stream lost its tail and no sealed event was rewritten, which the chain alone cannot (a
 * stream cut after its last good event, or rewritten with fresh hashes, is a valid chain).
 *
 * A seal names every stream's head (its last revision and that event's link in the chain, as
 * `linkOf` gives it: the stored hash, or the computed one for events from before the chain), a
 * root hash over the heads (SHA-256 of their canonical JSON, sorted by stream), the log position
 * it covers (every event at or before it), when it was taken, and an HMAC-SHA256 over all of that
 * with a key kept outside the database (AUDIT_SEAL_KEY, or `audit-seal-key` in the data folder):
 * whoever can write the database cannot make a seal that verifies.
 *
 * The heads alone do not fix the order of the log: two events of different streams can swap their
 * positions and every stream still reads the same. So a seal also holds `logDigest`, a running
 * SHA-256 over every event's position, stream, revision and link up to its position (LogDigest),
 * signed with the rest. Seals taken before it existed have no `logDigest`; they still verify, with
 * every check but the order's (stripping it from a newer seal changes what the HMAC covers).
 */

export const SEAL_VERSION = 1

/** Most streams a seal names: the verify route's body limit is sized for it (SEAL_BODY_LIMIT_BYTES). */
export const MAX_SEAL_HEADS = 50_000
/** A head is under 200 bytes of JSON; the seal's other members a few hundred. */
export const SEAL_BODY_LIMIT_BYTES = 10 * 1024 * 1024

const SEAL_PAGE_SIZE = 2000

const hexHash = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits')
const integerText = z.string().regex(/^(0|[1-9][0-9]{0,18})$/, 'must be a non-negative integer')

const streamHeadFields = z.strictObject({
  streamId: z.string().min(1).max(200),
  revision: integerText,
  hash: hexHash,
})

const sealOf = <Head extends z.ZodType>(head: Head) =>
  z.strictObject({
    version: z.literal(SEAL_VERSION),
    position: integerText.meta({ description: 'The seal covers every event at or before this log position' }),
    sealedAt: z.iso.datetime().meta({ description: 'When the seal was taken (ISO 8601 UTC)' }),
    root: hexHash.meta({ description: 'SHA-256 over the canonical JSON (RFC 8785) of `heads`' }),
    heads: z.array(head).max(MAX_SEAL_HEADS).meta({ description: 'Every stream, sorted by streamId' }),
    logDigest: hexHash.optional().meta({
      description: "SHA-256 over every event's position, stream, revision and link up to `position`, in log order; absent in older seals",
    }),
    hmac: hexHash.meta({
      description: 'HMAC-SHA256 over the canonical JSON of every other member, with a key kept outside the database',
    }),
  })

/** A seal as the service answers it: a named component of the OpenAPI document. */
export const sealSchema = sealOf(
  streamHeadFields.meta({ id: 'StreamHead', description: "A stream's last revision when the seal was taken, and that event's link in the chain" }),
).meta({ id: 'Seal', description: 'Where every stream of the log stood, signed by this service' })

/**
 * A seal as a request or a file brings it back: the same strict shape, not named, so that the
 * document does not carry a second (input) copy of the component.
 */
export const sealInputSchema = sealOf(streamHeadFields)

export type StreamHead = z.infer<typeof streamHeadFields>
export type Seal = z.infer<typeof sealSchema>

/** The root over the heads: SHA-256 of their canonical JSON, in the order given (sorted by streamId). */
export function rootOf(heads: readonly StreamHead[]): string {
  return createHash('sha256').update(canonicalJson(heads)).digest('hex')
}

function hmacOf(content: Omit<Seal, 'hmac'>, key: string): string {
  return createHmac('sha256', key).update(canonicalJson(content)).digest('hex')
}

/**
 * The log's order up to a position: a running SHA-256 over each event's position, stream, revision
 * and link, in log order. Each event is one line of JSON, so no stream id can make two different
 * logs give the same text. The seal and the verifier both feed it, each as it reads the log.
 */
export class LogDigest {
  private readonly hash = createHash('sha256')

  /** `link` undefined: the event's link cannot be known (it cannot be read), so no sealed digest matches. */
  add(position: Position, streamId: string, revision: bigint | string, link: string | undefined): void {
    this.hash.update(`${JSON.stringify([position.toString(), streamId, String(revision), link ?? 'unknown'])}\n`)
  }

  digest(): string {
    return this.hash.digest('hex')
  }
}

const byStream = (a: StreamHead, b: StreamHead): number => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0)

/** Signs the heads (and, given, the order's digest) of the log at `position`. */
export function signSeal(heads: readonly StreamHead[], position: Position, sealedAt: Date, key: string, logDigest?: string): Seal {
  const sorted = [...heads].sort(byStream)
  const content = {
    version: SEAL_VERSION,
    position: position.toString(),
    sealedAt: sealedAt.toISOString(),
    root: rootOf(sorted),
    heads: sorted,
    ...(logDigest === undefined ? {} : { logDigest }),
  } as const
  return { ...content, hmac: hmacOf(content, key) }
}

/**
 * Why a seal is not one this service made, or undefined when it is. The HMAC is checked first and
 * in constant time; a seal whose HMAC matches but whose root or order does not could only come
 * from someone holding the key, and is refused all the same.
 */
export function sealForgery(seal: Seal, key: string): string | undefined {
  const { hmac, ...content } = seal
  const expected = Buffer.from(hmacOf(content, key), 'hex')
  const given = Buffer.from(hmac, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return "the seal's HMAC does not match: this service did not make it with its key, or it was changed since"
  }
  if (rootOf(seal.heads) !== seal.root) return "the seal's root is not the hash of its heads"
  for (let index = 1; index < seal.heads.length; index++) {
    if (byStream(seal.heads[index - 1] as StreamHead, seal.heads[index] as StreamHead) >= 0) {
      return "the seal's heads are not sorted by stream, or name a stream twice"
    }
  }
  return undefined
}

/**
 * Takes a seal: reads the whole log up to its head as it is now, page by page (letting other work
 * run between pages), and keeps only each stream's last revision and link.
 */
export async function takeSeal(store: EventStore, key: string, clock: () => Date): Promise<Seal> {
  const head = await store.headPosition()
  const heads = new Map<string, { revision: bigint; link: string }>()
  const order = new LogDigest()
  let after: Position = START
  while (after < head) {
    let page
    try {
      page = await store.readAll({ after, maxCount: Math.min(SEAL_PAGE_SIZE, MAX_READ_COUNT) })
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error
      throw new Error(`cannot seal: an event after position ${after} cannot be read; POST /v1/audit/verify names it`, { cause: error })
    }
    if (page.length === 0) break
    for (const event of page) {
      if (event.position > head) break
      const previous = heads.get(event.streamId)?.link ?? null
      const link = linkOf(event, previous)
      heads.set(event.streamId, { revision: event.revision, link })
      order.add(event.position, event.streamId, event.revision, link)
    }
    after = page[page.length - 1]?.position ?? head
    await yieldToEventLoop()
  }
  if (heads.size > MAX_SEAL_HEADS) throw new Error(`cannot seal: the log has ${heads.size} streams, a seal holds at most ${MAX_SEAL_HEADS}`)
  const list = [...heads].map(([streamId, { revision, link }]) => ({ streamId, revision: revision.toString(), hash: link }))
  return signSeal(list, head, clock(), key, order.digest())
}

/** The key seals are signed with: AUDIT_SEAL_KEY, or the embedded default's file, made on first use. */
export function loadSealKey(config: AuditSealKeyConfig | undefined): string {
  if (config === undefined) {
    throw new ConfigError(`invalid configuration: with a PostgreSQL database, set AUDIT_SEAL_KEY (at least ${MIN_SECRET_LENGTH} characters)`)
  }
  if (config.kind === 'key') return config.key
  try {
    return loadOrCreateSecret(config.path)
  } catch (error) {
    if (!(error instanceof SecretFileError)) throw error
    throw new SecretFileError(
      `${config.path} holds no usable key (fewer than ${MIN_SECRET_LENGTH} characters); restore it, or set AUDIT_SEAL_KEY ` +
        '(a new key makes every earlier seal fail to verify)',
    )
  }
}

/**
 * The seal key for checking a seal, never made: a new key would call every genuine seal forged,
 * and the service would sign its next seals with it. The embedded default's file must be there.
 */
export function readSealKey(config: AuditSealKeyConfig | undefined): string {
  if (config?.kind === 'generated-key' && !existsSync(config.path)) {
    throw new SecretFileError(
      `no seal key at ${config.path}: restore it from where you keep it apart from the backups (README, "Backup and restore"), ` +
        'or set AUDIT_SEAL_KEY; without it no seal can be checked',
    )
  }
  return loadSealKey(config)
}

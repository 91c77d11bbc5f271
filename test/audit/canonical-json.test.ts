import canonicalize from 'canonicalize'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { canonicalJson } from '../../src/audit/canonical-json.js'
import { eventHash, type ChainedContent } from '../../src/audit/chain.js'

/**
 * The project's canonical JSON against the `canonicalize` package (RFC 8785), the reference: the
 * same text, or both refuse. Every hash in every store, and every seal, was made with the
 * package until 0.12.2; a single byte of difference would break all of their chains.
 */

const stringUnit = fc.constantFrom('a', 'Z', 'é', '€', '😀', '\ud800', '\udc00', '"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', '/', ' ')
const json = fc.jsonValue({ stringUnit, maxDepth: 3 })
const outcome = (text: () => string | undefined): string => {
  try {
    return text() ?? 'undefined'
  } catch {
    return 'refused'
  }
}

/** The chain's hash as it was written up to 0.12.1, with the package. */
function referenceHash(event: ChainedContent, previousHash: string | null): string {
  const { hash: _hash, previousHash: _previous, ...metadata } = (
    typeof event.metadata === 'object' && event.metadata !== null ? event.metadata : {}
  ) as Record<string, unknown>
  const text = canonicalize({ streamId: event.streamId, revision: event.revision.toString(), type: event.type, data: event.data, metadata, previousHash })
  if (text === undefined) throw new Error('no canonical form')
  return createHash('sha256').update(text).digest('hex')
}

t.test('canonicalJson writes what canonicalize writes, or both refuse', async (t) => {
  fc.assert(
    fc.property(json, (value) => {
      const expected = outcome(() => canonicalize(value))
      if (outcome(() => canonicalJson(value)) !== expected) throw new Error(`differs on ${JSON.stringify(value)}`)
    }),
    { numRuns: 3000 },
  )
  const numbers = { a: [0, -0, 1e21, 1e-7, 123.456, -5e-324, 2 ** 53, 1e300], b: { z: 1, a: 2, é: 3, A: 4, '😀': 5, 'e\u0301': 6, '\u0080': 7, '': 8 } }
  t.equal(canonicalJson(numbers), canonicalize(numbers), 'numbers and member order as RFC 8785 has them')
  t.equal(canonicalJson({ b: 1, a: undefined }), '{"b":1}', 'an undefined member is left out, as JSON.stringify does')
  t.throws(() => canonicalJson({ a: 'x\ud800' }), /Lone surrogate/, 'a lone surrogate has no canonical form')
  t.throws(() => canonicalJson([Number.NaN]), /not finite/, 'nor has NaN')
  t.throws(() => canonicalJson(new Date(0)), /toJSON/, 'an object with toJSON is not plain JSON')
  t.throws(() => canonicalJson({ a: 1n }), /bigint is not JSON/, 'nor is a bigint')
})

t.test("the chain's hash is the one written up to 0.12.1, or both refuse", async (t) => {
  fc.assert(
    fc.property(
      fc.record({ streamId: fc.string({ unit: stringUnit }), revision: fc.bigInt({ min: 0n, max: 2n ** 62n }), type: fc.string({ unit: stringUnit }) }),
      json,
      fc.oneof(json, fc.dictionary(fc.constantFrom('hash', 'previousHash', 'actor', 'recordedAt', 'z'), json)),
      fc.option(fc.constant('ab'.repeat(32)), { nil: null }),
      (head, data, metadata, previousHash) => {
        const event = { ...head, data, metadata }
        const expected = outcome(() => referenceHash(event, previousHash))
        if (outcome(() => eventHash(event, previousHash)) !== expected) throw new Error(`differs on ${JSON.stringify(event)}`)
      },
    ),
    { numRuns: 3000 },
  )
  const event = {
    streamId: 'budget-2025-a',
    revision: 3n,
    type: 'SpendingRecorded',
    data: { amountCents: 1250, note: 'Ausflug' },
    metadata: { actor: { sub: 'u', role: 'team' }, recordedAt: '2025-03-01T00:00:00.000Z', previousHash: null, hash: 'x' },
  }
  // Pinned, as computed by 0.12.1: a change of the canonical form would break every stored chain.
  const pinned = 'f0ed7cc6bcf840f6f6c94b8c0500d8b2473060f785357dd5a23177ca44e87dfb'
  t.equal(eventHash(event, null), pinned, 'an event as the service writes it hashes as it did')
  t.equal(referenceHash(event, null), pinned, 'and as the reference does')
})

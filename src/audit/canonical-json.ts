/**
 * RFC 8785 canonical JSON (the JSON Canonicalization Scheme) of a JSON value: what the audit chain
 * hashes and a seal signs. It gives byte for byte what the `canonicalize` package gives, and
 * throws where it throws (a lone surrogate, a number that is not finite); it also refuses what is
 * not plain JSON (undefined in an array, a function, a bigint, an object with `toJSON`), which no
 * event, metadata or seal holds: each has passed its zod schema or came from JSON.parse.
 *
 * Written here rather than taken from `canonicalize` for speed: that package makes a Set per
 * object and scans every string in JavaScript for lone surrogates. It was a third of a verify's
 * time, and a spending's hash on the write path took about 19 µs with it against 9-10 µs with
 * this. test/audit/canonical-json.test.ts checks that the two agree on arbitrary JSON,
 * `canonicalize` being the reference.
 *
 * `skip` leaves out the named members of the outermost object (the chain's own links).
 */
export function canonicalJson(value: unknown, skip?: ReadonlySet<string>): string {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new Error('Lone surrogate is not allowed')
    return JSON.stringify(value)
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a number that is not finite is not allowed')
    return JSON.stringify(value)
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (value === null) return 'null'
  if (typeof value !== 'object') throw new Error(`a ${typeof value} is not JSON`)
  if (Array.isArray(value)) {
    let text = '['
    for (let index = 0; index < value.length; index++) text += (index === 0 ? '' : ',') + canonicalJson(value[index])
    return `${text}]`
  }
  const object = value as Record<string, unknown>
  if (typeof object.toJSON === 'function') throw new Error('an object with toJSON is not JSON')
  // Sorted by UTF-16 code units, as RFC 8785 says and as Array.prototype.sort does by default.
  const keys = Object.keys(object).sort()
  let text = '{'
  let first = true
  for (const key of keys) {
    const member = object[key]
    if (member === undefined || skip?.has(key)) continue
    text += (first ? '' : ',') + quotedKey(key) + ':' + canonicalJson(member)
    first = false
  }
  return `${text}}`
}

/** Most member names kept quoted: the events' names are a few dozen, repeated in every event. */
const MAX_QUOTED_KEYS = 10_000
const quotedKeys = new Map<string, string>()

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key)
  if (quoted === undefined) {
    quoted = canonicalJson(key)
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(key, quoted)
  }
  return quoted
}

/** String.prototype.isWellFormed (ES2024, in Node 20): no lone surrogate. Not in this project's ES2022 lib. */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed()

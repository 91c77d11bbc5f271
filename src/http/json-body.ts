import type { FastifyInstance } from 'fastify'
import secureJsonParse from 'secure-json-parse'

/**
 * The one parser of request bodies (`application/json`). What it takes becomes events, which
 * are kept forever, so it is stricter than JSON.parse:
 * - the bytes must be UTF-8 (no silent U+FFFD for what is not);
 * - no key may appear twice in one object (JSON.parse would keep the last one, unseen);
 * - no string, key or value, may hold a lone surrogate (`"\ud800"` is valid JSON, but no text);
 * - `__proto__` and `constructor.prototype` keys are refused, as Fastify's own parser does.
 * Anything else is a 400 validation problem; what the body means is the route schema's business.
 */

/** A body that is not the JSON this API takes; `path` names the member where that is known. */
export class JsonBodyError extends Error {
  override name = 'JsonBodyError'
  readonly statusCode = 400
  constructor(
    message: string,
    readonly path = '',
  ) {
    super(message)
  }
}

/** A JSON body in another charset than UTF-8: 415, like any other media type this API does not take. */
export class UnsupportedCharsetError extends Error {
  override name = 'UnsupportedCharsetError'
  readonly statusCode = 415
  readonly code = 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
  constructor(charset: string, why = '') {
    super(`the body is declared as ${charset}${why}; send JSON as UTF-8`)
  }
}

/** The WHATWG Encoding Standard's labels of UTF-8 (what browsers and most clients take as UTF-8). */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'])
/** ASCII, a subset of UTF-8: taken when the body holds only ASCII bytes. */
const ASCII_LABELS = new Set(['us-ascii'])

/**
 * Refuses a body declared in a charset other than UTF-8 (JSON is UTF-8, RFC 8259; a body in
 * another would be misread). ASCII is taken while the body is ASCII: bytes beyond it mean
 * something else in each charset that calls itself ASCII (WHATWG reads `us-ascii` as windows-1252).
 */
export function checkCharset(contentType: string, body: Buffer): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]
  if (charset === undefined) return
  const label = charset.toLowerCase()
  if (UTF8_LABELS.has(label)) return
  if (!ASCII_LABELS.has(label)) throw new UnsupportedCharsetError(charset)
  if (body.some((byte) => byte >= 0x80)) throw new UnsupportedCharsetError(charset, ' but holds bytes beyond ASCII')
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a

/** String.prototype.isWellFormed (Node 20; not in TypeScript's ES2022 library). */
const isWellFormedMethod = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed
if (isWellFormedMethod === undefined) throw new Error('String.prototype.isWellFormed is missing: Node.js 20 or newer is needed')
const isWellFormed = (text: string): boolean => isWellFormedMethod.call(text)

/**
 * How many name separators (`:`) stand outside strings: in valid JSON text, exactly one per
 * member of every object, duplicates included.
 */
function memberSeparators(text: string): number {
  let count = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      if (code === BACKSLASH) index++
      else if (code === QUOTE) inString = false
    } else if (code === QUOTE) inString = true
    else if (code === COLON) count++
  }
  return count
}

const pathOf = (parent: string, key: string | number): string => (parent === '' ? String(key) : `${parent}.${key}`)

/**
 * Walks the parsed value (without recursion: a 64 KiB body may nest thousands deep), refuses
 * the first string that is not well-formed, and counts the members of its objects.
 */
function countMembersOfWellFormed(value: unknown): number {
  let members = 0
  const pending: [unknown, string][] = [[value, '']]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next
    if (typeof item === 'string') {
      if (!isWellFormed(item)) throw new JsonBodyError('holds a lone surrogate (\\ud800–\\udfff outside a pair), which is no text', path)
    } else if (Array.isArray(item)) {
      item.forEach((element, index) => pending.push([element, pathOf(path, index)]))
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, member] of Object.entries(item)) {
        if (!isWellFormed(key)) throw new JsonBodyError('a key holds a lone surrogate (\\ud800–\\udfff outside a pair)', path)
        members++
        pending.push([member, pathOf(path, key)])
      }
    }
  }
  return members
}

/** Parses a request body as this API takes JSON; throws JsonBodyError for anything else. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new JsonBodyError('the body is empty; send a JSON object')
  let text: string
  try {
    text = UTF8.decode(body)
  } catch {
    throw new JsonBodyError('the body is not valid UTF-8')
  }
  let value: unknown
  try {
    value = secureJsonParse.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch {
    throw new JsonBodyError('the body is not valid JSON (or names __proto__ or constructor.prototype)')
  }
  if (countMembersOfWellFormed(value) !== memberSeparators(text)) {
    throw new JsonBodyError('the body names a key twice in one object; send each key once')
  }
  return value
}

/** Replaces Fastify's JSON parser with parseJsonBody (the body limit stays the app's). */
export function useJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      checkCharset(request.headers['content-type'] ?? '', body as Buffer)
      done(null, parseJsonBody(body as Buffer))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
}

import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { bearer, DEFAULT_ACTOR } from './tokens.js'

/**
 * Small helpers for the HTTP tests: requests through `app.inject` (no network) as a finance
 * controller unless the headers carry another Authorization (or `authorization: ''` for none), a seed that
 * registers a Sozialraum and funds both lines, and assertions for write answers and problems.
 */

/** Response bodies are whatever the API sends; the tests check their shape themselves. */
export type Json = any

export interface ApiResponse {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: Json
  /** The raw body text. */
  text: string
}

export type Headers = Record<string, string>

/** Adds the default actor's token unless `headers` has an Authorization of its own; '' sends none. */
async function withAuthorization(headers: Headers): Promise<Headers> {
  if (!('authorization' in headers)) return { ...(await bearer(DEFAULT_ACTOR)), ...headers }
  if (headers.authorization !== '') return headers
  const { authorization: _none, ...rest } = headers
  return rest
}

function wrap(response: { statusCode: number; headers: ApiResponse['headers']; body: string }): ApiResponse {
  let body: Json
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body)
  } catch {
    body = undefined
  }
  return { status: response.statusCode, headers: response.headers, body, text: response.body }
}

/** POSTs `body` as JSON (objects are serialised by inject; strings are sent as they are). */
export async function post(app: FastifyInstance, url: string, body: unknown, headers: Headers = {}): Promise<ApiResponse> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body)
  const response = await app.inject({
    method: 'POST',
    url,
    payload,
    headers: await withAuthorization({ 'content-type': 'application/json', ...headers }),
  })
  return wrap(response)
}

/** GETs `url`; with `minPosition` the read waits until the read models have reached it. */
export async function get(
  app: FastifyInstance,
  url: string,
  minPosition?: string,
  headers: Headers = {},
): Promise<ApiResponse> {
  const withPosition =
    minPosition === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}minPosition=${minPosition}`
  return wrap(await app.inject({ method: 'GET', url: withPosition, headers: await withAuthorization(headers) }))
}

export const uuid = (): string => randomUUID()

export const budgetUrl = (year: number, sozialraum: string): string => `/v1/budgets/${year}/${sozialraum}`

export interface SeedOptions {
  year?: number
  name?: string
  ambulatory?: string
  flexible?: string
}

export interface Seeded {
  year: number
  sozialraum: string
  /** Base URL of the budget: `/v1/budgets/<year>/<sozialraum>`. */
  url: string
  /** Position of the last seed write: read with `?minPosition=` to see the seed. */
  position: string
}

/** Registers `sozialraum` and allocates both lines (defaults: 100000.00 ambulatory, 10000.00 flexible). */
export async function seed(app: FastifyInstance, sozialraum: string, options: SeedOptions = {}): Promise<Seeded> {
  const year = options.year ?? 2025
  const registered = await post(app, '/v1/sozialraeume', { id: sozialraum, name: options.name ?? `Sozialraum ${sozialraum}` })
  if (registered.status !== 201) throw new Error(`seed: registering ${sozialraum} gave ${registered.status} ${registered.text}`)
  const url = budgetUrl(year, sozialraum)
  let position = registered.body.position as string
  for (const [line, amount] of [
    ['ambulatory', options.ambulatory ?? '100000.00'],
    ['flexible', options.flexible ?? '10000.00'],
  ] as const) {
    const allocated = await post(app, `${url}/allocations`, { line, amount, decisionRef: `seed-${line}` })
    if (allocated.status !== 201) throw new Error(`seed: allocating ${line} gave ${allocated.status} ${allocated.text}`)
    position = allocated.body.position as string
  }
  return { year, sozialraum, url, position }
}

/** A valid commitment body; override what the test is about. */
export function commitmentBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    provider: 'Träger Beispiel gGmbH',
    caseRef: 'CASE-0001',
    helpType: 'SGB VIII § 31',
    amount: '1200.00',
    period: { from: '2025-01-01', to: '2025-12-31' },
    ...overrides,
  }
}

/** A valid spending body; override what the test is about. */
export function spendingBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    amount: '50.00',
    purpose: 'Gruppenangebot Kita',
    category: 'group',
    receiptRef: 'R-0001',
    date: '2025-03-01',
    ...overrides,
  }
}

/** The assertions the helpers need; tap's `t` (and every subtest's `t`) has them. */
export type Asserts = Pick<Test, 'equal' | 'ok' | 'match'>

const MONEY = /^-?\d+\.\d{2}$/

/** A write's 201: position and revision strings, ETag = "<revision>", a budget with two-decimal money. */
export function assertWritten(t: Asserts, response: ApiResponse, message = 'write'): void {
  t.equal(response.status, 201, `${message}: 201 (${response.status === 201 ? '' : response.text})`)
  t.match(response.body?.position, /^\d+$/, `${message}: position is an integer string`)
  t.match(response.body?.revision, /^\d+$/, `${message}: revision is an integer string`)
  t.equal(response.headers.etag, `"${String(response.body?.revision)}"`, `${message}: ETag is the quoted revision`)
  const budget = response.body?.budget
  if (budget !== undefined) {
    t.equal(budget.revision, response.body.revision, `${message}: budget.revision is the write's revision`)
    for (const balance of [budget.lines.ambulatory, budget.lines.flexible, budget.total]) {
      for (const key of ['allocated', 'committed', 'spent', 'available']) {
        t.match(balance[key], MONEY, `${message}: ${key} has two decimals`)
      }
    }
  }
}

/** A problem answer: status, `application/problem+json`, `type` ending in `code`, RFC 9457 members. */
export function assertProblem(t: Asserts, response: ApiResponse, status: number, code: string, message = code): void {
  t.equal(response.status, status, `${message}: status ${status} (got ${response.status}: ${response.text.slice(0, 300)})`)
  t.match(String(response.headers['content-type']), /^application\/problem\+json/, `${message}: problem+json`)
  t.match(String(response.body?.type), new RegExp(`[:/]${code.replace(/-/g, '\\-')}$`), `${message}: type ends in ${code}`)
  t.equal(response.body?.status, status, `${message}: body.status`)
  t.equal(typeof response.body?.title, 'string', `${message}: title`)
  t.equal(typeof response.body?.detail, 'string', `${message}: detail`)
  if (status === 400) t.ok(Array.isArray(response.body?.errors), `${message}: errors[] on a 400`)
}

/** A balance as the API shows it, from four numbers in EUR text. */
export const balance = (allocated: string, committed: string, spent: string, available: string) => ({
  allocated,
  committed,
  spent,
  available,
})

/**
 * Text as an assertion's name shows it: JSON, with every character beyond printable ASCII
 * escaped. A raw line separator (U+2028) in a name ends the line of TAP that carries it.
 */
export function shown(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

import type { RouteOptions } from 'fastify'
import type { z } from 'zod'
import { accessOf } from './access.js'
import { problemSchema } from './schemas.js'

/**
 * The answers a route declares (`schema.response`), keyed by content type so that the OpenAPI
 * document says what each status carries: JSON on success, `application/problem+json` on every
 * error. Fastify serialises by status and content type, so a problem goes through the Problem
 * schema and a success through the route's own.
 */

export const JSON_MEDIA_TYPE = 'application/json'
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/** A success answer: `schema` as JSON, with a description that says what the answer is. */
export function answer<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { [JSON_MEDIA_TYPE]: { schema } } } as { description: string; content: { 'application/json': { schema: T } } }
}

/** An error answer: a problem (RFC 9457), with a description that says when it comes. */
export function problemAnswer(description: string) {
  return { description, content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } } } as {
    description: string
    content: { 'application/problem+json': { schema: typeof problemSchema } }
  }
}

/** When the routes of budgets and what they hold answer 404. */
export const NOT_FOUND = {
  sozialraum: 'The Sozialraum is not registered (not-found)',
  budget: 'The Sozialraum is not registered, or its budget of the year has no allocation yet (not-found)',
  commitment: 'The budget or the commitment does not exist (not-found)',
  spending: 'The budget or the spending does not exist (not-found)',
} as const

/**
 * The 422 of a budget write: what the write itself may be refused for, and what every budget
 * write may be: a balance beyond its limit, or an Idempotency-Key used before with another request.
 */
export function budgetWriteRefused(...reasons: string[]) {
  const all = [
    ...reasons,
    'a balance would go beyond its limit (limit-exceeded)',
    'the Idempotency-Key was used before with another request (idempotency-key-reused)',
  ].join('; or ')
  return problemAnswer(`${all.charAt(0).toUpperCase()}${all.slice(1)}`)
}

/** Statuses every route may answer with: the server fails. */
const ANY_ROUTE: Readonly<Record<number, string>> = {
  500: 'The request failed on the server (internal); the log has it under the answer\'s X-Request-Id',
}

/** Statuses every /v1 route may answer with, whatever it does. */
const API_ROUTE: Readonly<Record<number, string>> = {
  400: 'The request is not valid (validation): its path, query, headers or body; `errors` names each field',
  401: 'No token, or one this service does not accept (unauthorized); see WWW-Authenticate',
  403: "The token's role, or a team lead's Sozialräume, do not cover this request (forbidden)",
  429: 'Too many requests from this token, or too many failed authentications from this address (too-many-requests); see Retry-After',
  503:
    'Not now (unavailable); see Retry-After: the read models have not reached ?minPosition= in time, ' +
    'a read model the route answers from (or that the order of the fiscal years is checked on) is being rebuilt, ' +
    'the keys that verify tokens cannot be fetched, the budget is too busy to take the write, or the database is not ' +
    'reachable or did not finish a statement in time (a write then took effect entirely or not at all: send it again ' +
    'with its Idempotency-Key)',
}

/** The 400 of a /v1 GET: a ?minPosition= no write has reached is refused rather than waited for (read-models.ts). */
const API_READ_400 =
  'The request is not valid (validation): its path, query or headers, or ?minPosition= is beyond the last event of the log; `errors` names each field'

/** POST routes that only read: they check the ledger instead of changing it. */
const READ_ONLY_POSTS: ReadonlySet<string> = new Set(['/v1/audit/verify'])

const KEY_IN_PROGRESS = 'a request with its Idempotency-Key is still being written by another process (idempotency-key-in-progress; see Retry-After)'

/** Statuses every /v1 write may answer with, besides its own. */
const API_WRITE: Readonly<Record<number, string>> = {
  409: `The write does not fit the current state (conflict, year-closed, …); or ${KEY_IN_PROGRESS}`,
  412: 'If-Match does not name the current revision (precondition-failed)',
  413: "The body is larger than 64 KiB, or (KurrentDB) the write's events are larger than the event store takes in one append (payload-too-large)",
  415: 'The body is not application/json (unsupported-media-type)',
  422: 'The Idempotency-Key was used before with another request (idempotency-key-reused)',
}

const isApiRoute = (url: string): boolean => url.startsWith('/v1/')

/**
 * An onRoute hook: adds the answers that the access hook, the body parser, the error handler
 * and the write path give on any route, so that routes declare only their own; and marks the
 * public routes as needing no token (`security: []`). Routes outside /v1 and the public ones
 * (the interactive documentation's files) are left as they are.
 */
export function declareCommonAnswers(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method]
  const access = accessOf(String(methods[0]), route.url)
  const isPublicOperation = access?.kind === 'public' && route.schema !== undefined && route.schema.hide !== true
  if (!isApiRoute(route.url) && !isPublicOperation) return

  const common: Record<number, string> = { ...ANY_ROUTE }
  if (isApiRoute(route.url)) Object.assign(common, API_ROUTE)
  if (isApiRoute(route.url) && methods.includes('GET')) common[400] = API_READ_400
  if (isApiRoute(route.url) && methods.includes('POST')) {
    // A POST that writes nothing (verify) takes a body, but no If-Match and no Idempotency-Key.
    if (READ_ONLY_POSTS.has(route.url)) Object.assign(common, { 413: API_WRITE[413], 415: API_WRITE[415] })
    else Object.assign(common, API_WRITE)
  }
  // The router refuses an over-long path parameter before the route runs, but for this route's path.
  if (route.url.includes(':')) common[414] = 'A path parameter is longer than 100 characters (uri-too-long)'

  const declared = { ...((route.schema?.response ?? {}) as Record<string, unknown>) }
  // Every write that takes an Idempotency-Key may meet its key held by another process.
  const own409 = declared[409] as { description?: string } | undefined
  if (common[409] === API_WRITE[409] && own409?.description !== undefined) {
    declared[409] = problemAnswer(`${own409.description}; or ${KEY_IN_PROGRESS}`)
  }
  const response: Record<string, unknown> = {}
  const statuses = new Set([...Object.keys(declared), ...Object.keys(common)])
  for (const status of [...statuses].sort()) {
    response[status] = declared[status] ?? problemAnswer(common[Number(status)] ?? '')
  }
  route.schema = {
    ...route.schema,
    response,
    ...(access?.kind === 'public' ? { security: [] } : {}),
  }
}

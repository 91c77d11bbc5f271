import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { DomainError, DomainErrorCode } from '../domain/errors.js'
import { AppendTooLargeError, StorageFullError, StoreTimeoutError, StoreUnavailableError } from '../eventstore/port.js'
import { JsonBodyError, UnsupportedCharsetError } from './json-body.js'
import type { SecurityHeaders } from './security-headers.js'

/** RFC 9457 problem details. The `type` is a URN ending in the problem's stable code. */
export type ProblemCode =
  | DomainErrorCode
  | 'precondition-failed'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-progress'
  | 'unauthorized'
  | 'forbidden'
  | 'payload-too-large'
  | 'uri-too-long'
  | 'headers-too-large'
  | 'request-timeout'
  | 'unsupported-media-type'
  | 'too-many-requests'
  | 'unavailable'
  | 'internal'

export interface FieldError {
  path: string
  message: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  errors?: FieldError[]
}

const TITLES: Record<ProblemCode, string> = {
  validation: 'The request is not valid',
  'not-found': 'Not found',
  conflict: 'Conflict with the current state',
  'insufficient-funds': 'Insufficient funds',
  'exceeds-commitment': 'Exceeds the commitment',
  'commitment-closed': 'The commitment is closed',
  'approval-required': 'Approval required',
  'year-closed': 'The fiscal year is closed',
  'limit-exceeded': 'A balance would exceed its limit',
  'precondition-failed': 'Precondition failed',
  'idempotency-key-reused': 'Idempotency key reused with another request',
  'idempotency-key-in-progress': 'A request with this idempotency key is still in progress',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  'payload-too-large': 'Payload too large',
  'uri-too-long': 'A path segment is too long',
  'headers-too-large': 'Request headers too large',
  'request-timeout': 'The request did not arrive in time',
  'unsupported-media-type': 'Unsupported media type',
  'too-many-requests': 'Too many requests',
  unavailable: 'Service unavailable',
  internal: 'Internal error',
}

export const DOMAIN_STATUS: Record<DomainErrorCode, number> = {
  validation: 400,
  'not-found': 404,
  conflict: 409,
  'insufficient-funds': 422,
  'exceeds-commitment': 422,
  'commitment-closed': 409,
  'approval-required': 409,
  'year-closed': 409,
  forbidden: 403,
  'limit-exceeded': 422,
}

export function problem(code: ProblemCode, status: number, detail: string, errors?: FieldError[]): Problem {
  return {
    type: `urn:sojus-ledger:problem:${code}`,
    title: TITLES[code],
    status,
    detail,
    ...(errors === undefined ? {} : { errors }),
  }
}

/** Sends a problem; returns nothing, so that a handler can `return sendProblem(...)` whatever its response type. */
export function sendProblem(reply: FastifyReply, value: Problem): void {
  void reply.code(value.status).type('application/problem+json').send(value)
}

export function domainProblem(error: DomainError): Problem {
  const status = DOMAIN_STATUS[error.code]
  const errors = error.code === 'validation' ? [{ path: error.path ?? '', message: error.message }] : undefined
  return problem(error.code, status, error.message, errors)
}

const CONTEXT_NAMES: Record<string, string> = {
  body: 'the request body',
  params: 'the path',
  querystring: 'the query string',
  headers: 'a request header',
}

function fieldPath(instancePath: string, context: string | undefined): string {
  const path = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.')
  return context === 'body' || context === undefined ? path : path === '' ? context : `${context}.${path}`
}

/** Maps every error that reaches Fastify to problem+json; nothing internal leaks to the client. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = error.validation.flatMap((issue) => {
      const path = fieldPath(issue.instancePath, error.validationContext)
      const keys = (issue.params as { keys?: unknown }).keys
      // An unknown field is reported at the field itself, not at the object that holds it.
      if (issue.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
        return keys.map((key) => ({ path: path === '' ? String(key) : `${path}.${String(key)}`, message: 'unknown field' }))
      }
      return [{ path, message: issue.message ?? 'is not valid' }]
    })
    const where = CONTEXT_NAMES[error.validationContext ?? 'body'] ?? 'the request'
    return sendProblem(reply, problem('validation', 400, `${where} is not valid`, errors))
  }
  // The body parser (json-body.ts) refused the body: not JSON, not UTF-8, a key twice, …
  if (error instanceof JsonBodyError) {
    return sendProblem(reply, problem('validation', 400, error.message, [{ path: error.path, message: error.message }]))
  }
  // Its code is Fastify's for a media type it does not take, but its message names the charset.
  if (error instanceof UnsupportedCharsetError) return sendProblem(reply, problem('unsupported-media-type', 415, error.message))
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendProblem(reply, problem('payload-too-large', 413, error.message))
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendProblem(reply, problem('unsupported-media-type', 415, 'send the body as application/json'))
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return sendProblem(reply, problem('validation', error.statusCode, error.message, []))
  }
  // The store is away, busy or full: a transaction either committed entirely or not at all, and
  // the pool reconnects by itself. The client may send the request again (with its Idempotency-Key).
  if (error instanceof StoreUnavailableError) {
    const { what, detail } = unavailability(error, request.method !== 'GET' && request.method !== 'HEAD')
    request.log.warn({ err: error }, what)
    reply.header('retry-after', '5')
    return sendProblem(reply, problem('unavailable', 503, detail))
  }
  // One write whose own events are more than the event store takes at once (KurrentDB's
  // MaxAppendSize): batches stay below it, so this is a write that large, refused whole.
  if (error instanceof AppendTooLargeError) {
    request.log.warn({ err: error }, 'a write was larger than the event store takes in one append')
    return sendProblem(reply, problem('payload-too-large', 413, `this write's events are larger than the event store takes in one append (${error.message})`))
  }
  request.log.error({ err: error }, 'request failed')
  return sendProblem(reply, problem('internal', 500, 'the request failed on the server; it has been logged'))
}

/** What the log says, and the 503's detail, for each way the store cannot serve. The causes (with file paths and hosts) stay in the log. */
function unavailability(error: StoreUnavailableError, write: boolean): { what: string; detail: string } {
  if (error instanceof StorageFullError) {
    // The store is there and reads work: only writes wait for room.
    const detail = `${error.holder} cannot take writes: its disk is full. Nothing of this request was stored; try again later (with the same Idempotency-Key)`
    return { what: 'store full', detail }
  }
  if (error instanceof StoreTimeoutError) {
    // Busy, not away: e.g. another process held the append lock past the statement timeout.
    const key = write ? ' (with the same Idempotency-Key)' : ''
    return { what: 'store timed out', detail: `${error.holder} is busy: a statement did not finish in time and was rolled back; try again shortly${key}` }
  }
  return { what: 'store unavailable', detail: `${error.store} is not reachable right now; try again (with the same Idempotency-Key)` }
}

/**
 * Errors the router meets before any route runs (Fastify's `frameworkErrors`): a path that is
 * not valid percent-encoding, or a path parameter longer than the router takes. Fastify's own
 * answers would echo the URL; these do not.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return sendProblem(
        reply,
        problem('validation', 400, 'the path is not valid percent-encoding', [{ path: 'path', message: 'is not valid percent-encoding' }]),
      )
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return sendProblem(reply, problem('uri-too-long', 414, `a path segment is longer than ${MAX_PATH_PARAMETER_LENGTH} characters`))
  }
  request.log.error({ err: error }, 'request failed in the router')
  return sendProblem(reply, problem('internal', 500, 'the request failed on the server; it has been logged'))
}

/** Fastify's default, named: the longest path parameter the router takes (every id here is shorter). */
export const MAX_PATH_PARAMETER_LENGTH = 100

/**
 * Requests that are not even HTTP (Node's `clientError`: malformed request line or headers,
 * headers over the size limit, a request that does not arrive in time) never reach Fastify's
 * routing; the answer is written to the socket directly, as problem+json with the security headers,
 * and the connection closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket, headers: SecurityHeaders): void {
  // The connection is gone: nobody reads an answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [code, status, detail]: [ProblemCode, number, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['headers-too-large', 431, 'the request headers are larger than this service takes']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request-timeout', 408, 'the request did not arrive in time']
        : ['validation', 400, 'the request is not valid HTTP']
  const body = JSON.stringify(problem(code, status, detail, status === 400 ? [{ path: '', message: detail }] : undefined))
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('') +
        'Connection: close\r\n\r\n' +
        body,
    )
  }
  socket.destroy(error)
}

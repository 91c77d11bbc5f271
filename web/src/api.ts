/**
 * The dashboard's only way to the ledger: the /v1 API of the service that served the page, with
 * the signed-in user's bearer token. Every refusal arrives as an ApiProblem carrying the
 * problem+json answer (docs/api.md, "Problem types"), so a form can say in German what went wrong
 * and next to which field.
 */
export interface FieldError {
  path: string
  message: string
}

export class ApiProblem extends Error {
  override name = 'ApiProblem'
  constructor(
    readonly status: number,
    /** The last part of the type URN: `insufficient-funds`, `validation`, … */
    readonly code: string,
    readonly detail: string,
    readonly errors: readonly FieldError[] = [],
    /** Seconds to wait before trying again (the Retry-After of a 429 or 503), when the answer said. */
    readonly retryAfter: number | undefined = undefined,
  ) {
    super(detail)
  }
}

/** A Retry-After header in seconds (it may be a number of seconds or an HTTP date); undefined without one. */
export function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim()
  if (value === undefined || value === '') return undefined
  if (/^\d+$/.test(value)) return Number(value)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

const PROBLEM_PREFIX = 'urn:sojus-ledger:problem:'
/** A request that hangs is abandoned: the user may try again with the same Idempotency-Key. */
const TIMEOUT_MS = 30_000
/** An export streams a whole year's events: it may take minutes on a long history. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000

/** Any failure as an ApiProblem: a bug in the page is shown as an internal error, not thrown away. */
export function asProblem(error: unknown): ApiProblem {
  return error instanceof ApiProblem ? error : new ApiProblem(0, 'internal', String(error))
}

/** A timeout or a connection lost while the answer's body arrives is a network failure, like one before it. */
async function bodyOf<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch {
    throw new ApiProblem(0, 'network', 'the answer did not arrive')
  }
}

export interface WriteOptions {
  /** The same key for a retry of the same form submission, so that it never books twice. */
  idempotencyKey: string
  /** Longer than the default 30 s for a request known to run long (a verify of the whole log). */
  timeoutMs?: number
}

export class Api {
  constructor(
    private readonly token: string,
    /** Called with a 401: the token expired or was refused, the user must sign in again. `write`: the request was a write (it booked nothing). */
    private readonly onUnauthorized: (write: boolean) => void = () => {},
  ) {}

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path)
  }

  post<T>(path: string, body: unknown, options: WriteOptions): Promise<T> {
    return this.send<T>('POST', path, body, { 'idempotency-key': options.idempotencyKey }, options.timeoutMs)
  }

  /** A file the API answers (CSV, JSONL) as a Blob, for a download the browser saves. */
  async download(path: string): Promise<{ blob: Blob; filename: string }> {
    const response = await this.fetch('GET', path, undefined, {}, DOWNLOAD_TIMEOUT_MS)
    const disposition = response.headers.get('content-disposition') ?? ''
    const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'export'
    return { blob: await bodyOf(() => response.blob()), filename }
  }

  private async send<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs?: number): Promise<T> {
    const response = await this.fetch(method, path, body, headers, timeoutMs)
    return bodyOf(() => response.json() as Promise<T>)
  }

  private async fetch(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = TIMEOUT_MS): Promise<Response> {
    let response: Response
    try {
      response = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json, application/problem+json, */*',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
        cache: 'no-store',
      })
    } catch {
      throw new ApiProblem(0, 'network', 'the service could not be reached')
    }
    if (response.ok) return response
    if (response.status === 401) this.onUnauthorized(method !== 'GET')
    throw await problemOf(response)
  }
}

async function problemOf(response: Response): Promise<ApiProblem> {
  try {
    const body = (await response.json()) as { type?: string; detail?: string; errors?: FieldError[] }
    const code = body.type?.startsWith(PROBLEM_PREFIX) === true ? body.type.slice(PROBLEM_PREFIX.length) : 'internal'
    return new ApiProblem(response.status, code, body.detail ?? '', body.errors ?? [], retryAfterOf(response))
  } catch {
    // A proxy's own 429 comes without problem+json: still too many requests.
    return new ApiProblem(response.status, response.status === 429 ? 'too-many-requests' : 'internal', response.statusText, [], retryAfterOf(response))
  }
}

/** A path segment, encoded (Sozialraum ids are slugs, but the path must never be built by hand). */
export const seg = (value: string | number): string => encodeURIComponent(String(value))

/** A budget's path: /v1/budgets/{year}/{sozialraum}. */
export const budgetPath = (year: number, sozialraum: string): string => `/v1/budgets/${seg(year)}/${seg(sozialraum)}`

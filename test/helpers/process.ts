import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { bearer, DEFAULT_ACTOR, TEST_JWT_SECRET } from './tokens.js'

/**
 * Real service processes for the crash and multi-process tests: `node --import tsx src/main.ts`
 * as a child process, its JSON log lines parsed as they arrive, driven over real HTTP.
 */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The default actor's Authorization header (a finance controller). */
export const AUTHORIZATION: string = (await bearer(DEFAULT_ACTOR)).authorization ?? ''
export const START_TIMEOUT_MS = 30_000
export const EXIT_TIMEOUT_MS = 15_000
export const REQUEST_TIMEOUT_MS = 15_000

export type LogRecord = Record<string, unknown> & { msg?: string }

/** Rejects when `promise` has not settled within `timeoutMs`; the timer never keeps the test alive. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `condition` every few milliseconds until it holds; fails after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** One child process running the service, with its JSON log lines parsed as they arrive. */
export class ServerProcess {
  readonly logs: LogRecord[] = []
  stderr = ''
  url = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly listeners = new Set<() => void>()

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    let pending = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        try {
          this.logs.push(JSON.parse(line) as LogRecord)
        } catch {
          this.logs.push({ msg: `(not JSON) ${line}` })
        }
        for (const listener of this.listeners) listener()
      }
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk
    })
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Starts `src/main.ts` on PORT=0 with the test JWT secret and `environment` (DATABASE_URL at
   * least), and resolves once it listens. `register` gets the process before the first await, so
   * that a teardown kills even one that failed to start.
   */
  static async start(environment: Record<string, string>, register: (server: ServerProcess) => void): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', JWT_SECRET: TEST_JWT_SECRET, ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const server = new ServerProcess(child)
    register(server) // before the first await: a failed start is still killed by the teardown
    const listening = await Promise.race([
      server.waitForLog((record) => record.msg === 'sojus-ledger is listening', START_TIMEOUT_MS),
      server.exited.then(({ code, signal }) => {
        throw new Error(`the server exited on start (code ${code}, signal ${signal}): ${server.stderr}`)
      }),
    ])
    if (typeof listening.address !== 'string') throw new Error('the listening log line names no address')
    server.url = listening.address
    return server
  }

  /** The first log record (already seen or still to come) for which `match` holds. */
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord> {
    const seen = this.logs.find(match)
    if (seen) return Promise.resolve(seen)
    let listener: (() => void) | undefined
    const found = new Promise<LogRecord>((resolve) => {
      listener = () => {
        const record = this.logs.find(match)
        if (record) resolve(record)
      }
      this.listeners.add(listener)
    })
    return within(found, timeoutMs, 'waiting for a log line').finally(() => {
      if (listener) this.listeners.delete(listener)
    })
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill(signal)
    return within(this.exited, EXIT_TIMEOUT_MS, `the server to exit after ${signal}`)
  }
}

/** Kills (SIGKILL) every server still alive and waits for each to exit. */
export async function killAll(servers: Iterable<ServerProcess>): Promise<void> {
  for (const server of servers) {
    if (server.alive) server.child.kill('SIGKILL')
    await within(server.exited, EXIT_TIMEOUT_MS, 'a killed server to exit').catch(() => undefined)
  }
}

export interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** A request to a server as the default actor (or with the Authorization in `headers`); the body is parsed as JSON. */
export async function call(
  server: ServerProcess,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> }
}

export async function expect201(answer: Promise<Answer>, what: string): Promise<Answer> {
  const result = await answer
  if (result.status !== 201) throw new Error(`${what}: expected 201, got ${result.status} ${JSON.stringify(result.body)}`)
  return result
}

/** Money strings of responses always have two decimals. */
export function centsOf(money: unknown): bigint {
  if (typeof money !== 'string' || !/^-?\d+\.\d{2}$/.test(money)) throw new Error(`not a money string: ${String(money)}`)
  return BigInt(money.replace('.', ''))
}

export const maxOf = (values: Iterable<bigint>): bigint => {
  let max = 0n
  for (const value of values) if (value > max) max = value
  return max
}

/** Lists at most a few items, so that a failure stays readable. */
export const sample = <T>(items: T[]): { count: number; first: T[] } => ({ count: items.length, first: items.slice(0, 5) })

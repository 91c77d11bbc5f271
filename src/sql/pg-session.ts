import { EventEmitter } from 'node:events'
import pg from 'pg'
import type { Logger } from 'pino'

const MAX_RECONNECT_DELAY_MS = 5_000
/** How often the session asks the server whether it is still there, while it waits. */
const KEEPALIVE_MS = 5_000
/**
 * The server ends the session after this long without a query (PostgreSQL 14 or later). The
 * keepalive above never lets a live session idle that long; a session whose network went silent
 * (no FIN, no RST) is idle on the server, and its locks (the projector's lease, held keys) would
 * otherwise stay until the server's TCP keepalive gives up, two hours by default.
 */
const IDLE_SESSION_TIMEOUT = '20s'
/** node-postgres's error for a query unanswered within the client's query_timeout. */
const QUERY_READ_TIMEOUT = 'Query read timeout'

/**
 * One dedicated connection per process beside the pool, for what a pooled connection cannot do:
 * LISTEN for notifications, and hold session advisory locks (the projector's lease). It
 * reconnects by itself; when its connection breaks, its locks are gone with it, which is what
 * lets another process take over the projections.
 *
 * Events: 'notification' (channel, payload), 'connected' (after every connect: channels were listened
 * to again, and locks must be taken again), 'disconnected'.
 */
export class PgSession extends EventEmitter {
  private client: pg.Client | undefined
  private readonly channels = new Set<string>()
  private closed = false
  private reconnectDelayMs = 100
  private keepalive: NodeJS.Timeout | undefined
  private connecting: Promise<void> | undefined
  /**
   * The last query asked of the current connection: each waits for the one before. node-postgres 8
   * queues overlapping queries itself but warns that pg 9 will refuse them; the lease's tries, the
   * keepalive and the LISTENs overlap.
   */
  private tail: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly logger: Logger,
  ) {
    super()
    this.setMaxListeners(0)
  }

  get connected(): boolean {
    return this.client !== undefined
  }

  /** Connects (retrying in the background after a failure); resolves after the first attempt. */
  start(): Promise<void> {
    return (this.connecting ??= this.connect())
  }

  async listen(channel: string): Promise<void> {
    this.channels.add(channel)
    if (this.client) await this.inTurn(this.client, `LISTEN ${channel}`).catch(() => undefined)
  }

  /** Runs a query on the session's connection; throws when it is not connected. */
  async query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]> {
    const client = this.client
    if (!client) throw new Error('the database session is not connected')
    return (await this.inTurn<Row>(client, text, values)).rows
  }

  /**
   * Runs a query on `client` once the queries asked of it before have ended. One the server has not
   * answered within query_timeout ends the connection: the network went silent, and every query
   * after it (the keepalive's too) would wait behind it.
   */
  private inTurn<Row extends pg.QueryResultRow>(client: pg.Client, text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
    const result = this.tail.then(() => client.query<Row>(text, values))
    this.tail = result.catch((error: unknown) => {
      if (error instanceof Error && error.message === QUERY_READ_TIMEOUT) this.lost(client, error)
    })
    return result
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    const client = new pg.Client(this.config)
    client.on('error', (error) => this.lost(client, error))
    client.on('end', () => this.lost(client, undefined))
    client.on('notification', (message) => this.emit('notification', message.channel, message.payload ?? ''))
    try {
      await client.connect()
      // Older servers do not know the setting: they keep their own TCP keepalive.
      await client.query(`SET idle_session_timeout = '${IDLE_SESSION_TIMEOUT}'`).catch(() => undefined)
      for (const channel of this.channels) await client.query(`LISTEN ${channel}`)
    } catch (error) {
      client.removeAllListeners('end')
      await client.end().catch(() => undefined)
      this.logger.warn({ err: error, retryInMs: this.reconnectDelayMs }, 'database session could not connect')
      this.scheduleReconnect()
      return
    }
    if (this.closed) {
      await client.end().catch(() => undefined)
      return
    }
    this.client = client
    // A query of the lost connection may never end: the new one does not wait for it.
    this.tail = Promise.resolve()
    this.reconnectDelayMs = 100
    this.keepalive = setInterval(() => void this.inTurn(client, 'SELECT 1').catch((error) => this.lost(client, error)), KEEPALIVE_MS)
    this.emit('connected')
  }

  /**
   * Ends the connection and opens a new one: the server drops every lock the session held. For a
   * session whose locks are no longer known (a statement that failed part-way, having taken some).
   */
  reset(reason: unknown): void {
    const client = this.client
    if (client) this.lost(client, reason)
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return
    this.client = undefined
    clearInterval(this.keepalive)
    client.removeAllListeners('end')
    void client.end().catch(() => undefined)
    if (this.closed) return
    this.logger.warn({ err: error }, 'database session lost its connection; reconnecting')
    this.emit('disconnected')
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.closed) return
    const delay = this.reconnectDelayMs
    this.reconnectDelayMs = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS)
    setTimeout(() => void this.connect(), delay).unref()
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.keepalive)
    const client = this.client
    this.client = undefined
    if (client) {
      client.removeAllListeners('end')
      await client.end().catch(() => undefined)
    }
  }
}

import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { ProjectorLease } from '../../projections/lease.js'
import type { Statement } from './port.js'
import { channelName, lockKey } from './pg-pool.js'
import type { PgSession } from './pg-session.js'

/**
 * The projector's lease on PostgreSQL: a session advisory lock on the process's dedicated
 * connection. Every process tries to take it every `retryMs`; it is released when the holder
 * stops, or by the server when the holder's connection ends (a killed process), so another
 * process takes over within about `retryMs`. The runner's compare-and-set checkpoints make a
 * holder that lost the lock without noticing unable to apply a batch twice.
 */
export class PgProjectorLease implements ProjectorLease {
  readonly announce: readonly Statement[]
  private readonly key: string
  private readonly channel: string
  /** Names this process's announcements, so that it does not answer its own. */
  private readonly id = randomUUID()
  private held = false
  private started = false
  private stopped = false
  private timer: NodeJS.Timeout | undefined
  private onChange: (held: boolean) => void = () => {}

  constructor(
    private readonly session: PgSession,
    schema: string,
    private readonly logger: Logger,
    private readonly retryMs = 1_000,
  ) {
    this.key = lockKey(schema, 'projector').toString()
    this.channel = channelName(schema, 'checkpoints')
    this.announce = [{ sql: 'SELECT pg_notify(?, ?)', params: [this.channel, this.id] }]
    session.on('disconnected', () => this.lost())
    session.on('connected', () => void this.tryTake())
  }

  async start(onChange: (held: boolean) => void): Promise<void> {
    this.onChange = onChange
    this.started = true
    await this.session.listen(this.channel)
    await this.tryTake()
  }

  onAnnounced(listener: () => void): void {
    this.session.on('notification', (channel: string, payload: string) => {
      if (channel === this.channel && payload !== this.id) listener()
    })
    // Announcements made while the session was away are lost: look once after reconnecting.
    this.session.on('connected', listener)
  }

  private async tryTake(): Promise<void> {
    clearTimeout(this.timer)
    if (!this.started || this.stopped || this.held) return
    try {
      const [row] = await this.session.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1) AS taken', [this.key])
      // Taken while stopping: give it back at once, or no other process could project.
      if (row?.taken && this.stopped) await this.session.query('SELECT pg_advisory_unlock($1)', [this.key])
      else if (row?.taken && !this.held) {
        this.held = true
        this.logger.info('this process projects now')
        this.onChange(true)
      }
    } catch {
      // Not connected: the session's 'connected' event tries again.
    }
    if (!this.held && !this.stopped) this.timer = setTimeout(() => void this.tryTake(), this.retryMs).unref()
  }

  private lost(): void {
    if (!this.held) return
    this.held = false
    this.logger.warn('the projector lease was lost with the database session')
    this.onChange(false)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    if (!this.held) return
    this.held = false
    await this.session.query('SELECT pg_advisory_unlock($1)', [this.key]).catch(() => undefined)
  }
}

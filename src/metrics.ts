import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { WrongExpectedVersionError, type EventStore, type Position } from './eventstore/port.js'

/**
 * The service's Prometheus metrics (`GET /metrics`, docs/api.md "Metrics"). Each service instance
 * has a registry of its own, never prom-client's global one, so that several services in one
 * process (the tests) do not count into each other.
 *
 * - HTTP requests by route pattern (never the raw URL), method and status, with their durations;
 * - events appended by type, and the latency of appends (`meteredEventStore` decorates the port);
 * - how far each projection lags behind the head of the log, in events and in seconds, read when
 *   Prometheus scrapes (`watchProjections`);
 * - refusals by the rate limits and failed authentications (counted by src/http/access.ts);
 * - the process's defaults (CPU, memory, event loop lag, garbage collection, handles).
 */

export const METRIC_PREFIX = 'sojus_ledger_'

/** Labels of requests that match no route: the URL is the client's and may be anything. */
const UNMATCHED_ROUTE = 'unmatched'

/** The kinds of refusal src/http/access.ts counts (see AccessCounters there). */
export type RateLimit = 'token' | 'failed-authentications'
export type AuthenticationScheme = 'jwt' | 'metrics-token'

/** What the lag gauges read when scraped: the runner's progress, the log's head and its events. */
export interface ProjectionSource {
  status(): { projecting: boolean; projections: ReadonlyArray<{ name: string; position: Position }> }
}

interface LagSample {
  /** Per projection: events behind the head, and seconds since the oldest event it has not applied. */
  lag: { name: string; events: number; seconds: number }[]
}

export interface MetricsOptions {
  /**
   * Whether to collect prom-client's process defaults (CPU, memory, event loop, GC). They start
   * observers that live as long as the process, so a service whose metrics are off (no
   * METRICS_TOKEN) does without them.
   */
  processDefaults?: boolean
}

export class ServiceMetrics {
  readonly registry = new Registry()
  /** `_count` is the number of requests. */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>
  readonly eventsAppended: Counter<'type'>
  readonly appendDuration: Histogram<'result'>
  readonly rateLimited: Counter<'limit'>
  readonly authenticationFailures: Counter<'scheme'>

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry]
    if (options.processDefaults ?? true) collectDefaultMetrics({ register: this.registry })
    this.httpRequestDuration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'HTTP requests by route pattern, method and status, and how long they took to answer (_count counts them)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    })
    this.eventsAppended = new Counter({
      name: `${METRIC_PREFIX}events_appended_total`,
      help: 'Events appended to the event store by this process, by event type',
      labelNames: ['type'],
      registers,
    })
    this.appendDuration = new Histogram({
      name: `${METRIC_PREFIX}append_duration_seconds`,
      help: 'How long appends to the event store took (group commit included), by result: ok, conflict (wrong expected revision), error',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.rateLimited = new Counter({
      name: `${METRIC_PREFIX}rate_limited_total`,
      help: 'Requests refused with 429, by limit: token (requests per minute per user), failed-authentications (per client address)',
      labelNames: ['limit'],
      registers,
    })
    this.authenticationFailures = new Counter({
      name: `${METRIC_PREFIX}authentication_failures_total`,
      help: 'Requests refused with 401, by scheme: jwt (the API), metrics-token (GET /metrics)',
      labelNames: ['scheme'],
      registers,
    })
  }

  /** The text Prometheus scrapes, and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }

  /**
   * Projection lag gauges, computed when scraped: the head of the log minus each projection's
   * position, and the age of the oldest event a projection has not applied yet (from its
   * `recordedAt`; one read of one event per distinct lagging position, none when caught up).
   */
  watchProjections(runner: ProjectionSource, store: Pick<EventStore, 'headPosition' | 'readAll'>, clock: () => Date): void {
    let sampling: Promise<LagSample | undefined> | undefined
    // Both gauges are collected in one scrape, at the same time: they share one sample.
    const sample = (): Promise<LagSample | undefined> => {
      sampling ??= sampleLag(runner, store, clock)
        .catch(() => undefined)
        .finally(() => {
          sampling = undefined
        })
      return sampling
    }
    const registers = [this.registry]
    new Gauge({
      name: `${METRIC_PREFIX}projection_lag_events`,
      help: 'Head position minus the projection\'s position: events not applied yet on SQLite (on PostgreSQL plus gaps; on KurrentDB log bytes); absent while the store is unreachable',
      labelNames: ['projection'],
      registers,
      async collect() {
        this.reset()
        const lag = await sample()
        for (const projection of lag?.lag ?? []) this.set({ projection: projection.name }, projection.events)
      },
    })
    new Gauge({
      name: `${METRIC_PREFIX}projection_lag_seconds`,
      help: 'Seconds since the oldest event the projection has not applied yet was recorded; 0 when caught up',
      labelNames: ['projection'],
      registers,
      async collect() {
        this.reset()
        const lag = await sample()
        for (const projection of lag?.lag ?? []) this.set({ projection: projection.name }, projection.seconds)
      },
    })
    new Gauge({
      name: `${METRIC_PREFIX}projecting`,
      help: 'Whether this process applies the projections (1), or another process does (0, PostgreSQL)',
      registers,
      collect() {
        this.set(runner.status().projecting ? 1 : 0)
      },
    })
  }
}

async function sampleLag(
  runner: ProjectionSource,
  store: Pick<EventStore, 'headPosition' | 'readAll'>,
  clock: () => Date,
): Promise<LagSample> {
  const status = runner.status()
  const head = await store.headPosition()
  const now = clock().getTime()
  const ages = new Map<Position, Promise<number>>()
  const ageAfter = (position: Position): Promise<number> => {
    let age = ages.get(position)
    if (age === undefined) {
      age = store.readAll({ after: position, maxCount: 1 }).then(([next]) => {
        const recordedAt = (next?.metadata as { recordedAt?: unknown } | undefined)?.recordedAt
        const at = typeof recordedAt === 'string' ? Date.parse(recordedAt) : Number.NaN
        return Number.isNaN(at) ? 0 : Math.max(0, (now - at) / 1000)
      })
      ages.set(position, age)
    }
    return age
  }
  const lag = await Promise.all(
    status.projections.map(async ({ name, position }) => {
      const behind = head > position ? head - position : 0n
      return { name, events: Number(behind), seconds: behind > 0n ? await ageAfter(position) : 0 }
    }),
  )
  return { lag }
}

/**
 * The event store port, decorated: counts the events of every successful append by type and
 * times every append. Everything else passes through. An append the store answers as a retry of
 * an earlier one (the same event ids) writes nothing, but is counted again.
 */
export function meteredEventStore(store: EventStore, metrics: ServiceMetrics): EventStore {
  return {
    maxAppendBytes: store.maxAppendBytes,
    async append(streamId, events, expected, options) {
      const end = metrics.appendDuration.startTimer()
      try {
        const result = await store.append(streamId, events, expected, options)
        end({ result: 'ok' })
        for (const event of events) metrics.eventsAppended.inc({ type: event.type })
        return result
      } catch (error) {
        end({ result: error instanceof WrongExpectedVersionError ? 'conflict' : 'error' })
        throw error
      }
    },
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    headPosition: () => store.headPosition(),
    subscribeToAll: (options) => store.subscribeToAll(options),
    close: () => store.close(),
  }
}

/**
 * Times every answer of `app` by its route pattern (`/v1/budgets/:year/:sozialraum`), method and
 * status. Call it before the routes are declared, so that each of them gets the hook.
 */
export function measureRequests(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.is404 ? undefined : request.routeOptions.url
    metrics.httpRequestDuration.observe(
      { method: request.method, route: route ?? UNMATCHED_ROUTE, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
  })
}

/**
 * Counts an answer the router gave before any route ran (Fastify's `frameworkErrors`: a path
 * that is not valid percent-encoding, a path segment too long), which no hook sees: as
 * `unmatched`, with a duration of 0 (Fastify does not time these; the answer costs next to nothing).
 */
export function measureFrameworkAnswer(metrics: ServiceMetrics, request: FastifyRequest, reply: FastifyReply): void {
  metrics.httpRequestDuration.observe({ method: request.method, route: UNMATCHED_ROUTE, status: String(reply.statusCode) }, 0)
}

/** Compares a presented token with the configured one in constant time (digests of equal length). */
export function sameToken(presented: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(presented), digest(expected))
}

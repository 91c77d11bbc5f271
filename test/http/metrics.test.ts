import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import { ServiceMetrics } from '../../src/metrics.js'
import { assertProblem, get, post, seed, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * GET /metrics (docs/api.md "Metrics"): the Prometheus text format, behind the static bearer
 * token METRICS_TOKEN, 404 while it is unset; what it counts moves with the requests and writes.
 */

const METRICS_TOKEN = 'metrics-token-for-the-tests-0123456789abcdef'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy

/** Parses the text format strictly: every line is a comment (# HELP / # TYPE) or `name{labels} value`. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; bad: string[] } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const bad: string[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
      if (type) types.set(type[1] ?? '', type[2] ?? '')
      else if (!/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) bad.push(line)
      continue
    }
    const match = SAMPLE_LINE.exec(line)
    const value = match ? Number(match[3] === '+Inf' ? Infinity : match[3]) : Number.NaN
    // Prometheus reads values with Go's ParseFloat, which takes NaN in any case (prom-client writes "Nan").
    if (!match || (Number.isNaN(value) && !/^nan$/i.test(match[3] ?? ''))) {
      bad.push(line)
      continue
    }
    const labels: Record<string, string> = {}
    const body = match[2] ?? ''
    LABEL.lastIndex = 0
    let consumed = 0
    for (let label = LABEL.exec(body); label !== null; label = LABEL.exec(body)) {
      labels[label[1] ?? ''] = label[2] ?? ''
      consumed = LABEL.lastIndex
    }
    if (consumed !== body.length) bad.push(line)
    samples.push({ name: match[1] ?? '', labels, value })
  }
  return { samples, types, bad }
}

/** The value of the one sample with this name and these labels (among others), or undefined. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )
  return found.length === 0 ? undefined : found.reduce((sum, sample) => sum + sample.value, 0)
}

/** Scrapes with the metrics token, another Authorization, or none (null). */
async function scrape(app: FastifyInstance, authorization: string | null = `Bearer ${METRICS_TOKEN}`): Promise<ApiResponse & { samples: Sample[] }> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers: authorization === null ? {} : { authorization } })
  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    body = undefined
  }
  const samples = response.statusCode === 200 ? parseExposition(response.body).samples : []
  return { status: response.statusCode, headers: response.headers, body, text: response.body, samples }
}

t.test('GET /metrics with METRICS_TOKEN: the counters move with requests and writes', async (t) => {
  const service = await startTestService(t, {}, { METRICS_TOKEN })
  const app = service.app

  const before = await scrape(app)
  t.equal(before.status, 200)
  t.equal(valueOf(before.samples, 'sojus_ledger_events_appended_total'), undefined, 'no events appended yet')

  // Writes: a registration, two allocations, a spending; a read; a refused request.
  const budget = await seed(app, 'metrics-a')
  const spent = await post(app, `${budget.url}/spending`, spendingBody({ id: uuid() }))
  t.equal(spent.status, 201)
  t.equal((await get(app, budget.url, spent.body.position)).status, 200)
  assertProblem(t, await get(app, '/v1/sozialraeume', undefined, { authorization: '' }), 401, 'unauthorized', 'no token')
  assertProblem(t, await get(app, '/v1/nowhere/at/all'), 404, 'not-found', 'no route')
  // Answered by the router before any route or hook: a path that is not percent-encoding.
  assertProblem(t, await get(app, '/v1/budgets/2025/%zz'), 400, 'validation', 'bad percent-encoding')
  t.ok(await service.runner.waitFor(BigInt(spent.body.position), 5000), 'the projections caught up')

  const response = await scrape(app)
  t.equal(response.status, 200)
  t.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/, 'the Prometheus text format')
  const parsed = parseExposition(response.text)
  t.same(parsed.bad, [], 'every line is a comment or `name{labels} value`')
  t.ok(parsed.samples.length > 50, `${parsed.samples.length} samples`)
  const { samples, types } = parsed

  t.test('HTTP requests by route pattern, method and status, with durations', async (t) => {
    const requests = 'sojus_ledger_http_request_duration_seconds_count'
    t.equal(types.get('sojus_ledger_http_request_duration_seconds'), 'histogram')
    t.equal(valueOf(samples, requests, { method: 'POST', route: '/v1/budgets/:year/:sozialraum/allocations', status: '201' }), 2, 'two allocations')
    t.equal(valueOf(samples, requests, { method: 'POST', route: '/v1/sozialraeume', status: '201' }), 1, 'one registration')
    t.equal(valueOf(samples, requests, { method: 'GET', route: '/v1/budgets/:year/:sozialraum', status: '200' }), 1, 'one read')
    t.equal(valueOf(samples, requests, { method: 'GET', route: '/v1/sozialraeume', status: '401' }), 1, 'one refused request')
    t.equal(valueOf(samples, requests, { method: 'GET', route: 'unmatched', status: '404' }), 1, 'no route: one label for all')
    t.equal(valueOf(samples, requests, { method: 'GET', route: 'unmatched', status: '400' }), 1, 'an answer of the router, which no hook sees')
    t.equal(valueOf(samples, requests, { method: 'GET', route: '/metrics', status: '200' }), 1, 'the scrape before')
    t.ok((valueOf(samples, 'sojus_ledger_http_request_duration_seconds_sum', { route: '/v1/sozialraeume', method: 'POST' }) ?? 0) > 0, 'a duration')
    t.ok(
      samples.every((sample) => !(sample.labels.route ?? '').includes('metrics-a') && !(sample.labels.route ?? '').includes('nowhere')),
      'never a raw URL',
    )
  })

  t.test('events appended by type, and the append latency', async (t) => {
    t.equal(types.get('sojus_ledger_events_appended_total'), 'counter')
    t.equal(valueOf(samples, 'sojus_ledger_events_appended_total', { type: 'SozialraumRegistered' }), 1)
    t.equal(valueOf(samples, 'sojus_ledger_events_appended_total', { type: 'BudgetAllocated' }), 2)
    t.equal(valueOf(samples, 'sojus_ledger_events_appended_total', { type: 'SpendingRecorded' }), 1)
    t.equal(valueOf(samples, 'sojus_ledger_events_appended_total'), Number(spent.body.position), 'every event of the log')
    t.equal(valueOf(samples, 'sojus_ledger_append_duration_seconds_count', { result: 'ok' }), 4, 'four appends')
    t.ok((valueOf(samples, 'sojus_ledger_append_duration_seconds_sum') ?? 0) > 0, 'took some time')
  })

  t.test('projection lag, in events and seconds, per projection', async (t) => {
    t.equal(types.get('sojus_ledger_projection_lag_events'), 'gauge')
    const lags = samples.filter((sample) => sample.name === 'sojus_ledger_projection_lag_events')
    const names = service.runner.status().projections.map((projection) => projection.name)
    t.same(lags.map((sample) => sample.labels.projection).sort(), [...names].sort(), 'one per projection')
    t.ok(lags.every((sample) => sample.value === 0), 'caught up: no lag')
    t.equal(valueOf(samples, 'sojus_ledger_projection_lag_seconds', { projection: 'balances' }), 0)
    t.equal(valueOf(samples, 'sojus_ledger_projecting'), 1, 'this process projects')
  })

  t.test('failed authentications, and the process defaults', async (t) => {
    t.equal(valueOf(samples, 'sojus_ledger_authentication_failures_total', { scheme: 'jwt' }), 1)
    t.ok(valueOf(samples, 'process_cpu_user_seconds_total') !== undefined, 'process_cpu_user_seconds_total')
    t.ok(valueOf(samples, 'nodejs_heap_size_used_bytes') !== undefined, 'nodejs_heap_size_used_bytes')
    t.ok(valueOf(samples, 'nodejs_eventloop_lag_seconds') !== undefined, 'nodejs_eventloop_lag_seconds')
  })

  t.test('401 without the token, with a wrong one, and with a JWT', async (t) => {
    const cases: [string, string | null][] = [
      ['no Authorization', null],
      ['a wrong token', `Bearer ${METRICS_TOKEN.slice(0, -1)}x`],
      ['a longer token', `Bearer ${METRICS_TOKEN}0`],
      ['a finance JWT', (await bearer({ sub: 'anna', role: 'finance' })).authorization ?? null],
      ['not Bearer', `Basic ${METRICS_TOKEN}`],
    ]
    for (const [what, authorization] of cases) {
      const refused = await scrape(app, authorization)
      assertProblem(t, refused, 401, 'unauthorized', what)
      t.equal(refused.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate`)
    }
    const after = await scrape(app)
    t.equal(valueOf(after.samples, 'sojus_ledger_authentication_failures_total', { scheme: 'metrics-token' }), cases.length, 'each counted')
    t.equal(valueOf(after.samples, 'sojus_ledger_http_request_duration_seconds_count', { route: '/metrics', status: '401' }), cases.length)
  })

  t.test('HEAD /metrics takes the same check', async (t) => {
    t.equal((await app.inject({ method: 'HEAD', url: '/metrics' })).statusCode, 401)
    t.equal((await app.inject({ method: 'HEAD', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 200)
  })
})

t.test('GET /metrics without METRICS_TOKEN is 404: metrics are off', async (t) => {
  const service = await startTestService(t)
  for (const authorization of [null, `Bearer ${METRICS_TOKEN}`, (await bearer({ sub: 'anna', role: 'finance' })).authorization ?? null]) {
    assertProblem(t, await scrape(service.app, authorization), 404, 'not-found', `with ${authorization === null ? 'no' : 'a'} token`)
  }
})

t.test('429s are counted by limit; two services in one process count apart', async (t) => {
  const limited = await startTestService(t, { failedAuthenticationsPerMinute: 1 }, { METRICS_TOKEN, RATE_LIMIT_PER_MINUTE: '2' })
  const other = await startTestService(t, {}, { METRICS_TOKEN })
  const app = limited.app
  const lead = await bearer({ sub: 'busy', role: 'auditor' })
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await get(app, '/v1/sozialraeume', undefined, lead)).status)
  t.same(statuses, [200, 200, 429], 'the per-token limit')
  t.equal((await get(app, '/v1/sozialraeume', undefined, { authorization: '' })).status, 401)
  t.equal((await get(app, '/v1/sozialraeume', undefined, { authorization: '' })).status, 429, 'the failed-authentication limit')
  await seed(other.app, 'metrics-other')

  const { samples } = await scrape(app)
  t.equal(valueOf(samples, 'sojus_ledger_rate_limited_total', { limit: 'token' }), 1)
  t.equal(valueOf(samples, 'sojus_ledger_rate_limited_total', { limit: 'failed-authentications' }), 1)
  t.equal(valueOf(samples, 'sojus_ledger_authentication_failures_total', { scheme: 'jwt' }), 1, 'the 429 is not a 401')
  t.equal(valueOf(samples, 'sojus_ledger_events_appended_total'), undefined, "the other service's appends are not here")
  const others = (await scrape(other.app)).samples
  t.equal(valueOf(others, 'sojus_ledger_events_appended_total'), 3, 'but there')
  t.equal(valueOf(others, 'sojus_ledger_rate_limited_total'), undefined, "and this one's refusals are not there")
})

t.test('projection lag in events and seconds, from the runner and the log', async (t) => {
  const metrics = new ServiceMetrics()
  const now = new Date('2026-03-01T12:00:00.000Z')
  const recorded = (position: bigint, at: string): RecordedEvent => ({
    id: uuid(),
    streamId: 's',
    revision: 0n,
    position,
    type: 'X',
    data: {},
    metadata: { recordedAt: at },
  })
  const reads: bigint[] = []
  metrics.watchProjections(
    {
      status: () => ({
        projecting: false,
        projections: [
          { name: 'behind', position: 2n },
          { name: 'also-behind', position: 2n },
          { name: 'current', position: 5n },
        ],
      }),
    },
    {
      headPosition: async () => 5n,
      readAll: async ({ after }) => {
        reads.push(after)
        return [recorded(after + 1n, '2026-03-01T11:59:30.000Z')]
      },
    },
    () => now,
  )
  const { samples, bad } = parseExposition(await metrics.registry.metrics())
  t.same(bad, [])
  t.equal(valueOf(samples, 'sojus_ledger_projection_lag_events', { projection: 'behind' }), 3)
  t.equal(valueOf(samples, 'sojus_ledger_projection_lag_events', { projection: 'current' }), 0)
  t.equal(valueOf(samples, 'sojus_ledger_projection_lag_seconds', { projection: 'behind' }), 30, 'the oldest unapplied event is 30 s old')
  t.equal(valueOf(samples, 'sojus_ledger_projection_lag_seconds', { projection: 'current' }), 0)
  t.equal(valueOf(samples, 'sojus_ledger_projecting'), 0)
  t.same(reads, [2n], 'one read for one lagging position, shared by both gauges and both projections')
})

t.test('METRICS_TOKEN: at least 32 characters, a bearer token', async (t) => {
  t.equal(parseConfig({ JWT_SECRET: 'x'.repeat(32) }).metricsToken, undefined, 'unset by default')
  t.equal(parseConfig({ JWT_SECRET: 'x'.repeat(32), METRICS_TOKEN }).metricsToken, METRICS_TOKEN)
  t.throws(() => parseConfig({ JWT_SECRET: 'x'.repeat(32), METRICS_TOKEN: 'short' }), /METRICS_TOKEN: must be at least 32 characters/)
  t.throws(() => parseConfig({ JWT_SECRET: 'x'.repeat(32), METRICS_TOKEN: `${'x'.repeat(32)} y` }), /METRICS_TOKEN: must be a bearer token/)
})

import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import type { Principal } from '../../src/auth/tokens.js'
import { accessPlugin, RATE_LIMIT_NAMESPACE } from '../../src/http/access.js'
import { assertProblem, get, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { tokenFor } from '../helpers/tokens.js'

/**
 * REDIS_URL: the rate limits are counted in Redis, so that every process of the service shares
 * them (N requests per minute per token in total, not N per process). Without REDIS_URL each
 * process counts on its own. When Redis cannot be reached, the service keeps answering (the limit
 * is skipped, and a warning logged) rather than refusing every request.
 *
 * Needs Redis on 127.0.0.1:6379 (.ci/run starts it). Without it the Redis tests are skipped, but
 * fail in CI (CI set). Each run uses its own token subjects, and deletes the keys it made, so that
 * runs at the same time do not count each other's requests.
 */

const REDIS_URL = 'redis://127.0.0.1:6379'
/** Nothing listens on port 1. */
const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1'
const LIMIT = 4
/** This run's token subjects start with it. */
const RUN = `rate-limit-redis-${randomUUID()}`

/** Undefined when Redis answers PING, else why not. */
async function redisUnavailable(): Promise<string | undefined> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  // The connection's own error (ECONNREFUSED, …) says more than connect()'s "Connection is closed."
  let cause: Error | undefined
  probe.on('error', (error: Error) => (cause ??= error))
  try {
    await probe.connect()
    const pong = await probe.ping()
    return pong === 'PONG' ? undefined : `PING answered ${pong}`
  } catch (error) {
    return (cause ?? (error instanceof Error ? error : new Error(String(error)))).message
  } finally {
    probe.disconnect()
  }
}

const unavailable = await redisUnavailable()
if (unavailable !== undefined && process.env.CI) {
  t.fail(`Redis is needed in CI at ${REDIS_URL} (.ci/run starts redis-server), but it cannot be reached: ${unavailable}`)
}
const needsRedis = unavailable === undefined ? {} : { skip: `Redis at ${REDIS_URL} cannot be reached (${unavailable}); CI runs these tests` }

/** The keys this run made in Redis, under the service's namespace. */
async function keysOfThisRun(redis: Redis): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${RATE_LIMIT_NAMESPACE}*${RUN}*`, 'COUNT', 1000)
    cursor = next
    keys.push(...found)
  } while (cursor !== '0')
  return keys
}

const asToken = async (sub: string): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await tokenFor({ sub, role: 'finance' })}`,
})

const retryAfterWithinTheMinute = (t: Test, response: ApiResponse, message: string): void => {
  t.match(String(response.headers['retry-after']), /^[1-9]\d*$/, `${message}: retry-after in whole seconds, at least 1`)
  t.ok(Number(response.headers['retry-after']) <= 60, `${message}: retry-after within the minute`)
}

t.test('with REDIS_URL, the processes share one limit per token', needsRedis, async (t) => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    const keys = await keysOfThisRun(redis)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  const environment = { RATE_LIMIT_PER_MINUTE: String(LIMIT), REDIS_URL }
  const processes = [await startTestService(t, {}, environment), await startTestService(t, {}, environment)]
  t.not(processes[0]?.dir, processes[1]?.dir, 'two services, each on its own database')
  const anna = await asToken(`${RUN}-anna`)

  // Alternately to both: N in total are served, not N per process.
  for (let request = 1; request <= LIMIT; request++) {
    const server = processes[(request - 1) % 2]!
    t.equal((await get(server.app, '/v1/sozialraeume', undefined, anna)).status, 200, `request ${request} of anna: 200`)
  }
  for (const [index, server] of processes.entries()) {
    const over = await get(server.app, '/v1/sozialraeume', undefined, anna)
    assertProblem(t, over, 429, 'too-many-requests', `over the shared limit, at process ${index + 1}`)
    retryAfterWithinTheMinute(t, over, `process ${index + 1}`)
  }

  const carla = await asToken(`${RUN}-carla`)
  for (const [index, server] of processes.entries()) {
    t.equal((await get(server.app, '/v1/sozialraeume', undefined, carla)).status, 200, `another token goes on at process ${index + 1}`)
  }

  const keys = await keysOfThisRun(redis)
  const annasKey = keys.find((key) => key.endsWith(`token:${RUN}-anna`))
  t.ok(annasKey?.startsWith(RATE_LIMIT_NAMESPACE), `anna's count is in Redis, under ${RATE_LIMIT_NAMESPACE} (keys: ${keys.join(', ')})`)
  if (annasKey !== undefined) {
    t.equal(await redis.get(annasKey), String(LIMIT + 2), 'every request of anna at both processes was counted there')
    const ttl = await redis.pttl(annasKey)
    t.ok(ttl > 0 && ttl <= 60_000, `the count expires within the minute (${ttl} ms)`)
  }
})

t.test('without REDIS_URL, each process counts on its own', async (t) => {
  const environment = { RATE_LIMIT_PER_MINUTE: String(LIMIT) }
  const processes = [await startTestService(t, {}, environment), await startTestService(t, {}, environment)]
  const anna = await asToken(`${RUN}-anna-in-memory`)

  for (let request = 1; request <= 2 * LIMIT; request++) {
    const server = processes[(request - 1) % 2]!
    t.equal((await get(server.app, '/v1/sozialraeume', undefined, anna)).status, 200, `request ${request} of anna: 200`)
  }
  for (const [index, server] of processes.entries()) {
    const over = await get(server.app, '/v1/sozialraeume', undefined, anna)
    assertProblem(t, over, 429, 'too-many-requests', `request ${LIMIT + 1} at process ${index + 1}`)
    retryAfterWithinTheMinute(t, over, `process ${index + 1}`)
  }
})

t.test('with REDIS_URL where nothing listens, the service still answers, without the limit', async (t) => {
  const started = Date.now()
  const service = await startTestService(t, {}, { RATE_LIMIT_PER_MINUTE: '2', REDIS_URL: UNREACHABLE_REDIS_URL })
  t.ok(Date.now() - started < 10_000, `the service starts although Redis is away (${Date.now() - started} ms)`)
  const anna = await asToken(`${RUN}-anna-unreachable`)
  for (let request = 1; request <= 5; request++) {
    const answered = Date.now()
    const response = await get(service.app, '/v1/sozialraeume', undefined, anna)
    t.equal(response.status, 200, `request ${request} of a limit of 2: 200 (${response.text.slice(0, 200)})`)
    t.ok(Date.now() - answered < 2_000, `request ${request} does not wait for Redis (${Date.now() - answered} ms)`)
  }
})

t.test('when Redis cannot be reached, the access plugin logs one warning, without the URL', async (t) => {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) })
  const app = Fastify({ loggerInstance: logger })
  t.teardown(() => app.close())
  const principal: Principal = { sub: `${RUN}-plugin`, role: 'finance', name: undefined, sozialraeume: [], expiresAtMs: Date.now() + 60_000 }
  await app.register(accessPlugin, {
    verifyToken: async () => principal,
    rateLimitPerMinute: 1,
    redisUrl: 'redis://:not-to-be-logged@127.0.0.1:1',
  })
  app.get('/v1/sozialraeume', async () => ({ items: [] }))

  for (let request = 1; request <= 3; request++) {
    const response = await app.inject({ method: 'GET', url: '/v1/sozialraeume', headers: { authorization: 'Bearer x' } })
    t.equal(response.statusCode, 200, `request ${request} of a limit of 1: 200`)
  }
  const warnings = lines.filter((line) => line.level === 40)
  t.equal(warnings.length, 1, 'one warning for the outage, not one per request or reconnection')
  t.match(warnings[0]?.msg, /Redis unreachable: rate limits are not enforced/)
  t.notMatch(JSON.stringify(lines), /not-to-be-logged/, 'the password in the URL is not logged')
})

t.test('when Redis refuses to count (a wrong type, as a read-only replica or an ACL would refuse), requests are served and one warning says so', needsRedis, async (t) => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) })
  const app = Fastify({ loggerInstance: logger })
  t.teardown(async () => {
    await app.close()
    const keys = await keysOfThisRun(redis)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  const principal = (token: string): Principal => ({ sub: `${RUN}-${token}`, role: 'finance', name: undefined, sozialraeume: [], expiresAtMs: Date.now() + 60_000 })
  const QUIET_MS = 300
  await app.register(accessPlugin, { verifyToken: async (token) => principal(token), rateLimitPerMinute: 2, redisUrl: REDIS_URL, redisQuietMs: QUIET_MS })
  app.get('/v1/sozialraeume', async () => ({ items: [] }))
  const request = (token: string) => app.inject({ method: 'GET', url: '/v1/sozialraeume', headers: { authorization: `Bearer ${token}` } })
  const warnings = () => lines.filter((line) => line.level === 40)
  const countsAgain = () => lines.filter((line) => line.level === 30 && line.msg === 'Redis counts the rate limits again')

  t.equal((await request('refused')).statusCode, 200, 'the first request of a limit of 2 is counted')
  const [key] = (await keysOfThisRun(redis)).filter((name) => name.endsWith(`token:${RUN}-refused`))
  t.ok(key, 'its count is in Redis')
  await redis.del(key!)
  await redis.hset(key!, 'not', 'a counter')
  // One key refused among keys counted: one outage, not a warning and a recovery per request.
  for (let n = 1; n <= 10; n++) {
    t.equal((await request('refused')).statusCode, 200, `request ${n} while Redis refuses its count: served`)
    t.equal((await request(`counted-${n}`)).statusCode, 200, `another token's request ${n}: served`)
  }
  t.equal(warnings().length, 1, 'one warning, not one per request')
  t.match(warnings()[0]?.msg, /Redis cannot count the rate limits: rate limits are not enforced/)
  t.match(JSON.stringify(warnings()[0]?.err), /WRONGTYPE/, 'with Redis’s reason')
  t.equal(countsAgain().length, 0, 'counts that work between failures do not end the outage')

  await redis.del(key!)
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 50))
  t.equal((await request('refused')).statusCode, 200, 'counted again')
  t.equal((await request('refused')).statusCode, 200, 'the second of 2')
  t.equal((await request('refused')).statusCode, 429, 'and the limit holds again')
  t.equal(countsAgain().length, 1, 'after a quiet spell, one info line says Redis counts again')
  t.equal(warnings().length, 1, 'and no further warning')
})

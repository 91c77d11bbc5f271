/**
 * A CPU profile of the write path: the service on a temporary SQLite file in this process, 32
 * autocannon connections writing spendings to BUDGETS budgets (20) for SECONDS (10) from a worker
 * thread. Run it under the profiler, and read the largest .cpuprofile (the event loop's) with
 * Chrome's DevTools or any .cpuprofile reader:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-writes.ts
 *
 * BENCH_PROJECTION_THREAD=0 runs the embedded store's projections on the event loop instead of
 * their thread.
 */
import autocannon from 'autocannon'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { signToken } from '../src/auth/tokens.js'
import { parseConfig } from '../src/config.js'
import { openService } from '../src/service.js'

const SECRET = randomBytes(32).toString('base64url')
const AUTH = `Bearer ${await signToken(SECRET, { sub: 'bench', role: 'finance' }, '1h')}`
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
const budgets = Number(process.env.BUDGETS ?? 20)
const service = await openService(
  parseConfig({ DATABASE_URL: `sqlite:${join(dir, 'p.db')}`, JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: '100000000', PORT: '0' }),
  pino({ level: 'silent' }),
  // BENCH_PROJECTION_THREAD=0 projects on the event loop, to compare.
  { projectionThread: process.env.BENCH_PROJECTION_THREAD !== '0' },
)
const url = await service.app.listen({ port: 0, host: '127.0.0.1' })
const ids = Array.from({ length: budgets }, (_, i) => `p-${i}`)
for (const id of ids) {
  await service.app.inject({ method: 'POST', url: '/v1/sozialraeume', payload: { id, name: id }, headers: { authorization: AUTH } })
  await service.app.inject({ method: 'POST', url: `/v1/budgets/2025/${id}/allocations`, payload: { line: 'flexible', amount: '10000000.00', decisionRef: 'b' }, headers: { authorization: AUTH } })
}
const result = await autocannon({
  url, connections: 32, duration: Number(process.env.SECONDS ?? 10), workers: 1, initialContext: { sozialraeume: ids },
  headers: { authorization: AUTH },
  requests: [{ method: 'POST', path: '/v1/budgets/2025/{sozialraum}/spending', setupRequest: fileURLToPath(new URL('./round-robin-request.cjs', import.meta.url)) }],
})
console.log(`req/s ${result.requests.average} p50 ${result.latency.p50} p99 ${result.latency.p99} non2xx ${result.non2xx}`)
await service.close()
process.exit(0)

import Fastify from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import t from 'tap'
import type { HttpDeps } from '../../src/http/deps.js'
import { operationsRoutes } from '../../src/http/routes/operations.js'
import type { ProjectionStatus } from '../../projections/runner.js'

/**
 * What /ready says about the projections, from the runner's status (a plain object here: the
 * real runner's replays are in test/projections/ and bench/rebuild.ts): ready only when every
 * projection follows the log; 503 while one replays (catching-up, with the lag) or is stuck.
 */

async function readyWith(status: ProjectionStatus, head: bigint) {
  const app = Fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  const deps = { store: { headPosition: async () => head }, runner: { status: () => status } } as unknown as HttpDeps
  await app.register(operationsRoutes, deps)
  const response = await app.inject({ method: 'GET', url: '/ready' })
  await app.close()
  return response
}

const projection = (name: string, position: bigint, target: bigint) => ({ name, position, target, serving: position >= target })

t.test('a projection replaying: 503 catching-up, with the lag and the replaying projection', async (t) => {
  const response = await readyWith(
    { position: 1200n, error: undefined, projecting: true, projections: [projection('audit', 1200n, 4990n), projection('balances', 5000n, 4990n)] },
    5000n,
  )
  t.equal(response.statusCode, 503, 'not ready')
  t.same(response.json(), {
    status: 'catching-up',
    projections: { position: '1200', head: '5000', lag: '3800', projecting: true, replaying: [{ name: 'audit', position: '1200', target: '4990' }] },
  })
})

t.test('every projection following: 200 ready', async (t) => {
  const response = await readyWith({ position: 5000n, error: undefined, projecting: true, projections: [projection('audit', 5000n, 4990n)] }, 5000n)
  t.equal(response.statusCode, 200)
  t.equal(response.json().status, 'ready')
})

t.test('a projection stuck: 503 degraded, before catching-up', async (t) => {
  const response = await readyWith({ position: 10n, error: 'cannot read SomethingNew', projecting: true, projections: [projection('audit', 10n, 99n)] }, 99n)
  t.equal(response.statusCode, 503)
  t.equal(response.json().status, 'degraded')
})

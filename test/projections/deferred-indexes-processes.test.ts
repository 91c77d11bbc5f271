import { pino } from 'pino'
import t, { type Test } from 'tap'
import { deferIndexes } from '../../projections/deferred-indexes.js'
import { projections } from '../../projections/index.js'
import { parseConfig } from '../../src/config.js'
import { openService, type Service } from '../../src/service.js'
import { registrationEvent } from '../helpers/events.js'
import { createTestSchema, skipWithoutPostgres, TEST_POSTGRES_SEAL_KEY } from '../helpers/postgres.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * Deferred indexes on PostgreSQL, where several processes share the read models: a process that
 * does not project serves no projection whose indexes are deferred, and serves it again once the
 * projecting process has built them, without waiting for another write.
 */

const skip = await skipWithoutPostgres()
const PROJECTION = 'audit'

/** Resolves once `check` holds, or fails the test after ten seconds. */
async function eventually(t: Test, what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) return void t.fail(what)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.pass(what)
}

if (skip) t.test('deferred indexes across processes', { skip }, () => {})
else {
  t.test('followers serve no projection while its indexes are deferred, and serve it once they are built', async (t) => {
    const schema = await createTestSchema()
    const config = parseConfig({ DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: TEST_POSTGRES_SEAL_KEY })
    const open = () => openService(config, pino({ level: 'silent' }), { deferIndexesBehind: 10n })
    const services: Service[] = [await open(), await open(), await open()]
    t.teardown(async () => {
      for (const service of services) await service.close().catch(() => undefined)
      await schema.drop()
    })
    let head = 0n
    for (let n = 0; n < 20; n += 1) head = (await services[0]!.store.append(`sozialraum-s${n}`, [registrationEvent(`s${n}`)], 'no_stream')).position
    for (const service of services) t.ok(await service.runner.waitFor(head, 10_000), 'every process has the log projected')
    const projector = services.find((service) => service.runner.status().projecting)
    if (!projector) throw new Error('no process projects')
    const followers = services.filter((service) => service !== projector)
    const audit = projections.find((projection) => projection.name === PROJECTION)
    if (!audit) throw new Error(`no projection ${PROJECTION}`)

    // As a crash between a replay's last batch and its build leaves it: the indexes dropped, their definitions kept.
    t.ok((await deferIndexes(projector.db, audit)) > 0, 'the audit trail has indexes to defer')
    // The followers learn it at their next refresh: the projector's next batch announces one.
    head = (await projector.store.append('sozialraum-s20', [registrationEvent('s20')], 'no_stream')).position
    for (const follower of followers) {
      await eventually(t, 'a follower stops serving the projection whose indexes are deferred', () => !follower.runner.isServing(PROJECTION))
    }

    // The projector stops; a follower takes over, builds the indexes at the start of its term, and serves.
    await projector.close()
    const [next, last] = followers as [Service, Service]
    await eventually(t, 'the next projector builds the indexes and serves', () => next.runner.isServing(PROJECTION) || last.runner.isServing(PROJECTION))
    const builder = next.runner.isServing(PROJECTION) ? next : last
    const other = builder === next ? last : next
    const indexes = await builder.db.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'audit_events' AND indexname LIKE 'audit_events_by_%'",
    )
    t.equal(Number(indexes[0]?.n), 4, 'the four indexes of the audit trail are there again')
    // No write comes: the build's own announcement tells the remaining follower.
    await eventually(t, 'the remaining follower serves it too, without another write', () => other.runner.isServing(PROJECTION))
  })
}

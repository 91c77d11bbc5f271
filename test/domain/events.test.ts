import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { toStoredEvent } from '../../src/application/stored-event.js'
import { parseConfig } from '../../src/config.js'
import { EVENT_TYPES, EVENT_VERSIONS, parseDomainEvent, UnknownEventError, UPCASTERS } from '../../src/domain/events.js'
import { START } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { openService } from '../../src/service.js'
import { get, post, spendingBody } from '../helpers/api.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/** Versions per event type: an old event is always readable, a newer one does not break an older process. */

const metadataV = (schemaVersion: number) => ({
  schemaVersion,
  actor: { sub: 'anna', role: 'finance' },
  recordedAt: '2025-01-02T09:00:00.000Z',
  correlationId: 'c',
  causationId: 'c',
  idempotencyKey: null,
  requestHash: null,
})

/** A BudgetAllocated as version 0.2.0 wrote it: version 1, without `kind`. */
const allocationV1 = {
  year: 2025,
  sozialraum: 'unteres-malstatt',
  line: 'flexible',
  amountCents: 500_000,
  decisionRef: 'HH-2025/0201',
}

t.test('every type below its current version has an upcaster for each older version', async (t) => {
  for (const type of EVENT_TYPES) {
    for (let version = 1; version < EVENT_VERSIONS[type]; version++) {
      t.type(UPCASTERS[type]?.[version], 'function', `${type} v${version} → v${version + 1}`)
    }
  }
})

t.test('a version-1 BudgetAllocated reads through its upcaster as an allocation', async (t) => {
  t.same(parseDomainEvent('BudgetAllocated', 1, allocationV1), {
    type: 'BudgetAllocated',
    data: { ...allocationV1, kind: 'allocation' },
  })
  t.same(parseDomainEvent('BudgetAllocated', 2, { ...allocationV1, kind: 'carry-over' }).data, {
    ...allocationV1,
    kind: 'carry-over',
  })
  t.throws(() => parseDomainEvent('BudgetAllocated', 2, allocationV1), UnknownEventError, 'version 2 must say its kind')
})

t.test('a newer version than this process knows is read with its newest schema', async (t) => {
  const future = { ...allocationV1, kind: 'allocation', approvedBy: 'council' }
  t.same(parseDomainEvent('BudgetAllocated', EVENT_VERSIONS.BudgetAllocated + 1, future).data, {
    ...allocationV1,
    kind: 'allocation',
  }, 'the field it does not know is dropped, the rest is read')
})

t.test('what is not an event of a known type and version is an error, never skipped', async (t) => {
  t.throws(() => parseDomainEvent('BudgetRenamed', 1, {}), { message: /unknown type/ })
  t.throws(() => parseDomainEvent('BudgetAllocated', 0, allocationV1), { message: /not a schema version/ })
  t.throws(() => parseDomainEvent('BudgetAllocated', 1.5, allocationV1), { message: /not a schema version/ })
  t.throws(() => parseDomainEvent('BudgetAllocated', 1, 'not an object'), { message: /not an object/ })
})

t.test('a store written by 0.2.0 is read, decided on and projected through the upcaster', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-upcast-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const old = new SqliteEventStore(path)
  await old.append(
    'sozialraum-unteres-malstatt',
    [
      {
        id: randomUUID(),
        type: 'SozialraumRegistered',
        data: { sozialraumId: 'unteres-malstatt', name: 'Unteres Malstatt', status: 'pilot' },
        metadata: metadataV(1),
      },
    ],
    'no_stream',
  )
  await old.append('budget-2025-unteres-malstatt', [{ id: randomUUID(), type: 'BudgetAllocated', data: allocationV1, metadata: metadataV(1) }], 'no_stream')
  const [, stored] = await old.readAll({ after: START, maxCount: 10 })
  t.ok(stored)
  if (stored) t.same(toStoredEvent(stored).event.data, { ...allocationV1, kind: 'allocation' })
  await old.close()

  const service = await openService(parseConfig({ DATABASE_URL: `sqlite:${path}`, JWT_SECRET: TEST_JWT_SECRET }), pino({ level: 'silent' }))
  t.teardown(() => service.close())
  const url = '/v1/budgets/2025/unteres-malstatt'
  const spent = await post(service.app, `${url}/spending`, spendingBody({ amount: '1000.00' }))
  t.equal(spent.status, 201, 'the decider folds the old event')
  t.equal(spent.body.budget.lines.flexible.available, '4000.00')
  const budget = await get(service.app, url, spent.body.position)
  t.equal(budget.body.lines.flexible.allocated, '5000.00', 'the projection reads the old event')
  const trail = await get(service.app, '/v1/audit/events?type=BudgetAllocated', spent.body.position)
  t.same(trail.body.items[0]?.data, allocationV1, 'the trail shows the event as it was recorded')
  t.equal(trail.body.items[0]?.version, 1, 'with the version it was written with')

  const again = await post(service.app, `${url}/allocations`, { line: 'flexible', amount: '1.00', decisionRef: 'HH-2025/0300' })
  const written = await service.store.readAll({ after: BigInt(spent.body.position), maxCount: 10 })
  t.equal(again.status, 201)
  t.match(written[0], { type: 'BudgetAllocated', data: { kind: 'allocation' }, metadata: { schemaVersion: 3 } }, 'new events are written as version 3')
})

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { eventHash, linksOf } from '../../src/audit/chain.js'
import { START, type RecordedEvent } from '../../src/eventstore/port.js'
import { post, seed, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { openTestStores } from '../helpers/stores.js'

/** Every event written carries its link in the chain; the first one written links older events in. */

const content = { streamId: 'budget-2025-a', revision: 3n, type: 'SpendingRecorded', data: { b: 1, a: [2, 'x'] }, metadata: { z: 1, y: 'é' } }

t.test('the hash is over canonical content: key order does not matter, every part does', async (t) => {
  const hash = eventHash(content, null)
  t.match(hash, /^[0-9a-f]{64}$/)
  t.equal(eventHash({ ...content, data: { a: [2, 'x'], b: 1 }, metadata: { y: 'é', z: 1 } }, null), hash, 'reordered keys')
  t.equal(eventHash({ ...content, metadata: { ...content.metadata, hash: 'ff', previousHash: 'ee' } }, null), hash, 'the links themselves are not hashed twice')
  for (const [name, changed] of [
    ['stream', { ...content, streamId: 'budget-2025-b' }],
    ['revision', { ...content, revision: 4n }],
    ['type', { ...content, type: 'SpendingReversed' }],
    ['data', { ...content, data: { b: 2, a: [2, 'x'] } }],
    ['metadata', { ...content, metadata: { z: 1, y: 'e' } }],
  ] as const) {
    t.not(eventHash(changed, null), hash, `a change of the ${name} changes the hash`)
  }
  t.not(eventHash(content, 'a'.repeat(64)), hash, 'so does the previous link')
})

function verifyStream(events: readonly RecordedEvent[]): string | null {
  let previous: string | null = null
  for (const event of events) {
    const links = linksOf(event.metadata)
    const computed = eventHash(event, previous)
    if (links.hash !== undefined) {
      if (links.previousHash !== previous) throw new Error(`${event.streamId}@${event.revision}: previousHash does not link`)
      if (links.hash !== computed) throw new Error(`${event.streamId}@${event.revision}: hash does not match`)
    }
    previous = computed
  }
  return previous
}

t.test('writes through the service form one chain per stream', async (t) => {
  const service = await startTestService(t)
  const budget = await seed(service.app, 'kette')
  for (let index = 0; index < 5; index++) t.equal((await post(service.app, `${budget.url}/spending`, spendingBody())).status, 201)
  const events = await service.store.readAll({ after: START, maxCount: 100 })
  const streams = new Map<string, RecordedEvent[]>()
  for (const event of events) streams.set(event.streamId, [...(streams.get(event.streamId) ?? []), event])
  for (const [streamId, stream] of streams) {
    t.doesNotThrow(() => verifyStream(stream), streamId)
    t.equal(linksOf(stream[0]?.metadata).previousHash, null, `${streamId} starts with null`)
    t.ok(stream.every((event) => linksOf(event.metadata).hash !== undefined), `${streamId}: every event is linked`)
  }
})

t.test('the first event with a link covers the events written before the chain', async (t) => {
  // Written as 0.2.0 wrote them, without links, straight into the store.
  const old = await openTestStores(t)
  const metadata = {
    schemaVersion: 1,
    actor: { sub: 'anna', role: 'finance' },
    recordedAt: '2025-01-02T09:00:00.000Z',
    correlationId: 'c',
    causationId: 'c',
    idempotencyKey: null,
    requestHash: null,
  }
  await old.store.append('sozialraum-alt', [{ id: randomUUID(), type: 'SozialraumRegistered', data: { sozialraumId: 'alt', name: 'Alt', status: 'pilot' }, metadata }], 'no_stream')
  await old.store.append(
    'budget-2025-alt',
    [{ id: randomUUID(), type: 'BudgetAllocated', data: { year: 2025, sozialraum: 'alt', line: 'flexible', amountCents: 100_000, decisionRef: 'HH' }, metadata }],
    'no_stream',
  )
  await old.close()

  // The service starts on that database; it closes before the database is deleted (teardowns run last in, first out).
  const service = await startTestService(t, {}, { DATABASE_URL: old.url })
  t.equal((await post(service.app, '/v1/budgets/2025/alt/spending', spendingBody())).status, 201)
  const stream = await service.store.readStream('budget-2025-alt', { maxCount: 10 })
  t.equal(stream.length, 2)
  const legacyLink = eventHash(stream[0] as RecordedEvent, null)
  t.equal(linksOf(stream[1]?.metadata).previousHash, legacyLink, 'the new event links to the computed hash of the old one')
  t.doesNotThrow(() => verifyStream(stream))
  const tampered = stream.map((event, index) => (index === 0 ? { ...event, data: { ...(event.data as object), amountCents: 900_000 } } : event))
  t.throws(() => verifyStream(tampered), /previousHash does not link/, 'changing the old event breaks the first link')
})

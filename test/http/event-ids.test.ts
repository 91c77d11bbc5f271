import t from 'tap'
import { post, seed, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

// The service names its events with time-ordered UUIDs (version 7), so that the ids of a group
// commit go to the end of the event_id index, not to one random page each (README, Performance).
t.test('event ids are UUIDv7, in the order the events were written', async (t) => {
  const service = await startTestService(t)
  const { url } = await seed(service.app, 'ids', { flexible: '500.00' })
  for (let index = 0; index < 5; index++) await post(service.app, `${url}/spending`, spendingBody({ amount: '1.00', receiptRef: `R-${index}` }))
  const events = await service.store.readAll({ after: 0n, maxCount: 100 })
  t.ok(events.length >= 7, `${events.length} events`)
  for (const event of events) t.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `${event.type} has a version-7 id`)
  const ids = events.map((event) => event.id)
  t.same(ids, [...ids].sort(), 'sorted as text, they are in the order of the log')
})

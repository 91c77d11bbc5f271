import t from 'tap'
import { openStores } from '../../src/service.js'
import { commitmentBody, get, post, seed } from '../helpers/api.js'
import { reopenableTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * Migration 009 adds `commitments.requested_by`: a database migrated before it, whose rows know no
 * requester, gets the column filled by the commitments projection replaying from the start.
 */
t.test('after migration 009 the commitments replay and name who asked for what waits', async (t) => {
  const { config, open } = await reopenableTestService(t, 'sojus-requester-')

  let service = await open()
  const sr = 'requester-migration'
  const { url } = await seed(service.app, sr)
  const leadA = await bearer({ sub: 'lead-a', role: 'teamlead', sozialraeume: [sr] })
  const leadB = await bearer({ sub: 'lead-b', role: 'teamlead', sozialraeume: [sr] })
  const created = await post(service.app, `${url}/commitments`, commitmentBody({ amount: '6000.00' }), leadA)
  t.equal(created.status, 201, created.text)
  const raised = await post(service.app, `${url}/commitments/${String(created.body.id)}/amendments`, { amount: '5000.00', reason: 'länger' }, leadB)
  t.equal(raised.status, 201, raised.text)
  t.match(raised.body, { status: 'requested', createdBy: 'lead-a', requestedBy: 'lead-b' })
  const before = await get(service.app, `${url}/commitments/${String(created.body.id)}`, raised.body.position as string)
  t.equal(before.body.requestedBy, 'lead-b', 'the read model names the requester')
  await service.close()

  // The database as 0.12.4 left it: no column, and migration 009 not yet applied.
  const stores = await openStores(config, 'test')
  await stores.db.transaction([
    { script: 'ALTER TABLE commitments DROP COLUMN requested_by' },
    { sql: 'DELETE FROM schema_migrations WHERE version = ?', params: [9] },
  ])
  await stores.close()

  service = await open()
  const path = `${url}/commitments/${String(created.body.id)}`
  let after = await get(service.app, path, raised.body.position as string)
  for (let attempt = 0; attempt < 50 && after.status === 503; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    after = await get(service.app, path, raised.body.position as string)
  }
  t.equal(after.status, 200, after.text)
  t.same(after.body, before.body, 'the replayed commitment equals the one before, requester included')
})

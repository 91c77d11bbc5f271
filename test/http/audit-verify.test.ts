import t from 'tap'
import type { ReadAllOptions, RecordedEvent } from '../../src/eventstore/port.js'
import { assertProblem, get, post, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'
import { TEST_SEAL_KEY, writeHistory } from '../audit/history.js'

/**
 * POST /v1/audit/verify and GET /v1/audit/seal: for finance and auditors; a report on an
 * untouched log and on one with a read model changed by hand; a seal taken, kept and forged;
 * one verify at a time.
 */

const SEAL_KEY = { AUDIT_SEAL_KEY: TEST_SEAL_KEY }

t.test('verify and seal over HTTP', async (t) => {
  const service = await startTestService(t, {}, SEAL_KEY)
  const { app } = service
  const history = await writeHistory(app)
  t.ok(await service.runner.waitFor(BigInt(history.position), 5000))
  const auditor = await bearer({ sub: 'dora', role: 'auditor' })
  const lead = await bearer({ sub: 'ben', role: 'teamlead', sozialraeume: ['nord'] })

  const verified = await post(app, '/v1/audit/verify', {}, auditor)
  t.equal(verified.status, 200, verified.text)
  t.match(verified.body, {
    ok: true,
    eventsChecked: Number(history.position),
    head: history.position,
    comparedAt: { balances: history.position, commitments: history.position, spending: history.position },
    mismatches: [],
    mismatchesFound: 0,
    chain: { ok: true, breaks: [], breaksFound: 0 },
  })
  t.notOk('seal' in verified.body, 'no seal, no seal report')

  assertProblem(t, await post(app, '/v1/audit/verify', '', auditor), 400, 'validation', 'a body is needed: {} at least')

  const sealed = await get(app, '/v1/audit/seal', undefined, auditor)
  t.equal(sealed.status, 200, sealed.text)
  t.match(sealed.body, { version: 1, position: history.position, root: /^[0-9a-f]{64}$/, hmac: /^[0-9a-f]{64}$/, sealedAt: String })
  t.equal(sealed.body.heads.length, 4, 'two Sozialräume, two budgets')
  const seal = sealed.body

  const kept = await post(app, '/v1/audit/verify', { seal })
  t.equal(kept.status, 200, 'finance may verify too')
  t.match(kept.body, { ok: true, seal: { ok: true, position: history.position, problems: [], problemsFound: 0 } })

  t.test('a forged seal is refused before anything is verified', async (t) => {
    for (const [what, forged] of [
      ['another root', { ...seal, root: 'a'.repeat(64) }],
      ['another HMAC', { ...seal, hmac: `${seal.hmac.slice(1)}${seal.hmac[0]}` }],
      ['a stream left out', { ...seal, heads: seal.heads.slice(1) }],
    ] as const) {
      const refused = await post(app, '/v1/audit/verify', { seal: forged }, auditor)
      assertProblem(t, refused, 400, 'validation', what)
      t.match(refused.body.errors, [{ path: 'seal.hmac', message: /HMAC does not match/ }], `${what}: named at seal.hmac`)
    }
  })

  t.test('bodies are strict', async (t) => {
    assertProblem(t, await post(app, '/v1/audit/verify', { seal, extra: 1 }), 400, 'validation', 'an unknown field')
    assertProblem(t, await post(app, '/v1/audit/verify', { seal: { ...seal, extra: 1 } }), 400, 'validation', 'an unknown field in the seal')
    assertProblem(t, await post(app, '/v1/audit/verify', { seal: { ...seal, version: 2 } }), 400, 'validation', 'another version')
    assertProblem(t, await post(app, '/v1/audit/verify', { seal: { ...seal, root: 'XYZ' } }), 400, 'validation', 'a root that is no hash')
  })

  t.test('finance and auditors only', async (t) => {
    assertProblem(t, await post(app, '/v1/audit/verify', {}, lead), 403, 'forbidden', 'a team lead verifies')
    assertProblem(t, await get(app, '/v1/audit/seal', undefined, lead), 403, 'forbidden', 'a team lead seals')
    assertProblem(t, await post(app, '/v1/audit/verify', {}, { authorization: '' }), 401, 'unauthorized', 'no token')
  })

  t.test('a balance changed by hand, while the service runs', async (t) => {
    // Through the service's own connection to its database, on either store.
    await service.db.transaction([
      { sql: "UPDATE budget_lines SET spent_cents = 20000 WHERE year = 2025 AND sozialraum = 'nord' AND line = 'flexible'", params: [] },
    ])
    const report = await post(app, '/v1/audit/verify', { seal }, auditor)
    t.equal(report.status, 200)
    t.match(report.body, { ok: false, chain: { ok: true }, seal: { ok: true }, mismatchesFound: 1 })
    t.match(report.body.mismatches[0], { year: 2025, sozialraum: 'nord', field: 'lines.flexible.spent', expected: '150.00', actual: '200.00', divergedAt: /^\d+$/ })
  })

  t.test('events written after the seal keep it', async (t) => {
    const spent = await post(app, `${history.north.url}/spending`, spendingBody())
    t.equal(spent.status, 201)
    t.ok(await service.runner.waitFor(BigInt(spent.body.position), 5000))
    const report = await post(app, '/v1/audit/verify', { seal }, auditor)
    t.match(report.body, { seal: { ok: true }, head: spent.body.position })
  })
})

t.test('one verify at a time: a second one while the first runs is 409', async (t) => {
  const service = await startTestService(t, {}, SEAL_KEY)
  const history = await writeHistory(service.app)
  t.ok(await service.runner.waitFor(BigInt(history.position), 5000))
  // The first verify waits on its first read of the log until the test lets it go on.
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (release = resolve))
  let waiting: () => void = () => undefined
  const reading = new Promise<void>((resolve) => (waiting = resolve))
  const store = service.store as { readAll(options: ReadAllOptions): Promise<RecordedEvent[]> }
  const readAll = store.readAll.bind(store)
  store.readAll = async (options) => {
    waiting()
    await gate
    return readAll(options)
  }
  t.teardown(() => {
    store.readAll = readAll
  })

  const first = post(service.app, '/v1/audit/verify', {})
  await reading
  assertProblem(t, await post(service.app, '/v1/audit/verify', {}), 409, 'conflict', 'a second verify')
  release()
  const done = await first
  t.equal(done.status, 200)
  t.equal(done.body.ok, true)
  t.equal((await post(service.app, '/v1/audit/verify', {})).status, 200, 'once it has ended, the next one runs')
})

t.test('read models that cannot be compared: 503 with what mends it, and the next verify is not blocked', async (t) => {
  const service = await startTestService(t, {}, { AUDIT_SEAL_KEY: TEST_SEAL_KEY })
  const history = await writeHistory(service.app)
  t.ok(await service.runner.waitFor(BigInt(history.position), 5000), 'the projections have the history')
  await service.db.transaction([{ script: 'DROP TABLE spendings' }])
  const auditor = await bearer({ sub: 'dora', role: 'auditor' })
  for (const attempt of ['the verify', 'the next one']) {
    const verified = await post(service.app, '/v1/audit/verify', {}, auditor)
    assertProblem(t, verified, 503, 'unavailable', attempt)
    t.match(verified.body.detail, /^the read models cannot be compared with the events: .*spendings.*never migrated .*or a table was dropped/, `${attempt}: the detail says why`)
    t.equal(verified.headers['retry-after'], '60', `${attempt}: Retry-After a minute`)
  }
})

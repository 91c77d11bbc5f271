import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { openService } from '../../src/service.js'
import { recordUndeclaredAnswers } from '../helpers/service.js'
import { bearer, DEFAULT_ACTOR, TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * A service whose EVENTSTORE_URL names a KurrentDB that cannot be reached (a port where nothing
 * listens): it starts, says so in its log within seconds, /ready answers 503 naming KurrentDB,
 * and a write answers 503 problem+json with nothing stored anywhere. This needs no KurrentDB.
 */

t.test('an unreachable KurrentDB is never hidden', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-kurrentdb-down-'))
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const undeclared = new Set<string>()
  const startedAt = Date.now()
  const service = await openService(
    parseConfig({
      DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`,
      EVENTSTORE_URL: 'kurrentdb://127.0.0.1:1?tls=false',
      JWT_SECRET: TEST_JWT_SECRET,
    }),
    pino({ level: 'info' }, sink),
    { onApp: (app) => recordUndeclaredAnswers(app, undeclared) },
  )
  t.teardown(async () => {
    await service.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const named = () => lines.find((line) => /KurrentDB is not reachable/.test(JSON.stringify(line)))
  while (!named() && Date.now() - startedAt < 10_000) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(named(), 'the log says that KurrentDB is not reachable')
  t.ok(Date.now() - startedAt < 10_000, `within seconds (${Date.now() - startedAt} ms)`)

  const ready = await service.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready: 503')
  t.match(ready.json(), { status: 'unavailable', detail: /KurrentDB/ }, '/ready names KurrentDB')

  const headers = { ...(await bearer(DEFAULT_ACTOR)), 'content-type': 'application/json', 'idempotency-key': 'while-away' }
  const write = await service.app.inject({ method: 'POST', url: '/v1/sozialraeume', headers, payload: JSON.stringify({ id: 'nord', name: 'Nord' }) })
  t.equal(write.statusCode, 503, 'a write: 503')
  t.match(write.headers['content-type'], /^application\/problem\+json/)
  t.match(write.json(), { type: /unavailable$/, status: 503, detail: /KurrentDB/ })
  t.ok(write.headers['retry-after'], 'with Retry-After')

  // Nothing stored anywhere: not in the read models, not a claim of the key.
  for (const table of ['sozialraeume', 'idempotency_claims', 'idempotency_keys', 'audit_events']) {
    const [row] = await service.db.query<{ count: number }>(`SELECT COUNT(*) AS count FROM ${table}`)
    t.equal(Number(row?.count), 0, `${table} is empty`)
  }
  t.same([...undeclared], [], 'every answer is declared')
})

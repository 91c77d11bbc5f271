import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import type { CommandContext } from '../../src/application/command-handler.js'
import { Ledger } from '../../src/application/ledger.js'
import { AppendTooLargeError, appendBytes, type EventStore } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { errorHandler } from '../../src/http/problem.js'

/**
 * A store that limits the size of one append (KurrentDB's MaxAppendSize): the command handler
 * keeps each batch below `maxAppendBytes`, so that concurrent writes to one stream are never
 * refused for being many; one write whose own events are too large is refused alone, with
 * nothing stored and its Idempotency-Key free. The store here is SQLite with the server's check
 * in front of its append (the KurrentDB adapter maps the server's refusal to the same error:
 * test/eventstore/kurrentdb-mapping.test.ts).
 */

const context = (key: string | null = null): CommandContext => ({
  actor: { sub: 'anna', role: 'finance' },
  correlationId: 'c-1',
  causationId: 'c-1',
  idempotencyKey: key,
  requestHash: key === null ? null : `hash-${key}`,
  expectedRevision: undefined,
})

function limitedStore(t: { teardown(fn: () => unknown): void }, maxAppendBytes: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-append-size-'))
  const sqlite = new SqliteEventStore(join(dir, 'events.db'))
  t.teardown(async () => {
    await sqlite.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const appends: Array<{ events: number; bytes: number }> = []
  const store: EventStore = Object.assign(Object.create(sqlite) as EventStore, {
    maxAppendBytes,
    append: (...args: Parameters<EventStore['append']>) => {
      const bytes = args[1].reduce((sum, event) => sum + appendBytes(event), 0)
      if (bytes > maxAppendBytes) return Promise.reject(new AppendTooLargeError('the limited store', maxAppendBytes, undefined))
      appends.push({ events: args[1].length, bytes })
      return sqlite.append(...args)
    },
  })
  const ledger = new Ledger({ store, clock: () => new Date('2025-03-01T10:00:00Z'), newEventId: randomUUID })
  return { sqlite, appends, ledger }
}

t.test('concurrent writes to one stream go out in batches below the store’s limit, all of them written', async (t) => {
  const { appends, ledger } = limitedStore(t, 6_000)
  await ledger.executeSozialraum('gross', { type: 'RegisterSozialraum', name: 'Groß', status: 'pilot' }, context())
  const writes = Array.from({ length: 120 }, (_, index) =>
    ledger.executeBudget(2025, 'gross', { type: 'AllocateBudget', line: 'flexible', amountCents: 100n + BigInt(index), decisionRef: `HH-${index}` }, context(`k-${index}`)),
  )
  const outcomes = await Promise.all(writes)
  t.ok(outcomes.every((outcome) => outcome.kind === 'written'), 'all 120 written')
  const total = outcomes.reduce((sum, _, index) => sum + 100n + BigInt(index), 0n)
  const [last] = outcomes.slice(-1)
  t.equal(last?.kind === 'written' ? last.state.lines.flexible.allocatedCents : undefined, total, 'every allocation counted once')
  t.ok(appends.every((append) => append.bytes <= 6_000), `no append beyond the limit (largest ${Math.max(...appends.map((a) => a.bytes))} bytes)`)
  t.ok(appends.some((append) => append.events > 1), 'writes were still batched')
  t.ok(appends.length > 2, `in several appends (${appends.length})`)
})

t.test('a write whose own events are beyond the limit is refused alone: nothing stored, its key free', async (t) => {
  const { sqlite, ledger } = limitedStore(t, 900)
  await ledger.executeSozialraum('klein', { type: 'RegisterSozialraum', name: 'Klein', status: 'pilot' }, context())
  const head = await sqlite.headPosition()
  const large = { type: 'AllocateBudget' as const, line: 'flexible' as const, amountCents: 500n, decisionRef: 'HH', note: 'x'.repeat(1_000) }
  await t.rejects(ledger.executeBudget(2025, 'klein', large, context('big')), AppendTooLargeError)
  t.equal(await sqlite.headPosition(), head, 'nothing stored')
  const small = { ...large, note: undefined }
  const retried = await ledger.executeBudget(2025, 'klein', small, { ...context('big'), requestHash: 'hash-smaller' })
  t.equal(retried.kind, 'written', 'the key serves a corrected request')
})

t.test('the HTTP layer answers such a write 413 payload-too-large, as problem+json, and logs it as a warning', async (t) => {
  const logged: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void logged.push(line) } } })
  app.setErrorHandler(errorHandler)
  app.post('/write', async () => {
    throw new AppendTooLargeError('KurrentDB', 1_048_576, undefined)
  })
  t.teardown(() => app.close())
  const answer = await app.inject({ method: 'POST', url: '/write', payload: {} })
  t.equal(answer.statusCode, 413)
  t.match(answer.headers['content-type'], /^application\/problem\+json/)
  t.match(answer.json(), {
    type: 'urn:sojus-ledger:problem:payload-too-large',
    detail: "this write's events are larger than the event store takes in one append (KurrentDB takes at most 1048576 bytes in one append; nothing was stored)",
  })
  t.ok(logged.some((line) => JSON.parse(line).level === 40), 'a warning, not an error')
})

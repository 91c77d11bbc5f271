import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { CommandContext } from '../../src/application/command-handler.js'
import { Ledger, YEAR_VIEW_MAX_AGE_MS } from '../../src/application/ledger.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'

/**
 * Two processes on one store (two ledgers, each with its own cache): once one of them approves a
 * year's close, the other refuses writes to the year's budgets within YEAR_VIEW_MAX_AGE_MS, even
 * before the close has reached them (docs/fiscal-year.md, "2. The decision"). Before 0.12.5 it
 * took the year as it last saw it open until the close step landed in the budget: for good,
 * while a close was stuck.
 */

const finance = (sub: string): CommandContext => ({
  actor: { sub, role: 'finance' },
  correlationId: 'test',
  causationId: 'test',
  idempotencyKey: null,
  requestHash: null,
  expectedRevision: undefined,
})

t.test("another process's approval stops this process's writes within the year view's age", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-year-view-'))
  const store = new SqliteEventStore(join(dir, 'ledger.db'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  let now = Date.parse('2025-12-31T12:00:00Z')
  const clock = () => new Date(now)
  const here = new Ledger({ store, clock, newEventId: randomUUID })
  const there = new Ledger({ store, clock, newEventId: randomUUID })
  const spend = () =>
    here.executeBudget(2025, 'a', { type: 'RecordSpending', spendingId: randomUUID(), amountCents: 100n, purpose: 'Ausflug', receiptRef: 'B-1', date: '2025-12-30' }, finance('f1'))

  await here.executeSozialraum('a', { type: 'RegisterSozialraum', name: 'a', status: 'pilot' }, finance('f1'))
  await here.executeBudget(2025, 'a', { type: 'AllocateBudget', line: 'flexible', amountCents: 10_000n, decisionRef: 'JHA' }, finance('f1'))
  t.equal((await spend()).kind, 'written', 'the year is open: a spending is taken')

  await there.executeYear(2025, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: [] }, finance('f1'))
  const approved = await there.executeYear(2025, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  t.equal(approved.kind, 'written', 'the other process approved the close')

  now += YEAR_VIEW_MAX_AGE_MS
  const late = await spend()
  t.equal(late.kind, 'rejected', 'a second later this process refuses the write')
  t.match(late, { error: { code: 'year-closed' } })
})

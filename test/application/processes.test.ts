import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { closeYear, finishLateBudget, finishMove, ProcessStepError } from '../../src/application/processes.js'
import type { CommandContext } from '../../src/application/command-handler.js'
import { Ledger, YEAR_VIEW_MAX_AGE_MS } from '../../src/application/ledger.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { DomainError } from '../../src/domain/errors.js'
import type { FiscalYearQueries } from '../../src/readmodels/fiscal-years.js'
import { LedgerReadingTheYearEarlier } from '../helpers/ledgers.js'

/**
 * The close process on a real store, with read models that cannot see everything: a move that
 * lands after the close listed the unsettled moves (here: one the read models never show) is
 * still settled before its source closes, credited where the target takes it and taken back where
 * it does not, so that the close completes and no money is lost.
 */

const finance = (sub: string): CommandContext => ({
  actor: { sub, role: 'finance' },
  correlationId: 'test',
  causationId: 'test',
  idempotencyKey: null,
  requestHash: null,
  expectedRevision: undefined,
})

/** A SQLite store in a folder of its own, closed and removed when the test ends. */
function openStore(t: Test): SqliteEventStore {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-processes-'))
  const store = new SqliteEventStore(join(dir, 'ledger.db'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return store
}

t.test('a move the read models do not show is settled before its source closes', async (t) => {
  const store = openStore(t)
  const ledger = new Ledger({ store, clock: () => new Date('2025-12-31T12:00:00Z'), newEventId: randomUUID })
  for (const id of ['a', 'b', 'c']) {
    await ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, finance('f1'))
  }
  for (const id of ['a', 'b']) {
    await ledger.executeBudget(2025, id, { type: 'AllocateBudget', line: 'flexible', amountCents: 1_000n, decisionRef: 'JHA' }, finance('f1'))
  }
  // Two moves debited and never finished: one to b (which takes it), one to c (which has no budget).
  const toB = randomUUID()
  const toC = randomUUID()
  for (const [moveId, to] of [[toB, 'b'], [toC, 'c']] as const) {
    const debit = await ledger.executeBudget(2025, 'a', { type: 'DebitMove', moveId, line: 'flexible', amountCents: 100n, to: { sozialraum: to, line: 'flexible' }, reason: 'Deckung' }, finance('f1'))
    t.equal(debit.kind, 'written')
  }
  await ledger.executeYear(2025, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: ['flexible'] }, finance('f1'))
  await ledger.executeYear(2025, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))

  // Read models that list the budgets but none of the moves.
  const queries = { unsettledMoves: async () => [], budgetsOfYear: async () => ['a', 'b'], unfinishedBudgetsOfClosedYears: async () => [] } as unknown as FiscalYearQueries
  const closed = await closeYear({ ledger, queries, store, waitFor: async () => true }, 2025)
  t.equal(closed, 'closed')

  const a = (await ledger.readBudget(2025, 'a')).state
  const b = (await ledger.readBudget(2025, 'b')).state
  t.equal(b.incomingMoves.get(toB), 'credited', 'the move to b is credited')
  t.equal(a.outgoingMoves.get(toC)?.reverted, true, 'the move to c, which has no budget, is taken back')
  t.ok(a.closed && b.closed, 'both budgets closed')
  t.equal(a.unspentCarriedCents.flexible, 900n, 'a carried what it had left after its move to b')
  t.equal(b.unspentCarriedCents.flexible, 1_100n, 'b carried its own and what a moved')
  const year = (await ledger.readYear(2025)).state
  t.match(year.totals, { budgets: 2, unspentCarriedCents: 2_000, lapsedCents: 0 }, 'no money lost')
  t.equal(await closeYear({ ledger, queries, store, waitFor: async () => true }, 2025), 'not-closing', 'a second run finds it closed')

  // Run again on the finished move: nothing changes.
  const again = await finishMove(ledger, { id: toB, year: 2025, from: { sozialraum: 'a', line: 'flexible' }, to: { sozialraum: 'b', line: 'flexible' }, amount: '1.00', amountCents: 100n, reason: 'Deckung' }, { sub: 'f1', role: 'finance' })
  t.same(again, { ended: 'completed', position: undefined }, 'finishing a finished move writes nothing')
})

/** A ledger whose close of one budget is refused while `failing`: a step that keeps failing, as a store could. */
class LedgerFailingToClose extends Ledger {
  failing = true
  constructor(options: ConstructorParameters<typeof Ledger>[0], private readonly sozialraum: string) {
    super(options)
  }
  override executeBudget(...args: Parameters<Ledger['executeBudget']>): ReturnType<Ledger['executeBudget']> {
    const [, sozialraum, command] = args
    if (this.failing && sozialraum === this.sozialraum && command.type === 'CloseBudget') {
      return Promise.resolve({ kind: 'rejected', error: new DomainError('conflict', 'refused, as by a store that keeps failing') })
    }
    return super.executeBudget(...args)
  }
}

t.test("a budget that cannot close does not hold up the year's other budgets; the year closes once it can", async (t) => {
  const store = openStore(t)
  const ledger = new LedgerFailingToClose({ store, clock: () => new Date('2025-12-31T12:00:00Z'), newEventId: randomUUID }, 'a')
  for (const id of ['a', 'b', 'c']) {
    await ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, finance('f1'))
    await ledger.executeBudget(2025, id, { type: 'AllocateBudget', line: 'flexible', amountCents: 1_000n, decisionRef: 'JHA' }, finance('f1'))
  }
  await ledger.executeYear(2025, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: ['flexible'] }, finance('f1'))
  await ledger.executeYear(2025, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  const queries = { unsettledMoves: async () => [], budgetsOfYear: async () => ['a', 'b', 'c'], unfinishedBudgetsOfClosedYears: async () => [] } as unknown as FiscalYearQueries
  const options = { ledger, queries, store, waitFor: async () => true }

  await t.rejects(closeYear(options, 2025), /closing 2025: 1 budget\(s\) did not close this round: closing budget 2025 of a: refused/)
  t.notOk((await ledger.readBudget(2025, 'a')).state.closed, 'a is not closed')
  for (const id of ['b', 'c']) {
    t.ok((await ledger.readBudget(2025, id)).state.closed, `${id}, after it in the list, is closed`)
    t.ok((await ledger.readBudget(2026, id)).state.carriedInFrom.has(2025), `and 2026 of ${id} has its carry-over`)
  }
  t.equal((await ledger.readYear(2025)).state.status, 'closing', 'the year waits for a')

  ledger.failing = false
  t.equal(await closeYear(options, 2025), 'closed')
  t.match((await ledger.readYear(2025)).state.totals, { budgets: 3, unspentCarriedCents: 3_000 }, 'every budget, nothing carried twice')
})

/**
 * Two processes on one store (two ledgers, each with its own cache): once one of them approves a
 * year's close, the other refuses writes to the year's budgets within YEAR_VIEW_MAX_AGE_MS, even
 * before the close has reached them (docs/fiscal-year.md, "2. The decision"). Before 0.12.5 it
 * took the year as it last saw it open until the close step landed in the budget: for good,
 * while a close was stuck.
 */
t.test("another process's approval stops this process's writes within the year view's age", async (t) => {
  const store = openStore(t)
  let now = Date.parse('2025-12-31T12:00:00Z')
  const clock = () => new Date(now)
  const here = new Ledger({ store, clock, newEventId: randomUUID })
  const there = new Ledger({ store, clock, newEventId: randomUUID })
  const spend = (sozialraum = 'a') =>
    here.executeBudget(2025, sozialraum, { type: 'RecordSpending', spendingId: randomUUID(), amountCents: 100n, purpose: 'Ausflug', receiptRef: 'B-1', date: '2025-12-30' }, finance('f1'))

  for (const id of ['a', 'b']) {
    await here.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, finance('f1'))
    await here.executeBudget(2025, id, { type: 'AllocateBudget', line: 'flexible', amountCents: 10_000n, decisionRef: 'JHA' }, finance('f1'))
    t.equal((await spend(id)).kind, 'written', `the year is open: a spending to ${id} is taken`)
  }

  await there.executeYear(2025, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: [] }, finance('f1'))
  const approved = await there.executeYear(2025, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  t.equal(approved.kind, 'written', 'the other process approved the close')

  now += YEAR_VIEW_MAX_AGE_MS
  // Two at once: the second must not take the year as fresh while the first one's read is under way.
  const late = await Promise.all([spend('a'), spend('b')])
  t.same(late.map((outcome) => outcome.kind), ['rejected', 'rejected'], 'a second later this process refuses both writes')
  t.match(late, [{ error: { code: 'year-closed' } }, { error: { code: 'year-closed' } }])
})

/** A ledger that refuses the next year's carry-over while `failing`: as a process stopped, or a store failing, between the two steps. */
class LedgerFailingToCarry extends LedgerReadingTheYearEarlier {
  failing: Error | undefined
  override executeBudget(...args: Parameters<Ledger['executeBudget']>): ReturnType<Ledger['executeBudget']> {
    if (this.failing && args[2].type === 'ReceiveCarryOver') return Promise.reject(this.failing)
    return super.executeBudget(...args)
  }
}

/**
 * The race docs/fiscal-year.md names: a budget's first allocation passes its year's check just
 * before the approval and lands after the close's last round listed the budgets. The budget was
 * then left open in a closed year for good; the processes now finish it late, as the close would
 * have, and the next year receives what it carried. Set up: 2025 closed with budget a; the
 * allocation to `late` read the year before the approval.
 */
async function closedWithALateBudget(t: Test) {
  const store = openStore(t)
  const clock = () => new Date('2025-12-31T12:00:00Z')
  const ledger = new LedgerFailingToCarry({ store, clock, newEventId: randomUUID })
  for (const id of ['a', 'late']) await ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, finance('f1'))
  await ledger.executeBudget(2025, 'a', { type: 'AllocateBudget', line: 'flexible', amountCents: 1_000n, decisionRef: 'JHA' }, finance('f1'))
  await ledger.executeYear(2025, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: ['flexible'] }, finance('f1'))
  const beforeApproval = await ledger.readYear(2025)
  await ledger.executeYear(2025, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  const queries = { unsettledMoves: async () => [], budgetsOfYear: async () => ['a'], unfinishedBudgetsOfClosedYears: async () => [] } as unknown as FiscalYearQueries
  t.equal(await closeYear({ ledger, queries, store, waitFor: async () => true }, 2025), 'closed')
  ledger.earlier = beforeApproval
  const slipped = await ledger.executeBudget(2025, 'late', { type: 'AllocateBudget', line: 'flexible', amountCents: 500n, decisionRef: 'JHA-spät' }, finance('f1'))
  t.equal(slipped.kind, 'written', 'the first allocation that read the year before the approval lands after the close')
  ledger.earlier = undefined
  t.notOk((await ledger.readBudget(2025, 'late')).state.closed, 'its budget is open in a closed year')
  return { store, ledger }
}

/** Σ (allocated − spent) over both years' budgets of the Sozialräume: what the close must conserve. */
async function money(ledger: Ledger, years = [2025, 2026]): Promise<bigint> {
  let total = 0n
  for (const year of years) {
    for (const id of ['a', 'late']) {
      const { lines } = (await ledger.readBudget(year, id)).state
      for (const line of Object.values(lines)) total += line.allocatedCents - line.spentCents
    }
  }
  return total
}

t.test('a budget opened after its year closed is closed late, and carries into the next year', async (t) => {
  const { ledger } = await closedWithALateBudget(t)
  const before = await money(ledger)
  t.equal(await finishLateBudget(ledger, 2025, 'late'), true, 'the process closes it')
  const late = (await ledger.readBudget(2025, 'late')).state
  t.ok(late.closed, 'closed')
  t.equal(late.unspentCarriedCents.flexible, 500n, 'with the lines the close chose to carry')
  const next = (await ledger.readBudget(2026, 'late')).state
  t.ok(next.carriedInFrom.has(2025), '2026 received it')
  t.equal(next.lines.flexible.allocatedCents, 500n, 'all of it')
  t.equal(await money(ledger), before, 'no money created or lost')
  t.match((await ledger.readYear(2025)).state.totals, { budgets: 1 }, "the year's totals stay as recorded")
  t.equal(await finishLateBudget(ledger, 2025, 'late'), false, 'run again, it has nothing to do')
  t.equal(await finishLateBudget(ledger, 2025, 'a'), false, 'nor for a budget the close closed')
  t.equal((await ledger.readBudget(2026, 'late')).state.lines.flexible.allocatedCents, 500n, 'nothing carried twice')
})

t.test('a late close that stopped between its two steps carries when run again', async (t) => {
  const { ledger } = await closedWithALateBudget(t)
  const before = await money(ledger)
  ledger.failing = new Error('connection terminated')
  await t.rejects(finishLateBudget(ledger, 2025, 'late'), /connection terminated/, 'the carry fails after the close step')
  t.ok((await ledger.readBudget(2025, 'late')).state.closed, '2025 of late is closed')
  t.notOk((await ledger.readBudget(2026, 'late')).state.carriedInFrom.has(2025), '2026 has not received it')
  ledger.failing = undefined
  t.equal(await finishLateBudget(ledger, 2025, 'late'), true, 'the next run carries it')
  t.equal((await ledger.readBudget(2026, 'late')).state.lines.flexible.allocatedCents, 500n, '2026 received it')
  t.equal(await money(ledger), before, 'no money lost')
})

t.test("the next year's close finishes what the previous close left unfinished before its budgets close", async (t) => {
  const { store, ledger } = await closedWithALateBudget(t)
  const before = await money(ledger, [2025, 2026, 2027])
  await ledger.executeBudget(2026, 'a', { type: 'AllocateBudget', line: 'flexible', amountCents: 100n, decisionRef: 'JHA' }, finance('f1'))
  await ledger.executeYear(2026, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: ['flexible'] }, finance('f1'))
  await ledger.executeYear(2026, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  const unfinished = async (year?: number) => {
    if (year !== 2025) return []
    const { state } = await ledger.readBudget(2025, 'late')
    return state.closed && (await ledger.readBudget(2026, 'late')).state.carriedInFrom.has(2025) ? [] : [{ year: 2025, sozialraum: 'late' }]
  }
  // The late budget's carry opens 2026 of late before the close lists 2026's budgets.
  const budgetsOfYear = async () => ['a', 'late']
  const queries = { unsettledMoves: async () => [], budgetsOfYear, unfinishedBudgetsOfClosedYears: unfinished } as unknown as FiscalYearQueries
  t.equal(await closeYear({ ledger, queries, store, waitFor: async () => true }, 2026), 'closed')
  t.ok((await ledger.readBudget(2025, 'late')).state.closed, '2025 of late closed')
  const late2026 = (await ledger.readBudget(2026, 'late')).state
  t.ok(late2026.carriedInFrom.has(2025) && late2026.closed, '2026 of late received it, and was closed with its year')
  t.equal((await ledger.readBudget(2027, 'late')).state.lines.flexible.allocatedCents, 500n, 'so the money reached 2027')
  t.equal(await money(ledger, [2025, 2026, 2027]), before + 100n, 'no money lost: all of it is in 2027, with the 100 allocated to 2026')
})

t.test('a refused carry leaves the late budget closed, its carry waiting, and says so each time', async (t) => {
  const { ledger } = await closedWithALateBudget(t)
  ledger.failing = new ProcessStepError("carrying 2025 of late into 2026: the flexible line's allocated amount would pass the limit")
  await t.rejects(finishLateBudget(ledger, 2025, 'late'), ProcessStepError)
  await t.rejects(finishLateBudget(ledger, 2025, 'late'), ProcessStepError, 'again on the next round, while it is refused')
  ledger.failing = undefined
  t.equal(await finishLateBudget(ledger, 2025, 'late'), true, 'carried once it is taken')
})

t.test('a budget opened after its year closed stays open once the next year is closed: nothing could carry into it', async (t) => {
  const { ledger } = await closedWithALateBudget(t)
  await ledger.executeYear(2026, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: [] }, finance('f1'))
  await ledger.executeYear(2026, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  await ledger.executeYear(2026, { type: 'CompleteClose', totals: { budgets: 0, carriedCommitments: 0, carriedCents: 0, allocationCarriedCents: 0, unspentCarriedCents: 0, lapsedCents: 0 } }, finance('f2'))
  t.equal((await ledger.readYear(2026)).state.status, 'closed')
  t.equal(await finishLateBudget(ledger, 2025, 'late'), false, 'nothing is written')
  t.notOk((await ledger.readBudget(2025, 'late')).state.closed, 'it stays open, visible in the reports')
})

t.test('a carry that can no longer land (the next year closed meanwhile) is left, and holds up nothing', async (t) => {
  const { ledger } = await closedWithALateBudget(t)
  ledger.failing = new Error('connection terminated')
  await t.rejects(finishLateBudget(ledger, 2025, 'late'), /connection terminated/)
  ledger.failing = undefined
  await ledger.executeYear(2026, { type: 'RequestClose', reason: 'Abschluss', carryUnspent: [] }, finance('f1'))
  await ledger.executeYear(2026, { type: 'DecideClose', decision: 'approve', approver: { sub: 'f2', role: 'finance' } }, finance('f2'))
  await ledger.executeYear(2026, { type: 'CompleteClose', totals: { budgets: 0, carriedCommitments: 0, carriedCents: 0, allocationCarriedCents: 0, unspentCarriedCents: 0, lapsedCents: 0 } }, finance('f2'))
  t.equal(await finishLateBudget(ledger, 2025, 'late'), false, 'nothing is written, and no error stops the round')
  t.ok((await ledger.readBudget(2025, 'late')).state.closed, '2025 of late stays closed, its carry not received')
})

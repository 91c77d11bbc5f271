import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { projections } from '../../projections/index.js'
import { Ledger } from '../../src/application/ledger.js'
import type { CommandContext } from '../../src/application/command-handler.js'
import { budgetStreamId, toStoredEvent } from '../../src/application/stored-event.js'
import type { BudgetCommand } from '../../src/domain/budget.js'
import type { Line } from '../../src/domain/events.js'
import { formatCents } from '../../src/domain/money.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { ProjectionRunner, resetProjection } from '../../src/projections/runner.js'
import { ReadModels } from '../../src/readmodels/queries.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'

const YEAR = 2025
const SOZIALRAEUME = ['unteres-malstatt', 'unteres-alt-saarbruecken'] as const
const context: CommandContext = {
  actor: { sub: 'property', role: 'finance' },
  correlationId: 'property',
  causationId: 'property',
  idempotencyKey: null,
  requestHash: null,
  expectedRevision: undefined,
}

/** Commands refer to commitments and spendings by index into those created so far. */
type Step =
  | { kind: 'allocate'; sozialraum: number; line: Line; cents: bigint }
  | { kind: 'adjust'; sozialraum: number; line: Line; cents: bigint }
  | { kind: 'transfer'; sozialraum: number; from: Line; cents: bigint }
  | { kind: 'commit'; sozialraum: number; line: Line; cents: bigint; justified: boolean }
  | { kind: 'amend'; sozialraum: number; pick: number; cents: bigint }
  | { kind: 'invoice'; sozialraum: number; pick: number; cents: bigint; invoiceNo: number }
  | { kind: 'release'; sozialraum: number; pick: number }
  | { kind: 'spend'; sozialraum: number; cents: bigint }
  | { kind: 'reverse'; sozialraum: number; pick: number }

const sozialraum = fc.integer({ min: 0, max: SOZIALRAEUME.length - 1 })
const line = fc.constantFrom<Line>('ambulatory', 'flexible')
const amount = fc.bigInt({ min: 1n, max: 500_000n })
const pick = fc.nat({ max: 20 })

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('allocate' as const), sozialraum, line, cents: amount }),
  fc.record({ kind: fc.constant('adjust' as const), sozialraum, line, cents: fc.bigInt({ min: -300_000n, max: 300_000n }).filter((value) => value !== 0n) }),
  fc.record({ kind: fc.constant('transfer' as const), sozialraum, from: line, cents: amount }),
  fc.record({ kind: fc.constant('commit' as const), sozialraum, line, cents: amount, justified: fc.boolean() }),
  fc.record({ kind: fc.constant('amend' as const), sozialraum, pick, cents: fc.bigInt({ min: -200_000n, max: 200_000n }).filter((value) => value !== 0n) }),
  fc.record({ kind: fc.constant('invoice' as const), sozialraum, pick, cents: amount, invoiceNo: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant('release' as const), sozialraum, pick }),
  fc.record({ kind: fc.constant('spend' as const), sozialraum, cents: amount }),
  fc.record({ kind: fc.constant('reverse' as const), sozialraum, pick }),
)

function toCommand(step: Step, commitments: readonly string[], spendings: readonly string[]): BudgetCommand {
  const commitmentId = commitments.length === 0 ? randomUUID() : (commitments[('pick' in step ? step.pick : 0) % commitments.length] as string)
  const spendingId = spendings.length === 0 ? randomUUID() : (spendings[('pick' in step ? step.pick : 0) % spendings.length] as string)
  switch (step.kind) {
    case 'allocate':
      return { type: 'AllocateBudget', line: step.line, amountCents: step.cents, decisionRef: 'HH' }
    case 'adjust':
      return { type: 'AdjustBudget', line: step.line, amountCents: step.cents, reason: 'correction' }
    case 'transfer':
      return {
        type: 'TransferBudget',
        fromLine: step.from,
        toLine: step.from === 'ambulatory' ? 'flexible' : 'ambulatory',
        amountCents: step.cents,
        reason: 'shift',
      }
    case 'commit':
      return {
        type: 'CreateCommitment',
        commitmentId: randomUUID(),
        line: step.line,
        provider: 'traeger-a',
        caseRef: 'case-1',
        amountCents: step.cents,
        period: { from: '2025-01-01', to: '2025-12-31' },
        overBudgetJustification: step.justified ? 'Rechtsanspruch nach § 27 SGB VIII' : undefined,
      }
    case 'amend':
      return { type: 'AmendCommitment', commitmentId, amountCents: step.cents, reason: 'change' }
    case 'invoice':
      return { type: 'BookInvoice', commitmentId, invoiceNo: `R-${step.invoiceNo}`, amountCents: step.cents, invoiceDate: '2025-02-01' }
    case 'release':
      return { type: 'ReleaseCommitment', commitmentId, reason: 'done' }
    case 'spend':
      return { type: 'RecordSpending', spendingId: randomUUID(), amountCents: step.cents, purpose: 'Gruppenangebot', receiptRef: 'B-1', date: '2025-03-01' }
    case 'reverse':
      return { type: 'ReverseSpending', spendingId, reason: 'Storno' }
  }
}

interface Totals {
  allocated: bigint
  committed: bigint
  spent: bigint
}

/** DOMAIN.md's formulas, applied to the raw event log without the decider's help. */
async function recompute(store: SqliteEventStore, sozialraum: string): Promise<Record<Line, Totals>> {
  const totals: Record<Line, Totals> = {
    ambulatory: { allocated: 0n, committed: 0n, spent: 0n },
    flexible: { allocated: 0n, committed: 0n, spent: 0n },
  }
  const spendings = new Map<string, bigint>()
  for (const recorded of await store.readStream(budgetStreamId(YEAR, sozialraum), { maxCount: 10_000 })) {
    const { event } = toStoredEvent(recorded)
    switch (event.type) {
      case 'BudgetAllocated':
      case 'BudgetAdjusted':
        totals[event.data.line].allocated += BigInt(event.data.amountCents)
        break
      case 'BudgetTransferred':
        totals[event.data.fromLine].allocated -= BigInt(event.data.amountCents)
        totals[event.data.toLine].allocated += BigInt(event.data.amountCents)
        break
      case 'CommitmentCreated':
      case 'CommitmentAmended':
        totals[event.data.line].committed += BigInt(event.data.amountCents)
        break
      case 'InvoiceBooked':
        totals[event.data.line].committed -= BigInt(event.data.amountCents)
        totals[event.data.line].spent += BigInt(event.data.amountCents)
        break
      case 'CommitmentReleased':
        totals[event.data.line].committed -= BigInt(event.data.amountCents)
        break
      case 'SpendingRecorded':
        spendings.set(event.data.spendingId, BigInt(event.data.amountCents))
        totals.flexible.spent += BigInt(event.data.amountCents)
        break
      case 'SpendingReversed':
        totals.flexible.spent -= spendings.get(event.data.spendingId) ?? 0n
        break
    }
  }
  return totals
}

function expectedBalance(totals: Totals) {
  return {
    allocated: formatCents(totals.allocated),
    committed: formatCents(totals.committed),
    spent: formatCents(totals.spent),
    available: formatCents(totals.allocated - totals.committed - totals.spent),
  }
}

async function withLedger<T>(work: (parts: { store: SqliteEventStore; db: SqliteDatabase; ledger: Ledger; runner: ProjectionRunner }) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-projections-'))
  const path = join(dir, 'ledger.db')
  const store = new SqliteEventStore(path)
  const db = new SqliteDatabase(path)
  const runner = new ProjectionRunner({ store, db, projections, logger: pino({ level: 'silent' }) })
  try {
    await migrate(db, await loadMigrations())
    await runner.start()
    const ledger = new Ledger({ store, clock: () => new Date('2025-06-01T10:00:00.000Z'), newEventId: randomUUID })
    for (const id of SOZIALRAEUME) {
      await ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, context)
    }
    return await work({ store, db, ledger, runner })
  } finally {
    await runner.stop()
    await store.close()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runSteps(ledger: Ledger, steps: readonly Step[]): Promise<void> {
  const commitments: string[][] = SOZIALRAEUME.map(() => [])
  const spendings: string[][] = SOZIALRAEUME.map(() => [])
  for (const step of steps) {
    const command = toCommand(step, commitments[step.sozialraum] ?? [], spendings[step.sozialraum] ?? [])
    const outcome = await ledger.executeBudget(YEAR, SOZIALRAEUME[step.sozialraum] as string, command, context)
    if (outcome.kind !== 'written') continue
    if (command.type === 'CreateCommitment') commitments[step.sozialraum]?.push(command.commitmentId)
    if (command.type === 'RecordSpending') spendings[step.sozialraum]?.push(command.spendingId)
  }
}

async function assertReadModelsMatch(
  t: Test,
  parts: { store: SqliteEventStore; db: SqliteDatabase; runner: ProjectionRunner },
): Promise<boolean> {
  const head = await parts.store.headPosition()
  t.ok(await parts.runner.waitFor(head, 5000), 'the projections reach the head of the log')
  const readModels = new ReadModels(parts.db)
  for (const sozialraum of SOZIALRAEUME) {
    const expected = await recompute(parts.store, sozialraum)
    const budget = await readModels.getBudget(YEAR, sozialraum)
    if (!budget) {
      if (expected.ambulatory.allocated !== 0n || expected.flexible.allocated !== 0n) return false
      continue
    }
    const same =
      JSON.stringify(budget.lines.ambulatory) === JSON.stringify(expectedBalance(expected.ambulatory)) &&
      JSON.stringify(budget.lines.flexible) === JSON.stringify(expectedBalance(expected.flexible))
    if (!same) {
      t.same(budget.lines, { ambulatory: expectedBalance(expected.ambulatory), flexible: expectedBalance(expected.flexible) })
      return false
    }
    const commitments = await readModels.listCommitments(YEAR, sozialraum)
    const openRemainders = commitments
      .filter((commitment) => commitment.status !== 'rejected')
      .reduce((sum, commitment) => sum + BigInt(commitment.remaining.replace('.', '')), 0n)
    if (openRemainders !== expected.ambulatory.committed + expected.flexible.committed) return false
  }
  return true
}

t.test('read-model balances always equal a recomputation from the events', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) =>
      withLedger(async (parts) => {
        await runSteps(parts.ledger, steps)
        return assertReadModelsMatch(t, parts)
      }),
    ),
    { numRuns: 40 },
  )
})

t.test('a rebuilt projection equals the one built live, and a restarted runner applies nothing twice', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 60 }), async (steps) =>
      withLedger(async (parts) => {
        await runSteps(parts.ledger, steps)
        const head = await parts.store.headPosition()
        await parts.runner.waitFor(head, 5000)
        const before = await new ReadModels(parts.db).listBudgets(YEAR)
        await parts.runner.stop()

        for (const projection of projections) await resetProjection(parts.db, projection)
        const rebuilt = new ProjectionRunner({ store: parts.store, db: parts.db, projections, logger: pino({ level: 'silent' }) })
        await rebuilt.start()
        t.ok(await rebuilt.waitFor(head, 5000), 'the rebuild reaches the head')
        await rebuilt.stop()

        const restarted = new ProjectionRunner({ store: parts.store, db: parts.db, projections, logger: pino({ level: 'silent' }) })
        await restarted.start()
        t.ok(await restarted.waitFor(head, 5000))
        await restarted.stop()

        const after = await new ReadModels(parts.db).listBudgets(YEAR)
        return JSON.stringify(before) === JSON.stringify(after)
      }),
    ),
    { numRuns: 15 },
  )
})

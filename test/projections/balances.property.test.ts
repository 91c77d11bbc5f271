import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { projections } from '../../projections/index.js'
import { Ledger } from '../../src/application/ledger.js'
import type { CommandContext } from '../../src/application/command-handler.js'
import { budgetStreamId, toStoredEvent } from '../../src/application/stored-event.js'
import { budgetViewOfState, commitmentView, type CommitmentView } from '../../src/application/views.js'
import {
  evolveBudget,
  initialBudgetState,
  type BudgetCommand,
  type BudgetPolicy,
  type BudgetState,
} from '../../src/domain/budget/index.js'
import { isBudgetEvent, type Actor, type Line } from '../../src/domain/events.js'
import { formatCents } from '../../src/domain/money.js'
import type { EventStore } from '../../src/eventstore/port.js'
import { ProjectionRunner, resetProjection } from '../../projections/runner.js'
import { ReadModels } from '../../src/readmodels/queries.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import type { SqlDatabase } from '../../src/sql/port.js'
import { budgetCommandOf } from '../helpers/budget-commands.js'
import { TEST_STORE } from '../helpers/service.js'
import { createTestStores } from '../helpers/stores.js'

const YEAR = 2025
const SOZIALRAEUME = ['unteres-malstatt', 'unteres-alt-saarbruecken'] as const

/**
 * Who acts: the first three write commitments and amendments; approvals come from any of them, or
 * from whoever asked for the commitment (rule 6 lets them withdraw it, never approve it; the
 * auditor decides nothing).
 */
const ACTORS: readonly Actor[] = [
  { sub: 'teamlead-1', role: 'teamlead' },
  { sub: 'teamlead-2', role: 'teamlead' },
  { sub: 'finance-1', role: 'finance' },
  { sub: 'finance-2', role: 'finance' },
  { sub: 'auditor-1', role: 'auditor' },
]

function contextOf(actor: Actor): CommandContext {
  return {
    actor,
    correlationId: 'property',
    causationId: 'property',
    idempotencyKey: null,
    requestHash: null,
    expectedRevision: undefined,
  }
}

/** Commands refer to commitments and spendings by index into those created so far. */
type Step =
  | { kind: 'allocate'; sozialraum: number; line: Line; cents: bigint }
  | { kind: 'adjust'; sozialraum: number; line: Line; cents: bigint }
  | { kind: 'transfer'; sozialraum: number; from: Line; cents: bigint }
  | { kind: 'commit'; sozialraum: number; line: Line; cents: bigint; justified: boolean; actor: number }
  | { kind: 'amend'; sozialraum: number; pick: number; cents: bigint; justified: boolean; actor: number }
  | { kind: 'decide'; sozialraum: number; pick: number; decision: 'approve' | 'reject'; approver: number; comment: boolean }
  | { kind: 'invoice'; sozialraum: number; pick: number; cents: bigint; whole: boolean; invoiceNo: number }
  | { kind: 'release'; sozialraum: number; pick: number }
  | { kind: 'spend'; sozialraum: number; cents: bigint }
  | { kind: 'reverse'; sozialraum: number; pick: number }

const sozialraum = fc.integer({ min: 0, max: SOZIALRAEUME.length - 1 })
const line = fc.constantFrom<Line>('ambulatory', 'flexible')
const amount = fc.bigInt({ min: 1n, max: 500_000n })
const pick = fc.nat({ max: 20 })
/** A writer: a team lead or finance. */
const writer = fc.nat({ max: 2 })
/** An approver: one of ACTORS, or (past their end) whoever asked for the commitment, as a team lead. */
const approver = fc.nat({ max: ACTORS.length })
/** A threshold in the range of the generated amounts, so that commitments wait for approval often. */
const threshold = fc.bigInt({ min: 50_000n, max: 800_000n })

/** Commitments, amendments and decisions weigh more, so that approvals happen in most runs. */
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('allocate' as const), sozialraum, line, cents: amount }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('adjust' as const), sozialraum, line, cents: fc.bigInt({ min: -300_000n, max: 300_000n }).filter((value) => value !== 0n) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), sozialraum, from: line, cents: amount }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('commit' as const), sozialraum, line, cents: amount, justified: fc.boolean(), actor: writer }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('amend' as const),
      sozialraum,
      pick,
      cents: fc.bigInt({ min: -200_000n, max: 500_000n }).filter((value) => value !== 0n),
      justified: fc.boolean(),
      actor: writer,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      sozialraum,
      pick,
      decision: fc.constantFrom('approve' as const, 'reject' as const),
      approver,
      comment: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('invoice' as const),
      sozialraum,
      pick,
      cents: amount,
      whole: fc.nat(2).map((n) => n === 0), // now and then exactly the remainder, which closes the commitment
      invoiceNo: fc.nat({ max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), sozialraum, pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('spend' as const), sozialraum, cents: amount }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reverse' as const), sozialraum, pick }) },
)

/**
 * Every budget is opened with an allocation first, so that most steps work on an existing budget;
 * then up to `maxLength` random steps.
 */
const steps = (minLength: number, maxLength: number): fc.Arbitrary<Step[]> =>
  fc
    .tuple(
      fc.tuple(
        ...SOZIALRAEUME.flatMap((_, index) =>
          (['ambulatory', 'flexible'] as const).map((opened) =>
            fc.record({
              kind: fc.constant('allocate' as const),
              sozialraum: fc.constant(index),
              line: fc.constant(opened),
              cents: fc.bigInt({ min: 50_000n, max: 1_000_000n }),
            }),
          ),
        ),
      ),
      fc.array(step, { minLength, maxLength, size: 'max' }),
    )
    .map(([openings, rest]): Step[] => [...openings, ...rest])

/** Who a step is decided for: an approval by its approver, anything else by a writer. */
function actorOf(step: Step, state: BudgetState | undefined, commitmentId: string): Actor {
  if (step.kind !== 'decide') return ACTORS['actor' in step ? step.actor : 2] as Actor
  const chosen = ACTORS[step.approver]
  if (chosen) return chosen
  // Whoever asked for it, as a team lead: rule 6 lets them withdraw, not approve, even over budget.
  const commitment = state?.commitments.get(commitmentId)
  return { sub: commitment?.requestedBy ?? commitment?.createdBy ?? 'teamlead-1', role: 'teamlead' }
}

/**
 * Mostly a commitment where the step can do something: a decision goes to one that waits, an
 * amendment or an invoice to one that is open; now and then to any.
 */
function pickCommitment(step: Step, commitments: readonly string[], state: BudgetState | undefined): string {
  if (commitments.length === 0) return randomUUID()
  const n = 'pick' in step ? step.pick : 0
  const wanted = step.kind === 'decide' ? 'requested' : step.kind === 'amend' || step.kind === 'invoice' ? 'open' : undefined
  if (wanted !== undefined && n % 4 !== 0) {
    const candidates = commitments.filter((id) => state?.commitments.get(id)?.status === wanted)
    if (candidates.length > 0) return candidates[n % candidates.length] as string
  }
  return commitments[n % commitments.length] as string
}

function toCommand(
  step: Step,
  commitmentId: string,
  spendings: readonly string[],
  actor: Actor,
  state: BudgetState | undefined,
): BudgetCommand {
  const spendingId = spendings.length === 0 ? randomUUID() : (spendings[('pick' in step ? step.pick : 0) % spendings.length] as string)
  return budgetCommandOf(step, { commitmentId, spendingId, approver: actor, state, year: YEAR })
}

interface Totals {
  allocated: bigint
  committed: bigint
  spent: bigint
}

/** DOMAIN.md's formulas, applied to the raw event log without the decider's help. */
async function recompute(store: EventStore, sozialraum: string): Promise<Record<Line, Totals>> {
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
      case 'CommitmentRejected':
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

/** The decider's state of a budget, replayed from its stream, and the revision of its last event. */
async function replayBudget(store: EventStore, sozialraum: string): Promise<{ state: BudgetState; revision: bigint | undefined }> {
  let state = initialBudgetState({ year: YEAR, sozialraum })
  let revision: bigint | undefined
  for (const recorded of await store.readStream(budgetStreamId(YEAR, sozialraum), { maxCount: 10_000 })) {
    const { event, metadata } = toStoredEvent(recorded)
    if (!isBudgetEvent(event)) throw new Error('not a budget event')
    state = evolveBudget(state, event, { recordedAt: metadata.recordedAt, actorSub: metadata.actor.sub })
    revision = recorded.revision
  }
  return { state, revision }
}

const byCreation = (a: CommitmentView, b: CommitmentView): number =>
  a.sozialraum.localeCompare(b.sozialraum) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)

async function withLedger<T>(
  policy: BudgetPolicy,
  work: (parts: { store: EventStore; db: SqlDatabase; ledger: Ledger; runner: ProjectionRunner }) => Promise<T>,
): Promise<T> {
  // A fresh SQLite file or PostgreSQL schema (TEST_STORE) for each run.
  const stores = await createTestStores()
  const { store, db } = stores
  const runner = new ProjectionRunner({ store, db, projections, logger: pino({ level: 'silent' }) })
  try {
    await migrate(db, await loadMigrations())
    await runner.start()
    // A clock that ticks a second per write, so that creation times and decision times differ.
    let tick = Date.parse('2025-06-01T10:00:00.000Z')
    const clock = () => new Date((tick += 1000))
    const ledger = new Ledger({ store, clock, newEventId: randomUUID, budgetPolicy: policy })
    for (const id of SOZIALRAEUME) {
      await ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name: id, status: 'pilot' }, contextOf(ACTORS[2] as Actor))
    }
    return await work({ store, db, ledger, runner })
  } finally {
    await runner.stop()
    await stores.dispose()
  }
}

/** Runs the steps; answers the state each budget's latest write answered with. */
async function runSteps(ledger: Ledger, steps: readonly Step[]): Promise<Map<string, BudgetState>> {
  const commitments: string[][] = SOZIALRAEUME.map(() => [])
  const spendings: string[][] = SOZIALRAEUME.map(() => [])
  const answered = new Map<string, BudgetState>()
  for (const step of steps) {
    const id = SOZIALRAEUME[step.sozialraum] as string
    const state = answered.get(id)
    const commitmentId = pickCommitment(step, commitments[step.sozialraum] ?? [], state)
    const actor = actorOf(step, state, commitmentId)
    const command = toCommand(step, commitmentId, spendings[step.sozialraum] ?? [], actor, state)
    const outcome = await ledger.executeBudget(YEAR, id, command, contextOf(actor))
    if (outcome.kind === 'rejected' && (command.type === 'DecideApproval' || command.type === 'AmendCommitment')) {
      count(`${command.type}:${outcome.error.code}`)
    }
    if (outcome.kind !== 'written') continue
    answered.set(id, outcome.state)
    if (command.type === 'BookInvoice' && outcome.state.commitments.get(command.commitmentId)?.status === 'closed') count('InvoiceBooked:closing')
    count(command.type === 'DecideApproval' ? `${command.type}:${command.decision}` : command.type)
    // A rejection by the one who asked is their withdrawal of the request, over budget too.
    const decided = command.type === 'DecideApproval' ? state?.commitments.get(command.commitmentId) : undefined
    if (command.type === 'DecideApproval' && command.decision === 'reject' && decided?.requestedBy === actor.sub) {
      count(decided.overBudget ? 'DecideApproval:withdraw:overBudget' : 'DecideApproval:withdraw')
    }
    for (const event of outcome.events) {
      if (event.type === 'CommitmentCreated') count(`${event.type}:${event.data.status}`)
      if (event.type === 'CommitmentApprovalRequested') count(event.data.overBudget ? `${event.type}:overBudget` : event.type)
      if (event.type === 'CommitmentRejected') count(`${event.type}:${event.data.status}`)
    }
    if (command.type === 'CreateCommitment') commitments[step.sozialraum]?.push(command.commitmentId)
    if (command.type === 'RecordSpending') spendings[step.sozialraum]?.push(command.spendingId)
  }
  return answered
}

/** What the runs wrote, so that the test can show that approvals and rejections were among it. */
const tally = new Map<string, number>()
const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1)

async function assertReadModelsMatch(
  t: Test,
  parts: { store: EventStore; db: SqlDatabase; runner: ProjectionRunner },
  answered: ReadonlyMap<string, BudgetState>,
): Promise<boolean> {
  const head = await parts.store.headPosition()
  t.ok(await parts.runner.waitFor(head, 5000), 'the projections reach the head of the log')
  const readModels = new ReadModels(parts.db)
  const overBudgetViews: CommitmentView[] = []
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

    // The GET shapes of the read models equal the views of the decider's state, replayed from the
    // stream: balances with the over-budget summary, and every commitment with its status,
    // over-budget marking and last approval decision.
    const { state, revision } = await replayBudget(parts.store, sozialraum)
    if (revision === undefined) return false
    if (!sameView(t, budget, budgetViewOfState(state, revision), `budget of ${sozialraum}`)) return false
    const views = [...state.commitments.values()].map((commitment) => commitmentView(state, commitment)).sort(byCreation)
    if (!sameView(t, commitments, views, `commitments of ${sozialraum}`)) return false
    for (const view of views) {
      const one = await readModels.getCommitment(YEAR, sozialraum, view.id)
      if (!sameView(t, one, view, `commitment ${view.id}`)) return false
    }
    for (const status of ['requested', 'open', 'closed', 'rejected'] as const) {
      const filtered = await readModels.listCommitments(YEAR, sozialraum, status)
      if (!sameView(t, filtered, views.filter((view) => view.status === status), `${status} commitments of ${sozialraum}`)) return false
    }
    // The state the last write answered with is the state the stream replays to.
    const last = answered.get(sozialraum)
    if (last && !sameView(t, views, [...last.commitments.values()].map((c) => commitmentView(last, c)).sort(byCreation), 'the answered state')) {
      return false
    }
    overBudgetViews.push(...views.filter((view) => view.overBudget))
  }
  // Finance's year-wide list of over-budget commitments (rule 1).
  const overBudget = await readModels.listOverBudgetCommitments(YEAR)
  return sameView(t, overBudget, overBudgetViews.sort(byCreation), 'over-budget commitments of the year')
}

/** Deep equality; on a difference, tap shows it. */
function sameView(t: Test, actual: unknown, expected: unknown, what: string): boolean {
  if (isDeepStrictEqual(actual, expected)) return true
  t.same(actual, expected, `${what}: the read model equals the decider's view`)
  return false
}

/**
 * One sequence that surely reaches every path of rule 6, besides the random ones: an increase sent
 * back to approval and rejected, an over-budget increase that a team lead may not approve and
 * finance does, an invoice on it, a requester refused to approve, a rejection of a never-approved
 * commitment; an amendment of a requested one refused, then its release; an over-budget request
 * that another team lead may not reject and the team lead who asked withdraws; an increase
 * withdrawn by who asked for it.
 */
const FOUR_EYES_EXAMPLE: [bigint, Step[]] = [
  300_000n,
  [
    { kind: 'allocate', sozialraum: 0, line: 'ambulatory', cents: 1_000_000n },
    { kind: 'allocate', sozialraum: 0, line: 'flexible', cents: 100_000n },
    { kind: 'allocate', sozialraum: 1, line: 'ambulatory', cents: 500_000n },
    { kind: 'allocate', sozialraum: 1, line: 'flexible', cents: 50_000n },
    { kind: 'commit', sozialraum: 0, line: 'ambulatory', cents: 200_000n, justified: false, actor: 0 },
    { kind: 'amend', sozialraum: 0, pick: 1, cents: 150_000n, justified: false, actor: 1 },
    { kind: 'decide', sozialraum: 0, pick: 0, decision: 'reject', approver: 0, comment: true },
    { kind: 'commit', sozialraum: 0, line: 'ambulatory', cents: 500_000n, justified: false, actor: 2 },
    { kind: 'amend', sozialraum: 0, pick: 1, cents: 400_000n, justified: true, actor: 1 },
    { kind: 'decide', sozialraum: 0, pick: 2, decision: 'approve', approver: 0, comment: false },
    { kind: 'decide', sozialraum: 0, pick: 2, decision: 'approve', approver: 3, comment: true },
    { kind: 'invoice', sozialraum: 0, pick: 1, cents: 100_000n, whole: false, invoiceNo: 1 },
    { kind: 'decide', sozialraum: 0, pick: 1, decision: 'approve', approver: ACTORS.length, comment: false },
    { kind: 'decide', sozialraum: 0, pick: 1, decision: 'reject', approver: 1, comment: false },
    { kind: 'invoice', sozialraum: 0, pick: 1, cents: 1n, whole: true, invoiceNo: 2 },
    { kind: 'commit', sozialraum: 1, line: 'ambulatory', cents: 400_000n, justified: false, actor: 0 },
    { kind: 'amend', sozialraum: 1, pick: 0, cents: 1_000n, justified: false, actor: 1 },
    { kind: 'decide', sozialraum: 1, pick: 1, decision: 'approve', approver: ACTORS.length, comment: false },
    { kind: 'release', sozialraum: 1, pick: 0 },
    { kind: 'commit', sozialraum: 1, line: 'ambulatory', cents: 100_000n, justified: false, actor: 1 },
    { kind: 'commit', sozialraum: 1, line: 'ambulatory', cents: 450_000n, justified: true, actor: 0 },
    { kind: 'decide', sozialraum: 1, pick: 1, decision: 'reject', approver: 1, comment: false },
    { kind: 'decide', sozialraum: 1, pick: 1, decision: 'reject', approver: ACTORS.length, comment: true },
    { kind: 'amend', sozialraum: 1, pick: 1, cents: 250_000n, justified: false, actor: 1 },
    { kind: 'decide', sozialraum: 1, pick: 1, decision: 'reject', approver: ACTORS.length, comment: false },
  ],
]

/**
 * Runs of the first property. On PostgreSQL each run, with its own schema and every write a round
 * trip to the server, takes several times as long as on SQLite, which brought the file close to
 * tap's timeout: there it makes 20 runs (and the example) instead of 60.
 */
const RUNS = TEST_STORE === 'postgres' ? 20 : 60

t.test('read models always equal a recomputation from the events and the views of the decider state', async (t) => {
  await fc.assert(
    fc.asyncProperty(threshold, steps(1, 60), async (cents, plan) =>
      withLedger({ fourEyesThresholdCents: cents }, async (parts) => {
        const answered = await runSteps(parts.ledger, plan)
        return assertReadModelsMatch(t, parts, answered)
      }),
    ),
    { numRuns: RUNS, examples: [FOUR_EYES_EXAMPLE] },
  )

  t.test('the steps wrote approvals, rejections, withdrawals and over-budget amendments', async (t) => {
    for (const key of [
      'CreateCommitment',
      'CommitmentCreated:requested',
      'AmendCommitment',
      'AmendCommitment:approval-required',
      'CommitmentApprovalRequested',
      'CommitmentApprovalRequested:overBudget',
      'DecideApproval:approve',
      'DecideApproval:reject',
      'DecideApproval:forbidden',
      'DecideApproval:withdraw',
      'DecideApproval:withdraw:overBudget',
      'CommitmentRejected:rejected',
      'CommitmentRejected:open',
      'BookInvoice',
      'InvoiceBooked:closing',
      'ReleaseCommitment',
    ]) {
      t.ok((tally.get(key) ?? 0) > 0, `${key} (${tally.get(key) ?? 0})`)
    }
  })
})

t.test('a rebuilt projection equals the one built live, and a restarted runner applies nothing twice', async (t) => {
  await fc.assert(
    fc.asyncProperty(threshold, steps(5, 60), async (cents, plan) =>
      withLedger({ fourEyesThresholdCents: cents }, async (parts) => {
        await runSteps(parts.ledger, plan)
        const head = await parts.store.headPosition()
        await parts.runner.waitFor(head, 5000)
        const readBack = async () => {
          const readModels = new ReadModels(parts.db)
          return {
            budgets: await readModels.listBudgets(YEAR),
            commitments: await Promise.all(SOZIALRAEUME.map((id) => readModels.listCommitments(YEAR, id))),
          }
        }
        const before = await readBack()
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

        const after = await readBack()
        return isDeepStrictEqual(before, after)
      }),
    ),
    { numRuns: 15 },
  )
})

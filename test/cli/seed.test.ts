import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { eventHash, linksOf } from '../../src/audit/chain.js'
import { budgetStreamId, toStoredEvent } from '../../src/application/stored-event.js'
import { DEFAULT_SEED_OPTIONS, seedLedger, sozialraumOf, type SeedOptions } from '../../src/cli/seed.js'
import {
  assertBudgetInvariants,
  availableCents,
  DEFAULT_BUDGET_POLICY,
  evolveBudget,
  initialBudgetState,
  type BudgetState,
} from '../../src/domain/budget/index.js'
import { EVENT_VERSIONS, isBudgetEvent } from '../../src/domain/events.js'
import { formatCents } from '../../src/domain/money.js'
import { EXPORT_PAGE_SIZE } from '../../src/http/routes/audit-export.js'
import { MAX_READ_COUNT, START, type RecordedEvent } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { get, type Json } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * The seed (`npm run seed`) writes what the commands would have written: every event reads back,
 * links into its stream's chain, replays through the decider's fold with its invariants, and the
 * projections built from it agree with that fold. The same options write the same events, and the
 * narrowed fold (the default) writes exactly what the full one does.
 */

const SMALL: SeedOptions = {
  ...DEFAULT_SEED_OPTIONS,
  sozialraeume: 2,
  years: 2,
  firstYear: 2024,
  commitments: 40,
  spendings: 60,
  policy: DEFAULT_BUDGET_POLICY,
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

async function readLog(store: SqliteEventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = []
  for (let after = START; ; ) {
    const page = await store.readAll({ after, maxCount: MAX_READ_COUNT })
    events.push(...page)
    const last = page[page.length - 1]
    if (last === undefined) return events
    after = last.position
  }
}

/** Seeds a fresh store in its own folder; answers the folder's database path and the whole log. */
async function seeded(t: { teardown(fn: () => unknown): void }, options: Partial<SeedOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-seed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const store = new SqliteEventStore(path)
  try {
    const result = await seedLedger(store, { ...SMALL, ...options })
    return { path, result, events: await readLog(store) }
  } finally {
    await store.close()
  }
}

/** The chain check of test/audit/chain.test.ts: each event links to the one before it in its stream. */
function verifyStream(events: readonly RecordedEvent[]): void {
  let previous: string | null = null
  for (const event of events) {
    const links = linksOf(event.metadata)
    const computed = eventHash(event, previous)
    if (links.previousHash !== previous) throw new Error(`${event.streamId}@${event.revision}: previousHash does not link`)
    if (links.hash !== computed) throw new Error(`${event.streamId}@${event.revision}: hash does not match`)
    previous = computed
  }
}

function byStream(events: readonly RecordedEvent[]): Map<string, RecordedEvent[]> {
  const streams = new Map<string, RecordedEvent[]>()
  for (const event of events) streams.set(event.streamId, [...(streams.get(event.streamId) ?? []), event])
  return streams
}

/** The decider's state of every budget, folded from the log with the invariants asserted after each event. */
function foldBudgets(events: readonly RecordedEvent[]): Map<string, { state: BudgetState; revision: bigint }> {
  const budgets = new Map<string, { state: BudgetState; revision: bigint }>()
  for (const recorded of events) {
    const { event, metadata } = toStoredEvent(recorded)
    if (!isBudgetEvent(event)) continue
    const key = budgetStreamId(event.data.year, event.data.sozialraum)
    const before = budgets.get(key)?.state ?? initialBudgetState({ year: event.data.year, sozialraum: event.data.sozialraum })
    const state = evolveBudget(before, event, { recordedAt: metadata.recordedAt, actorSub: metadata.actor.sub })
    assertBudgetInvariants(state)
    budgets.set(key, { state, revision: recorded.revision })
  }
  return budgets
}

const comparable = (events: readonly RecordedEvent[]) =>
  events.map(({ id, streamId, revision, position, type, data, metadata }) => ({ id, streamId, revision, position, type, data, metadata }))

t.test('a small seed: events that read back, link, and replay through the decider', async (t) => {
  const { result, events } = await seeded(t)
  t.equal(result.events, events.length, `${events.length} events written`)
  t.ok(events.length > 1500, 'about as many as the options ask for')
  t.same(
    events.map((event) => event.position),
    events.map((_, index) => BigInt(index + 1)),
    'positions 1..n',
  )

  const stored = events.map((event) => toStoredEvent(event))
  t.ok(stored.every((event) => event.metadata.schemaVersion === EVENT_VERSIONS[event.event.type]), 'each with its type’s schema version')
  t.ok(stored.every((event) => ['finance', 'teamlead'].includes(event.metadata.actor.role)), 'written by finance and team leads')
  t.ok(
    stored.every((event) => event.metadata.idempotencyKey === null && event.metadata.correlationId === event.metadata.causationId),
    'metadata as a command without Idempotency-Key has it',
  )
  const times = stored.map((event) => event.metadata.recordedAt)
  t.ok(times.every((time, index) => index === 0 || time >= (times[index - 1] ?? '')), 'recordedAt grows with the position')
  t.ok(
    stored.every((event) => !isBudgetEvent(event.event) || event.metadata.recordedAt.startsWith(String(event.event.data.year))),
    'budget events are recorded in their fiscal year',
  )

  const streams = byStream(events)
  t.equal(streams.size, SMALL.sozialraeume * (SMALL.years + 1), 'a stream per Sozialraum and per budget')
  for (const [streamId, stream] of streams) t.doesNotThrow(() => verifyStream(stream), `${streamId}: the chain holds`)

  const types = new Set(stored.map((event) => event.event.type))
  for (const type of [
    'SozialraumRegistered',
    'SozialraumStatusChanged',
    'BudgetAllocated',
    'BudgetTransferred',
    'BudgetAdjusted',
    'CommitmentCreated',
    'CommitmentApproved',
    'CommitmentAmended',
    'InvoiceBooked',
    'CommitmentReleased',
    'SpendingRecorded',
    'SpendingReversed',
  ]) {
    t.ok(types.has(type as never), `holds ${type}`)
  }

  // Four eyes: what reached the threshold started requested, and someone else approved it.
  const created = new Map<string, { by: string; status: string; amountCents: number }>()
  for (const { event, metadata } of stored) {
    if (event.type === 'CommitmentCreated') created.set(event.data.commitmentId, { by: metadata.actor.sub, ...event.data })
    if (event.type === 'CommitmentApproved') {
      t.not(metadata.actor.sub, created.get(event.data.commitmentId)?.by, 'approved by a second person')
    }
  }
  const large = [...created.values()].filter((commitment) => commitment.amountCents >= 1_000_000)
  t.ok(large.length > 0 && large.every((commitment) => commitment.status === 'requested'), `${large.length} commitments from 10,000.00 start requested`)
  t.ok([...created.values()].some((commitment) => commitment.status === 'open'), 'smaller ones start open')

  t.doesNotThrow(() => foldBudgets(events), 'every budget replays through evolve with its invariants')
})

t.test('the projections built from the seed agree with the decider’s fold; the export of a year is its log', async (t) => {
  const { path, events } = await seeded(t)
  const service = await startTestService(t, {}, { DATABASE_URL: `sqlite:${path}` })
  const head = events[events.length - 1]?.position ?? START
  t.ok(await service.runner.waitFor(head, 60_000), 'the projections caught up')

  const exported = await get(service.app, `/v1/audit/export?year=${SMALL.firstYear}&format=jsonl`, undefined, await bearer({ sub: 'dora', role: 'auditor' }))
  t.equal(exported.status, 200)
  const lines = exported.text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Json)
  const ofYear = events.filter((event) => event.streamId.startsWith(`budget-${SMALL.firstYear}-`))
  t.ok(ofYear.length > EXPORT_PAGE_SIZE, `${ofYear.length} events: more than a page`)
  t.same(
    lines.map((line) => [line.position, line.eventId, line.data]),
    ofYear.map((event) => [event.position.toString(), event.id, event.data]),
    'every event of the year’s budgets, in log order, as recorded',
  )

  const folded = foldBudgets(events)
  for (let year = SMALL.firstYear; year < SMALL.firstYear + SMALL.years; year++) {
    const response = await get(service.app, `/v1/budgets/${year}`, head.toString())
    t.equal(response.status, 200)
    t.equal(response.body.items.length, SMALL.sozialraeume, `${year}: every budget`)
    for (const budget of response.body.items as Json[]) {
      const fold = folded.get(budgetStreamId(year, budget.sozialraum))
      if (fold === undefined) throw new Error(`no fold of ${budget.sozialraum}`)
      t.equal(budget.revision, fold.revision.toString(), `${year} ${budget.sozialraum}: revision`)
      for (const line of ['ambulatory', 'flexible'] as const) {
        const balance = fold.state.lines[line]
        t.same(
          budget.lines[line],
          {
            allocated: formatCents(balance.allocatedCents),
            committed: formatCents(balance.committedCents),
            spent: formatCents(balance.spentCents),
            available: formatCents(availableCents(balance)),
          },
          `${year} ${budget.sozialraum} ${line}`,
        )
      }
    }
  }
})

t.test('the same options write the same events; another seed others', async (t) => {
  const first = await seeded(t)
  const again = await seeded(t)
  t.same(comparable(again.events), comparable(first.events), 'byte for byte, ids and times included')
  const other = await seeded(t, { seed: 'another' })
  const firstBudgetEvent = (events: readonly RecordedEvent[]) => events.find((event) => event.streamId.startsWith('budget-'))
  t.not(firstBudgetEvent(other.events)?.id, firstBudgetEvent(first.events)?.id, 'another --seed, other ids')
})

t.test('the narrowed fold writes exactly what the full decider writes', async (t) => {
  // A seed whose two budgets reach every path: over budget, rejected, approval requested again, reversed, refused.
  const options = { sozialraeume: 2, years: 1, firstYear: 2016, commitments: 60, spendings: 120, seed: 'check-0' }
  const fast = await seeded(t, { ...options, fidelity: 'fast' })
  const full = await seeded(t, { ...options, fidelity: 'full' })
  t.ok(fast.events.length > 1000, `${fast.events.length} events`)
  t.same(comparable(fast.events), comparable(full.events), 'the same events, metadata and links')
  t.same(fast.result.refused, full.result.refused, 'the same commands refused')
  t.ok((fast.result.refused['insufficient-funds'] ?? 0) > 0, 'some commands were refused for want of funds')
  const events = fast.events.map((event) => toStoredEvent(event).event)
  const reached = {
    overBudget: events.some((event) => event.type === 'CommitmentCreated' && event.data.overBudget),
    rejected: events.some((event) => event.type === 'CommitmentRejected'),
    approvalRequestedAgain: events.some((event) => event.type === 'CommitmentApprovalRequested'),
    amended: events.some((event) => event.type === 'CommitmentAmended'),
    reversed: events.some((event) => event.type === 'SpendingReversed'),
    transferred: events.some((event) => event.type === 'BudgetTransferred'),
    adjusted: events.some((event) => event.type === 'BudgetAdjusted'),
  }
  t.same(reached, Object.fromEntries(Object.keys(reached).map((key) => [key, true])), 'every path is taken')
})

t.test('npm run seed: refuses a store with events unless --append, and then writes new streams only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-seed-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/seed.ts', ...args], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, LOG_LEVEL: 'silent' },
      })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string }
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
    }
  }
  const small = ['--sozialraeume', '1', '--years', '1', '--commitments', '5', '--spendings', '10']
  const first = await run(...small)
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /^seeded \d+ events in 2 streams \(\d+ appends\) in [\d.]+ s: [\d,]+ events\/s$/m)
  const refused = await run(...small)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /holds events already .*--append/)
  const conflict = await run(...small, '--append')
  t.equal(conflict.code, 1)
  t.match(conflict.stderr, /^stream sozialraum-unteres-alt-saarbruecken exists in the store already/)
  const beside = await run(...small, '--append', '--prefix', 'demo')
  t.equal(beside.code, 0, beside.stderr)
  t.equal(sozialraumOf(0, 'demo').id, 'demo-unteres-alt-saarbruecken')
  const usage = await run('--years', 'many')
  t.equal(usage.code, 2)
  t.match(usage.stderr, /--years must be a whole number.*\nusage: npm run seed/)
})

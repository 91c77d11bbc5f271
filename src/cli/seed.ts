import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { CommandHandler, type CommandContext, type CommandHandlerOptions, type WriteOutcome } from '../application/command-handler.js'
import { Ledger } from '../application/ledger.js'
import { budgetStreamId, sozialraumStreamId } from '../application/stored-event.js'
import { ConfigError, parseConfig } from '../config.js'
import {
  assertBudgetInvariants,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  remainingCents,
  type BudgetCommand,
  type BudgetPolicy,
  type BudgetState,
} from '../domain/budget/index.js'
import { DomainError } from '../domain/errors.js'
import { isBudgetEvent, type Actor, type BudgetEvent } from '../domain/events.js'
import { sozialraumId } from '../domain/sozialraum.js'
import {
  MAX_READ_COUNT,
  appendResultOf,
  START,
  WrongExpectedVersionError,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedState,
  type Position,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
} from '../eventstore/port.js'
import { openStores } from '../service.js'
import { isMain, runCommand } from './run.js'

/**
 * `npm run seed -- --sozialraeume 20 --years 10`: writes a realistic history into the configured
 * store (DATABASE_URL) for demos and load tests: about 5,000 events per budget, so 20 Sozialräume
 * over 10 years make about 1,000,000 events (docs/domain.md, "Illustrative figures").
 *
 * Every event is what a command would have produced: each command goes through the command
 * handler (`CommandHandler`, the service's write path without HTTP), decided by the real
 * decider, folded by the real `evolveBudget`, checked against its schema, with the metadata and
 * the chain links the handler gives every event. The handler writes into an in-memory capture;
 * the seed then appends each stream's events of a day in one append, and many days' appends
 * together, which the SQLite store commits in groups of up to 256 appends per transaction.
 *
 * The fold. `evolveBudget` copies a budget's maps of commitments and spendings on every event, and
 * `decideBudget` evolves once more to check the limits, so a budget of 5,000 events costs
 * O(n²): at the default 5,000 events per budget, 2.3 times the CPU per event of what follows
 * (measured: about 500 µs against 220 µs). By default (without `--full`) the
 * seed decides and folds each command on the budget's state narrowed to the one commitment or
 * spending the command names: the real decider reads commitments and spendings only by the
 * command's own id (`get`/`has`), and the real evolve only by the event's, so the events are the
 * same; the test (test/cli/seed.test.ts) seeds with both and compares every event byte for byte.
 * The whole budget's invariants are asserted once per budget and day, before its events are
 * appended, instead of after every command (`--full` does what the service does).
 *
 * Time. A fiscal year's working days each hold a 10-hour window; each Sozialraum has a slot of its
 * own in it, in the order of the Sozialräume, so that recordedAt grows with the position in the
 * global log, as it does in a real log, while each budget's events spread over the whole year.
 *
 * Deterministic: one pseudo-random generator per budget, seeded from `--seed`, the year and the
 * Sozialraum; ids (events, commitments, spendings, correlation) come from it too. The same options
 * write the same events, positions included (on an empty store).
 */

/** How the seed decides and folds: narrowed to what each command names, or on the whole state. */
export type SeedFidelity = 'fast' | 'full'

export interface SeedOptions {
  sozialraeume: number
  years: number
  firstYear: number
  seed: string
  /** Commitments per budget (±10 %). */
  commitments: number
  /** Flexible spendings per budget (±10 %). */
  spendings: number
  fidelity: SeedFidelity
  /** Put before every Sozialraum id (a slug), to seed a second history beside a first. */
  prefix?: string | undefined
  policy: BudgetPolicy
  /** Called after every batch of appends. */
  onProgress?: (progress: SeedProgress) => void
}

export interface SeedProgress {
  /** Events written so far. */
  events: number
  elapsedMs: number
}

export interface SeedResult {
  events: number
  appends: number
  streams: number
  /** Commands the decider refused, by problem code: the seed reacts to them as a user would. */
  refused: Record<string, number>
  elapsedMs: number
}

export const SEED_LIMITS = { sozialraeume: 500, years: 50, commitments: 2000, spendings: 5000 } as const
export const DEFAULT_SEED_OPTIONS = {
  sozialraeume: 20,
  years: 10,
  firstYear: 2016,
  seed: 'sojus',
  commitments: 370,
  spendings: 1000,
  fidelity: 'fast',
} as const satisfies Omit<SeedOptions, 'policy'>

/** Appends are flushed to the store once this many events wait (several days of all budgets). */
const FLUSH_EVENTS = 20_000
const DAY_MS = 86_400_000
/** The window of a working day in which events are recorded: 07:00–17:00 UTC. */
const WINDOW_START_MS = 7 * 3_600_000
const WINDOW_MS = 10 * 3_600_000

// ---------------------------------------------------------------------------------------------
// Pseudo-random numbers: sfc32, seeded from SHA-256 of a label.

export class Random {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(label: string) {
    const digest = createHash('sha256').update(label).digest()
    this.a = digest.readUInt32LE(0)
    this.b = digest.readUInt32LE(4)
    this.c = digest.readUInt32LE(8)
    this.d = digest.readUInt32LE(12)
    for (let index = 0; index < 12; index++) this.uint32()
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** In [0, 1). */
  next(): number {
    return this.uint32() / 4_294_967_296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance(probability: number): boolean {
    return this.next() < probability
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)]
    if (item === undefined) throw new Error('pick from an empty list')
    return item
  }

  /** A random (version 4) UUID. */
  uuid(): string {
    const hex = [this.uint32(), this.uint32(), this.uint32(), this.uint32()].map((word) => word.toString(16).padStart(8, '0')).join('')
    const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16)
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
  }
}

// ---------------------------------------------------------------------------------------------
// The calendar: working days of a fiscal year.

/** The working days of a year (no weekends, no public holidays all Länder share), as UTC midnights. */
export function workingDays(year: number): number[] {
  const days: number[] = []
  const holidays = new Set(['01-01', '05-01', '10-03', '12-24', '12-25', '12-26', '12-31'])
  for (let time = Date.UTC(year, 0, 1); time < Date.UTC(year + 1, 0, 1); time += DAY_MS) {
    const date = new Date(time)
    const weekday = date.getUTCDay()
    if (weekday === 0 || weekday === 6 || holidays.has(isoDate(time).slice(5))) continue
    days.push(time)
  }
  return days
}

const isoDate = (time: number): string => new Date(time).toISOString().slice(0, 10)
const monthText = (month: number): string => String(month).padStart(2, '0')
const lastDayOfMonth = (year: number, month: number): string => isoDate(Date.UTC(year, month, 0))

/** The index of the first working day on or after `time`; the year's last one past its end. */
function dayIndexFrom(days: readonly number[], time: number): number {
  let low = 0
  let high = days.length - 1
  if (time > (days[high] ?? 0)) return high
  while (low < high) {
    const middle = (low + high) >> 1
    if ((days[middle] ?? 0) < time) low = middle + 1
    else high = middle
  }
  return low
}

// ---------------------------------------------------------------------------------------------
// The illustrative world: Sozialräume, people, providers and texts (synthetic; no personal data).

const SOZIALRAUM_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['unteres-alt-saarbruecken', 'Unteres Alt-Saarbrücken'],
  ['unteres-malstatt', 'Unteres Malstatt'],
  ['burbach', 'Burbach'],
  ['dudweiler', 'Dudweiler'],
  ['brebach-fechingen', 'Brebach-Fechingen'],
  ['folsterhoehe', 'Folsterhöhe'],
  ['st-arnual', 'St. Arnual'],
  ['eschberg', 'Eschberg'],
  ['schafbruecke', 'Schafbrücke'],
  ['gersweiler', 'Gersweiler'],
  ['klarenthal', 'Klarenthal'],
  ['herrensohr', 'Herrensohr'],
  ['jaegersfreude', 'Jägersfreude'],
  ['bischmisheim', 'Bischmisheim'],
  ['ensheim', 'Ensheim'],
  ['scheidt', 'Scheidt'],
  ['voelklingen-wehrden', 'Völklingen-Wehrden'],
  ['sulzbach-altenwald', 'Sulzbach-Altenwald'],
  ['friedrichsthal', 'Friedrichsthal'],
  ['riegelsberg', 'Riegelsberg'],
]

const PROVIDERS: ReadonlyArray<readonly [string, string]> = [
  ['traeger-familienhilfe-saar', 'FHS'],
  ['diakonie-saar-jugendhilfe', 'DSJ'],
  ['awo-saarland-ambulante-hilfen', 'AWO'],
  ['caritas-saarbruecken', 'CAR'],
  ['paritaetische-jugendhilfe-saar', 'PJS'],
  ['kinderschutzbund-saarbruecken', 'KSB'],
  ['jugendhilfe-st-johann', 'JSJ'],
  ['hilfen-aus-einer-hand-saar', 'HEH'],
  ['sozialpaedagogisches-netzwerk', 'SPN'],
  ['lebenshilfe-obere-saar', 'LOS'],
]

const HELP_TYPES = [
  '§ 31 SPFH',
  '§ 31 SPFH',
  '§ 30 Erziehungsbeistand',
  '§ 29 Soziale Gruppenarbeit',
  '§ 27 Abs. 2 flexible Hilfe',
  '§ 35a Eingliederungshilfe',
  '§ 32 Tagesgruppe',
]

/** Purposes of flexible spending; a few hold what a CSV must quote or neutralise. */
const PURPOSES = [
  'Elterncafé: Frühstück und Austausch',
  'Material für die Hausaufgabenhilfe',
  'Ferienfreizeit – Zuschuss Fahrtkosten',
  'Gruppenangebot Kita Sonnenblume',
  'Eintritt Schwimmbad, Jugendgruppe',
  'Kochkurs im Stadtteiltreff',
  'Zuschuss Vereinsbeitrag Sportverein',
  'Lernpatenschaft: Fahrkarten',
  'Material; Bastelbedarf "Frühling"',
  'Ausflug Zoo\nmit Begleitung Grundschule',
  '- Nachbuchung Barkasse',
  '+ Zuschuss Klassenfahrt',
]
const CATEGORIES = ['group', 'direct-aid', 'school', 'kita', 'leisure', 'material']

const FINANCE: readonly Actor[] = [
  { sub: 'fin-anna', role: 'finance' },
  { sub: 'fin-felix', role: 'finance' },
]

function teamLeads(index: number): readonly [Actor, Actor] {
  const prefix = `tl-${String(index + 1).padStart(2, '0')}`
  return [
    { sub: `${prefix}-a`, role: 'teamlead' },
    { sub: `${prefix}-b`, role: 'teamlead' },
  ]
}

/** The Sozialraum of an index: the first 20 are named, the rest numbered; a prefix sets a seeded history apart. */
export function sozialraumOf(index: number, prefix: string | undefined): { id: string; name: string } {
  const [id, name] = SOZIALRAUM_NAMES[index] ?? [`sozialraum-${index + 1}`, `Sozialraum ${index + 1}`]
  return prefix === undefined ? { id, name } : { id: `${prefix}-${id}`, name: `${name} (${prefix})` }
}

// ---------------------------------------------------------------------------------------------
// The capture: an event store that keeps what the command handler appends, to be written later.

interface CapturedAppend {
  streamId: string
  events: readonly EventToAppend[]
  /** The stream's revision before these events; undefined while it has none. */
  before: bigint | undefined
}

/**
 * What the command handler writes, kept in memory in order. Its streams start empty: the seed
 * writes only streams that do not exist yet (an append to the real store expects exactly that).
 */
class CaptureStore implements EventStore {
  private readonly revisions = new Map<string, bigint>()
  private captured: CapturedAppend[] = []
  private count = 0

  async append(streamId: string, events: readonly EventToAppend[], expected: ExpectedState): Promise<AppendResult> {
    const before = this.revisions.get(streamId)
    const matches = typeof expected === 'object' ? expected.revision === before : expected === 'no_stream' ? before === undefined : true
    if (!matches) throw new WrongExpectedVersionError(streamId, expected, before)
    const after = (before ?? -1n) + BigInt(events.length)
    this.revisions.set(streamId, after)
    this.captured.push({ streamId, events, before })
    const first = this.count + 1
    this.count += events.length
    return appendResultOf(after, events.map((_, index) => BigInt(first + index)))
  }

  /** The handler reads a stream only when its view is not cached: then the seed lost a state. */
  async readStream(streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    const revision = this.revisions.get(streamId)
    if (revision !== undefined && (options.fromRevision ?? 0n) <= revision) {
      throw new Error(`the seed's command handler lost the state of ${streamId}`)
    }
    return []
  }

  /** The appends captured since the last call, in order. */
  take(): CapturedAppend[] {
    const taken = this.captured
    this.captured = []
    return taken
  }

  readAll(): Promise<RecordedEvent[]> {
    return Promise.reject(new Error('the capture holds appends only'))
  }

  headPosition(): Promise<Position> {
    return Promise.resolve(START)
  }

  subscribeToAll(): Subscription {
    throw new Error('the capture holds appends only')
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// Writing budget commands: through the Ledger as the service does (`full`), or with the fold
// narrowed to what each command names (`fast`).

type BudgetOutcome = { written: true; state: BudgetState } | { written: false; error: DomainError }

interface BudgetWriter {
  execute(year: number, sozialraum: string, command: BudgetCommand, context: CommandContext): Promise<BudgetOutcome>
  /** Asserts the invariants of a budget's whole state; a no-op where the handler does after every command. */
  check(year: number, sozialraum: string): void
}

function budgetOutcome<State>(outcome: WriteOutcome<State, BudgetEvent>, stateOf: (state: State) => BudgetState): BudgetOutcome {
  if (outcome.kind === 'written') return { written: true, state: stateOf(outcome.state) }
  if (outcome.kind === 'rejected') return { written: false, error: outcome.error }
  throw new Error(`a seed command ended as ${outcome.kind}`)
}

/** Exactly the service's path: the Ledger's own deciders, the invariants after every command. */
function fullWriter(ledger: Ledger): BudgetWriter {
  return {
    execute: async (year, sozialraum, command, context) =>
      budgetOutcome(await ledger.executeBudget(year, sozialraum, command, context), (state) => state),
    check: () => undefined,
  }
}

/**
 * The real decider and the real evolve without the Ledger's checks around them (the Sozialraum's
 * registration, the year's status), which the seed's plan keeps by construction; the invariants
 * are checked once per budget at the end. One writer per year: its budgets are dropped with it.
 */
function fastWriter(options: CommandHandlerOptions, policy: BudgetPolicy): BudgetWriter {
  const handler = new CommandHandler<BudgetState, BudgetCommand, BudgetEvent>(
    { decide: (state, command) => decideBudget(state, command, policy), evolve: evolveBudget, isEvent: isBudgetEvent },
    { ...options, maxCachedStreams: SEED_LIMITS.sozialraeume },
  )
  return {
    execute: async (year, sozialraum, command, context) => {
      const outcome = await handler.execute(budgetStreamId(year, sozialraum), () => initialBudgetState({ year, sozialraum }), command, context)
      return budgetOutcome(outcome, (state) => state)
    },
    check: (year, sozialraum) => {
      const state = handler.cached(budgetStreamId(year, sozialraum))
      if (state) assertBudgetInvariants(state)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The plan of a budget: what its people intend to do on which working day. Each intent makes
// its command from the budget's state when its day comes, as a user looks at the budget first.

interface Step {
  actor: Actor
  command: BudgetCommand
}

interface Intent {
  /** The command to send, or undefined when there is nothing left to do (e.g. the commitment is closed). */
  step(state: BudgetState): Step | undefined
  /** What to send instead when the decider refuses the step, if anything. */
  instead?(error: DomainError): Step | undefined
}

interface BudgetPlan {
  year: number
  index: number
  sozialraum: string
  random: Random
  /** The year's working days (UTC midnights) and, per day, the intents in the order they are sent. */
  days: readonly number[]
  intents: Intent[][]
  /** The budget as the last write left it. */
  state: BudgetState
}

const OVER_BUDGET_JUSTIFICATION = 'Rechtsanspruch nach § 27 SGB VIII; die Hilfe ist notwendig und geeignet, Deckung wird beantragt'
const dayTime = (year: number, month: number, day: number): number => Date.UTC(year, month - 1, day)
const euros = (amount: number): bigint => BigInt(Math.round(amount)) * 100n
/** `count` ± 10 %, at least 1 (unless none are asked for). */
const varied = (random: Random, count: number): number =>
  count === 0 ? 0 : Math.max(1, Math.round(count * (0.9 + random.next() * 0.2)))

function intendAt(plan: BudgetPlan, time: number, intent: Intent): void {
  plan.intents[dayIndexFrom(plan.days, time)]?.push(intent)
}

function intendOn(plan: BudgetPlan, dayIndex: number, intent: Intent): void {
  plan.intents[Math.min(Math.max(dayIndex, 0), plan.days.length - 1)]?.push(intent)
}

function planBudget(year: number, index: number, options: SeedOptions, days: readonly number[]): BudgetPlan {
  const sozialraum = sozialraumOf(index, options.prefix).id
  const random = new Random(`${options.seed}/${year}/${sozialraum}`)
  const plan: BudgetPlan = {
    year,
    index,
    sozialraum,
    random,
    days,
    intents: days.map(() => []),
    state: initialBudgetState({ year, sozialraum }),
  }
  const ambulatory = euros(random.int(1000, 3000) * 1000)
  const flexible = euros(random.int(500, 1500) * 100)
  const finance = random.pick(FINANCE)
  const decisionRef = `HH-${year}/${String(random.int(1, 9999)).padStart(4, '0')}`
  for (const [line, amountCents] of [['ambulatory', ambulatory], ['flexible', flexible]] as const) {
    intendOn(plan, 0, { step: () => ({ actor: finance, command: { type: 'AllocateBudget', line, amountCents, decisionRef } }) })
  }
  planLineChanges(plan, ambulatory, flexible)
  planCommitments(plan, ambulatory, varied(random, options.commitments), options.policy.fourEyesThresholdCents)
  planSpendings(plan, flexible, varied(random, options.spendings))
  return plan
}

/** A transfer to the flexible line in summer, a supplementary allocation, a cut of the flexible line. */
function planLineChanges(plan: BudgetPlan, ambulatory: bigint, flexible: bigint): void {
  const { random, year } = plan
  const finance = (): Actor => random.pick(FINANCE)
  if (random.chance(0.6)) {
    const amountCents = euros(random.int(5, 20) * 1000)
    intendAt(plan, dayTime(year, random.int(5, 9), random.int(1, 28)), {
      step: () => ({
        actor: finance(),
        command: { type: 'TransferBudget', fromLine: 'ambulatory', toLine: 'flexible', amountCents, reason: 'Umschichtung für Gruppenangebote (Teamkonferenz)' },
      }),
    })
  }
  if (random.chance(0.5)) {
    const amountCents = (ambulatory * BigInt(random.int(2, 5))) / 100n
    intendAt(plan, dayTime(year, 6, random.int(1, 28)), {
      step: () => ({ actor: finance(), command: { type: 'AdjustBudget', line: 'ambulatory', amountCents, reason: `Nachtragshaushalt ${year}` } }),
    })
  }
  if (random.chance(0.3)) {
    const amountCents = -((flexible * BigInt(random.int(1, 3))) / 100n)
    intendAt(plan, dayTime(year, 10, random.int(1, 28)), {
      step: () => ({
        actor: finance(),
        command: { type: 'AdjustBudget', line: 'flexible', amountCents, reason: 'Haushaltssperre: Kürzung der flexiblen Mittel' },
      }),
    })
  }
}

interface CommitmentDraft {
  /** First and last month of the period (1–12). */
  from: number
  to: number
  /** Monthly rate in whole EUR before scaling to the budget. */
  rate: number
}

/** A few hundred commitments whose sum is 88–115 % of the ambulatory line: some budgets run short late in the year. */
function planCommitments(plan: BudgetPlan, ambulatory: bigint, count: number, thresholdCents: bigint): void {
  const { random } = plan
  const drafts: CommitmentDraft[] = Array.from({ length: count }, () => {
    // Most help runs the whole year, invoiced monthly; some starts later or ends sooner.
    const from = random.chance(0.7) ? 1 : random.int(2, 9)
    const to = random.chance(0.85) ? 12 : Math.min(12, from + random.int(2, 8))
    return { from, to, rate: 250 * 12 ** random.next() }
  })
  const raw = drafts.reduce((sum, draft) => sum + draft.rate * (draft.to - draft.from + 1), 0)
  const scale = ((Number(ambulatory) / 100) * (0.88 + random.next() * 0.27)) / raw
  drafts.forEach((draft, sequence) => planCommitment(plan, draft, Math.max(50, Math.round(draft.rate * scale)), sequence, thresholdCents))
}

interface PlannedCommitment {
  id: string
  provider: string
  code: string
  caseRef: string
  monthlyEuros: number
  requester: Actor
  other: Actor
}

function planCommitment(plan: BudgetPlan, draft: CommitmentDraft, monthlyEuros: number, sequence: number, thresholdCents: bigint): void {
  const { random, year } = plan
  const [provider, code] = random.pick(PROVIDERS)
  const [first, second] = teamLeads(plan.index)
  const byFirst = random.chance(0.5)
  const commitment: PlannedCommitment = {
    id: random.uuid(),
    provider,
    code,
    caseRef: `FALL-${year}-${String(plan.index + 1).padStart(2, '0')}${String(sequence + 1).padStart(4, '0')}`,
    monthlyEuros,
    requester: byFirst ? first : second,
    other: byFirst ? second : first,
  }
  const amountCents = euros(monthlyEuros * (draft.to - draft.from + 1))
  const created = draft.from === 1 ? dayTime(year, 1, random.int(2, 20)) : dayTime(year, draft.from - 1, random.int(10, 28))
  const command: BudgetCommand = {
    type: 'CreateCommitment',
    commitmentId: commitment.id,
    line: 'ambulatory',
    provider,
    caseRef: commitment.caseRef,
    helpType: random.pick(HELP_TYPES),
    amountCents,
    period: { from: `${year}-${monthText(draft.from)}-01`, to: lastDayOfMonth(year, draft.to) },
    ...(random.chance(0.7) ? { decisionRef: `KB-${year}-${random.int(100, 999)}` } : {}),
  }
  intendAt(plan, created, {
    step: () => ({ actor: commitment.requester, command }),
    // Help under §§ 27 ff. is an entitlement: when the line is short, the team asks for it over budget.
    instead: (error) =>
      error.code === 'insufficient-funds'
        ? { actor: commitment.requester, command: { ...command, overBudgetJustification: OVER_BUDGET_JUSTIFICATION } }
        : undefined,
  })
  const rejected = amountCents >= thresholdCents && random.chance(0.04)
  intendAt(plan, created + random.int(1, 6) * DAY_MS, approvalIntent(plan, commitment, rejected))
  const last = draft.to > draft.from && random.chance(0.08) ? random.int(draft.from, draft.to - 1) : draft.to
  if (last > draft.from && random.chance(0.08)) planAmendment(plan, commitment, random.int(draft.from, last))
  let lastBooking = created
  for (let month = draft.from; month <= last; month++) {
    lastBooking = month < 12 ? dayTime(year, month + 1, random.int(3, 12)) : dayTime(year, 12, random.int(14, 20))
    intendAt(plan, lastBooking, invoiceIntent(plan, commitment, month, month === draft.to, lastBooking))
  }
  intendAt(plan, Math.min(lastBooking + random.int(1, 7) * DAY_MS, dayTime(year, 12, 30)), releaseIntent(commitment, last === draft.to))
}

/** Approves (or rejects) a commitment while it waits; finance decides on one over budget. */
function approvalIntent(plan: BudgetPlan, commitment: PlannedCommitment, reject: boolean): Intent {
  const byFinance = plan.random.chance(0.3)
  return {
    step: (state) => {
      const current = state.commitments.get(commitment.id)
      if (current?.status !== 'requested') return undefined
      const actor = current.overBudget || byFinance ? plan.random.pick(FINANCE) : commitment.other
      return {
        actor,
        command: {
          type: 'DecideApproval',
          commitmentId: commitment.id,
          decision: reject ? 'reject' : 'approve',
          ...(reject ? { comment: 'Hilfeplan unvollständig – bitte neu vorlegen' } : {}),
          approver: { sub: actor.sub, role: actor.role },
        },
      }
    },
  }
}

/** The provider's invoice for one month: about the monthly rate, the rest of the commitment in its last month. */
function invoiceIntent(plan: BudgetPlan, commitment: PlannedCommitment, month: number, finalMonth: boolean, booked: number): Intent {
  const { random, year } = plan
  return {
    step: (state) => {
      const current = state.commitments.get(commitment.id)
      if (current?.status !== 'open') return undefined
      const remaining = remainingCents(current)
      if (remaining <= 0n) return undefined
      const usual = BigInt(Math.round((commitment.monthlyEuros * random.int(9000, 10500)) / 100))
      const wanted = finalMonth && remaining <= (euros(commitment.monthlyEuros) * 13n) / 10n ? remaining : usual
      return {
        actor: random.chance(0.7) ? commitment.requester : commitment.other,
        command: {
          type: 'BookInvoice',
          commitmentId: commitment.id,
          invoiceNo: `${commitment.code}-${year}${monthText(month)}-${commitment.caseRef.slice(-6)}`,
          amountCents: wanted < remaining ? wanted : remaining,
          invoiceDate: isoDate(Math.max(booked - random.int(0, 2) * DAY_MS, dayTime(year, 1, 1))),
        },
      }
    },
  }
}

function releaseIntent(commitment: PlannedCommitment, asPlanned: boolean): Intent {
  return {
    step: (state) => {
      const current = state.commitments.get(commitment.id)
      if (current?.status !== 'open' || remainingCents(current) <= 0n) return undefined
      const reason = asPlanned ? 'Hilfe planmäßig beendet, Rest freigegeben' : 'Hilfe vorzeitig beendet'
      return { actor: commitment.requester, command: { type: 'ReleaseCommitment', commitmentId: commitment.id, reason } }
    },
  }
}

/** The help plan changes: more hours (which may need a second person again) or fewer. */
function planAmendment(plan: BudgetPlan, commitment: PlannedCommitment, month: number): void {
  const { random, year } = plan
  const increase = random.chance(0.6)
  const percent = increase ? random.int(10, 30) : -random.int(5, 20)
  const day = dayTime(year, month, random.int(14, 25))
  intendAt(plan, day, {
    step: (state) => {
      const current = state.commitments.get(commitment.id)
      if (current?.status !== 'open') return undefined
      const amountCents = euros((Number(current.amountCents) / 100) * (percent / 100))
      if (amountCents === 0n || current.amountCents + amountCents <= current.invoicedCents) return undefined
      const reason = increase ? 'Hilfeplanfortschreibung: Stundenumfang erhöht' : 'Hilfeplanfortschreibung: Stundenumfang reduziert'
      return { actor: commitment.requester, command: { type: 'AmendCommitment', commitmentId: commitment.id, amountCents, reason } }
    },
  })
  intendAt(plan, day + random.int(1, 5) * DAY_MS, approvalIntent(plan, commitment, false))
}

/** Flexible spending spread over the year, 80–105 % of the line (the line's limit refuses the rest); a few are reversed. */
function planSpendings(plan: BudgetPlan, flexible: bigint, count: number): void {
  const { random, year } = plan
  const averageCents = (Number(flexible) * (0.8 + random.next() * 0.25)) / count
  for (let sequence = 0; sequence < count; sequence++) {
    const dayIndex = random.int(2, plan.days.length - 3)
    const spendingId = random.uuid()
    const actor = random.pick(teamLeads(plan.index))
    const command: BudgetCommand = {
      type: 'RecordSpending',
      spendingId,
      amountCents: BigInt(Math.max(100, Math.round(averageCents * (0.2 + 1.6 * random.next())))),
      purpose: random.chance(0.9) ? random.pick(PURPOSES.slice(0, 8)) : random.pick(PURPOSES),
      ...(random.chance(0.8) ? { category: random.pick(CATEGORIES) } : {}),
      receiptRef: `BELEG-${year}-${plan.index + 1}-${sequence + 1}`,
      date: isoDate(Math.max((plan.days[dayIndex] ?? 0) - random.int(0, 3) * DAY_MS, dayTime(year, 1, 1))),
    }
    intendOn(plan, dayIndex, { step: () => ({ actor, command }) })
    if (!random.chance(0.02)) continue
    intendOn(plan, dayIndex + random.int(1, 10), {
      step: (state) => {
        const spending = state.spendings.get(spendingId)
        if (spending === undefined || spending.reversed) return undefined
        return { actor, command: { type: 'ReverseSpending', spendingId, reason: 'Doppelt erfasst – Storno' } }
      },
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Running the plans day by day, and writing what they produce.

/** Where the command handlers take the time and ids from: set before every command. */
interface Source {
  now: number
  random: Random
}

interface Run {
  options: SeedOptions
  store: EventStore
  capture: CaptureStore
  source: Source
  ledger: Ledger
  refused: Map<string, number>
  pending: CapturedAppend[]
  pendingEvents: number
  events: number
  appends: number
  streams: Set<string>
  started: number
}

function contextOf(run: Run, actor: Actor, time: number): CommandContext {
  run.source.now = time
  const id = run.source.random.uuid()
  return { actor, correlationId: id, causationId: id, idempotencyKey: null, requestHash: null, expectedRevision: undefined }
}

function countRefusal(run: Run, error: DomainError): void {
  run.refused.set(error.code, (run.refused.get(error.code) ?? 0) + 1)
}

async function runIntent(run: Run, writer: BudgetWriter, plan: BudgetPlan, intent: Intent, time: number): Promise<void> {
  const step = intent.step(plan.state)
  if (step === undefined) return
  run.source.random = plan.random
  let outcome = await writer.execute(plan.year, plan.sozialraum, step.command, contextOf(run, step.actor, time))
  if (!outcome.written) {
    countRefusal(run, outcome.error)
    const other = intent.instead?.(outcome.error)
    if (other === undefined) return
    outcome = await writer.execute(plan.year, plan.sozialraum, other.command, contextOf(run, other.actor, time))
    if (!outcome.written) return countRefusal(run, outcome.error)
  }
  plan.state = outcome.state
}

/** The time of the `k`-th of `count` commands of Sozialraum `index` on a day: in its slot of the day's window. */
function slotTime(run: Run, day: number, index: number, k: number, count: number): number {
  const slotMs = WINDOW_MS / run.options.sozialraeume
  return day + WINDOW_START_MS + Math.floor(index * slotMs + ((k + 1) * slotMs) / (count + 1))
}

async function registerSozialraeume(run: Run): Promise<void> {
  const days = workingDays(run.options.firstYear - 1)
  const day = days[days.length - 1] ?? 0
  for (let index = 0; index < run.options.sozialraeume; index++) {
    const { id, name } = sozialraumOf(index, run.options.prefix)
    const random = new Random(`${run.options.seed}/${id}`)
    run.source.random = random
    const status = index < 2 && run.options.years > 1 ? 'pilot' : 'permanent'
    const context = contextOf(run, random.pick(FINANCE), slotTime(run, day, index, 0, 1))
    const outcome = await run.ledger.executeSozialraum(id, { type: 'RegisterSozialraum', name, status }, context)
    if (outcome.kind !== 'written') throw new Error(`registering ${id} ended as ${outcome.kind}`)
  }
  await collect(run, true)
}

/** The pilots become permanent on 3 June of the second year (cf. council decision 0201/2013). */
async function changeStatus(run: Run, plan: BudgetPlan, time: number): Promise<void> {
  run.source.random = plan.random
  const command = { type: 'ChangeSozialraumStatus', status: 'permanent', decisionRef: `Beschluss 0201/${plan.year}` } as const
  const outcome = await run.ledger.executeSozialraum(plan.sozialraum, command, contextOf(run, plan.random.pick(FINANCE), time))
  if (outcome.kind === 'rejected') countRefusal(run, outcome.error)
}

async function runYear(run: Run, year: number): Promise<void> {
  const { options } = run
  const days = workingDays(year)
  const writer = options.fidelity === 'full' ? fullWriter(run.ledger) : fastWriter(handlerOptions(run.capture, run.source), options.policy)
  const plans = Array.from({ length: options.sozialraeume }, (_, index) => planBudget(year, index, options, days))
  const statusDay = year === options.firstYear + 1 ? dayIndexFrom(days, dayTime(year, 6, 3)) : -1
  for (const [dayIndex, day] of days.entries()) {
    for (const plan of plans) {
      const intents = plan.intents[dayIndex] ?? []
      const pilot = dayIndex === statusDay && plan.index < 2
      const count = intents.length + (pilot ? 1 : 0)
      if (count === 0) continue
      if (pilot) await changeStatus(run, plan, slotTime(run, day, plan.index, 0, count))
      for (const [k, intent] of intents.entries()) {
        await runIntent(run, writer, plan, intent, slotTime(run, day, plan.index, k + (pilot ? 1 : 0), count))
      }
      writer.check(year, plan.sozialraum)
      plan.intents[dayIndex] = []
    }
    await collect(run, false)
  }
  await collect(run, true)
}

function handlerOptions(store: EventStore, source: Source): CommandHandlerOptions {
  return { store, clock: () => new Date(source.now), newEventId: () => source.random.uuid() }
}

/** Takes what the handlers captured; writes it once enough waits, or when `now`. */
async function collect(run: Run, now: boolean): Promise<void> {
  for (const append of run.capture.take()) {
    run.pending.push(append)
    run.pendingEvents += append.events.length
  }
  if (run.pendingEvents === 0 || (!now && run.pendingEvents < FLUSH_EVENTS)) return
  const pending = run.pending
  run.pending = []
  run.pendingEvents = 0
  await write(run, pending)
}

/**
 * Appends each run of consecutive captures of one stream (a budget's commands of a day) as one
 * append, at most MAX_READ_COUNT events, expecting the stream exactly where the capture had it.
 * All of them are handed to the store at once, which commits them in groups.
 */
async function write(run: Run, captured: readonly CapturedAppend[]): Promise<void> {
  const merged: Array<{ streamId: string; events: EventToAppend[]; before: bigint | undefined }> = []
  for (const append of captured) {
    const previous = merged[merged.length - 1]
    if (previous && previous.streamId === append.streamId && previous.events.length + append.events.length <= MAX_READ_COUNT) {
      previous.events.push(...append.events)
    } else merged.push({ streamId: append.streamId, events: [...append.events], before: append.before })
  }
  const results = await Promise.allSettled(
    merged.map((append) => run.store.append(append.streamId, append.events, append.before === undefined ? 'no_stream' : { revision: append.before })),
  )
  const failed = results.find((result) => result.status === 'rejected')
  if (failed) {
    const error: unknown = failed.reason
    if (error instanceof WrongExpectedVersionError) {
      throw new SeedConflictError(`stream ${error.streamId} was written by someone else while the seed ran`)
    }
    throw error
  }
  for (const append of merged) {
    run.events += append.events.length
    run.streams.add(append.streamId)
  }
  run.appends += merged.length
  run.options.onProgress?.({ events: run.events, elapsedMs: performance.now() - run.started })
}

/** The store holds a stream the seed would write: said in one line, like a configuration error. */
export class SeedConflictError extends ConfigError {
  override name = 'SeedConflictError'
}

/** Refuses, before anything is written, when a stream the seed would write exists already. */
async function assertNewStreams(store: EventStore, options: SeedOptions): Promise<void> {
  for (let index = 0; index < options.sozialraeume; index++) {
    const { id } = sozialraumOf(index, options.prefix)
    const streams = [sozialraumStreamId(id)]
    for (let year = options.firstYear; year < options.firstYear + options.years; year++) streams.push(budgetStreamId(year, id))
    for (const streamId of streams) {
      if ((await store.readStream(streamId, { maxCount: 1 })).length > 0) {
        throw new SeedConflictError(`stream ${streamId} exists in the store already: the seed writes new streams only (see --prefix)`)
      }
    }
  }
}

/** Writes the seeded history into `store`; see the top of this file. */
export async function seedLedger(store: EventStore, options: SeedOptions): Promise<SeedResult> {
  await assertNewStreams(store, options)
  const capture = new CaptureStore()
  const source: Source = { now: 0, random: new Random(options.seed) }
  const run: Run = {
    options,
    store,
    capture,
    source,
    // The service's write path for the Sozialräume, and for the budgets with `full`.
    ledger: new Ledger({
      ...handlerOptions(capture, source),
      budgetPolicy: options.policy,
      maxCachedStreams: SEED_LIMITS.sozialraeume * (options.years + 1),
    }),
    refused: new Map(),
    pending: [],
    pendingEvents: 0,
    events: 0,
    appends: 0,
    streams: new Set(),
    started: performance.now(),
  }
  await registerSozialraeume(run)
  for (let year = options.firstYear; year < options.firstYear + options.years; year++) await runYear(run, year)
  return {
    events: run.events,
    appends: run.appends,
    streams: run.streams.size,
    refused: Object.fromEntries([...run.refused].sort(([a], [b]) => a.localeCompare(b))),
    elapsedMs: performance.now() - run.started,
  }
}

// ---------------------------------------------------------------------------------------------
// The command line.

const USAGE = `usage: npm run seed -- [--sozialraeume 20] [--years 10] [--first-year 2016] [--seed sojus]
                       [--commitments 370] [--spendings 1000] [--prefix <slug>] [--append] [--full]
  Writes a realistic history into DATABASE_URL (about 5,000 events per Sozialraum and year).
  --commitments, --spendings  per budget (Sozialraum and year)
  --prefix  put before every Sozialraum id, to seed a second history beside a first
  --append  write also when the store holds events already; every stream the seed writes must be new
  --full    decide every command on the whole budget, as the service does (slow: O(n²) per budget)`

function usageError(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`)
  process.exit(2)
}

function wholeNumber(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max) usageError(`--${name} must be a whole number from ${min} to ${max}`)
  return value
}

export function parseSeedArguments(args: readonly string[], policy: BudgetPolicy): SeedOptions & { append: boolean } {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
      options: {
        sozialraeume: { type: 'string' },
        years: { type: 'string' },
        'first-year': { type: 'string' },
        seed: { type: 'string' },
        commitments: { type: 'string' },
        spendings: { type: 'string' },
        prefix: { type: 'string' },
        append: { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }))
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error))
  }
  if (values.help) usageError('')
  const defaults = DEFAULT_SEED_OPTIONS
  const years = wholeNumber('years', values.years, defaults.years, 1, SEED_LIMITS.years)
  const firstYear = wholeNumber('first-year', values['first-year'], defaults.firstYear, 2001, 2101 - years)
  const seed = values.seed ?? defaults.seed
  if (seed === '' || seed.length > 128) usageError('--seed must be 1 to 128 characters')
  const prefix = values.prefix
  if (prefix !== undefined && (prefix.length > 32 || !sozialraumId.safeParse(prefix).success)) {
    usageError('--prefix must be a lowercase slug of at most 32 characters, like "demo"')
  }
  return {
    sozialraeume: wholeNumber('sozialraeume', values.sozialraeume, defaults.sozialraeume, 1, SEED_LIMITS.sozialraeume),
    years,
    firstYear,
    seed,
    commitments: wholeNumber('commitments', values.commitments, defaults.commitments, 0, SEED_LIMITS.commitments),
    spendings: wholeNumber('spendings', values.spendings, defaults.spendings, 0, SEED_LIMITS.spendings),
    fidelity: values.full ? 'full' : 'fast',
    prefix,
    policy,
    append: values.append,
  }
}

const formatCount = (count: number): string => count.toLocaleString('en-US')

export async function seedCommand(args: readonly string[]): Promise<void> {
  const config = parseConfig(process.env)
  const { append, ...options } = parseSeedArguments(args, { fourEyesThresholdCents: config.fourEyesThresholdCents })
  const stores = await openStores(config, 'seed')
  try {
    const head = await stores.store.headPosition()
    if (head !== START && !append) {
      throw new ConfigError(
        `the store in DATABASE_URL holds events already (up to position ${head}); the seed writes into an empty store, or beside them with --append`,
      )
    }
    const progress = process.stderr.isTTY
      ? ({ events, elapsedMs }: SeedProgress) =>
          process.stderr.write(`\rseed: ${formatCount(events)} events, ${formatCount(Math.round(events / (elapsedMs / 1000)))} events/s   `)
      : undefined
    const result = await seedLedger(stores.store, { ...options, ...(progress ? { onProgress: progress } : {}) })
    if (progress) process.stderr.write('\n')
    const seconds = result.elapsedMs / 1000
    const refused = Object.entries(result.refused).map(([code, count]) => `${code} ${count}`)
    process.stdout.write(
      `seeded ${formatCount(result.events)} events in ${formatCount(result.streams)} streams (${formatCount(result.appends)} appends) ` +
        `in ${seconds.toFixed(1)} s: ${formatCount(Math.round(result.events / seconds))} events/s\n` +
        (refused.length > 0 ? `commands the decider refused (the seed reacted as a user would): ${refused.join(', ')}\n` : '') +
        'the projections catch up when the service starts\n',
    )
  } finally {
    await stores.close()
  }
}

/** Run as a program (node dist/src/cli/seed.js), not when imported by a test or the benchmark. */
if (isMain(import.meta.url)) runCommand('seed', () => seedCommand(process.argv.slice(2)))

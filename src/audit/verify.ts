import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { toStoredEvent, type StoredEvent } from '../application/stored-event.js'
import type { CommitmentStatus } from '../domain/budget/index.js'
import { isBudgetEvent, isSozialraumEvent, LINES, type BudgetEvent, type Line } from '../domain/events.js'
import { formatCents, type Cents } from '../domain/money.js'
import { MAX_READ_COUNT, START, type EventStore, type Position, type RecordedEvent } from '../eventstore/port.js'
import type { SqlDatabase } from '../sql/port.js'
import { BalanceHistoryCheck, type HistoryFigures, type HistoryMismatch } from './balance-history-check.js'
import { canonicalJson } from './canonical-json.js'
import { eventHash, isHash } from './chain.js'
import { LogDigest, sealForgery, takeSeal, type Seal } from './seal.js'

/**
 * The verifier: reads the whole event log from the event store, page by page (the event store is
 * the truth: read models are only compared with it), and answers four questions.
 *
 * 1. Is the log intact? Per stream, revisions follow each other from 0 (a deleted event is a gap),
 *    each event's stored `previousHash` is the link of the event before it, and its stored `hash`
 *    is the hash of what is stored now (src/audit/chain.ts). An event recorded more than 60 s
 *    before the event before it in its stream is reported too: the chain has no key, so a forged
 *    event appended with valid links can only give itself away by its time. An event that no longer
 *    parses (its JSON, its type, its schema) or no longer replays is reported there too, never a crash.
 * 2. Do the read models follow from the events? Every budget event is folded into a replayed state
 *    (independently of the projections' SQL), and each budget's lines, commitments (amounts, status
 *    and text fields) and spendings are compared with the tables `budget_lines`, `budgets`,
 *    `commitments` and `spendings`.
 * 3. Is the audit trail (`audit_events`, what auditors read) the log? Row by row, up to its
 *    projection's checkpoint, read in pages alongside the log.
 * 4. Given an earlier seal (src/audit/seal.ts): did a stream go back, or change at a sealed revision;
 *    is the log up to the seal in the order sealed; does an event after it claim to be older?
 *
 * Memory stays bounded by the state, not the log: per stream its next revision, last link and
 * time, per budget its replayed state, and the read models' values (loaded before the log is read:
 * they are about as large as the replayed state); the audit trail a page at a time.
 */

/** Events read per page: small enough that the service answers other requests between pages. */
export const VERIFY_PAGE_SIZE = 2000
/** Most chain breaks, mismatches and seal problems listed; each list says how many there were. */
export const MAX_LISTED = 1000
/** Longest reason given for an event that does not parse: zod's messages can be long. */
const MAX_REASON_LENGTH = 500
/**
 * How far an event's `recordedAt` may lie before the one it must follow (the event before it in its
 * stream, or the seal): the handler stamps an event when it decides, and appends it after, so a
 * write decided just before another (or before a seal) may land just after it.
 */
export const RECORDED_AT_TOLERANCE_MS = 60_000

/**
 * A stored integer as a bigint, or as the text it is when it is none (a changed SQLite file keeps
 * text there): such a value matches no revision, and the verify reports it instead of stopping.
 */
const integerOrText = (text: string): bigint | string => (/^-?\d+$/.test(text) ? BigInt(text) : text)

/** An amount of a read model (read as text) in cents, or the text it is when it is none: reported, as a revision is. */
const storedCents = (text: string | null): Cents | string => (text === null ? 'null' : integerOrText(text))

/**
 * The read models cannot be compared with the events at all: a table is missing (a store that was
 * never migrated, or a dropped table), or a checkpoint holds no position. They are not the record:
 * a rebuild replays them from the events.
 */
export class ReadModelsUnreadableError extends Error {}

/** A table that is not there: SQLite's message, PostgreSQL's undefined_table. */
const isMissingTable = (error: unknown): error is Error =>
  error instanceof Error && ((error as { code?: unknown }).code === '42P01' || /^no such table: /.test(error.message))

/** Runs a read of the read models; a table that is not there says so (ReadModelsUnreadableError), any other failure passes on. */
async function readTables<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (!isMissingTable(error)) throw error
    throw new ReadModelsUnreadableError(
      `${error.message}: the store was never migrated (\`sojus-ledger migrate\` creates its read models), or a table was dropped`,
    )
  }
}

/** A projection's checkpoint as a position; one that holds none (a changed SQLite file) leaves nothing to compare against. */
function checkpointOf(name: string, text: string): Position {
  if (/^\d+$/.test(text)) return BigInt(text)
  throw new ReadModelsUnreadableError(
    `the checkpoint of the ${name} projection holds ${JSON.stringify(text)}, not a position (\`sojus-ledger rebuild ${name}\` replays it from the events)`,
  )
}

// ---------------------------------------------------------------------------------------------
// The report

export interface ChainBreak {
  position: string
  streamId: string
  revision: string
  /** Undefined when the event cannot be read at all and the store cannot say which it is. */
  eventId?: string
  reason: string
}

export interface Mismatch {
  year: number
  sozialraum: string
  /** e.g. `lines.flexible.spent`, `commitments.<id>.invoiced`, `spendings.<id>` (a row on one side only). */
  field: string
  /** What the events say: EUR with two decimals, a status, true/false, present/missing. */
  expected: string
  /** What the read model says, in the same notation. */
  actual: string
  /**
   * The first event that changed the field after the last position at which the replayed value
   * equalled the read model's; null when no event changed it (a row only the read model has, or a
   * figure no event moved).
   */
  divergedAt: string | null
}

export type SealProblemKind =
  | 'missing'
  | 'went-back'
  | 'hash-differs'
  | 'unreadable'
  | 'not-covered'
  | 'recorded-before-seal'
  | 'log-order-changed'

export interface SealProblem {
  kind: SealProblemKind
  /** Absent for `log-order-changed`: a digest over the whole log cannot say which stream moved. */
  streamId?: string
  reason: string
  /** For a problem with one event (`recorded-before-seal`): where it is and which it is. */
  position?: string
  revision?: string
  eventId?: string
}

/** A row of `audit_events` that is not the event at its position says it is. */
export interface AuditTrailMismatch {
  position: string
  /** A column (`stream_id`, `data`, …), or `row` for a row on one side only. */
  field: string
  /** What the event says: the column's value as text, `present` or `missing`. */
  expected: string
  actual: string
}

export interface VerifyReport {
  ok: boolean
  eventsChecked: number
  /** The log was verified up to this position: its head when the verify started. */
  head: string
  /** The position each compared projection had processed; the comparison stops there. */
  comparedAt: Record<ComparedProjection, string>
  mismatches: Mismatch[]
  mismatchesFound: number
  chain: { ok: boolean; brokenAt?: ChainBreak; breaks: ChainBreak[]; breaksFound: number }
  seal?: { ok: boolean; position: string; problems: SealProblem[]; problemsFound: number }
  /** `audit_events` compared row by row with the log, up to the `audit` projection's checkpoint (`comparedAt`). */
  auditTrail: { ok: boolean; comparedAt: string; mismatches: AuditTrailMismatch[]; mismatchesFound: number }
  /** `balance_history` (the balances at past moments) compared with the replay, up to its projection's checkpoint. */
  balanceHistory: { ok: boolean; comparedAt: string; mismatches: HistoryMismatch[]; mismatchesFound: number }
}

export interface VerifyProgress {
  eventsChecked: number
  position: Position
  head: Position
}

/** A bounded list that counts what it leaves out. */
class Listing<T> {
  readonly items: T[] = []
  found = 0
  add(item: T): void {
    this.found += 1
    if (this.items.length < MAX_LISTED) this.items.push(item)
  }
}

// ---------------------------------------------------------------------------------------------
// The read models, as the projections left them

const COMPARED_PROJECTIONS = ['balances', 'commitments', 'spending'] as const
export type ComparedProjection = (typeof COMPARED_PROJECTIONS)[number]

interface LineValues {
  allocated: Cents
  committed: Cents
  spent: Cents
}
/** A line as the read model holds it: cents, or the text a changed SQLite file may hold instead. */
type StoredLineValues = Record<keyof LineValues, Cents | string>
const LINE_FIELDS = ['allocated', 'committed', 'spent'] as const

interface BudgetRows {
  /** The `budgets` row's revision (text when it holds no integer); undefined when the budget has lines or commitments but no row. */
  revision: bigint | string | undefined
  /** The `budgets` row's `closed`; undefined when there is no row. */
  closed: boolean | undefined
  lines: Partial<Record<Line, StoredLineValues>>
  commitments: Map<string, StoredCommitment>
  spendings: Map<string, { amount: Cents | string; reversed: boolean }>
}

type AmountField = 'amount' | 'invoiced' | 'released' | 'carried'
/** A row of `commitments`: its amounts in cents, or the text a changed SQLite file may hold instead. */
type StoredCommitment = Omit<ReplayedCommitment, AmountField> & Record<AmountField, Cents | string>

interface ReadModelSnapshot {
  checkpoints: Record<ComparedProjection, Position>
  budgets: Map<string, BudgetRows>
}

type Integer = number | string | bigint

interface CommitmentRow {
  year: Integer
  sozialraum: string
  id: string
  line: Line
  amount_cents: string
  invoiced_cents: string
  released_cents: string
  carried_cents: string
  status: CommitmentStatus
  over_budget: Integer
  provider: string
  case_ref: string
  help_type: string | null
  period_from: string
  period_to: string
  decision_ref: string | null
  over_budget_justification: string | null
}

const COMMITMENT_COLUMNS =
  'year, sozialraum, id, line, CAST(amount_cents AS TEXT) AS amount_cents, CAST(invoiced_cents AS TEXT) AS invoiced_cents, ' +
  'CAST(released_cents AS TEXT) AS released_cents, CAST(carried_cents AS TEXT) AS carried_cents, status, over_budget, provider, case_ref, help_type, period_from, period_to, ' +
  'decision_ref, over_budget_justification'

function commitmentOfRow(row: CommitmentRow): StoredCommitment {
  return {
    line: row.line,
    amount: storedCents(row.amount_cents),
    invoiced: storedCents(row.invoiced_cents),
    released: storedCents(row.released_cents),
    carried: storedCents(row.carried_cents),
    status: row.status,
    overBudget: Number(row.over_budget) !== 0,
    provider: row.provider,
    caseRef: row.case_ref,
    helpType: row.help_type,
    periodFrom: row.period_from,
    periodTo: row.period_to,
    decisionRef: row.decision_ref,
    overBudgetJustification: row.over_budget_justification,
  }
}
const budgetKeyOf = (year: Integer, sozialraum: string): string => `${Number(year)}/${sozialraum}`

type BudgetRow = { year: Integer; sozialraum: string; revision: string; closed: Integer }
type LineRow = { year: Integer; sozialraum: string; line: Line; allocated_cents: string; committed_cents: string; spent_cents: string }
type SpendingRow = { year: Integer; sozialraum: string; id: string; amount_cents: string; reversed: Integer }

/**
 * Reads the compared tables and their checkpoints as one consistent snapshot (`queryTogether`).
 * We compare only up to the positions the projections had processed (their checkpoints), rather
 * than wait for them: a projection that is behind, or replaying after a rebuild, is still compared
 * as far as it got, and a verify never waits on a projection stuck at an event that cannot be read.
 */
async function loadReadModels(db: SqlDatabase): Promise<ReadModelSnapshot> {
  const cents = (column: string) => `CAST(${column} AS TEXT) AS ${column}`
  const [checkpointRows, budgets, lines, commitments, spendings] = (await readTables(() => db.queryTogether([
    { sql: 'SELECT name, CAST(position AS TEXT) AS position FROM projection_checkpoints WHERE name IN (?, ?, ?)', params: [...COMPARED_PROJECTIONS] },
    { sql: 'SELECT year, sozialraum, CAST(revision AS TEXT) AS revision, closed FROM budgets' },
    { sql: `SELECT year, sozialraum, line, ${cents('allocated_cents')}, ${cents('committed_cents')}, ${cents('spent_cents')} FROM budget_lines` },
    { sql: `SELECT ${COMMITMENT_COLUMNS} FROM commitments` },
    { sql: `SELECT year, sozialraum, id, ${cents('amount_cents')}, reversed FROM spendings` },
  ]))) as [Array<{ name: string; position: string }>, BudgetRow[], LineRow[], CommitmentRow[], SpendingRow[]]
  const checkpoints = { balances: START, commitments: START, spending: START }
  for (const row of checkpointRows) checkpoints[row.name as ComparedProjection] = checkpointOf(row.name, row.position)
  const snapshot: ReadModelSnapshot = { checkpoints, budgets: new Map() }
  const rowsOf = (year: Integer, sozialraum: string): BudgetRows => {
    const key = budgetKeyOf(year, sozialraum)
    let rows = snapshot.budgets.get(key)
    if (!rows) {
      snapshot.budgets.set(key, (rows = { revision: undefined, closed: undefined, lines: {}, commitments: new Map(), spendings: new Map() }))
    }
    return rows
  }
  for (const row of budgets) {
    const rows = rowsOf(row.year, row.sozialraum)
    rows.revision = integerOrText(row.revision)
    rows.closed = Number(row.closed) !== 0
  }
  for (const row of lines) {
    rowsOf(row.year, row.sozialraum).lines[row.line] = {
      allocated: storedCents(row.allocated_cents),
      committed: storedCents(row.committed_cents),
      spent: storedCents(row.spent_cents),
    }
  }
  for (const row of commitments) rowsOf(row.year, row.sozialraum).commitments.set(row.id, commitmentOfRow(row))
  for (const row of spendings) {
    rowsOf(row.year, row.sozialraum).spendings.set(row.id, { amount: storedCents(row.amount_cents), reversed: Number(row.reversed) !== 0 })
  }
  return snapshot
}

// ---------------------------------------------------------------------------------------------
// The replay: a budget's state as the decider's evolve folds it, reduced to what is compared

export interface ReplayedCommitment {
  line: Line
  amount: Cents
  invoiced: Cents
  released: Cents
  /** What the year close carried into the next year. */
  carried: Cents
  status: CommitmentStatus
  overBudget: boolean
  /** The text fields the commitments table keeps, null where the event has none (SQL NULL). */
  provider: string
  caseRef: string
  helpType: string | null
  periodFrom: string
  periodTo: string
  decisionRef: string | null
  overBudgetJustification: string | null
}

export interface ReplayedSpending {
  amount: Cents
  reversed: boolean
}

export interface ReplayedBudget {
  exists: boolean
  closed: boolean
  lines: Record<Line, LineValues>
  commitments: Map<string, ReplayedCommitment>
  spendings: Map<string, ReplayedSpending>
}

export function initialReplayedBudget(): ReplayedBudget {
  const line = (): LineValues => ({ allocated: 0n, committed: 0n, spent: 0n })
  return { exists: false, closed: false, lines: { ambulatory: line(), flexible: line() }, commitments: new Map(), spendings: new Map() }
}

/** A commitment with nothing left to invoice is closed (rule 4), as evolve's `settle` says. */
function settle(commitment: ReplayedCommitment): void {
  if (commitment.amount - commitment.invoiced - commitment.released - commitment.carried === 0n && commitment.status !== 'rejected') {
    commitment.status = 'closed'
  }
}

/**
 * Folds one event into a replayed budget, in place, exactly as `evolveBudget` changes the fields
 * kept here (test/audit/verify.test.ts checks that on generated histories). evolve copies the
 * budget's maps on every event, which makes a replay quadratic in a budget's commitments; this
 * fold changes one entry. Answers why an event does not replay (evolve would throw), else undefined.
 */
export function foldBudgetEvent(budget: ReplayedBudget, event: BudgetEvent): string | undefined {
  const { lines } = budget
  switch (event.type) {
    case 'BudgetAllocated':
      budget.exists = true
      lines[event.data.line].allocated += BigInt(event.data.amountCents)
      return undefined
    case 'BudgetAdjusted':
      lines[event.data.line].allocated += BigInt(event.data.amountCents)
      return undefined
    case 'BudgetTransferred':
      lines[event.data.fromLine].allocated -= BigInt(event.data.amountCents)
      lines[event.data.toLine].allocated += BigInt(event.data.amountCents)
      return undefined
    case 'CommitmentCreated':
    case 'CommitmentCarriedIn': {
      const { data } = event
      if (event.type === 'CommitmentCarriedIn') budget.exists = true
      budget.commitments.set(data.commitmentId, {
        line: data.line,
        amount: BigInt(data.amountCents),
        invoiced: 0n,
        released: 0n,
        carried: 0n,
        status: data.status,
        overBudget: data.overBudget,
        provider: data.provider,
        caseRef: data.caseRef,
        helpType: data.helpType ?? null,
        periodFrom: data.period.from,
        periodTo: data.period.to,
        decisionRef: data.decisionRef ?? null,
        overBudgetJustification: data.overBudgetJustification ?? null,
      })
      lines[data.line].committed += BigInt(data.amountCents)
      return undefined
    }
    case 'SpendingRecorded':
      budget.spendings.set(event.data.spendingId, { amount: BigInt(event.data.amountCents), reversed: false })
      lines.flexible.spent += BigInt(event.data.amountCents)
      return undefined
    case 'SpendingReversed': {
      const spending = budget.spendings.get(event.data.spendingId)
      if (!spending) return `it reverses spending ${event.data.spendingId}, which its budget does not have`
      lines.flexible.spent -= spending.amount
      spending.reversed = true
      return undefined
    }
    default:
      return foldYearEndEvent(budget, event)
  }
}

/** The events of the year close and of moves between Sozialräume that belong to no commitment. */
function foldYearEndEvent(budget: ReplayedBudget, event: BudgetEvent): string | undefined {
  const { lines } = budget
  switch (event.type) {
    case 'AllocationCarriedOver':
    case 'BudgetMoveDebited':
      lines[event.data.line].allocated -= BigInt(event.data.amountCents)
      return undefined
    case 'BudgetMoveCredited':
    case 'BudgetMoveReverted':
      lines[event.data.line].allocated += BigInt(event.data.amountCents)
      return undefined
    case 'BudgetClosed':
      budget.closed = true
      return undefined
    case 'BudgetMoveRefused':
      return undefined
    default:
      return foldCommitmentEvent(budget, event)
  }
}

function foldCommitmentEvent(budget: ReplayedBudget, event: BudgetEvent): string | undefined {
  if (!('commitmentId' in event.data)) return undefined
  const commitment = budget.commitments.get(event.data.commitmentId)
  if (!commitment) return `it refers to commitment ${event.data.commitmentId}, which its budget does not have`
  const line = budget.lines[commitment.line]
  switch (event.type) {
    case 'CommitmentApprovalRequested':
      commitment.status = 'requested'
      commitment.overBudget = event.data.overBudget
      commitment.overBudgetJustification = event.data.overBudgetJustification ?? null
      break
    case 'CommitmentApproved':
      commitment.status = 'open'
      break
    case 'CommitmentRejected': {
      const amount = BigInt(event.data.amountCents)
      if (event.data.status === 'rejected') commitment.released += amount
      else commitment.amount -= amount
      commitment.status = event.data.status
      commitment.overBudget = event.data.overBudget
      commitment.overBudgetJustification = event.data.overBudgetJustification ?? null
      line.committed -= amount
      break
    }
    case 'CommitmentAmended':
      commitment.amount += BigInt(event.data.amountCents)
      settle(commitment)
      line.committed += BigInt(event.data.amountCents)
      break
    case 'InvoiceBooked':
      commitment.invoiced += BigInt(event.data.amountCents)
      settle(commitment)
      line.committed -= BigInt(event.data.amountCents)
      line.spent += BigInt(event.data.amountCents)
      break
    case 'CommitmentReleased':
      commitment.released += BigInt(event.data.amountCents)
      commitment.status = 'closed'
      line.committed -= BigInt(event.data.amountCents)
      break
    case 'CommitmentCarriedOver':
      commitment.carried += BigInt(event.data.amountCents)
      commitment.status = 'closed'
      line.committed -= BigInt(event.data.amountCents)
      break
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Replay and comparison with the read models

const COMMITMENT_FIELDS = [
  'amount',
  'invoiced',
  'released',
  'carried',
  'status',
  'overBudget',
  'provider',
  'caseRef',
  'helpType',
  'periodFrom',
  'periodTo',
  'decisionRef',
  'overBudgetJustification',
] as const
const SPENDING_FIELDS = ['amount', 'reversed'] as const

/** Values in the report's notation: money in EUR with two decimals, everything else as text. */
type Value = Cents | string | boolean | null
const shown = (value: Value): string => (typeof value === 'bigint' ? formatCents(value) : String(value))

/**
 * Where each field's replayed value first left the read model's and has not come back: kept only
 * for fields that differ now, so that it costs nothing while the two agree.
 */
class Divergences {
  private readonly byEntity = new Map<string, Map<string, Position>>()

  observe(entity: string, field: string, equal: boolean, position: Position): void {
    if (equal && this.byEntity.size === 0) return
    const fields = this.byEntity.get(entity)
    if (equal) {
      if (fields?.delete(field) && fields.size === 0) this.byEntity.delete(entity)
      return
    }
    if (!fields) this.byEntity.set(entity, new Map([[field, position]]))
    else if (!fields.has(field)) fields.set(field, position)
  }

  at(entity: string, field: string): string | null {
    return this.byEntity.get(entity)?.get(field)?.toString() ?? null
  }
}

interface BudgetReplay {
  year: number
  sozialraum: string
  state: ReplayedBudget
  /** The revision of the budget's last event, as the `budgets` row keeps it. */
  revision: bigint
  rows: BudgetRows | undefined
  budget: Divergences
  commitments: Divergences
  spendings: Divergences
}

const BUDGET_STREAM = /^budget-(\d{4})-(.+)$/
const SOZIALRAUM_STREAM = /^sozialraum-(.+)$/

/**
 * Folds the budget events into replayed budgets and watches where they part from the read models.
 * A projection is compared once, when the log passes its checkpoint (or at the end): the replayed
 * state then holds exactly the events that projection had processed.
 */
class Replay {
  private readonly budgets = new Map<string, BudgetReplay>()
  private readonly compared = new Set<ComparedProjection>()
  /** The lowest checkpoint of a projection not compared yet. */
  private nextComparison: Position | undefined
  readonly mismatches = new Listing<Mismatch>()

  /** `foldThrough`: the log is folded at least this far (the balance history is compared up to there). */
  constructor(
    private readonly snapshot: ReadModelSnapshot,
    private readonly foldThrough: Position,
  ) {
    this.nextComparison = this.lowestPending()
  }

  private lowestPending(): Position | undefined {
    let lowest: Position | undefined
    for (const name of COMPARED_PROJECTIONS) {
      const checkpoint = this.snapshot.checkpoints[name]
      if (!this.compared.has(name) && (lowest === undefined || checkpoint < lowest)) lowest = checkpoint
    }
    return lowest
  }

  /** Compares every projection whose checkpoint lies before `position`, before that event is folded. */
  reach(position: Position): void {
    while (this.nextComparison !== undefined && this.nextComparison < position) {
      for (const name of COMPARED_PROJECTIONS) {
        if (!this.compared.has(name) && this.snapshot.checkpoints[name] < position) this.compare(name)
      }
      this.nextComparison = this.lowestPending()
    }
  }

  finish(): void {
    for (const name of COMPARED_PROJECTIONS) if (!this.compared.has(name)) this.compare(name)
  }

  /** Folds a parsed event; answers why it is not a valid event of its stream, or undefined. */
  apply(stored: StoredEvent): string | undefined {
    const { event, streamId } = stored
    if (isSozialraumEvent(event)) {
      const id = SOZIALRAUM_STREAM.exec(streamId)?.[1]
      return id === event.data.sozialraumId ? undefined : `a ${event.type} of Sozialraum ${event.data.sozialraumId} in stream ${streamId}`
    }
    // Events of neither kind (the audit's own) belong to no budget and change no compared read model.
    if (!isBudgetEvent(event)) return undefined
    const match = BUDGET_STREAM.exec(streamId)
    if (!match || Number(match[1]) !== event.data.year || match[2] !== event.data.sozialraum) {
      return `a ${event.type} of budget ${event.data.year}/${event.data.sozialraum} in stream ${streamId}`
    }
    // Every projection is compared, the balance history too: nothing left to fold for.
    if (this.nextComparison === undefined && stored.position > this.foldThrough) return undefined
    const budget = this.budgetOf(event.data.year, event.data.sozialraum)
    budget.revision = stored.revision
    const before = this.figuresOf(event.data.year, event.data.sozialraum)
    const problem = foldBudgetEvent(budget.state, event)
    if (problem !== undefined) return `it does not replay: ${problem}`
    this.observe(budget, event, stored.position, before)
    return undefined
  }

  /** A budget's figures as folded so far; undefined before its first event. */
  figuresOf(year: number, sozialraum: string): HistoryFigures | undefined {
    const budget = this.budgets.get(budgetKeyOf(year, sozialraum))
    if (!budget) return undefined
    const { lines, closed, exists } = budget.state
    return { revision: budget.revision, exists, closed, lines: { ambulatory: { ...lines.ambulatory }, flexible: { ...lines.flexible } } }
  }

  private budgetOf(year: number, sozialraum: string): BudgetReplay {
    const key = budgetKeyOf(year, sozialraum)
    let budget = this.budgets.get(key)
    if (!budget) {
      budget = {
        year,
        sozialraum,
        state: initialReplayedBudget(),
        revision: 0n,
        rows: this.snapshot.budgets.get(key),
        budget: new Divergences(),
        commitments: new Divergences(),
        spendings: new Divergences(),
      }
      this.budgets.set(key, budget)
    }
    return budget
  }

  /**
   * Compares what the event changed with the read models, for projections still to compare: a
   * field the event left as it was is not observed, so that where a field parted (`divergedAt`)
   * is an event that changed it. (Every event moves the budget's revision.)
   */
  private observe(budget: BudgetReplay, event: BudgetEvent, position: Position, before: HistoryFigures | undefined): void {
    const { rows, state } = budget
    if (!this.compared.has('balances') && state.exists) {
      budget.budget.observe('budget', 'row', rows?.revision !== undefined, position)
      budget.budget.observe('budget', 'revision', rows?.revision === budget.revision, position)
      if (before?.closed !== state.closed) budget.budget.observe('budget', 'closed', rows?.closed === state.closed, position)
      for (const line of LINES) {
        const actual = rows?.lines[line]
        budget.budget.observe(line, 'row', actual !== undefined, position)
        for (const field of LINE_FIELDS) {
          const value = state.lines[line][field]
          if (before?.lines[line][field] !== value) budget.budget.observe(line, field, actual?.[field] === value, position)
        }
      }
    }
    const commitmentId = 'commitmentId' in event.data ? event.data.commitmentId : undefined
    const commitment = commitmentId === undefined ? undefined : state.commitments.get(commitmentId)
    if (commitmentId !== undefined && commitment && !this.compared.has('commitments')) {
      const actual = rows?.commitments.get(commitmentId)
      budget.commitments.observe(commitmentId, 'row', actual !== undefined, position)
      for (const field of COMMITMENT_FIELDS) budget.commitments.observe(commitmentId, field, actual?.[field] === commitment[field], position)
    }
    const spendingId = 'spendingId' in event.data ? event.data.spendingId : undefined
    const spending = spendingId === undefined ? undefined : state.spendings.get(spendingId)
    if (spendingId !== undefined && spending && !this.compared.has('spending')) {
      const actual = rows?.spendings.get(spendingId)
      budget.spendings.observe(spendingId, 'row', actual !== undefined, position)
      for (const field of SPENDING_FIELDS) budget.spendings.observe(spendingId, field, actual?.[field] === spending[field], position)
    }
  }

  private compare(name: ComparedProjection): void {
    this.compared.add(name)
    const replays = [...this.budgets.values()]
    for (const budget of replays) {
      this.compareBudget(name, budget)
    }
    // Budgets only the read models have.
    for (const [key, rows] of this.snapshot.budgets) {
      if (this.budgets.has(key)) continue
      const [year, ...rest] = key.split('/')
      const orphan: BudgetReplay = {
        year: Number(year),
        sozialraum: rest.join('/'),
        state: initialReplayedBudget(),
        revision: 0n,
        rows,
        budget: new Divergences(),
        commitments: new Divergences(),
        spendings: new Divergences(),
      }
      this.compareBudget(name, orphan)
    }
  }

  private compareBudget(name: ComparedProjection, budget: BudgetReplay): void {
    if (name === 'balances') this.compareBalances(budget)
    else if (name === 'commitments') {
      this.compareRows(budget, 'commitments', COMMITMENT_FIELDS, budget.state.commitments, budget.rows?.commitments, budget.commitments)
    } else this.compareRows(budget, 'spendings', SPENDING_FIELDS, budget.state.spendings, budget.rows?.spendings, budget.spendings)
  }

  private report(budget: BudgetReplay, field: string, expected: string, actual: string, divergedAt: string | null): void {
    this.mismatches.add({ year: budget.year, sozialraum: budget.sozialraum, field, expected, actual, divergedAt })
  }

  private compareBalances(budget: BudgetReplay): void {
    const { rows, state } = budget
    const hasRow = rows?.revision !== undefined
    if (state.exists !== hasRow) {
      return this.report(budget, 'budget', state.exists ? 'present' : 'missing', hasRow ? 'present' : 'missing', budget.budget.at('budget', 'row'))
    }
    if (!state.exists) return
    if (rows?.revision !== budget.revision) {
      this.report(budget, 'revision', budget.revision.toString(), String(rows?.revision), budget.budget.at('budget', 'revision'))
    }
    if (rows?.closed !== state.closed) {
      this.report(budget, 'closed', String(state.closed), String(rows?.closed), budget.budget.at('budget', 'closed'))
    }
    for (const line of LINES) {
      const actual = rows?.lines[line]
      if (!actual) {
        this.report(budget, `lines.${line}`, 'present', 'missing', budget.budget.at(line, 'row'))
        continue
      }
      for (const field of LINE_FIELDS) {
        const expected = state.lines[line][field]
        if (expected !== actual[field]) {
          this.report(budget, `lines.${line}.${field}`, shown(expected), shown(actual[field]), budget.budget.at(line, field))
        }
      }
    }
  }

  /** Rows of commitments or spendings: each replayed one with its fields, and those only the read model has. */
  private compareRows(
    budget: BudgetReplay,
    kind: 'commitments' | 'spendings',
    fields: readonly string[],
    replayed: ReadonlyMap<string, object>,
    actual: ReadonlyMap<string, object> | undefined,
    divergences: Divergences,
  ): void {
    for (const [id, expected] of replayed) {
      const row = actual?.get(id) as Record<string, Value> | undefined
      if (!row) {
        this.report(budget, `${kind}.${id}`, 'present', 'missing', divergences.at(id, 'row'))
        continue
      }
      for (const field of fields) {
        const value = (expected as Record<string, Value>)[field] as Value
        if (value !== row[field]) {
          this.report(budget, `${kind}.${id}.${field}`, shown(value), shown(row[field] as Value), divergences.at(id, field))
        }
      }
    }
    for (const id of actual?.keys() ?? []) if (!replayed.has(id)) this.report(budget, `${kind}.${id}`, 'missing', 'present', null)
  }
}

// ---------------------------------------------------------------------------------------------
// The chain

/** Where an event is and which it is, whether it could be read or only located. */
interface ObservedEvent {
  position: Position
  streamId: string
  revision: bigint
  eventId?: string
}

/** An event the store cannot hand over (its JSON is broken), as far as the store can name it. */
export interface LocatedEvent {
  position: Position
  streamId: string
  /** As stored; text when the column holds no integer (a changed SQLite file). */
  revision: bigint | string
  eventId: string
}

/** Names the first event after a position without parsing it; undefined when there is none. */
export type LocateEvent = (after: Position) => Promise<LocatedEvent | undefined>

interface StreamChain {
  nextRevision: bigint
  /** The link of the stream's last event; undefined when it could not be read. */
  link: string | null | undefined
  /** Whether an event of the stream carried a hash: from then on, every one must. */
  chained: boolean
  /** The `recordedAt` of the stream's last event, in ms; undefined when it had none that parses. */
  recordedAt: number | undefined
}

/** The event's hash after `previousHash`, or undefined (and why) when its content has no canonical form. */
function hashOf(event: RecordedEvent, previousHash: string | null, reasons: string[]): string | undefined {
  try {
    return eventHash(event, previousHash)
  } catch (error) {
    reasons.push(`it has no canonical form to hash: ${error instanceof Error ? error.message : String(error)}`)
    return undefined
  }
}

const metadataFields = (metadata: unknown): Record<string, unknown> =>
  (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? metadata : {}) as Record<string, unknown>

/** The event's `recordedAt` in ms, or undefined when it has none that parses (the parse reports that). */
function recordedAtOf(metadata: unknown): number | undefined {
  const recordedAt = metadataFields(metadata).recordedAt
  const time = typeof recordedAt === 'string' ? Date.parse(recordedAt) : Number.NaN
  return Number.isNaN(time) ? undefined : time
}

/** Checks each stream's revisions and links; keeps per stream only what the next event needs. */
class ChainCheck {
  private readonly streams = new Map<string, StreamChain>()

  private streamOf(streamId: string): StreamChain {
    let stream = this.streams.get(streamId)
    if (!stream) this.streams.set(streamId, (stream = { nextRevision: 0n, link: null, chained: false, recordedAt: undefined }))
    return stream
  }

  /** Checks the revision; answers whether the event moves its stream on (an older revision does not). */
  private follows(stream: StreamChain, revision: bigint, reasons: string[]): boolean {
    if (revision > stream.nextRevision) {
      const missing =
        revision - 1n === stream.nextRevision ? `revision ${stream.nextRevision} is` : `revisions ${stream.nextRevision} to ${revision - 1n} are`
      reasons.push(`${missing} missing before its revision ${revision}`)
    } else if (revision < stream.nextRevision) {
      reasons.push(`revision ${revision} comes after revision ${stream.nextRevision - 1n}`)
    }
    const advances = revision >= stream.nextRevision
    if (advances) stream.nextRevision = revision + 1n
    return advances
  }

  /** Checks one readable event; answers its link (undefined when it cannot be known). */
  check(event: RecordedEvent, reasons: string[]): string | undefined {
    const stream = this.streamOf(event.streamId)
    // A revision column changed to text (SQLite keeps what it is given) reads as a string.
    if (typeof event.revision !== 'bigint') {
      reasons.push(`its revision ${String(event.revision)} is not an integer`)
      return undefined
    }
    const advances = this.follows(stream, event.revision, reasons)
    const metadata = metadataFields(event.metadata)
    const hasHash = 'hash' in metadata
    let link: string | undefined
    if (!hasHash) {
      if (stream.chained) reasons.push('it carries no hash, though an earlier event of its stream does')
      if ('previousHash' in metadata) reasons.push('it carries a previousHash but no hash')
      link = stream.link === undefined ? undefined : hashOf(event, stream.link, reasons)
    } else {
      const { hash, previousHash } = metadata
      const hashIsValid = isHash(hash)
      if (!hashIsValid || !(previousHash === null || isHash(previousHash))) {
        reasons.push('its hash or previousHash is not a SHA-256 in hex')
      } else {
        if (stream.link !== undefined && previousHash !== stream.link) {
          reasons.push('its previousHash is not the link of the event before it in its stream')
        }
        const computed = hashOf(event, previousHash, reasons)
        if (computed !== undefined && computed !== hash) {
          reasons.push('its hash does not match its content (stream, revision, type, data, metadata)')
        }
      }
      link = hashIsValid ? hash : undefined
    }
    if (advances) {
      stream.link = link
      stream.chained ||= hasHash
      this.followsInTime(stream, event, reasons)
    }
    return link
  }

  /**
   * The chain has no key: whoever can write the file can append an event with valid links and an
   * old `recordedAt`. An event recorded well before the one it follows in its stream is such a
   * forgery (or a clock that went back), since the handler stamps events as it decides them.
   */
  private followsInTime(stream: StreamChain, event: RecordedEvent, reasons: string[]): void {
    const recordedAt = recordedAtOf(event.metadata)
    if (recordedAt === undefined) return
    const previous = stream.recordedAt
    if (previous !== undefined && recordedAt < previous - RECORDED_AT_TOLERANCE_MS) {
      const at = new Date(recordedAt).toISOString()
      reasons.push(`recorded-before-previous: it was recorded at ${at}, more than 60 s before the event before it in its stream (${new Date(previous).toISOString()})`)
    }
    stream.recordedAt = Math.max(recordedAt, previous ?? recordedAt)
  }

  /** An event that cannot be read: its revision still counts; the link after it cannot be checked. */
  unreadable(event: LocatedEvent, reasons: string[]): void {
    const stream = this.streamOf(event.streamId)
    if (typeof event.revision === 'string') stream.link = undefined
    else if (this.follows(stream, event.revision, reasons)) stream.link = undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The seal

/**
 * Compares the log with an earlier seal: each sealed stream must still reach its sealed revision
 * with the same link, the log up to the seal's position must be in the order sealed (its
 * `logDigest`, when the seal has one), and no event after the seal may claim to be older than it.
 */
class SealCheck {
  private readonly sealed = new Map<string, { revision: bigint; hash: string }>()
  /** Per sealed stream: its highest revision now, and its link at the sealed revision (null: unreadable). */
  private readonly current = new Map<string, { head: bigint; link: string | null | undefined }>()
  private readonly position: Position
  private readonly sealedAt: number
  private readonly logDigest: string | undefined
  private readonly order = new LogDigest()
  readonly problems = new Listing<SealProblem>()

  constructor(seal: Seal) {
    for (const head of seal.heads) this.sealed.set(head.streamId, { revision: BigInt(head.revision), hash: head.hash })
    this.position = BigInt(seal.position)
    this.sealedAt = Date.parse(seal.sealedAt)
    this.logDigest = seal.logDigest
  }

  observe(event: ObservedEvent | LocatedEvent, link: string | undefined, recordedAt: number | undefined): void {
    const { streamId, revision, position } = event
    if (position <= this.position) this.order.add(position, streamId, revision, link)
    // A revision that is no integer is no sealed revision: the stream's head is found by the others.
    if (typeof revision === 'string') return
    if (position > this.position) this.recordedAfter({ ...event, revision }, recordedAt)
    const sealed = this.sealed.get(streamId)
    if (position <= this.position && (!sealed || revision > sealed.revision)) {
      this.problems.add({
        kind: 'not-covered',
        streamId,
        reason: `revision ${revision} at position ${position} is older than the seal (position ${this.position}), but the seal does not hold it`,
      })
    }
    if (!sealed) return
    const current = this.current.get(streamId)
    if (!current) this.current.set(streamId, { head: revision, link: revision === sealed.revision ? (link ?? null) : undefined })
    else {
      if (revision > current.head) current.head = revision
      if (revision === sealed.revision) current.link = link ?? null
    }
  }

  /**
   * The chain has no key, so an event appended after the seal can claim any time. One that claims
   * to be older than the seal (by more than the tolerance) was not written when it says it was.
   */
  private recordedAfter(event: ObservedEvent, recordedAt: number | undefined): void {
    if (recordedAt === undefined || !(recordedAt < this.sealedAt - RECORDED_AT_TOLERANCE_MS)) return
    const { streamId, position, revision, eventId } = event
    this.problems.add({
      kind: 'recorded-before-seal',
      streamId,
      position: position.toString(),
      revision: revision.toString(),
      ...(eventId === undefined ? {} : { eventId }),
      reason:
        `it comes after the seal (position ${this.position}) but was recorded at ${new Date(recordedAt).toISOString()}, ` +
        `more than 60 s before the seal was taken (${new Date(this.sealedAt).toISOString()})`,
    })
  }

  finish(): { ok: boolean; position: string; problems: SealProblem[]; problemsFound: number } {
    if (this.logDigest !== undefined && this.order.digest() !== this.logDigest) {
      this.problems.add({
        kind: 'log-order-changed',
        reason: `the log up to the seal's position ${this.position} is not the one sealed: events were moved, removed, added or changed`,
      })
    }
    for (const [streamId, sealed] of this.sealed) {
      const current = this.current.get(streamId)
      const add = (kind: SealProblemKind, reason: string) => this.problems.add({ kind, streamId, reason })
      if (!current) add('missing', `the seal has it at revision ${sealed.revision}; the log no longer has the stream`)
      else if (current.head < sealed.revision) {
        add('went-back', `the seal has it at revision ${sealed.revision}; the log now ends at revision ${current.head}`)
      } else if (current.link === null) {
        add('unreadable', `its event at the sealed revision ${sealed.revision} cannot be read, or its link cannot be known (see the chain)`)
      }
      else if (current.link !== sealed.hash) {
        add('hash-differs', `its event at the sealed revision ${sealed.revision} is not the one sealed: its link differs`)
      }
    }
    const { items, found } = this.problems
    return { ok: found === 0, position: this.position.toString(), problems: items, problemsFound: found }
  }
}

// ---------------------------------------------------------------------------------------------
// The audit trail

/** The columns of `audit_events` that must say what the event at their position says. */
const AUDIT_COLUMNS = ['stream_id', 'revision', 'event_id', 'type', 'version', 'recorded_at', 'actor_sub', 'actor_role', 'data'] as const
type AuditColumn = (typeof AUDIT_COLUMNS)[number]
type AuditRow = Record<AuditColumn, string | null> & { position: string }

async function readCheckpoint(db: SqlDatabase, projection: 'audit' | 'balance-history'): Promise<Position> {
  const [row] = await readTables(() =>
    db.query<{ position: string }>('SELECT CAST(position AS TEXT) AS position FROM projection_checkpoints WHERE name = ?', [projection]),
  )
  return row ? checkpointOf(projection, row.position) : START
}

/** Canonical JSON, so that the projection's JSON.stringify and the store's text compare by value. */
function canonicalText(value: unknown): string {
  try {
    return canonicalJson(value)
  } catch (error) {
    return `no canonical form: ${error instanceof Error ? error.message : String(error)}`
  }
}

/** The row the audit projection writes for an event (projections/audit.ts), as text. */
function expectedAuditRow(event: RecordedEvent): Record<AuditColumn, string> {
  const metadata = metadataFields(event.metadata)
  const actor = metadataFields(metadata.actor)
  return {
    stream_id: event.streamId,
    revision: String(event.revision),
    event_id: event.id,
    type: event.type,
    version: String(metadata.schemaVersion),
    recorded_at: String(metadata.recordedAt),
    actor_sub: String(actor.sub),
    actor_role: String(actor.role),
    // As recorded, never upcast: the projection stores the recorded data.
    data: canonicalText(event.data),
  }
}

function actualData(text: string | null): string {
  if (text === null) return 'null'
  try {
    return canonicalText(JSON.parse(text))
  } catch {
    return `not JSON: ${text}`
  }
}

/**
 * Compares `audit_events`, the trail auditors read, row by row with the log up to the audit
 * projection's checkpoint. The walk hands it each page's events; it then reads the rows of that
 * stretch of positions (in pages too), so memory stays bounded by a page, never by the log.
 */
class AuditTrailCheck {
  readonly mismatches = new Listing<AuditTrailMismatch>()
  /** The events of the current stretch by position; undefined: an event that cannot be read. */
  private readonly pending = new Map<Position, RecordedEvent | undefined>()
  private comparedTo: Position = START

  constructor(
    private readonly db: SqlDatabase,
    readonly checkpoint: Position,
    private readonly pageSize: number,
  ) {}

  expect(position: Position, event: RecordedEvent | undefined): void {
    if (position <= this.checkpoint) this.pending.set(position, event)
  }

  /** Compares the rows after the last stretch, up to `through` (at most the checkpoint), with the events expected there. */
  async compareThrough(through: Position): Promise<void> {
    const to = through < this.checkpoint ? through : this.checkpoint
    while (this.comparedTo < to) {
      const rows = await this.db.query<AuditRow>(
        `SELECT CAST(position AS TEXT) AS position, stream_id, CAST(revision AS TEXT) AS revision, event_id, type,
           CAST(version AS TEXT) AS version, recorded_at, actor_sub, actor_role, data
         FROM audit_events WHERE audit_events.position > ? AND audit_events.position <= ?
         ORDER BY audit_events.position LIMIT ?`,
        // The column, not the text alias: sorted as text, 1000 would come before 999.
        [this.comparedTo, to, this.pageSize],
      )
      for (const row of rows) this.compareRow(row)
      this.comparedTo = rows.length < this.pageSize ? to : BigInt((rows[rows.length - 1] as AuditRow).position)
    }
    for (const position of this.pending.keys()) if (position <= to) this.add(position, 'row', 'present', 'missing')
    this.pending.clear()
  }

  private compareRow(row: AuditRow): void {
    const position = BigInt(row.position)
    if (!this.pending.has(position)) return this.add(position, 'row', 'missing', 'present')
    const event = this.pending.get(position)
    this.pending.delete(position)
    // An event that cannot be read is a chain break already; what its row should hold is unknown.
    if (event === undefined) return
    const expected = expectedAuditRow(event)
    for (const column of AUDIT_COLUMNS) {
      const actual = column === 'data' ? actualData(row.data) : String(row[column])
      if (actual !== expected[column]) this.add(position, column, expected[column], actual)
    }
  }

  private add(position: Position, field: string, expected: string, actual: string): void {
    this.mismatches.add({ position: position.toString(), field, expected: clipped(expected), actual: clipped(actual) })
  }

  report(): VerifyReport['auditTrail'] {
    const { items, found } = this.mismatches
    return { ok: found === 0, comparedAt: this.checkpoint.toString(), mismatches: items, mismatchesFound: found }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the log

type Page = { events: RecordedEvent[]; unreadable?: undefined } | { events: RecordedEvent[]; unreadable: LocatedEvent | 'unknown' }

/** A store's JSON.parse (or an integer column's reading) failing on stored text: the event is unreadable, the store is fine. */
const isUnreadable = (error: unknown): boolean => error instanceof SyntaxError

/**
 * Reads a page after `after`; when an event in it cannot be read, the events before it (found by
 * halving the page) and then the unreadable event, as far as `locate` can name it.
 */
async function readPage(store: EventStore, after: Position, size: number, locate: LocateEvent | undefined): Promise<Page> {
  for (let count = size; count >= 1; count = Math.floor(count / 2)) {
    try {
      return { events: await store.readAll({ after, maxCount: count }) }
    } catch (error) {
      if (!isUnreadable(error)) throw error
    }
  }
  return { events: [], unreadable: (await locate?.(after)) ?? 'unknown' }
}

/** For the SQL stores, whose `events` table the read models' connection sees (one file or one schema): names an event without parsing it. */
export function sqlEventLocator(db: SqlDatabase): LocateEvent {
  return async (after) => {
    const [row] = await db.query<{ position: string; stream_id: string; revision: string; event_id: string }>(
      `SELECT CAST(position AS TEXT) AS position, stream_id, CAST(revision AS TEXT) AS revision, event_id
       FROM events WHERE position > ? ORDER BY events.position LIMIT 1`,
      [after],
    )
    if (row === undefined) return undefined
    return { position: BigInt(row.position), streamId: row.stream_id, revision: integerOrText(row.revision), eventId: row.event_id }
  }
}

// ---------------------------------------------------------------------------------------------
// The verify

export interface VerifyOptions {
  store: EventStore
  /** The read models' database. */
  db: SqlDatabase
  /** An earlier seal, already found authentic (sealForgery). */
  seal?: Seal
  /** Names an event the store cannot read, so that the verify can go on past it. */
  locate?: LocateEvent
  onProgress?: (progress: VerifyProgress) => void
  pageSize?: number
}

const clipped = (text: string): string => (text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}…` : text)

function parse(event: RecordedEvent, reasons: string[]): StoredEvent | undefined {
  try {
    return toStoredEvent(event)
  } catch (error) {
    reasons.push(`it does not parse: ${clipped(error instanceof Error ? error.message : String(error))}`)
    return undefined
  }
}

/**
 * One pass over the log: each event goes through the chain, the seal, the replay and the audit
 * trail's and the balance history's comparisons, and the chain breaks found on the way are listed.
 */
class LogWalk {
  private readonly chain = new ChainCheck()
  private readonly replay: Replay
  private readonly seal: SealCheck | undefined
  private readonly breaks = new Listing<ChainBreak>()
  readonly historyMismatches = new Listing<HistoryMismatch>()
  readonly history: BalanceHistoryCheck
  eventsChecked = 0

  constructor(
    private readonly snapshot: ReadModelSnapshot,
    seal: Seal | undefined,
    readonly audit: AuditTrailCheck,
    history: { db: SqlDatabase; checkpoint: Position; pageSize: number },
  ) {
    this.history = new BalanceHistoryCheck(history.db, history.checkpoint, history.pageSize, ({ position, field, expected, actual }) =>
      this.historyMismatches.add({ position, field: clipped(field), expected: clipped(expected), actual: clipped(actual) }),
    )
    this.replay = new Replay(snapshot, history.checkpoint)
    this.seal = seal === undefined ? undefined : new SealCheck(seal)
  }

  check(event: RecordedEvent): void {
    const reasons: string[] = []
    const link = this.chain.check(event, reasons)
    const { position, streamId, revision, id } = event
    this.seal?.observe({ position, streamId, revision, eventId: id }, link, recordedAtOf(event.metadata))
    this.audit.expect(position, event)
    this.replay.reach(position)
    const stored = parse(event, reasons)
    const problem = stored && this.replay.apply(stored)
    if (problem !== undefined) reasons.push(problem)
    else if (stored !== undefined && isBudgetEvent(stored.event)) {
      // The history has a row for each event from the budget's opening on (its allocation or a carried-in commitment).
      const { year, sozialraum } = stored.event.data
      const figures = this.replay.figuresOf(year, sozialraum)
      if (figures?.exists) this.history.expect(year, sozialraum, position, figures)
    }
    if (reasons.length > 0) {
      this.breaks.add({ position: position.toString(), streamId, revision: String(revision), eventId: id, reason: reasons.join('; ') })
    }
    this.eventsChecked += 1
  }

  /** An event the store cannot read, as far as `locate` named it. */
  unreadable(located: LocatedEvent): void {
    const reasons = [
      typeof located.revision === 'string'
        ? `it cannot be read: its revision ${clipped(located.revision)} is not an integer`
        : 'it cannot be read: its data or metadata is not JSON',
    ]
    this.chain.unreadable(located, reasons)
    this.seal?.observe(located, undefined, undefined)
    this.audit.expect(located.position, undefined)
    this.replay.reach(located.position)
    const { position, streamId, revision, eventId } = located
    this.breaks.add({ position: position.toString(), streamId, revision: clipped(revision.toString()), eventId, reason: reasons.join('; ') })
    this.eventsChecked += 1
  }

  /** The store cannot even name the event after `after`: the walk stops there. */
  stopped(after: Position): void {
    this.breaks.add({
      position: (after + 1n).toString(),
      streamId: 'unknown',
      revision: 'unknown',
      reason: `the event after position ${after} cannot be read, and this store cannot say which it is: the verify stopped there`,
    })
  }

  /**
   * The read models' checkpoints were read before the head: none can be beyond it, unless events
   * were removed from the end of the log (or the log restored from an older copy without its read
   * models). The events removed may be ones no compared read model shows (a registration, a year's
   * close, an export), so this is said whether or not any figure differs.
   */
  checkTail(head: Position): void {
    const furthest = [this.audit.checkpoint, this.history.checkpoint, ...Object.values(this.snapshot.checkpoints)].reduce((max, at) => (at > max ? at : max), START)
    if (furthest <= head) return
    this.breaks.add({
      position: (head + 1n).toString(),
      streamId: 'unknown',
      revision: 'unknown',
      reason: `the read models have processed the log up to position ${furthest}, beyond its head ${head}: events were removed from its end, or it was restored from an older copy`,
    })
  }

  report(head: Position): VerifyReport {
    this.replay.finish()
    const sealReport = this.seal?.finish()
    const { breaks, snapshot } = this
    const brokenAt = breaks.items[0]
    const chain = { ok: breaks.found === 0, ...(brokenAt ? { brokenAt } : {}), breaks: breaks.items, breaksFound: breaks.found }
    const { mismatches } = this.replay
    const auditTrail = this.audit.report()
    const { items, found } = this.historyMismatches
    const balanceHistory = { ok: found === 0, comparedAt: this.history.checkpoint.toString(), mismatches: items, mismatchesFound: found }
    return {
      ok: chain.ok && mismatches.found === 0 && (sealReport?.ok ?? true) && auditTrail.ok && balanceHistory.ok,
      eventsChecked: this.eventsChecked,
      head: head.toString(),
      comparedAt: {
        balances: snapshot.checkpoints.balances.toString(),
        commitments: snapshot.checkpoints.commitments.toString(),
        spending: snapshot.checkpoints.spending.toString(),
      },
      mismatches: mismatches.items,
      mismatchesFound: mismatches.found,
      chain,
      ...(sealReport ? { seal: sealReport } : {}),
      auditTrail,
      balanceHistory,
    }
  }
}

/** Verifies the whole log up to its head as the verify starts; see the top of this file. */
export async function verifyLog(options: VerifyOptions): Promise<VerifyReport> {
  const snapshot = await loadReadModels(options.db)
  const pageSize = Math.min(options.pageSize ?? VERIFY_PAGE_SIZE, MAX_READ_COUNT)
  // Read before the head: the audit projection cannot have processed an event the head does not cover.
  const audit = new AuditTrailCheck(options.db, await readCheckpoint(options.db, 'audit'), pageSize)
  const history = { db: options.db, checkpoint: await readCheckpoint(options.db, 'balance-history'), pageSize }
  const head = await options.store.headPosition()
  const walk = new LogWalk(snapshot, options.seal, audit, history)
  let after: Position = START
  let complete = true
  while (after < head) {
    const page = await readPage(options.store, after, pageSize, options.locate)
    for (const event of page.events) {
      if (event.position > head) break
      walk.check(event)
    }
    after = page.events.length > 0 ? (page.events[page.events.length - 1]?.position ?? head) : head
    if (page.unreadable === 'unknown') {
      walk.stopped(after)
      complete = false
      break
    }
    if (page.unreadable !== undefined) {
      if (page.unreadable.position > head) break
      walk.unreadable(page.unreadable)
      after = page.unreadable.position
    }
    await audit.compareThrough(after < head ? after : head)
    await walk.history.compareThrough(after < head ? after : head)
    options.onProgress?.({ eventsChecked: walk.eventsChecked, position: after < head ? after : head, head })
    await yieldToEventLoop()
  }
  // Rows past the last event, up to the checkpoint (beyond the head too), have no event; unless the walk stopped short of them.
  if (complete) {
    await audit.compareThrough(audit.checkpoint)
    await walk.history.finish()
    walk.checkTail(head)
  } else {
    await audit.compareThrough(after)
    await walk.history.compareThrough(after)
  }
  return walk.report(head)
}

// ---------------------------------------------------------------------------------------------
// The service's verifier: one verify at a time, seals on demand

export interface LogVerifierOptions {
  store: EventStore
  db: SqlDatabase
  /** The key seals are signed with (loadSealKey). */
  sealKey: string
  clock: () => Date
  locate?: LocateEvent
}

export type VerifyStart =
  | { kind: 'started'; report: Promise<VerifyReport> }
  | { kind: 'busy' }
  | { kind: 'forged'; reason: string }

export class LogVerifier {
  private running: Promise<VerifyReport> | undefined
  private sealing: Promise<Seal> | undefined

  constructor(private readonly options: LogVerifierOptions) {}

  /** Starts a verify, unless one is under way or the seal is not one this service made. */
  verify(seal?: Seal): VerifyStart {
    const forged = seal === undefined ? undefined : sealForgery(seal, this.options.sealKey)
    if (forged !== undefined) return { kind: 'forged', reason: forged }
    if (this.running) return { kind: 'busy' }
    const { store, db, locate } = this.options
    const report = verifyLog({ store, db, ...(seal ? { seal } : {}), ...(locate ? { locate } : {}) })
    this.running = report
    const clear = () => {
      this.running = undefined
    }
    report.then(clear, clear)
    return { kind: 'started', report }
  }

  /** A seal of the log as it is now; requests that arrive while one is taken share it. */
  seal(): Promise<Seal> {
    if (!this.sealing) {
      const clear = () => {
        this.sealing = undefined
      }
      this.sealing = takeSeal(this.options.store, this.options.sealKey, this.options.clock)
      this.sealing.then(clear, clear)
    }
    return this.sealing
  }
}

import type { Logger } from 'pino'
import { availableCents, carryOverOf, carriesAnything, type BudgetState } from '../domain/budget/index.js'
import { LINES, type Actor, type EventDataOf, type Line } from '../domain/events.js'
import { DomainError } from '../domain/errors.js'
import { formatCents } from '../domain/money.js'
import type { EventStore, Position } from '../eventstore/port.js'
import type { FiscalYearQueries, MoveView } from '../readmodels/fiscal-years.js'
import type { CommandContext } from './command-handler.js'
import type { BudgetOutcome, Ledger } from './ledger.js'

/**
 * The processes that span several streams (docs/domain.md rules 8 and 9; docs/fiscal-year.md):
 * the year close and moves between Sozialräume. No store here writes several streams in one
 * transaction, so each process is a sequence of steps, each one an append to one stream that
 * records what it did. Before a step, the process reads the stream and skips the step if the
 * stream records it done; the append expects the revision it read, so that of two runs of one
 * step (a retry, a restart after a crash, a second process) exactly one is written. A process can
 * therefore stop anywhere and be run again from the start, as often as needed.
 */

/** A step ran into something it cannot get past by trying again at once (it is retried on the next round). */
export class ProcessStepError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProcessStepError'
  }
}

/** The steps are written on behalf of who asked: the close's approver, the move's requester. */
function stepContext(actor: Actor, correlationId: string): CommandContext {
  return { actor, correlationId, causationId: correlationId, idempotencyKey: null, requestHash: null, expectedRevision: undefined }
}

/**
 * Runs a step unless `done` says the stream has it already. A refusal is read again: another run
 * of the same step may have come first, which is fine; any other refusal stops the process.
 */
async function step(
  read: () => Promise<BudgetState>,
  done: (state: BudgetState) => boolean,
  write: () => Promise<BudgetOutcome>,
  what: string,
): Promise<{ state: BudgetState; position?: Position }> {
  const before = await read()
  if (done(before)) return { state: before }
  const outcome = await write()
  if (outcome.kind === 'written' || outcome.kind === 'replayed') return { state: outcome.state, position: outcome.position }
  const after = await read()
  if (done(after)) return { state: after }
  const reason = outcome.kind === 'rejected' ? outcome.error.message : outcome.kind
  throw new ProcessStepError(`${what}: ${reason}`)
}

export type MoveToFinish = Pick<MoveView, 'id' | 'year' | 'from' | 'to' | 'amount' | 'reason'> & { amountCents: bigint }

export interface MoveEnd {
  ended: 'completed' | 'reverted'
  /** The position of the last step this call wrote, if it wrote one. */
  position: Position | undefined
}

/**
 * Finishes a debited move: credits the target, or, when the target has refused it for good (its
 * refusal is recorded, or it is closed), credits the source back. Answers how the move ended.
 */
export async function finishMove(ledger: Ledger, move: MoveToFinish, actor: Actor): Promise<MoveEnd> {
  const context = stepContext(actor, `move-${move.id}`)
  const target = () => ledger.readBudget(move.year, move.to.sozialraum).then((read) => read.state)
  const settled = (state: BudgetState) => state.incomingMoves.has(move.id) || state.closed
  const credit = await step(
    target,
    settled,
    () =>
      ledger.executeBudget(
        move.year,
        move.to.sozialraum,
        { type: 'CreditMove', moveId: move.id, line: move.to.line, amountCents: move.amountCents, from: move.from, reason: move.reason },
        context,
      ),
    `move ${move.id} to ${move.to.sozialraum}`,
  )
  const targetState = credit.state
  if (targetState.incomingMoves.get(move.id) === 'credited') return { ended: 'completed', position: credit.position }
  const why = targetState.closed
    ? `budget ${move.year} of ${move.to.sozialraum} is closed`
    : `budget ${move.year} of ${move.to.sozialraum} refused the move`
  const revert = await step(
    () => ledger.readBudget(move.year, move.from.sozialraum).then((read) => read.state),
    (state) => state.outgoingMoves.get(move.id)?.reverted === true,
    () => ledger.executeBudget(move.year, move.from.sozialraum, { type: 'RevertMove', moveId: move.id, why }, context),
    `reverting move ${move.id} to ${move.from.sozialraum}`,
  )
  return { ended: 'reverted', position: revert.position ?? credit.position }
}

type CloseTotals = Omit<EventDataOf<'YearClosed'>, 'year'>

/** What a closed budget adds to the year's totals; what is left on a line that was not carried lapsed. */
function addTotals(totals: CloseTotals, closed: BudgetState): CloseTotals {
  const carry = carryOverOf(closed)
  const lapsed = LINES.reduce((sum, line: Line) => {
    const left = availableCents(closed.lines[line])
    return left > 0n ? sum + left : sum
  }, 0n)
  const carried = carry.commitments.reduce((sum, item) => sum + item.amountCents, 0n)
  const unspent = LINES.reduce((sum, line) => sum + carry.unspent[line], 0n)
  return {
    budgets: totals.budgets + 1,
    carriedCommitments: totals.carriedCommitments + carry.commitments.length,
    carriedCents: totals.carriedCents + Number(carried),
    allocationCarriedCents: totals.allocationCarriedCents + Number(LINES.reduce((sum, line) => sum + carry.allocation[line], 0n)),
    unspentCarriedCents: totals.unspentCarriedCents + Number(unspent),
    lapsedCents: totals.lapsedCents + Number(lapsed),
  }
}

export interface YearCloseOptions {
  ledger: Ledger
  queries: FiscalYearQueries
  store: EventStore
  /** Resolves true once the named read models have reached the position. */
  waitFor(position: Position, timeoutMs: number, projections: readonly string[]): Promise<boolean>
}

/** The read models the close lists its work from: the year's budgets, its unsettled moves, and what the previous year's close left unfinished. */
const CLOSE_READ_MODELS = ['balances', 'moves', 'commitments', 'fiscal-years'] as const
const READ_MODEL_WAIT_MS = 10_000
/** The read models a round lists its work from: the moves in transit and the years being closed. */
const ROUND_READ_MODELS = ['moves', 'fiscal-years'] as const
/** Rounds over the year's budgets before the close gives up for now (a budget appearing each round). */
const MAX_ROUNDS = 5

/**
 * Closes an approved year: settles its moves in transit, closes each budget and has the next
 * year's budget of the same Sozialraum receive what it carried, then records the year closed.
 * Budgets are listed from the read model once it has caught up with the log; a round that finds
 * every budget closed already ends the close, so that a budget that got its first allocation
 * while the close was being approved is closed, too.
 */
export async function closeYear(options: YearCloseOptions, year: number): Promise<'closed' | 'not-closing'> {
  const { ledger, queries } = options
  const { state: fiscalYear } = await ledger.readYear(year)
  if (fiscalYear.status !== 'closing' || !fiscalYear.decision || !fiscalYear.request) return 'not-closing'
  const context = stepContext({ sub: fiscalYear.decision.by, role: 'finance' }, `year-close-${year}`)
  const carryUnspent = fiscalYear.request.carryUnspent
  // Years close in order (Ledger.executeYear); two approvals at the same moment are put in order here.
  if ((await ledger.readYear(year - 1)).state.status === 'closing') {
    throw new ProcessStepError(`closing ${year}: waits for the close of ${year - 1} to end`)
  }
  if ((await ledger.readYear(year + 1)).state.status === 'closed') {
    throw new ProcessStepError(`closing ${year}: ${year + 1} is closed, so nothing could carry into it`)
  }
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const head = await options.store.headPosition()
    if (!(await options.waitFor(head, READ_MODEL_WAIT_MS, CLOSE_READ_MODELS))) {
      throw new ProcessStepError(`closing ${year}: the read models have not reached position ${head}`)
    }
    // A refused move credits its source back, which a closed budget could not take: moves first.
    for (const move of await queries.unsettledMoves(year)) await finishMoveOf(ledger, move)
    // What the previous year's close left unfinished carries into this year before its budgets
    // close; a budget it opens or changes here is listed in the next round.
    let carriedLate = 0
    for (const late of await queries.unfinishedBudgetsOfClosedYears(year - 1)) {
      if (await finishLateBudget(ledger, late.year, late.sozialraum)) carriedLate += 1
    }
    let totals: CloseTotals = {
      budgets: 0,
      carriedCommitments: 0,
      carriedCents: 0,
      allocationCarriedCents: 0,
      unspentCarriedCents: 0,
      lapsedCents: 0,
    }
    let closedThisRound = 0
    // A budget that cannot close this round does not hold up the others: their carry-over reaches
    // the next year now. The year completes in a later round, once every budget has closed.
    const stuck: string[] = []
    for (const sozialraum of await queries.budgetsOfYear(year)) {
      try {
        const { state: closed, closedNow } = await closeBudget(ledger, year, sozialraum, carryUnspent, context)
        if (closedNow) closedThisRound += 1
        await receiveCarryOver(ledger, closed, context)
        totals = addTotals(totals, closed)
      } catch (error) {
        if (!(error instanceof ProcessStepError)) throw error
        stuck.push(error.message)
      }
    }
    if (stuck.length > 0) {
      throw new ProcessStepError(`closing ${year}: ${stuck.length} budget(s) did not close this round: ${stuck.slice(0, 3).join('; ')}`)
    }
    if (closedThisRound > 0 || carriedLate > 0) continue
    const outcome = await ledger.executeYear(year, { type: 'CompleteClose', totals }, context)
    if (outcome.kind === 'written' || (await ledger.readYear(year)).state.status === 'closed') return 'closed'
    throw new ProcessStepError(`closing ${year}: ${outcome.kind === 'rejected' ? outcome.error.message : outcome.kind}`)
  }
  throw new ProcessStepError(`closing ${year}: new budgets kept appearing for ${MAX_ROUNDS} rounds`)
}

/**
 * Finishes a budget of a closed year that its close did not finish: one that got its first
 * allocation after the close's last round (the allocation passed the year's check just before the
 * approval; no store here orders two streams' appends), or one closed whose carry-over the next
 * year did not receive (the process stopped between the two steps). It is closed as the close
 * would have closed it, by the close's approver and with its choice of lines to carry, and the
 * next year's budget receives what it carried; a step already done is skipped. Where the next
 * year, or its budget of the Sozialraum, is closed, nothing could carry into it: an open budget
 * stays open, and a carry not received stays so, visible in the year's figures. The year's
 * totals (YearClosed) stay as recorded; the budget's own BudgetClosed records the late close.
 * Resolves whether it finished the budget (another run may have written the steps).
 */
export async function finishLateBudget(ledger: Ledger, year: number, sozialraum: string): Promise<boolean> {
  const { state: fiscalYear } = await ledger.readYear(year)
  if (fiscalYear.status !== 'closed' || !fiscalYear.decision || !fiscalYear.request) return false
  const { state: budget } = await ledger.readBudget(year, sozialraum)
  const received = (await ledger.readBudget(year + 1, sozialraum)).state
  if (budget.closed && (!carriesAnything(carryOverOf(budget)) || received.carriedInFrom.has(year))) return false
  const nextYear = (await ledger.readYear(year + 1)).state.status
  // Nothing could carry there any more. An open budget stays open; a carry that was not received
  // stays visible in the year's figures (carried, received). Blocking a close on it would get none
  // of it back.
  if (nextYear === 'closed' || received.closed) return false
  const context = stepContext({ sub: fiscalYear.decision.by, role: 'finance' }, `year-close-${year}`)
  const { state: closed } = await closeBudget(ledger, year, sozialraum, fiscalYear.request.carryUnspent, context)
  await receiveCarryOver(ledger, closed, context)
  return true
}

function finishMoveOf(ledger: Ledger, move: MoveView & { amountCents: bigint }): Promise<MoveEnd> {
  return finishMove(ledger, move, { sub: move.requestedBy, role: 'finance' })
}

/** How often a budget's close is tried again when a write came between its check and its close. */
const CLOSE_ATTEMPTS = 5

/**
 * Closes a budget once every move it sent is settled: a move still in transit may have to credit
 * it back, which a closed budget could not take. The close expects the revision at which the
 * moves were seen settled, so that a move debited after that check makes it look again.
 */
async function closeBudget(
  ledger: Ledger,
  year: number,
  sozialraum: string,
  carryUnspent: readonly Line[],
  context: CommandContext,
): Promise<{ state: BudgetState; closedNow: boolean }> {
  for (let attempt = 1; attempt <= CLOSE_ATTEMPTS; attempt++) {
    const { state, revision } = await ledger.readBudget(year, sozialraum)
    if (state.closed) return { state, closedNow: attempt > 1 }
    if (await settleOutgoingMoves(ledger, state, context.actor)) continue
    const outcome = await ledger.executeBudget(year, sozialraum, { type: 'CloseBudget', carryUnspent }, { ...context, expectedRevision: revision })
    if (outcome.kind === 'written' || outcome.kind === 'replayed') return { state: outcome.state, closedNow: true }
    if (outcome.kind === 'rejected' && outcome.error.code !== 'year-closed') {
      throw new ProcessStepError(`closing budget ${year} of ${sozialraum}: ${outcome.error.message}`)
    }
  }
  throw new ProcessStepError(`closing budget ${year} of ${sozialraum}: it kept changing for ${CLOSE_ATTEMPTS} attempts`)
}

/** Finishes every move the budget sent that its target has not credited and the budget not taken back; answers whether there was one. */
async function settleOutgoingMoves(ledger: Ledger, source: BudgetState, actor: Actor): Promise<boolean> {
  let settled = false
  for (const [id, move] of source.outgoingMoves) {
    if (move.reverted) continue
    const target = await ledger.readBudget(source.year, move.to.sozialraum)
    if (target.state.incomingMoves.get(id) === 'credited') continue
    const from = { sozialraum: source.sozialraum, line: move.line }
    const amount = formatCents(move.amountCents)
    await finishMove(ledger, { id, year: source.year, from, to: move.to, amount, amountCents: move.amountCents, reason: move.reason }, actor)
    settled = true
  }
  return settled
}

async function receiveCarryOver(ledger: Ledger, closed: BudgetState, context: CommandContext): Promise<void> {
  const carry = carryOverOf(closed)
  if (!carriesAnything(carry)) return
  const year = closed.year + 1
  await step(
    () => ledger.readBudget(year, closed.sozialraum).then((read) => read.state),
    (state) => state.carriedInFrom.has(closed.year),
    () => ledger.executeBudget(year, closed.sozialraum, { type: 'ReceiveCarryOver', carry }, context),
    `carrying ${closed.year} of ${closed.sozialraum} into ${year}`,
  )
}

export interface ProcessRunnerOptions extends YearCloseOptions {
  logger: Logger
  /** Whether this process runs the processes now: the one that projects (several would be safe, only wasteful). */
  isLeader(): boolean
  intervalMs?: number
}

/**
 * Finishes what the processes have left: moves in transit and approved year closes, found in the
 * read models every `intervalMs` and at once after `kick()`. One round at a time; a round that
 * fails is logged and the next one tries again from the start.
 */
export class ProcessRunner {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = true

  constructor(private readonly options: ProcessRunnerOptions) {}

  start(): void {
    this.stopped = false
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 1000)
    this.timer.unref()
    this.kick()
  }

  /**
   * Runs a round soon: after the current one, if one is running. Given the position of the write
   * that asks for it (an approved close, a move left in transit), once the read models the round
   * lists its work from have processed it, or have failed to for a while: else the round would
   * often not see that write, and the work would wait for the next interval.
   */
  kick(after?: Position): void {
    if (this.stopped) return
    if (after !== undefined) {
      void this.options.waitFor(after, READ_MODEL_WAIT_MS, ROUND_READ_MODELS).then(() => this.kick())
      return
    }
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.round().finally(() => {
      this.running = undefined
      if (this.again) {
        this.again = false
        this.kick()
      }
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.running
  }

  /** Each move and each year on its own: one that cannot finish does not hold up the others. */
  private async round(): Promise<void> {
    if (!this.options.isLeader()) return
    const { queries, ledger, logger } = this.options
    const moves = await this.attempt('listing moves in transit', () => queries.unsettledMoves())
    for (const move of moves ?? []) {
      const end = await this.attempt(`finishing move ${move.id}`, () => finishMoveOf(ledger, move))
      if (end) logger.info({ move: move.id, ended: end.ended }, 'finished a move between Sozialräume')
    }
    const years = await this.attempt('listing closing years', () => queries.closingYears())
    for (const year of years ?? []) {
      if ((await this.attempt(`closing ${year}`, () => closeYear(this.options, year))) === 'closed') {
        logger.info({ year }, 'closed the fiscal year')
      }
    }
    const late = await this.attempt('listing budgets of closed years left unfinished', () => queries.unfinishedBudgetsOfClosedYears())
    for (const { year, sozialraum } of late ?? []) {
      if (await this.attempt(`finishing budget ${year} of ${sozialraum} late`, () => finishLateBudget(ledger, year, sozialraum))) {
        logger.warn({ year, sozialraum }, 'finished the close of a budget after its year closed')
      }
    }
  }

  private async attempt<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work()
    } catch (error) {
      const level = error instanceof ProcessStepError || error instanceof DomainError ? 'warn' : 'error'
      this.options.logger[level]({ err: error }, `${what} did not finish this round; it is tried again`)
      return undefined
    }
  }
}

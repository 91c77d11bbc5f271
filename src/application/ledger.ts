import {
  assertBudgetChange,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  DEFAULT_BUDGET_POLICY,
  type BudgetCommand,
  type BudgetPolicy,
  type BudgetState,
} from '../domain/budget/index.js'
import { DomainError } from '../domain/errors.js'
import {
  isBudgetEvent,
  isSozialraumEvent,
  isYearEvent,
  type BudgetEvent,
  type SozialraumEvent,
  type YearEvent,
} from '../domain/events.js'
import { decideYear, evolveYear, initialYearState, LAST_YEAR, yearTakesWrites, type YearCommand, type YearState } from '../domain/year.js'
import {
  decideSozialraum,
  evolveSozialraum,
  initialSozialraumState,
  type SozialraumCommand,
  type SozialraumState,
} from '../domain/sozialraum.js'
import { CommandHandler, type CommandContext, type CommandHandlerOptions, type WriteOutcome } from './command-handler.js'
import { IdempotencyKeyIndex, type FindIdempotentWrite } from './idempotency-keys.js'
import { budgetStreamId, sozialraumStreamId, yearStreamId } from './stored-event.js'
import type { YearOrder } from './year-order.js'

export interface LedgerOptions extends Omit<CommandHandlerOptions, 'idempotencyKeys'> {
  findIdempotentWrite?: FindIdempotentWrite
  /** The configurable rules (the four-eyes threshold); the defaults of docs/domain.md otherwise. */
  budgetPolicy?: BudgetPolicy
  /**
   * The order of the years across all of them (the service passes the read models'). Without it,
   * only the neighbouring years' streams are checked: the tests of single streams and the seed,
   * which closes no year, go without.
   */
  yearOrder?: YearOrder
}

export type BudgetOutcome = WriteOutcome<BudgetState, BudgetEvent>
export type SozialraumOutcome = WriteOutcome<SozialraumState, SozialraumEvent>
export type YearOutcome = WriteOutcome<YearState, YearEvent>

/**
 * How long a write to a budget that has events may take the year's state as this process last
 * read it. Another process's approval of the close is seen within this time plus one read; the
 * year's stream is short, so one read per year and second costs nothing measurable.
 */
export const YEAR_VIEW_MAX_AGE_MS = 1_000

/** The budget commands only the year-close and move processes issue: they run while a year closes. */
const PROCESS_STEPS: ReadonlySet<BudgetCommand['type']> = new Set(['CloseBudget', 'ReceiveCarryOver', 'CreditMove', 'RevertMove'])

/** The write side of the ledger: one command handler per kind of stream. */
export class Ledger {
  private readonly budgets: CommandHandler<BudgetState, BudgetCommand, BudgetEvent>
  private readonly sozialraeume: CommandHandler<SozialraumState, SozialraumCommand, SozialraumEvent>
  private readonly years: CommandHandler<YearState, YearCommand, YearEvent>
  private readonly yearOrder: YearOrder | undefined
  private readonly clock: () => Date
  /** When this process last read each year's stream (the clock's milliseconds). */
  private readonly yearReadAt = new Map<number, number>()

  constructor({ findIdempotentWrite, budgetPolicy = DEFAULT_BUDGET_POLICY, yearOrder, ...common }: LedgerOptions) {
    this.yearOrder = yearOrder
    this.clock = common.clock
    const options: CommandHandlerOptions = { ...common, idempotencyKeys: new IdempotencyKeyIndex(findIdempotentWrite) }
    this.budgets = new CommandHandler(
      {
        decide: (state, command) => decideBudget(state, command, budgetPolicy),
        evolve: evolveBudget,
        isEvent: isBudgetEvent,
        assertInvariants: assertBudgetChange,
      },
      options,
    )
    this.sozialraeume = new CommandHandler(
      {
        decide: decideSozialraum,
        evolve: evolveSozialraum,
        isEvent: isSozialraumEvent,
      },
      options,
    )
    this.years = new CommandHandler({ decide: decideYear, evolve: evolveYear, isEvent: isYearEvent }, options)
  }

  /**
   * Years close in order: what a close carries lands in the next year, which must still take it,
   * and a year waits for the close of the one before it to end. So a close is neither asked for
   * nor approved while the next year is closing or closed, or the previous one's close is under
   * way; nor while an earlier year with budgets, since the last closed one, is not closed (it
   * could never close after this one), nor for a year without a budget (a mistyped year would be
   * closed for good, empty).
   */
  executeYear(year: number, command: YearCommand, context: CommandContext): Promise<YearOutcome> {
    const starts = command.type === 'RequestClose' || (command.type === 'DecideClose' && command.decision === 'approve')
    const guard = starts ? () => this.checkNeighbourYears(year) : undefined
    return this.years.execute(yearStreamId(year), () => initialYearState(year), command, context, guard)
  }

  private async checkNeighbourYears(year: number): Promise<DomainError | undefined> {
    const next = (await this.readYear(year + 1)).state.status
    if (next === 'closing' || next === 'closed') {
      return new DomainError('conflict', `fiscal year ${year + 1} is ${next}: nothing could carry into it`)
    }
    const previous = (await this.readYear(year - 1)).state.status
    if (previous === 'close-requested' || previous === 'closing') {
      return new DomainError('conflict', `the close of ${year - 1} is ${previous}: it must end first`)
    }
    // The last year's close is a 400 from decideYear: it has no year to carry into.
    if (this.yearOrder === undefined || year >= LAST_YEAR) return undefined
    if (!(await this.yearOrder.hasBudgets(year))) return new DomainError('conflict', `fiscal year ${year} has no budget: there is nothing to close`)
    const earlier = await this.yearOrder.unclosedYearsBefore(year)
    if (earlier.length > 0) {
      return new DomainError('conflict', `years close in order: ${earlier.join(', ')} ${earlier.length > 1 ? 'have' : 'has'} budgets and must close first`)
    }
    return undefined
  }

  async readYear(year: number): Promise<{ state: YearState; revision: bigint | undefined }> {
    // The view is as fresh as the moment its read began, and only once that read has succeeded:
    // writes that arrive while it is under way read too, rather than trust an older cached year.
    const started = this.clock().getTime()
    const read = await this.years.read(yearStreamId(year), () => initialYearState(year))
    this.yearReadAt.set(year, Math.max(this.yearReadAt.get(year) ?? Number.NEGATIVE_INFINITY, started))
    return read
  }

  /** This process read the year's stream within YEAR_VIEW_MAX_AGE_MS (a clock set back counts as stale). */
  private yearViewFresh(year: number): boolean {
    const age = this.clock().getTime() - (this.yearReadAt.get(year) ?? Number.NEGATIVE_INFINITY)
    return age >= 0 && age < YEAR_VIEW_MAX_AGE_MS
  }

  readBudget(year: number, sozialraum: string): Promise<{ state: BudgetState; revision: bigint | undefined }> {
    return this.budgets.read(budgetStreamId(year, sozialraum), () => initialBudgetState({ year, sozialraum }))
  }

  executeSozialraum(id: string, command: SozialraumCommand, context: CommandContext): Promise<SozialraumOutcome> {
    return this.sozialraeume.execute(sozialraumStreamId(id), () => initialSozialraumState(id), command, context)
  }

  /**
   * `precondition` is asked, as the year's check is, after a retry is recognised (which gets its
   * first answer) and before the decision: what another stream must allow (a move's target).
   */
  async executeBudget(
    year: number,
    sozialraum: string,
    command: BudgetCommand,
    context: CommandContext,
    precondition?: () => Promise<DomainError | undefined>,
  ): Promise<BudgetOutcome> {
    // Registration is never undone, so checking it outside the budget's own stream is safe, and
    // a registration once seen needs no read again.
    const streamId = sozialraumStreamId(sozialraum)
    const registered =
      this.sozialraeume.cached(streamId)?.registered === true ||
      (await this.sozialraeume.read(streamId, () => initialSozialraumState(sozialraum))).state.registered
    if (!registered) {
      return { kind: 'rejected', error: new DomainError('not-found', `Sozialraum ${sozialraum} is not registered`) }
    }
    // Once a close is approved, the year's budgets take no writes but the close's and the moves'
    // own steps. A write that passed this check just before the approval is still safe: the
    // budget's close step decides on its stream's latest state, so it carries what that wrote.
    const opens = command.type === 'AllocateBudget'
    const yearTakes = (revision: bigint | undefined, state: BudgetState) => this.checkYearTakesWrites(year, revision, opens && !state.exists)
    const guard = PROCESS_STEPS.has(command.type)
      ? undefined
      : precondition === undefined
        ? yearTakes
        : async (revision: bigint | undefined, state: BudgetState) => (await yearTakes(revision, state)) ?? (await precondition())
    return this.budgets.execute(
      budgetStreamId(year, sozialraum),
      () => initialBudgetState({ year, sozialraum }),
      command,
      context,
      guard,
    )
  }

  /**
   * Asked of the cached year (no read per write) when the budget has events and this process read
   * the year within YEAR_VIEW_MAX_AGE_MS; a refusal is confirmed on the latest state. So another
   * process's approval stops this process's writes within about a second, also while the close is
   * stuck. A write that passes meanwhile is safe: the close step in the budget's stream fails its
   * append once written, and the close carries what it left. A budget without events has no such
   * step, so its first write reads the year (else a process that saw the year open would open
   * budgets in it after its close). And no year before a closing or closed one opens a budget
   * (`opensBudget`: the first allocation of a budget), which it could never close.
   */
  private async checkYearTakesWrites(year: number, budgetRevision: bigint | undefined, opensBudget: boolean): Promise<DomainError | undefined> {
    const cached = this.years.cached(yearStreamId(year))
    const trusted = budgetRevision !== undefined && !opensBudget && cached !== undefined && this.yearViewFresh(year)
    if (trusted && yearTakesWrites(cached)) return undefined
    const { state } = await this.readYear(year)
    if (!yearTakesWrites(state)) return new DomainError('year-closed', `fiscal year ${year} is ${state.status}`)
    if (!opensBudget || this.yearOrder === undefined) return undefined
    const later = await this.yearOrder.closingYearAfter(year)
    return later === undefined
      ? undefined
      : new DomainError('year-closed', `fiscal year ${later.year} is ${later.status}: ${year}, before it, opens no new budget`)
  }
}

import {
  assertBudgetInvariants,
  decideBudget,
  evolveBudget,
  initialBudgetState,
  DEFAULT_BUDGET_POLICY,
  type BudgetCommand,
  type BudgetPolicy,
  type BudgetState,
} from '../domain/budget/index.js'
import { DomainError } from '../domain/errors.js'
import { isBudgetEvent, isSozialraumEvent, type BudgetEvent, type SozialraumEvent } from '../domain/events.js'
import {
  decideSozialraum,
  evolveSozialraum,
  initialSozialraumState,
  type SozialraumCommand,
  type SozialraumState,
} from '../domain/sozialraum.js'
import { CommandHandler, type CommandContext, type CommandHandlerOptions, type WriteOutcome } from './command-handler.js'
import { IdempotencyKeyIndex, type FindIdempotentWrite } from './idempotency-keys.js'
import { budgetStreamId, sozialraumStreamId } from './stored-event.js'

export interface LedgerOptions extends Omit<CommandHandlerOptions, 'idempotencyKeys'> {
  findIdempotentWrite?: FindIdempotentWrite
  /** The configurable rules (the four-eyes threshold); the defaults of docs/domain.md otherwise. */
  budgetPolicy?: BudgetPolicy
}

export type BudgetOutcome = WriteOutcome<BudgetState, BudgetEvent>
export type SozialraumOutcome = WriteOutcome<SozialraumState, SozialraumEvent>

/** The write side of the ledger: one command handler per kind of stream. */
export class Ledger {
  private readonly budgets: CommandHandler<BudgetState, BudgetCommand, BudgetEvent>
  private readonly sozialraeume: CommandHandler<SozialraumState, SozialraumCommand, SozialraumEvent>

  constructor({ findIdempotentWrite, budgetPolicy = DEFAULT_BUDGET_POLICY, ...common }: LedgerOptions) {
    const options: CommandHandlerOptions = { ...common, idempotencyKeys: new IdempotencyKeyIndex(findIdempotentWrite) }
    this.budgets = new CommandHandler(
      {
        decide: (state, command) => decideBudget(state, command, budgetPolicy),
        evolve: evolveBudget,
        isEvent: isBudgetEvent,
        assertInvariants: assertBudgetInvariants,
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
  }

  executeSozialraum(id: string, command: SozialraumCommand, context: CommandContext): Promise<SozialraumOutcome> {
    return this.sozialraeume.execute(sozialraumStreamId(id), () => initialSozialraumState(id), command, context)
  }

  async executeBudget(
    year: number,
    sozialraum: string,
    command: BudgetCommand,
    context: CommandContext,
  ): Promise<BudgetOutcome> {
    // Registration is never undone, so checking it outside the budget's own stream is safe.
    const registration = await this.sozialraeume.read(sozialraumStreamId(sozialraum), () =>
      initialSozialraumState(sozialraum),
    )
    if (!registration.state.registered) {
      return { kind: 'rejected', error: new DomainError('not-found', `Sozialraum ${sozialraum} is not registered`) }
    }
    return this.budgets.execute(
      budgetStreamId(year, sozialraum),
      () => initialBudgetState({ year, sozialraum }),
      command,
      context,
    )
  }
}

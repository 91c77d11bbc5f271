import { DomainError } from '../errors.js'
import type { BudgetEvent } from '../events.js'
import { formatCents, MAX_AMOUNT_CENTS } from '../money.js'
import { decideApproval } from './approvals.js'
import { decideCloseBudget, decideReceiveCarryOver } from './carry-over.js'
import { decideCreditMove, decideDebitMove, decideRevertMove } from './moves.js'
import type { BudgetCommand } from './commands.js'
import { decideAmendment, decideCreateCommitment, decideInvoice, decideRelease } from './commitments.js'
import { checkBalanceLimits } from './limits.js'
import { decideAdjustment, decideAllocation, decideTransfer } from './lines.js'
import { decideReversal, decideSpending } from './spending.js'
import { DEFAULT_BUDGET_POLICY, type BudgetPolicy, type BudgetState } from './state.js'

/**
 * Checks a command against the budget's state and answers with the events it leads to, or with
 * the DomainError of the first rule it breaks; nothing else happens. The limit on balances
 * (MAX_BALANCE_CENTS) is checked last, on the state those events would lead to (not for a revert).
 */
export function decideBudget(
  state: BudgetState,
  command: BudgetCommand,
  policy: BudgetPolicy = DEFAULT_BUDGET_POLICY,
): BudgetEvent[] | DomainError {
  const events = decideCommand(state, command, policy)
  if (events instanceof DomainError) return events
  // A revert gives back what its move took, which the limit counted as allocated all along
  // (movedOutCents). A stream written before it did (0.12.5) may be past the limit: the money goes
  // back all the same, else the move stays in transit and the year's close waits for it for ever.
  if (command.type === 'RevertMove') return events
  return checkBalanceLimits(state, events) ?? events
}

/** What every command must pass before its own rules are asked. */
function checkPreconditions(state: BudgetState, command: BudgetCommand): DomainError | undefined {
  if (state.closed) return new DomainError('year-closed', `fiscal year ${state.year} is closed`)
  // A carry-over or a move may be what gives a budget its first money (a move refuses then).
  const opens = command.type === 'AllocateBudget' || command.type === 'ReceiveCarryOver' || command.type === 'CreditMove'
  if (!opens && !state.exists) {
    return new DomainError('not-found', `budget ${state.year} of ${state.sozialraum} has no allocation yet`)
  }
  if ('amountCents' in command && (command.amountCents > MAX_AMOUNT_CENTS || command.amountCents < -MAX_AMOUNT_CENTS)) {
    return new DomainError('validation', `an amount must not exceed ${formatCents(MAX_AMOUNT_CENTS)} in magnitude`, 'amount')
  }
  return undefined
}

function decideCommand(state: BudgetState, command: BudgetCommand, policy: BudgetPolicy): BudgetEvent[] | DomainError {
  const refused = checkPreconditions(state, command)
  if (refused) return refused
  const key = { year: state.year, sozialraum: state.sozialraum }
  switch (command.type) {
    case 'AllocateBudget':
      return decideAllocation(key, command)
    case 'AdjustBudget':
      return decideAdjustment(state, key, command)
    case 'TransferBudget':
      return decideTransfer(state, key, command)
    case 'CreateCommitment':
      return decideCreateCommitment(state, key, command, policy)
    case 'AmendCommitment':
      return decideAmendment(state, key, command, policy)
    case 'DecideApproval':
      return decideApproval(state, key, command)
    case 'BookInvoice':
      return decideInvoice(state, key, command)
    case 'ReleaseCommitment':
      return decideRelease(state, key, command)
    case 'RecordSpending':
      return decideSpending(state, key, command)
    case 'ReverseSpending':
      return decideReversal(state, key, command)
    case 'CloseBudget':
      return decideCloseBudget(state, key, command)
    case 'ReceiveCarryOver':
      return decideReceiveCarryOver(state, key, command)
    case 'DebitMove':
      return decideDebitMove(state, key, command)
    case 'CreditMove':
      return decideCreditMove(state, key, command)
    case 'RevertMove':
      return decideRevertMove(state, key, command)
  }
}

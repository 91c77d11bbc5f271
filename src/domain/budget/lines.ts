import { DomainError } from '../errors.js'
import type { BudgetEvent } from '../events.js'
import { centsToJson } from '../money.js'
import type { CommandOf } from './commands.js'
import { checkFunds } from './funds.js'
import type { BudgetKey, BudgetState } from './state.js'

/** The money a budget's lines are given: allocations, adjustments and transfers between them. */

export function decideAllocation(key: BudgetKey, command: CommandOf<'AllocateBudget'>): BudgetEvent[] | DomainError {
  if (command.amountCents <= 0n) return new DomainError('validation', 'an allocation must be positive', 'amount')
  return [
    {
      type: 'BudgetAllocated',
      data: {
        ...key,
        line: command.line,
        amountCents: centsToJson(command.amountCents),
        decisionRef: command.decisionRef,
        ...(command.note === undefined ? {} : { note: command.note }),
        kind: 'allocation',
      },
    },
  ]
}

export function decideAdjustment(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'AdjustBudget'>,
): BudgetEvent[] | DomainError {
  if (command.amountCents === 0n) return new DomainError('validation', 'an adjustment must not be zero', 'amount')
  if (command.amountCents < 0n) {
    const short = checkFunds(state, command.line, -command.amountCents)
    if (short) return short
  }
  return [
    {
      type: 'BudgetAdjusted',
      data: { ...key, line: command.line, amountCents: centsToJson(command.amountCents), reason: command.reason },
    },
  ]
}

export function decideTransfer(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'TransferBudget'>,
): BudgetEvent[] | DomainError {
  if (command.fromLine === command.toLine) {
    return new DomainError('validation', 'a transfer moves money between two different lines', 'toLine')
  }
  if (command.amountCents <= 0n) return new DomainError('validation', 'a transfer must be positive', 'amount')
  const short = checkFunds(state, command.fromLine, command.amountCents)
  if (short) return short
  return [
    {
      type: 'BudgetTransferred',
      data: {
        ...key,
        fromLine: command.fromLine,
        toLine: command.toLine,
        amountCents: centsToJson(command.amountCents),
        reason: command.reason,
      },
    },
  ]
}

import { DomainError } from '../errors.js'
import type { BudgetEvent } from '../events.js'
import { centsToJson } from '../money.js'
import type { CommandOf } from './commands.js'
import { checkFunds } from './funds.js'
import type { BudgetKey, BudgetState } from './state.js'

/** Flexible spending with no commitment before it, and its reversal (rules 1 and 5). */

export function decideSpending(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'RecordSpending'>,
): BudgetEvent[] | DomainError {
  if (state.spendings.has(command.spendingId)) {
    return new DomainError('conflict', `spending ${command.spendingId} exists already`)
  }
  if (command.amountCents <= 0n) return new DomainError('validation', 'a spending must be positive', 'amount')
  if (!command.date.startsWith(`${state.year}-`)) {
    return new DomainError('validation', `the spending date must fall in fiscal year ${state.year}`, 'date')
  }
  const short = checkFunds(state, 'flexible', command.amountCents)
  if (short) return short
  return [
    {
      type: 'SpendingRecorded',
      data: {
        ...key,
        spendingId: command.spendingId,
        amountCents: centsToJson(command.amountCents),
        purpose: command.purpose,
        ...(command.category === undefined ? {} : { category: command.category }),
        receiptRef: command.receiptRef,
        date: command.date,
      },
    },
  ]
}

export function decideReversal(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'ReverseSpending'>,
): BudgetEvent[] | DomainError {
  const spending = state.spendings.get(command.spendingId)
  if (!spending) {
    return new DomainError('not-found', `spending ${command.spendingId} does not exist in this budget`)
  }
  if (spending.reversed) return new DomainError('conflict', `spending ${spending.id} is reversed already`)
  return [
    {
      type: 'SpendingReversed',
      data: { ...key, spendingId: spending.id, amountCents: centsToJson(spending.amountCents), reason: command.reason },
    },
  ]
}

import { DomainError } from '../errors.js'
import type { Line } from '../events.js'
import { formatCents, type Cents } from '../money.js'
import { availableCents, type BudgetState } from './state.js'

/** Rule 1, shared by every command that takes money from a line. */

/** A command may lower a line's available amount only as far as zero (DOMAIN rule 1). */
export function checkFunds(state: BudgetState, line: Line, decreaseCents: Cents): DomainError | undefined {
  const available = availableCents(state.lines[line])
  if (available - decreaseCents >= 0n) return undefined
  return new DomainError(
    'insufficient-funds',
    `the ${line} line has ${formatCents(available)} available, ${formatCents(decreaseCents)} needed`,
  )
}

/**
 * Rule 1 for money a commitment reserves: within the line's available funds, or, for an
 * ambulatory commitment with a non-blank justification, over budget.
 */
export function fundsForCommitment(
  state: BudgetState,
  line: Line,
  increaseCents: Cents,
  justification: string | undefined,
): { overBudget: boolean } | DomainError {
  const short = checkFunds(state, line, increaseCents)
  if (!short) return { overBudget: false }
  if (line !== 'ambulatory') return short
  if (justification === undefined || justification.trim() === '') {
    return new DomainError(
      'insufficient-funds',
      `${short.message}; an ambulatory commitment beyond the line needs an over-budget justification`,
    )
  }
  return { overBudget: true }
}

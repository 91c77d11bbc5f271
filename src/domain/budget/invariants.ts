import type { Line } from '../events.js'
import type { Cents } from '../money.js'
import { availableCents, remainingCents, type BudgetState } from './state.js'

/**
 * The ledger's invariant, asserted after every event: each line's committed amount is the sum of
 * the open remainders of its commitments. A failure means a bug, never bad input.
 */
export function assertBudgetInvariants(state: BudgetState): void {
  const committed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of state.commitments.values()) {
    const remaining = remainingCents(commitment)
    if (remaining < 0n) throw new Error(`invariant broken: commitment ${commitment.id} has a negative remainder`)
    if (commitment.status === 'rejected' && remaining !== 0n) {
      throw new Error(`invariant broken: rejected commitment ${commitment.id} still reserves funds`)
    }
    if (commitment.approvedTerms.amountCents > commitment.amountCents) {
      throw new Error(`invariant broken: commitment ${commitment.id} has more approved than committed`)
    }
    if ((commitment.status === 'requested') !== (commitment.requestedBy !== undefined)) {
      throw new Error(`invariant broken: commitment ${commitment.id} is ${commitment.status} with requester ${commitment.requestedBy}`)
    }
    if (commitment.status === 'open' && commitment.approvedTerms.amountCents !== commitment.amountCents) {
      throw new Error(`invariant broken: open commitment ${commitment.id} has unapproved terms`)
    }
    committed[commitment.line] += remaining
  }
  for (const line of ['ambulatory', 'flexible'] as const) {
    if (state.lines[line].committedCents !== committed[line]) {
      throw new Error(`invariant broken: ${line} committed ${state.lines[line].committedCents} ≠ ${committed[line]}`)
    }
    if (state.lines[line].spentCents < 0n) throw new Error(`invariant broken: ${line} spent is negative`)
  }
  if (availableCents(state.lines.flexible) < 0n) throw new Error('invariant broken: the flexible line is below zero')
}

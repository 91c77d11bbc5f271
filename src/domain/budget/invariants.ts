import type { BudgetEvent, Line } from '../events.js'
import type { Cents } from '../money.js'
import { availableCents, overBudgetMoved, overBudgetShareOf, remainingCents, type BudgetState, type CommitmentState, type OverBudgetSummary } from './state.js'

const LINES: readonly Line[] = ['ambulatory', 'flexible']

/**
 * The ledger's invariant: each line's committed amount is the sum of the open remainders of its
 * commitments, the over-budget summary counts exactly the commitments it says, and each commitment
 * is consistent in itself. A failure means a bug, never bad input.
 * This sweeps every commitment (tests, the seed); a write checks only what it touched
 * (assertBudgetChange).
 */
export function assertBudgetInvariants(state: BudgetState): void {
  const committed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  const overBudget: OverBudgetSummary = { commitments: 0, amountCents: 0n }
  for (const commitment of state.commitments.values()) {
    assertCommitment(commitment)
    committed[commitment.line] += remainingCents(commitment)
    const share = overBudgetShareOf(commitment)
    if (share === undefined) continue
    overBudget.commitments += 1
    overBudget.amountCents += share
  }
  assertOverBudget(state.overBudget, overBudget)
  for (const line of LINES) {
    if (state.lines[line].committedCents !== committed[line]) {
      throw new Error(`invariant broken: ${line} committed ${state.lines[line].committedCents} ≠ ${committed[line]}`)
    }
  }
  assertLines(state)
}

/**
 * The same invariant for a write, in time proportional to its events, not to the budget's
 * commitments: given that it held before, it holds after exactly when every commitment the events
 * name is consistent, no other commitment appeared, and each line's committed amount moved by what
 * the remainders of those commitments moved.
 */
export function assertBudgetChange(before: BudgetState, after: BudgetState, events: readonly BudgetEvent[]): void {
  const touched = new Set<string>()
  for (const event of events) if ('commitmentId' in event.data) touched.add(event.data.commitmentId)
  const moved: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  let overBudget = before.overBudget
  let opened = 0
  for (const id of touched) {
    const commitment = after.commitments.get(id)
    const earlier = before.commitments.get(id)
    if (commitment === undefined) throw new Error(`invariant broken: commitment ${id} is gone`)
    if (earlier !== undefined && earlier.line !== commitment.line) throw new Error(`invariant broken: commitment ${id} changed its line`)
    assertCommitment(commitment)
    moved[commitment.line] += remainingCents(commitment) - (earlier === undefined ? 0n : remainingCents(earlier))
    if (earlier === undefined) opened += 1
    overBudget = overBudgetMoved(overBudget, earlier, commitment)
  }
  assertOverBudget(after.overBudget, overBudget)
  if (after.commitments.size !== before.commitments.size + opened) {
    throw new Error('invariant broken: a commitment changed that no event names')
  }
  for (const line of LINES) {
    const change = after.lines[line].committedCents - before.lines[line].committedCents
    if (change !== moved[line]) throw new Error(`invariant broken: ${line} committed moved by ${change}, its commitments by ${moved[line]}`)
  }
  assertLines(after)
}

function assertOverBudget(kept: OverBudgetSummary, counted: OverBudgetSummary): void {
  if (kept.commitments !== counted.commitments || kept.amountCents !== counted.amountCents) {
    throw new Error(`invariant broken: over budget ${kept.commitments} (${kept.amountCents}) ≠ ${counted.commitments} (${counted.amountCents})`)
  }
}

function assertCommitment(commitment: CommitmentState): void {
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
}

function assertLines(state: BudgetState): void {
  for (const line of LINES) {
    if (state.lines[line].spentCents < 0n) throw new Error(`invariant broken: ${line} spent is negative`)
  }
  if (availableCents(state.lines.flexible) < 0n) throw new Error('invariant broken: the flexible line is below zero')
}

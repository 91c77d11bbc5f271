/**
 * The budget of one Sozialraum for one fiscal year, as a decider: `decide` checks a command
 * against the state and answers with events or a DomainError; `evolve` folds one event into the
 * state. Both are pure: time, ids and the actor come in with the command or the event context.
 *
 * state.ts holds the state and the policy; decide.ts dispatches each command to the module of
 * its part of the budget (lines, commitments, approvals, spending), funds.ts holds rule 1 and
 * limits.ts the limit on balances; evolve.ts folds events; invariants.ts asserts what must hold.
 */
export { decideBudget } from './decide.js'
export { evolveBudget } from './evolve.js'
export { assertBudgetChange, assertBudgetInvariants } from './invariants.js'
export type { BudgetCommand } from './commands.js'
export { carriedCommitmentId, carryOverOf, carriesAnything, type CarryOver } from './carry-over.js'
export { creditRefusal } from './moves.js'
export {
  availableCents,
  DEFAULT_BUDGET_POLICY,
  DEFAULT_FOUR_EYES_THRESHOLD_CENTS,
  initialBudgetState,
  overBudgetShareOf,
  remainingCents,
  type ApprovalDecision,
  type ApprovedTerms,
  type Approver,
  type BudgetKey,
  type BudgetPolicy,
  type BudgetState,
  type CommitmentState,
  type CommitmentStatus,
  type EventContext,
  type Invoice,
  type LineBalance,
  type OutgoingMove,
  type OverBudgetSummary,
  type SpendingState,
} from './state.js'

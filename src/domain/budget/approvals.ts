import { DomainError } from '../errors.js'
import type { BudgetEvent, RecordedRole } from '../events.js'
import { centsToJson } from '../money.js'
import type { CommandOf } from './commands.js'
import { findCommitment, overBudgetMarking } from './commitments.js'
import { remainingCents, type Approver, type BudgetKey, type BudgetState, type CommitmentState } from './state.js'

/** Four eyes (rule 6): a second person approves or rejects what waits; its requester may withdraw it. */

/** Every role with its article, so that a message reads right whichever role it names. */
const ROLE_NAMES: Readonly<Record<RecordedRole, string>> = {
  finance: 'a finance controller',
  teamlead: 'a team lead',
  auditor: 'an auditor',
  anonymous: 'an anonymous user',
}

/**
 * Rule 6: a second person decides, not the one who asked; on an over-budget request only finance
 * (rule 1). The requester may withdraw their own request, which is a rejection: it only frees funds.
 */
function checkApprover(
  commitment: CommitmentState,
  approver: Approver,
  decision: 'approve' | 'reject',
): DomainError | undefined {
  if (approver.role !== 'finance' && approver.role !== 'teamlead') {
    return new DomainError('forbidden', `${ROLE_NAMES[approver.role]} does not decide on commitments`)
  }
  if (commitment.requestedBy === approver.sub) {
    if (decision === 'reject') return undefined
    return new DomainError('forbidden', `${approver.sub} asked for commitment ${commitment.id}; a second person must approve it`)
  }
  if (commitment.overBudget && approver.role !== 'finance') {
    return new DomainError('forbidden', `commitment ${commitment.id} is over budget; only finance decides on it`)
  }
  return undefined
}

export function decideApproval(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'DecideApproval'>,
): BudgetEvent[] | DomainError {
  const commitment = findCommitment(state, command.commitmentId)
  if (commitment instanceof DomainError) return commitment
  if (commitment.status !== 'requested') {
    return new DomainError('conflict', `commitment ${commitment.id} is ${commitment.status}, not waiting for approval`)
  }
  const refused = checkApprover(commitment, command.approver, command.decision)
  if (refused) return refused
  const comment = command.comment === undefined ? {} : { comment: command.comment }
  const common = { ...key, commitmentId: commitment.id, line: commitment.line }
  if (command.decision === 'approve') return [{ type: 'CommitmentApproved', data: { ...common, ...comment } }]
  const terms = commitment.approvedTerms
  const neverApproved = terms.amountCents === 0n
  return [
    {
      type: 'CommitmentRejected',
      data: {
        ...common,
        // Never approved: the whole reservation is released. Else only the unapproved increase.
        amountCents: centsToJson(neverApproved ? remainingCents(commitment) : commitment.amountCents - terms.amountCents),
        // A waiting commitment always has more approved than invoiced (else it would be closed).
        status: neverApproved ? 'rejected' : 'open',
        ...(neverApproved
          ? overBudgetMarking(commitment.overBudget, commitment.overBudgetJustification)
          : overBudgetMarking(terms.overBudget, terms.overBudgetJustification)),
        ...comment,
      },
    },
  ]
}

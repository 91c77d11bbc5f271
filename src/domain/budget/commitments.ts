import { DomainError } from '../errors.js'
import type { BudgetEvent } from '../events.js'
import { centsToJson, formatCents, type Cents } from '../money.js'
import type { CommandOf } from './commands.js'
import { isCarryOverId } from './carry-over.js'
import { fundsForCommitment } from './funds.js'
import { remainingCents, type BudgetKey, type BudgetPolicy, type BudgetState, type CommitmentState } from './state.js'

/** Commitments to providers: created, amended, invoiced and released (rules 1–4 and 6). */

export function findCommitment(state: BudgetState, id: string): CommitmentState | DomainError {
  return (
    state.commitments.get(id) ??
    new DomainError('not-found', `commitment ${id} does not exist in budget ${state.year} of ${state.sozialraum}`)
  )
}

function checkOpenForChanges(commitment: CommitmentState): DomainError | undefined {
  if (commitment.status === 'closed' || commitment.status === 'rejected') {
    return new DomainError('commitment-closed', `commitment ${commitment.id} is ${commitment.status}`)
  }
  return undefined
}

/** A commitment that can still change: it exists and is neither closed nor rejected. */
function findChangeableCommitment(state: BudgetState, id: string): CommitmentState | DomainError {
  const commitment = findCommitment(state, id)
  if (commitment instanceof DomainError) return commitment
  return checkOpenForChanges(commitment) ?? commitment
}

/** The over-budget fields of an event: the flag, and the justification only where there is one. */
export function overBudgetMarking(
  overBudget: boolean,
  justification: string | undefined,
): { overBudget: boolean; overBudgetJustification?: string } {
  return justification === undefined ? { overBudget } : { overBudget, overBudgetJustification: justification }
}

export function decideCreateCommitment(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'CreateCommitment'>,
  policy: BudgetPolicy,
): BudgetEvent[] | DomainError {
  if (state.commitments.has(command.commitmentId)) {
    return new DomainError('conflict', `commitment ${command.commitmentId} exists already`)
  }
  if (isCarryOverId(command.commitmentId)) {
    return new DomainError('validation', 'version-5 UUIDs are kept for the commitments a year close carries over; choose another id', 'id')
  }
  if (command.amountCents <= 0n) return new DomainError('validation', 'a commitment must be positive', 'amount')
  if (command.period.to < command.period.from) {
    return new DomainError('validation', 'the period must not end before it starts', 'period.to')
  }
  if (command.period.from > `${state.year}-12-31` || command.period.to < `${state.year}-01-01`) {
    return new DomainError('validation', `the period must overlap fiscal year ${state.year}`, 'period')
  }
  // Rule 1: help under SGB VIII §§ 27 ff. is an entitlement, so an ambulatory commitment may
  // exceed the line when it is justified; it then waits for a finance controller's approval.
  const funds = fundsForCommitment(state, command.line, command.amountCents, command.overBudgetJustification)
  if (funds instanceof DomainError) return funds
  const overBudget = funds.overBudget
  // Rule 6: large sums wait for a second person.
  const requested = overBudget || command.amountCents >= policy.fourEyesThresholdCents
  return [
    {
      type: 'CommitmentCreated',
      data: {
        ...key,
        commitmentId: command.commitmentId,
        line: command.line,
        provider: command.provider,
        caseRef: command.caseRef,
        ...(command.helpType === undefined ? {} : { helpType: command.helpType }),
        amountCents: centsToJson(command.amountCents),
        period: { from: command.period.from, to: command.period.to },
        ...(command.decisionRef === undefined ? {} : { decisionRef: command.decisionRef }),
        status: requested ? 'requested' : 'open',
        overBudget,
        ...(overBudget ? { overBudgetJustification: command.overBudgetJustification } : {}),
      },
    },
  ]
}

function amended(key: BudgetKey, commitment: CommitmentState, command: { amountCents: Cents; reason: string }): BudgetEvent {
  return {
    type: 'CommitmentAmended',
    data: {
      ...key,
      commitmentId: commitment.id,
      line: commitment.line,
      amountCents: centsToJson(command.amountCents),
      reason: command.reason,
    },
  }
}

/** Why an amendment cannot change the commitment at all (before funds and four eyes are asked). */
function checkAmendable(commitment: CommitmentState, command: CommandOf<'AmendCommitment'>): DomainError | undefined {
  // A request under review does not change, so an approval always covers what was seen.
  if (commitment.status === 'requested') {
    return new DomainError(
      'approval-required',
      `commitment ${commitment.id} waits for approval and cannot change until it is decided; its requester may withdraw the request by rejecting it`,
    )
  }
  if (command.amountCents === 0n) return new DomainError('validation', 'an amendment must not be zero', 'amount')
  const newAmount = commitment.amountCents + command.amountCents
  if (newAmount < commitment.invoicedCents) {
    return new DomainError(
      'exceeds-commitment',
      `commitment ${commitment.id} has ${formatCents(commitment.invoicedCents)} invoiced; it cannot go below that`,
    )
  }
  if (newAmount <= 0n) {
    return new DomainError('validation', 'an amendment must leave a positive amount; release the commitment instead', 'amount')
  }
  return undefined
}

export function decideAmendment(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'AmendCommitment'>,
  policy: BudgetPolicy,
): BudgetEvent[] | DomainError {
  const commitment = findChangeableCommitment(state, command.commitmentId)
  if (commitment instanceof DomainError) return commitment
  const refused = checkAmendable(commitment, command)
  if (refused) return refused
  if (command.amountCents < 0n) return [amended(key, commitment, command)]
  const funds = fundsForCommitment(state, commitment.line, command.amountCents, command.overBudgetJustification)
  if (funds instanceof DomainError) return funds
  // An increase to or above the threshold, or beyond the line, needs a second person again:
  // otherwise a small commitment could grow into a large one that nobody else has seen.
  const newAmount = commitment.amountCents + command.amountCents
  if (!funds.overBudget && newAmount < policy.fourEyesThresholdCents) return [amended(key, commitment, command)]
  return [
    {
      type: 'CommitmentApprovalRequested',
      data: {
        ...key,
        commitmentId: commitment.id,
        line: commitment.line,
        ...(funds.overBudget
          ? overBudgetMarking(true, command.overBudgetJustification)
          : overBudgetMarking(commitment.overBudget, commitment.overBudgetJustification)),
      },
    },
    amended(key, commitment, command),
  ]
}

export function decideInvoice(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'BookInvoice'>,
): BudgetEvent[] | DomainError {
  const commitment = findChangeableCommitment(state, command.commitmentId)
  if (commitment instanceof DomainError) return commitment
  if (commitment.status === 'requested') {
    return new DomainError('approval-required', `commitment ${commitment.id} waits for approval`)
  }
  if (commitment.invoices.some((invoice) => invoice.invoiceNo === command.invoiceNo)) {
    return new DomainError('conflict', `invoice ${command.invoiceNo} is booked on commitment ${commitment.id} already`)
  }
  if (command.amountCents <= 0n) return new DomainError('validation', 'an invoice must be positive', 'amount')
  const remaining = remainingCents(commitment)
  if (command.amountCents > remaining) {
    return new DomainError(
      'exceeds-commitment',
      `invoice of ${formatCents(command.amountCents)} exceeds the remaining ${formatCents(remaining)} of commitment ${commitment.id}`,
    )
  }
  return [
    {
      type: 'InvoiceBooked',
      data: {
        ...key,
        commitmentId: commitment.id,
        line: commitment.line,
        invoiceNo: command.invoiceNo,
        amountCents: centsToJson(command.amountCents),
        invoiceDate: command.invoiceDate,
      },
    },
  ]
}

export function decideRelease(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'ReleaseCommitment'>,
): BudgetEvent[] | DomainError {
  const commitment = findChangeableCommitment(state, command.commitmentId)
  if (commitment instanceof DomainError) return commitment
  return [
    {
      type: 'CommitmentReleased',
      data: {
        ...key,
        commitmentId: commitment.id,
        line: commitment.line,
        amountCents: centsToJson(remainingCents(commitment)),
        reason: command.reason,
      },
    },
  ]
}

import type { BudgetEvent, Line } from '../src/domain/events.js'

export type Figure = 'allocated' | 'committed' | 'spent'

export interface LineChange {
  line: Line
  figure: Figure
  cents: number
}

/**
 * What a budget event changes of its lines' figures, from the amounts it carries (the balance
 * formulas of docs/domain.md). The balances and the balance-history projections both apply it,
 * so that the two can never disagree on what an event means.
 */
export function lineChanges(event: BudgetEvent): LineChange[] {
  switch (event.type) {
    case 'BudgetAllocated':
    case 'BudgetAdjusted':
      return [{ line: event.data.line, figure: 'allocated', cents: event.data.amountCents }]
    case 'BudgetTransferred':
      return [
        { line: event.data.fromLine, figure: 'allocated', cents: -event.data.amountCents },
        { line: event.data.toLine, figure: 'allocated', cents: event.data.amountCents },
      ]
    case 'CommitmentCreated':
    case 'CommitmentAmended':
      return [{ line: event.data.line, figure: 'committed', cents: event.data.amountCents }]
    case 'InvoiceBooked':
      return [
        { line: event.data.line, figure: 'committed', cents: -event.data.amountCents },
        { line: event.data.line, figure: 'spent', cents: event.data.amountCents },
      ]
    case 'CommitmentReleased':
    case 'CommitmentRejected':
      return [{ line: event.data.line, figure: 'committed', cents: -event.data.amountCents }]
    case 'SpendingRecorded':
      return [{ line: 'flexible', figure: 'spent', cents: event.data.amountCents }]
    case 'SpendingReversed':
      return [{ line: 'flexible', figure: 'spent', cents: -event.data.amountCents }]
    case 'CommitmentCarriedOver':
      return [{ line: event.data.line, figure: 'committed', cents: -event.data.amountCents }]
    // The money leaves with what is carried: the next year's line is allocated exactly this.
    case 'AllocationCarriedOver':
    case 'BudgetMoveDebited':
      return [{ line: event.data.line, figure: 'allocated', cents: -event.data.amountCents }]
    case 'BudgetMoveCredited':
    case 'BudgetMoveReverted':
      return [{ line: event.data.line, figure: 'allocated', cents: event.data.amountCents }]
    case 'CommitmentCarriedIn':
      return [{ line: event.data.line, figure: 'committed', cents: event.data.amountCents }]
    case 'CommitmentApprovalRequested':
    case 'CommitmentApproved':
    case 'BudgetClosed':
    case 'BudgetMoveRefused':
      return []
  }
}

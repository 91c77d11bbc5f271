import { DomainError } from './errors.js'
import type { EventDataOf, Line, YearEvent } from './events.js'
import type { Approver } from './budget/index.js'

/**
 * A fiscal year's close (docs/domain.md rule 8), decided on the stream `year-<year>`: one finance
 * controller asks, a second approves, and the close process (src/application/processes.ts) then
 * closes every budget of the year and records the year closed.
 *
 *   open ──request──▶ close-requested ──approve──▶ closing ──complete──▶ closed
 *     ▲                      │
 *     └──────reject──────────┘
 */

export type YearStatus = 'open' | 'close-requested' | 'closing' | 'closed'

/** The last fiscal year the ledger keeps (docs/api.md, "Conventions"). */
export const LAST_YEAR = 2100

export interface YearState {
  year: number
  status: YearStatus
  request: { reason: string; carryUnspent: readonly Line[]; by: string; at: string } | undefined
  decision: { decision: 'approve' | 'reject'; by: string; at: string; comment: string | undefined } | undefined
  totals: Omit<EventDataOf<'YearClosed'>, 'year'> | undefined
}

export type YearCommand =
  | { type: 'RequestClose'; reason: string; carryUnspent: readonly Line[] }
  | { type: 'DecideClose'; decision: 'approve' | 'reject'; comment?: string | undefined; approver: Approver }
  | { type: 'CompleteClose'; totals: Omit<EventDataOf<'YearClosed'>, 'year'> }

export function initialYearState(year: number): YearState {
  return { year, status: 'open', request: undefined, decision: undefined, totals: undefined }
}

export function decideYear(state: YearState, command: YearCommand): YearEvent[] | DomainError {
  const year = state.year
  switch (command.type) {
    case 'RequestClose': {
      if (state.status !== 'open') return notOpen(state)
      if (year >= LAST_YEAR) {
        return new DomainError('validation', `${LAST_YEAR} is the last year the ledger keeps: its close would have no year to carry into`, 'year')
      }
      const carryUnspent = [...new Set(command.carryUnspent)]
      return [{ type: 'YearCloseRequested', data: { year, reason: command.reason, carryUnspent } }]
    }
    case 'DecideClose': {
      if (state.status !== 'close-requested') {
        return new DomainError('conflict', `the close of ${year} is not waiting for a decision (the year is ${state.status})`)
      }
      if (command.approver.role !== 'finance') return new DomainError('forbidden', 'only finance decides on a year close')
      if (command.approver.sub === state.request?.by) {
        return new DomainError('forbidden', `${command.approver.sub} asked for the close of ${year}; a second finance controller must decide`)
      }
      const comment = command.comment === undefined ? {} : { comment: command.comment }
      return [{ type: command.decision === 'approve' ? 'YearCloseApproved' : 'YearCloseRejected', data: { year, ...comment } }]
    }
    case 'CompleteClose':
      if (state.status !== 'closing') return new DomainError('conflict', `year ${year} is ${state.status}, not closing`)
      return [{ type: 'YearClosed', data: { year, ...command.totals } }]
  }
}

function notOpen(state: YearState): DomainError {
  if (state.status === 'closed' || state.status === 'closing') {
    return new DomainError('year-closed', `fiscal year ${state.year} is ${state.status}`)
  }
  return new DomainError('conflict', `the close of ${state.year} was asked for already and waits for a decision`)
}

export function evolveYear(state: YearState, event: YearEvent, context: { recordedAt: string; actorSub: string }): YearState {
  switch (event.type) {
    case 'YearCloseRequested':
      return {
        ...state,
        status: 'close-requested',
        request: { reason: event.data.reason, carryUnspent: event.data.carryUnspent, by: context.actorSub, at: context.recordedAt },
        decision: undefined,
      }
    case 'YearCloseApproved':
    case 'YearCloseRejected': {
      const approved = event.type === 'YearCloseApproved'
      return {
        ...state,
        status: approved ? 'closing' : 'open',
        decision: { decision: approved ? 'approve' : 'reject', by: context.actorSub, at: context.recordedAt, comment: event.data.comment },
      }
    }
    case 'YearClosed': {
      const { year: _year, ...totals } = event.data
      return { ...state, status: 'closed', totals }
    }
  }
}

/** Whether the year takes writes to its budgets: not once its close is approved. */
export const yearTakesWrites = (state: YearState): boolean => state.status === 'open' || state.status === 'close-requested'

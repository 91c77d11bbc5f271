import { DomainError } from '../errors.js'
import type { BudgetEvent } from '../events.js'
import { centsToJson } from '../money.js'
import type { CommandOf } from './commands.js'
import { changeLine } from './evolve.js'
import { checkFunds } from './funds.js'
import { checkBalanceLimits } from './limits.js'
import type { BudgetKey, BudgetState } from './state.js'

/**
 * A move between Sozialräume of one year (Deckungsfähigkeit, docs/domain.md rule 9), one step
 * per stream: the source is debited (its funds checked), the target credited, or the target
 * refuses for good and the source is credited back. Money is in transit between the first step
 * and the second, so a total over every budget may be lower for a moment, never higher.
 */

type MoveEvent = Extract<BudgetEvent, { type: `BudgetMove${string}` }>

export function decideDebitMove(state: BudgetState, key: BudgetKey, command: CommandOf<'DebitMove'>): BudgetEvent[] | DomainError {
  if (state.outgoingMoves.has(command.moveId)) return new DomainError('conflict', `move ${command.moveId} exists already`)
  if (command.to.sozialraum === key.sozialraum) {
    return new DomainError('validation', 'a move goes to another Sozialraum; within one budget, transfer between its lines', 'to.sozialraum')
  }
  if (command.amountCents <= 0n) return new DomainError('validation', 'a move must be positive', 'amount')
  const short = checkFunds(state, command.line, command.amountCents)
  if (short) return short
  const { moveId, line, to, reason } = command
  return [{ type: 'BudgetMoveDebited', data: { ...key, moveId, line, amountCents: centsToJson(command.amountCents), to, reason } }]
}

/**
 * The target never refuses with an error that a retry could change: what it cannot take it
 * refuses with an event, after which that move can never be credited here, so that the source
 * may safely take the money back. Only a closed budget answers with an error, and closed is final.
 */
export function decideCreditMove(state: BudgetState, key: BudgetKey, command: CommandOf<'CreditMove'>): BudgetEvent[] | DomainError {
  const done = state.incomingMoves.get(command.moveId)
  if (done) return new DomainError('conflict', `move ${command.moveId} was ${done} here already`)
  const { moveId, from } = command
  const amountCents = centsToJson(command.amountCents)
  const refusal = creditRefusal(state, key, command)
  if (refusal) return [{ type: 'BudgetMoveRefused', data: { ...key, moveId, amountCents, from, why: refusal.message } }]
  return [{ type: 'BudgetMoveCredited', data: { ...key, moveId, line: command.line, amountCents, from, reason: command.reason } }]
}

/**
 * Why the target would refuse the credit on its state now (no allocation: not-found; a balance
 * past its limit: limit-exceeded), or undefined. The move route asks it before the debit, so that
 * a refusal it can foresee is a 4xx with nothing written; decideCreditMove asks it again at the
 * credit, where the state may have changed meanwhile.
 */
export function creditRefusal(state: BudgetState, key: BudgetKey, command: Omit<CommandOf<'CreditMove'>, 'type'>): DomainError | undefined {
  if (!state.exists) return new DomainError('not-found', `budget ${key.year} of ${key.sozialraum} has no allocation`)
  const { moveId, from, line, reason } = command
  const amountCents = centsToJson(command.amountCents)
  return checkBalanceLimits(state, [{ type: 'BudgetMoveCredited', data: { ...key, moveId, line, amountCents, from, reason } }])
}

export function decideRevertMove(state: BudgetState, key: BudgetKey, command: CommandOf<'RevertMove'>): BudgetEvent[] | DomainError {
  const move = state.outgoingMoves.get(command.moveId)
  if (!move) return new DomainError('not-found', `move ${command.moveId} did not leave budget ${key.year} of ${key.sozialraum}`)
  if (move.reverted) return new DomainError('conflict', `move ${command.moveId} was reverted already`)
  return [
    {
      type: 'BudgetMoveReverted',
      data: { ...key, moveId: command.moveId, line: move.line, amountCents: centsToJson(move.amountCents), why: command.why },
    },
  ]
}

export function evolveMove(state: BudgetState, event: MoveEvent): BudgetState {
  const data = event.data
  switch (event.type) {
    case 'BudgetMoveDebited': {
      const amount = BigInt(event.data.amountCents)
      const move = { line: event.data.line, amountCents: amount, to: event.data.to, reason: event.data.reason, reverted: false }
      return {
        ...state,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: -amount }),
        outgoingMoves: state.outgoingMoves.set(data.moveId, move),
        movedOutCents: { ...state.movedOutCents, [event.data.line]: state.movedOutCents[event.data.line] + amount },
      }
    }
    case 'BudgetMoveCredited':
      return {
        ...state,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: BigInt(event.data.amountCents) }),
        incomingMoves: state.incomingMoves.set(data.moveId, 'credited'),
      }
    case 'BudgetMoveRefused':
      return { ...state, incomingMoves: state.incomingMoves.set(data.moveId, 'refused') }
    case 'BudgetMoveReverted': {
      const move = state.outgoingMoves.get(data.moveId)
      if (!move) throw new Error(`event reverts unknown move ${data.moveId}: the stream is corrupt`)
      const amount = BigInt(event.data.amountCents)
      return {
        ...state,
        lines: changeLine(state.lines, event.data.line, { allocatedCents: amount }),
        movedOutCents: { ...state.movedOutCents, [event.data.line]: state.movedOutCents[event.data.line] - amount },
        outgoingMoves: state.outgoingMoves.set(data.moveId, { ...move, reverted: true }),
      }
    }
  }
}

import { DomainError } from '../errors.js'
import { LINES, type BudgetEvent, type Line } from '../events.js'
import { formatCents, MAX_BALANCE_CENTS, type Cents } from '../money.js'
import { evolveBudget } from './evolve.js'
import { availableCents, type BudgetState, type CommitmentState, type EventContext } from './state.js'

/**
 * The limit on every balance and sum the decider keeps (MAX_BALANCE_CENTS): checked on the state
 * the events lead to, so it holds for every command, whatever events it decides on.
 */

/** One balance: what a message calls it, and its value before and after the events. */
interface Balance {
  name: string
  before: Cents
  after: Cents
}

/** Who recorded the events and when changes no balance, so the fold for the check needs neither. */
const NO_CONTEXT: EventContext = { recordedAt: '', actorSub: '' }

const magnitude = (cents: Cents): Cents => (cents < 0n ? -cents : cents)

function lineBalances(line: Line, before: BudgetState, after: BudgetState): Balance[] {
  const name = (what: string) => `the ${line} line's ${what} amount`
  const [was, becomes] = [before.lines[line], after.lines[line]]
  // What moves out took counts as allocated until a revert brings it back (state.ts, movedOutCents).
  const movedOut = after.movedOutCents[line]
  const allocated = movedOut === 0n ? name('allocated') : `${name('allocated')} with the ${formatCents(movedOut)} moved out`
  return [
    { name: allocated, before: was.allocatedCents + before.movedOutCents[line], after: becomes.allocatedCents + movedOut },
    { name: name('committed'), before: was.committedCents, after: becomes.committedCents },
    { name: name('spent'), before: was.spentCents, after: becomes.spentCents },
    { name: name('available'), before: availableCents(was), after: availableCents(becomes) },
  ]
}

function commitmentBalances(before: CommitmentState | undefined, after: CommitmentState): Balance[] {
  const name = (what: string) => `commitment ${after.id}'s ${what}`
  return [
    { name: name('amount'), before: before?.amountCents ?? 0n, after: after.amountCents },
    { name: name('invoiced amount'), before: before?.invoicedCents ?? 0n, after: after.invoicedCents },
    { name: name('released amount'), before: before?.releasedCents ?? 0n, after: after.releasedCents },
  ]
}

/**
 * Refuses a balance the events take beyond the limit. One that was beyond it already (written
 * before the limit existed) may still shrink, so that it can be corrected; it may not grow.
 */
function beyondLimit(balance: Balance): DomainError | undefined {
  const after = magnitude(balance.after)
  if (after <= MAX_BALANCE_CENTS || after <= magnitude(balance.before)) return undefined
  return new DomainError(
    'limit-exceeded',
    `${balance.name} would become ${formatCents(balance.after)}, beyond the limit of ` +
      `${formatCents(MAX_BALANCE_CENTS)}${balance.after < 0n ? ' in magnitude' : ''}`,
  )
}

/** The first balance the events would take beyond MAX_BALANCE_CENTS, as a DomainError; else undefined. */
export function checkBalanceLimits(state: BudgetState, events: readonly BudgetEvent[]): DomainError | undefined {
  const after = events.reduce((next, event) => evolveBudget(next, event, NO_CONTEXT), state)
  const balances = LINES.flatMap((line) => lineBalances(line, state, after))
  const touched = new Set(events.flatMap((event) => ('commitmentId' in event.data ? [event.data.commitmentId] : [])))
  for (const id of touched) {
    const commitment = after.commitments.get(id)
    if (commitment) balances.push(...commitmentBalances(state.commitments.get(id), commitment))
  }
  for (const balance of balances) {
    const refused = beyondLimit(balance)
    if (refused) return refused
  }
  return undefined
}

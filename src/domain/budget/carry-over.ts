import { v5 as uuidv5 } from 'uuid'
import { DomainError } from '../errors.js'
import { LINES, type BudgetEvent, type EventDataOf, type Line } from '../events.js'
import { centsToJson, type Cents } from '../money.js'
import type { CommandOf } from './commands.js'
import { overBudgetMarking } from './commitments.js'
import { changeLine, commitmentOf, commitmentOpened, withCommitment } from './evolve.js'
import {
  availableCents,
  remainingCents,
  type BudgetKey,
  type BudgetState,
  type CommitmentState,
  type EventContext,
  type LineBalance,
} from './state.js'

/**
 * The budget's part of the year close (docs/domain.md rule 8). Closing is two steps on two
 * streams, each atomic on its own stream and each done once whatever is retried:
 * - `CloseBudget` on the closing year's budget carries out every open commitment's remainder,
 *   with the money of its line that covers it (and, if asked, the unspent allocation of named
 *   lines), and closes it, in one append: a write that came before is part of what is carried,
 *   one that comes after is refused (year-closed).
 * - `ReceiveCarryOver` on the next year's budget of the same Sozialraum receives exactly what the
 *   closed budget records as carried out; the year it came from is recorded with it, so it is
 *   received once.
 */

/** Fixed namespace of the ids of carried commitments (uuid v5): the same commitment always gets the same id. */
const CARRY_OVER_NAMESPACE = '6f0c1a52-54a4-4d4e-9c55-3d1c2a4f5e01'

/**
 * Whether an id is of the kind the close gives carried commitments (UUID version 5). A client may
 * not choose such an id: it could take the id a carry-over needs, and the close could not finish.
 */
export const isCarryOverId = (id: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-5/i.test(id)

/** The id the close gives a commitment's continuation in the next year: a function of the original alone. */
export function carriedCommitmentId(year: number, sozialraum: string, commitmentId: string): string {
  return uuidv5(`${year}/${sozialraum}/${commitmentId}`, CARRY_OVER_NAMESPACE)
}

/** What carries over: anything still open, approved or waiting for approval. */
const carries = (commitment: CommitmentState): boolean =>
  (commitment.status === 'open' || commitment.status === 'requested') && remainingCents(commitment) > 0n

/**
 * What a line gives the next year: the money its carried commitments need, plus its unspent
 * money when the close names the line, but never more than the line holds (allocated − spent).
 * An over-budget line gives what it holds, so that its deficit carries along and no money is
 * made: the next year's line then starts over budget, as this one ends.
 */
function lineCarry(balance: LineBalance, needed: Cents, carryUnspent: boolean): { amount: Cents; unspent: Cents; lapsed: Cents } {
  const held = balance.allocatedCents - balance.spentCents
  const unspent = availableCents(balance)
  const wanted = needed + (carryUnspent && unspent > 0n ? unspent : 0n)
  const amount = wanted < held ? wanted : held > 0n ? held : 0n
  return {
    amount,
    unspent: carryUnspent && unspent > 0n ? unspent : 0n,
    lapsed: !carryUnspent && unspent > 0n ? unspent : 0n,
  }
}

export function decideCloseBudget(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'CloseBudget'>,
): BudgetEvent[] | DomainError {
  const toYear = key.year + 1
  const events: BudgetEvent[] = []
  const needed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const commitment of state.commitments.values()) {
    if (!carries(commitment)) continue
    needed[commitment.line] += remainingCents(commitment)
    events.push({
      type: 'CommitmentCarriedOver',
      data: {
        ...key,
        commitmentId: commitment.id,
        line: commitment.line,
        amountCents: centsToJson(remainingCents(commitment)),
        toYear,
        toCommitmentId: carriedCommitmentId(key.year, key.sozialraum, commitment.id),
      },
    })
  }
  const lapsed: Record<Line, Cents> = { ambulatory: 0n, flexible: 0n }
  for (const line of LINES) {
    const carry = lineCarry(state.lines[line], needed[line], command.carryUnspent.includes(line))
    lapsed[line] = carry.lapsed
    if (carry.amount === 0n) continue
    events.push({
      type: 'AllocationCarriedOver',
      data: { ...key, line, amountCents: centsToJson(carry.amount), unspentCents: centsToJson(carry.unspent), toYear },
    })
  }
  events.push({
    type: 'BudgetClosed',
    data: { ...key, lapsed: { ambulatory: centsToJson(lapsed.ambulatory), flexible: centsToJson(lapsed.flexible) } },
  })
  return events
}

/** What a closed budget carried into the next year, as the next year's budget receives it. */
export interface CarryOver {
  fromYear: number
  sozialraum: string
  /** What each line gave up: the next year's line is allocated exactly this. */
  allocation: Readonly<Record<Line, Cents>>
  /** Each carried commitment as the closed budget holds it, with how it stood when it was carried. */
  commitments: ReadonlyArray<{
    commitment: CommitmentState
    amountCents: Cents
    toCommitmentId: string
    status: 'open' | 'requested'
    requestedBy: string | undefined
  }>
  unspent: Readonly<Record<Line, Cents>>
}

/** Reads the carry-over off a closed budget: what its CommitmentCarriedOver and AllocationCarriedOver events recorded. */
export function carryOverOf(closed: BudgetState): CarryOver {
  if (!closed.closed) throw new Error(`budget ${closed.year} of ${closed.sozialraum} is not closed: nothing is carried yet`)
  const commitments = [...closed.commitments.values()].flatMap((commitment) =>
    commitment.carriedTo === undefined
      ? []
      : [
          {
            commitment,
            amountCents: commitment.carriedCents,
            toCommitmentId: commitment.carriedTo.commitmentId,
            status: commitment.carriedTo.status,
            requestedBy: commitment.carriedTo.requestedBy,
          },
        ],
  )
  return {
    fromYear: closed.year,
    sozialraum: closed.sozialraum,
    allocation: closed.carriedAllocationCents,
    commitments,
    unspent: closed.unspentCarriedCents,
  }
}

export const carriesAnything = (carry: CarryOver): boolean =>
  carry.commitments.length > 0 || LINES.some((line) => carry.allocation[line] > 0n)

/** How much of a carried commitment a second person had approved: all of it, unless it waited. */
function approvedPart(commitment: CommitmentState, waiting: boolean, amount: Cents): Cents {
  if (!waiting) return amount
  const approvedLeft = commitment.approvedTerms.amountCents - commitment.invoicedCents - commitment.releasedCents
  return approvedLeft < 0n ? 0n : approvedLeft > amount ? amount : approvedLeft
}

/** The over-budget marking last approved: the commitment's own when it was open, else its approved terms'. */
function approvedMarking(commitment: CommitmentState, waiting: boolean) {
  const { overBudget, overBudgetJustification } = waiting ? commitment.approvedTerms : commitment
  return {
    approvedOverBudget: overBudget,
    ...(overBudgetJustification === undefined ? {} : { approvedOverBudgetJustification: overBudgetJustification }),
  }
}

function carriedIn(key: BudgetKey, fromYear: number, item: CarryOver['commitments'][number]): BudgetEvent {
  const { commitment } = item
  const waiting = item.status === 'requested'
  return {
    type: 'CommitmentCarriedIn',
    data: {
      ...key,
      commitmentId: item.toCommitmentId,
      line: commitment.line,
      provider: commitment.provider,
      caseRef: commitment.caseRef,
      ...(commitment.helpType === undefined ? {} : { helpType: commitment.helpType }),
      amountCents: centsToJson(item.amountCents),
      period: commitment.period,
      ...(commitment.decisionRef === undefined ? {} : { decisionRef: commitment.decisionRef }),
      status: waiting ? 'requested' : 'open',
      ...overBudgetMarking(commitment.overBudget, commitment.overBudgetJustification),
      approvedAmountCents: centsToJson(approvedPart(commitment, waiting, item.amountCents)),
      ...approvedMarking(commitment, waiting),
      ...(waiting && item.requestedBy !== undefined ? { requestedBy: item.requestedBy } : {}),
      from: { year: fromYear, commitmentId: commitment.id },
    },
  }
}

/**
 * The note of a carry-over allocation, as every close has written it. The dashboard shows it in
 * German from its parts (web/src/format.ts, `germanNote`): change it only together with that.
 */
export function carryOverNote(fromYear: number, openCommitments: number, unspentCents: bigint): string {
  return `carry-over of ${fromYear}: ${openCommitments} open commitment(s) and ${unspentCents} cents unspent`
}

export function decideReceiveCarryOver(
  state: BudgetState,
  key: BudgetKey,
  command: CommandOf<'ReceiveCarryOver'>,
): BudgetEvent[] | DomainError {
  const { carry } = command
  if (carry.sozialraum !== key.sozialraum) {
    return new DomainError('validation', `budget ${key.year} of ${key.sozialraum} receives its own Sozialraum's carry-over only`, 'sozialraum')
  }
  if (carry.fromYear !== key.year - 1) {
    return new DomainError('validation', `budget ${key.year} receives the carry-over of ${key.year - 1} only`, 'fromYear')
  }
  if (state.carriedInFrom.has(carry.fromYear)) {
    return new DomainError('conflict', `budget ${key.year} of ${key.sozialraum} has received the carry-over of ${carry.fromYear} already`)
  }
  if (!carriesAnything(carry)) return new DomainError('validation', `the close of ${carry.fromYear} carried nothing here`)
  const clash = carry.commitments.find((item) => state.commitments.has(item.toCommitmentId))
  if (clash) return new DomainError('conflict', `commitment ${clash.toCommitmentId} exists already in budget ${key.year}`)
  const allocations: BudgetEvent[] = []
  for (const line of LINES) {
    const commitments = carry.commitments.filter((item) => item.commitment.line === line)
    const total = carry.allocation[line]
    if (total === 0n) continue
    allocations.push({
      type: 'BudgetAllocated',
      data: {
        ...key,
        line,
        amountCents: centsToJson(total),
        decisionRef: `year-close-${carry.fromYear}`,
        note: carryOverNote(carry.fromYear, commitments.length, carry.unspent[line]),
        kind: 'carry-over',
        fromYear: carry.fromYear,
      },
    })
  }
  return [...allocations, ...carry.commitments.map((item) => carriedIn(key, carry.fromYear, item))]
}

export function commitmentCarriedOver(state: BudgetState, data: EventDataOf<'CommitmentCarriedOver'>): BudgetState {
  const commitment = commitmentOf(state, data)
  const amount = BigInt(data.amountCents)
  const carried: CommitmentState = {
    ...commitment,
    carriedCents: commitment.carriedCents + amount,
    carriedTo: {
      year: data.toYear,
      commitmentId: data.toCommitmentId,
      status: commitment.status === 'requested' ? 'requested' : 'open',
      requestedBy: commitment.requestedBy,
    },
    status: 'closed',
    requestedBy: undefined,
  }
  return {
    ...state,
    lines: changeLine(state.lines, data.line, { committedCents: -amount }),
    ...withCommitment(state, carried),
  }
}

export function allocationCarriedOver(state: BudgetState, data: EventDataOf<'AllocationCarriedOver'>): BudgetState {
  const amount = BigInt(data.amountCents)
  const unspent = BigInt(data.unspentCents)
  return {
    ...state,
    lines: changeLine(state.lines, data.line, { allocatedCents: -amount }),
    carriedAllocationCents: { ...state.carriedAllocationCents, [data.line]: state.carriedAllocationCents[data.line] + amount },
    unspentCarriedCents: { ...state.unspentCarriedCents, [data.line]: state.unspentCarriedCents[data.line] + unspent },
  }
}

export function commitmentCarriedIn(
  state: BudgetState,
  data: EventDataOf<'CommitmentCarriedIn'>,
  context: EventContext,
): BudgetState {
  const opened = commitmentOpened(state, data, context, {
    carriedFrom: data.from,
    requestedBy: data.status === 'requested' ? (data.requestedBy ?? context.actorSub) : undefined,
    approvedTerms: {
      amountCents: BigInt(data.approvedAmountCents),
      overBudget: data.approvedOverBudget,
      overBudgetJustification: data.approvedOverBudgetJustification,
    },
  })
  return {
    ...opened,
    // A carry-over of commitments only (from a line that held no money) opens the budget, too.
    exists: true,
    carriedInFrom: state.carriedInFrom.has(data.from.year) ? state.carriedInFrom : new Set(state.carriedInFrom).add(data.from.year),
  }
}

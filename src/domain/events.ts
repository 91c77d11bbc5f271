import { z } from 'zod'

/**
 * Every fact the ledger records, as a zod schema per event type and schema version. Events are
 * immutable and kept forever, so a schema is never changed in place: a new shape gets a new
 * version and an upcaster from the old one. Amounts are integer cents (JSON integers, bounded by
 * MAX_AMOUNT_CENTS far below 2^53). Free text is bounded and not meant for personal data.
 */

export const LINES = ['ambulatory', 'flexible'] as const
export type Line = (typeof LINES)[number]

export const SOZIALRAUM_STATUSES = ['pilot', 'permanent'] as const
export type SozialraumStatus = (typeof SOZIALRAUM_STATUSES)[number]

export const TEXT_LIMITS = {
  name: 200,
  reference: 128,
  freeText: 1000,
} as const

const line = z.enum(LINES)
const cents = z.number().int().refine(Number.isSafeInteger)
const positiveCents = cents.refine((value) => value > 0, 'must be positive')
const signedCents = cents.refine((value) => value !== 0, 'must not be zero')
const date = z.iso.date()
const reference = z.string().min(1).max(TEXT_LIMITS.reference)
const freeText = z.string().min(1).max(TEXT_LIMITS.freeText)
const year = z.number().int().min(2000).max(2100)
const sozialraumKey = z.string().min(1).max(64)
const budgetKey = { year, sozialraum: sozialraumKey }
const nonNegativeCents = cents.refine((value) => value >= 0, 'must not be negative')
const period = z.object({ from: date, to: date })

/** What a commitment is when it is opened, by its creation or by a carry-over from the year before. */
const commitmentTerms = {
  commitmentId: z.uuid(),
  line,
  provider: reference,
  caseRef: reference,
  helpType: reference.optional(),
  amountCents: positiveCents,
  period,
  decisionRef: reference.optional(),
  status: z.enum(['requested', 'open']),
  overBudget: z.boolean(),
  overBudgetJustification: freeText.optional(),
}

export const eventDataSchemas = {
  SozialraumRegistered: z.object({
    sozialraumId: z.string().min(1).max(64),
    name: z.string().min(1).max(TEXT_LIMITS.name),
    status: z.enum(SOZIALRAUM_STATUSES),
  }),
  SozialraumStatusChanged: z.object({
    sozialraumId: z.string().min(1).max(64),
    status: z.enum(SOZIALRAUM_STATUSES),
    decisionRef: reference,
  }),
  /**
   * Version 2 adds `kind`: money granted by a decision (`allocation`), or what the close of the
   * previous year carries into this one (`carry-over`, docs/domain.md rule 8), which reports must tell
   * apart. Every version-1 event was an allocation.
   */
  BudgetAllocated: z.object({
    ...budgetKey,
    line,
    amountCents: positiveCents,
    decisionRef: reference,
    note: freeText.optional(),
    kind: z.enum(['allocation', 'carry-over']),
    /** Version 3: for a carry-over, the year whose close carried it (absent on every allocation). */
    fromYear: year.optional(),
  }),
  BudgetAdjusted: z.object({ ...budgetKey, line, amountCents: signedCents, reason: freeText }),
  BudgetTransferred: z.object({
    ...budgetKey,
    fromLine: line,
    toLine: line,
    amountCents: positiveCents,
    reason: freeText,
  }),
  CommitmentCreated: z.object({ ...budgetKey, ...commitmentTerms }),
  CommitmentAmended: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    amountCents: signedCents,
    reason: freeText,
  }),
  InvoiceBooked: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    invoiceNo: reference,
    amountCents: positiveCents,
    invoiceDate: date,
  }),
  /**
   * An amendment that needs a second person's approval (four eyes or over budget) sends an open
   * commitment back to `requested`; written just before the CommitmentAmended of the same command.
   */
  CommitmentApprovalRequested: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    overBudget: z.boolean(),
    overBudgetJustification: freeText.optional(),
  }),
  CommitmentApproved: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    comment: freeText.optional(),
  }),
  /**
   * A rejection withdraws what was requested: the whole commitment if it was never approved
   * (status `rejected`, `amountCents` released), else only the increase since its last approval
   * (status `open` again, `amountCents` taken off its amount, over-budget marking as it was then).
   */
  CommitmentRejected: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    amountCents: cents.refine((value) => value >= 0, 'must not be negative'),
    status: z.enum(['rejected', 'open']),
    overBudget: z.boolean(),
    overBudgetJustification: freeText.optional(),
    comment: freeText.optional(),
  }),
  CommitmentReleased: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    amountCents: cents.refine((value) => value >= 0, 'must not be negative'),
    reason: freeText,
  }),
  SpendingRecorded: z.object({
    ...budgetKey,
    spendingId: z.uuid(),
    amountCents: positiveCents,
    purpose: freeText,
    category: reference.optional(),
    receiptRef: reference,
    date,
  }),
  SpendingReversed: z.object({
    ...budgetKey,
    spendingId: z.uuid(),
    amountCents: positiveCents,
    reason: freeText,
  }),
  /**
   * The close of the year (docs/domain.md rule 8) took what was left of a commitment into the
   * next year: here it is closed as carried over (not released), and the line's commitment goes
   * down by the amount. The money goes with the line's AllocationCarriedOver.
   */
  CommitmentCarriedOver: z.object({
    ...budgetKey,
    commitmentId: z.uuid(),
    line,
    amountCents: positiveCents,
    toYear: year,
    toCommitmentId: z.uuid(),
  }),
  /**
   * The close took money of a line's allocation into the next year: what its carried commitments
   * still need, as far as the line holds it (allocated − spent; an over-budget line carries its
   * deficit along), and, where the close names the line (`carryUnspent`), its unspent money,
   * `unspentCents` of the amount. The line's allocation goes down by `amountCents`, which the
   * next year's line receives.
   */
  AllocationCarriedOver: z
    .object({ ...budgetKey, line, amountCents: positiveCents, unspentCents: nonNegativeCents, toYear: year })
    .refine((data) => data.unspentCents <= data.amountCents, { message: 'the unspent part cannot exceed the amount', path: ['unspentCents'] }),
  /** The budget's part of the year close: nothing is booked into it any more. `lapsed`: what was left and not carried. */
  BudgetClosed: z.object({
    ...budgetKey,
    lapsed: z.object({ ambulatory: nonNegativeCents, flexible: nonNegativeCents }),
  }),
  /**
   * A commitment carried over from the previous year, opened here with a link to the original:
   * the same provider, case and help type, its approval carried with it (`status`, and how much
   * of it a second person had approved). Written after the BudgetAllocated (kind carry-over) that
   * gives its line the money.
   */
  CommitmentCarriedIn: z.object({
    ...budgetKey,
    ...commitmentTerms,
    approvedAmountCents: nonNegativeCents,
    /** The over-budget marking a second person last agreed to: where a rejection in the new year goes back to. */
    approvedOverBudget: z.boolean(),
    approvedOverBudgetJustification: freeText.optional(),
    /** Who asked for what still waits for approval: in the new year, too, they may not approve it. */
    requestedBy: z.string().min(1).max(256).optional(),
    from: z.object({ year, commitmentId: z.uuid() }),
  }),
  /**
   * A move between Sozialräume (docs/domain.md rule 9) is a process of up to three steps: the
   * source is debited first, so that money is in transit but never created; then the target is
   * credited, or refuses (and can never be credited with that move afterwards), and the source
   * is credited back.
   */
  BudgetMoveDebited: z.object({
    ...budgetKey,
    moveId: z.uuid(),
    line,
    amountCents: positiveCents,
    to: z.object({ sozialraum: sozialraumKey, line }),
    reason: freeText,
  }),
  BudgetMoveCredited: z.object({
    ...budgetKey,
    moveId: z.uuid(),
    line,
    amountCents: positiveCents,
    from: z.object({ sozialraum: sozialraumKey, line }),
    reason: freeText,
  }),
  BudgetMoveRefused: z.object({
    ...budgetKey,
    moveId: z.uuid(),
    amountCents: positiveCents,
    from: z.object({ sozialraum: sozialraumKey, line }),
    why: freeText,
  }),
  BudgetMoveReverted: z.object({ ...budgetKey, moveId: z.uuid(), line, amountCents: positiveCents, why: freeText }),
  /** The year's close (stream `year-<year>`): asked by one finance controller, decided by a second. */
  YearCloseRequested: z.object({ year, reason: freeText, carryUnspent: z.array(line).max(LINES.length) }),
  YearCloseApproved: z.object({ year, comment: freeText.optional() }),
  YearCloseRejected: z.object({ year, comment: freeText.optional() }),
  /**
   * Every budget of the year is closed and its carry-over received: the totals of the close.
   * `carriedCents`: the carried commitments' remainders; `allocationCarriedCents`: the money the
   * lines gave the next year (less than the remainders where a line carried a deficit along).
   */
  YearClosed: z.object({
    year,
    budgets: z.number().int().min(0),
    carriedCommitments: z.number().int().min(0),
    carriedCents: nonNegativeCents,
    allocationCarriedCents: nonNegativeCents,
    unspentCarriedCents: nonNegativeCents,
    lapsedCents: nonNegativeCents,
  }),
  /**
   * Someone exported the events of a fiscal year (GET /v1/audit/export): who and when are the
   * event's actor and recordedAt. Kept in a stream of its own (`audit-exports`), never a budget's.
   */
  AuditExported: z.object({ year: budgetKey.year, format: z.enum(['csv', 'jsonl']) }),
} as const

export type EventType = keyof typeof eventDataSchemas
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[]

export type EventDataOf<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>

/** A domain event: what `decide` returns and `evolve` folds, without storage metadata. */
export type DomainEvent = { [T in EventType]: { type: T; data: EventDataOf<T> } }[EventType]

/** The events of a Sozialraum's own stream; the audit's own events; every other event belongs to a budget stream. */
export const SOZIALRAUM_EVENT_TYPES = ['SozialraumRegistered', 'SozialraumStatusChanged'] as const
type SozialraumEventType = (typeof SOZIALRAUM_EVENT_TYPES)[number]
export const AUDIT_EVENT_TYPES = ['AuditExported'] as const
type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]
export const YEAR_EVENT_TYPES = ['YearCloseRequested', 'YearCloseApproved', 'YearCloseRejected', 'YearClosed'] as const
type YearEventType = (typeof YEAR_EVENT_TYPES)[number]

export type BudgetEvent = Exclude<DomainEvent, { type: SozialraumEventType | AuditEventType | YearEventType }>
export type SozialraumEvent = Extract<DomainEvent, { type: SozialraumEventType }>
export type AuditEvent = Extract<DomainEvent, { type: AuditEventType }>
export type YearEvent = Extract<DomainEvent, { type: YearEventType }>

const sozialraumEventTypes: ReadonlySet<string> = new Set(SOZIALRAUM_EVENT_TYPES)
const auditEventTypes: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES)
const yearEventTypes: ReadonlySet<string> = new Set(YEAR_EVENT_TYPES)
export const isSozialraumEvent = (event: DomainEvent): event is SozialraumEvent => sozialraumEventTypes.has(event.type)
export const isAuditEvent = (event: DomainEvent): event is AuditEvent => auditEventTypes.has(event.type)
export const isYearEvent = (event: DomainEvent): event is YearEvent => yearEventTypes.has(event.type)
export const isBudgetEvent = (event: DomainEvent): event is BudgetEvent =>
  !sozialraumEventTypes.has(event.type) && !auditEventTypes.has(event.type) && !yearEventTypes.has(event.type)

/**
 * The version each event type is written with today. A type's version goes up when its shape
 * changes; the schema above is always the newest one, and `UPCASTERS` turn every older version
 * into it when an event is read, so an old event stays readable forever.
 *
 * A new version may only add fields whose absence keeps the old meaning: from 0.3.0 on, a process
 * that does not know a version yet reads such an event with its own newest schema, which drops
 * the fields it does not know (so that, on a store several processes share, old and new ones can
 * run side by side during an upgrade). A change of meaning is a new event type, never a new
 * version. Version 0.2.0 refuses every version but 1: once 0.3.0 has written a BudgetAllocated
 * (version 2), the store cannot go back to 0.2.0.
 */
export const EVENT_VERSIONS: Readonly<Record<EventType, number>> = {
  SozialraumRegistered: 1,
  SozialraumStatusChanged: 1,
  BudgetAllocated: 3,
  BudgetAdjusted: 1,
  BudgetTransferred: 1,
  CommitmentCreated: 1,
  CommitmentAmended: 1,
  InvoiceBooked: 1,
  CommitmentApprovalRequested: 1,
  CommitmentApproved: 1,
  CommitmentRejected: 1,
  CommitmentReleased: 1,
  SpendingRecorded: 1,
  SpendingReversed: 1,
  AuditExported: 1,
  CommitmentCarriedOver: 1,
  AllocationCarriedOver: 1,
  BudgetClosed: 1,
  CommitmentCarriedIn: 1,
  BudgetMoveDebited: 1,
  BudgetMoveCredited: 1,
  BudgetMoveRefused: 1,
  BudgetMoveReverted: 1,
  YearCloseRequested: 1,
  YearCloseApproved: 1,
  YearCloseRejected: 1,
  YearClosed: 1,
}

/** Turns the data of version `n` into version `n + 1`; keyed by type, then by `n`. */
type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>
export const UPCASTERS: Readonly<Partial<Record<EventType, Readonly<Record<number, Upcaster>>>>> = {
  // Version 3 only adds `fromYear`, which only carry-overs have; there were none before it.
  BudgetAllocated: { 1: (data) => ({ ...data, kind: 'allocation' }), 2: (data) => data },
}

/** The roles a token can carry (docs/api.md, "Authentication and roles"). */
export const ROLES = ['finance', 'teamlead', 'auditor'] as const
export type Role = (typeof ROLES)[number]

/**
 * Who wrote an event. `anonymous` is kept readable for events written by version 0.1.0, which
 * had no authentication; nothing is written with it any more.
 */
export const RECORDED_ROLES = [...ROLES, 'anonymous'] as const
export type RecordedRole = (typeof RECORDED_ROLES)[number]

export const actorSchema = z.object({
  sub: z.string().min(1).max(256),
  role: z.enum(RECORDED_ROLES),
})
export type Actor = z.infer<typeof actorSchema>

export const eventMetadataSchema = z.object({
  /** The version of this event's type it was written with (EVENT_VERSIONS). */
  schemaVersion: z.number().int().positive(),
  actor: actorSchema,
  recordedAt: z.iso.datetime(),
  correlationId: z.string().min(1).max(128),
  causationId: z.string().min(1).max(128),
  idempotencyKey: z.string().min(1).max(128).nullable(),
  /** Digest of the request that carried the idempotency key: the same key with another request is refused. */
  requestHash: z.string().max(128).nullable(),
  /**
   * The tamper-evident chain (src/audit/chain.ts): the hash of the stream's previous event (null
   * for its first) and of this one. Events written before 0.3.0 have neither.
   */
  previousHash: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
})
export type EventMetadata = z.infer<typeof eventMetadataSchema>

export class UnknownEventError extends Error {
  constructor(
    readonly eventType: string,
    readonly schemaVersion: number,
    readonly detail: string,
  ) {
    super(`cannot read event ${eventType} v${schemaVersion}: ${detail}`)
    this.name = 'UnknownEventError'
  }
}

function isEventType(type: string): type is EventType {
  return Object.hasOwn(eventDataSchemas, type)
}

function upcast(type: EventType, schemaVersion: number, data: unknown): unknown {
  let upcasted = data
  for (let version = schemaVersion; version < EVENT_VERSIONS[type]; version++) {
    const upcaster = UPCASTERS[type]?.[version]
    if (!upcaster) throw new UnknownEventError(type, schemaVersion, `no upcaster from version ${version}`)
    if (typeof upcasted !== 'object' || upcasted === null) throw new UnknownEventError(type, schemaVersion, 'data is not an object')
    upcasted = upcaster(upcasted as Record<string, unknown>)
  }
  return upcasted
}

/**
 * Validates a stored event into a typed domain event of the current version: older versions go
 * through their upcasters, newer ones are read with the newest schema this process knows (see
 * EVENT_VERSIONS). Unknown types or shapes are errors, never skipped.
 */
export function parseDomainEvent(type: string, schemaVersion: number, data: unknown): DomainEvent {
  if (!isEventType(type)) throw new UnknownEventError(type, schemaVersion, 'unknown type')
  if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1) {
    throw new UnknownEventError(type, schemaVersion, 'not a schema version')
  }
  const result = eventDataSchemas[type].safeParse(upcast(type, schemaVersion, data))
  if (!result.success) throw new UnknownEventError(type, schemaVersion, result.error.message)
  return { type, data: result.data } as DomainEvent
}

/**
 * Checks an event a decider produced against its current schema before it is stored: an event
 * that fails is a bug in the decider, never bad input. Answers the data as the schema reads it,
 * so that what is stored and what is folded into the state are the same.
 */
export function validateNewEvent<E extends DomainEvent>(event: E): E {
  const result = eventDataSchemas[event.type].safeParse(event.data)
  if (!result.success) {
    throw new InvalidEventError(event.type, result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '))
  }
  return { type: event.type, data: result.data } as E
}

/** A decided event that does not match its own schema: a bug, and nothing is stored. */
export class InvalidEventError extends Error {
  constructor(
    readonly eventType: string,
    readonly detail: string,
  ) {
    super(`the decider produced an invalid ${eventType} event: ${detail}`)
    this.name = 'InvalidEventError'
  }
}

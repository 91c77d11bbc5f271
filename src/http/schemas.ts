import { z } from 'zod'
import { sozialraumId } from '../domain/sozialraum.js'
import { LINES, SOZIALRAUM_STATUSES, TEXT_LIMITS } from '../domain/events.js'
import { parseAmount } from '../domain/money.js'

/** Request and response schemas of docs/api.md. Requests are strict: unknown fields are rejected. */

const PERSONAL_DATA_NOTE = 'Free text kept forever in the audit trail: never put personal data of children or families here.'

/**
 * The notation parseAmount (domain/money.ts) takes: plain decimal, at most two decimals, no
 * exponent, no leading zeros, no plus sign. Checked here so that the OpenAPI document shows it;
 * parseAmount stays the judge of the magnitude and of anything this pattern lets through.
 */
const AMOUNT_NOTATION = /^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$/

export const amountText = (rule: 'positive' | 'nonzero') =>
  z
    .string()
    .regex(AMOUNT_NOTATION, 'amount must be a decimal string with at most two decimals, e.g. "1250" or "1250.50"')
    .superRefine((text, context) => {
      // zod runs this even when the pattern failed: one message per amount is enough.
      if (!AMOUNT_NOTATION.test(text)) return
      const parsed = parseAmount(text)
      if (!parsed.ok) context.addIssue({ code: 'custom', message: `amount ${parsed.reason}` })
      else if (rule === 'positive' && parsed.cents <= 0n) context.addIssue({ code: 'custom', message: 'amount must be greater than 0' })
      else if (rule === 'nonzero' && parsed.cents === 0n) context.addIssue({ code: 'custom', message: 'amount must not be 0' })
    })
    .meta({
      description:
        rule === 'positive'
          ? 'EUR as a decimal string with at most two decimals, greater than 0 and at most 1000000000.00, e.g. "1250.50"'
          : 'EUR as a signed decimal string with at most two decimals, not 0 and at most 1000000000.00 in magnitude, e.g. "-250.00"',
      example: rule === 'positive' ? '1250.50' : '-250.00',
    })

export const moneyOut = z.string().regex(/^-?\d+\.\d{2}$/).meta({ example: '1250.50' })
export const line = z.enum(LINES)
/**
 * No control characters (Unicode's Cc: U+0000–U+001F and U+007F–U+009F), written as plain
 * character classes without the `u` flag: the OpenAPI document carries these patterns, and
 * generated clients compile them as ECMA-262 patterns without flags, where `\p{Cc}` means
 * something else entirely. Outside the BMP, both halves of a surrogate pair pass the class.
 */
export const NO_CONTROL_CHARACTERS = /^[^\x00-\x1F\x7F-\x9F]*$/
/** The same, but tab, line feed and carriage return are allowed (free text may break lines). */
export const NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS = /^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$/

/**
 * Invisible characters, as plain classes of the BMP like those above. Joiners and marks that some
 * scripts need between letters (ZWNJ and ZWJ in Persian, the Arabic, left-to-right and
 * right-to-left marks) may stand inside a reference; nothing needs the others there: the soft
 * hyphen, the combining grapheme joiner, fillers, Mongolian separators, the zero-width space, the
 * word joiner and invisible operators, the blank braille pattern, variation selectors and the
 * byte-order mark. Free text may hold any of them (a soft hyphen pasted from a letter).
 */
const JOINERS_AND_MARKS = '\\u061C\\u200C-\\u200F'
const IGNORABLE = '\\u00AD\\u034F\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B\\u2060-\\u2065\\u206A-\\u206F\\u2800\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0'
/** Bidirectional overrides, embeddings and isolates: they make text show in another order than it is stored. */
const BIDI_CONTROLS = '\\u202A-\\u202E\\u2066-\\u2069'
/**
 * One character that shows something: not a space, not invisible, not half of a surrogate pair
 * alone; outside the BMP any pair but the invisible tags and variation selectors (U+E0000–E007F,
 * U+E0100–E01EF, whose high surrogate is U+DB40).
 */
const VISIBLE_CHARACTER = `(?:[^\\s${IGNORABLE}${JOINERS_AND_MARKS}${BIDI_CONTROLS}\\uD800-\\uDFFF]|[\\uD800-\\uDB3F\\uDB41-\\uDBFF][\\uDC00-\\uDFFF]|\\uDB40[\\uDC80-\\uDCFF\\uDDF0-\\uDFFF])`
const VISIBLE = new RegExp(VISIBLE_CHARACTER)
const NO_BIDI_CONTROLS = new RegExp(`^[^${BIDI_CONTROLS}]*$`)
/**
 * Visible characters, and between them plain spaces and the joiners and marks. The two sets are
 * disjoint, so the pattern never backtracks: linear even on a long string it refuses (zod runs
 * every check, the length's too).
 */
const ONE_WAY = new RegExp(`^${VISIBLE_CHARACTER}(?:[ ${JOINERS_AND_MARKS}]*${VISIBLE_CHARACTER})*$`)

/**
 * Text that says something: bounded, not blank, no control characters (free text may break lines).
 * With `normalize`, the text is first put in Unicode's composed form (NFC) and every rule is
 * checked on that, as it is what is stored: NFC lengthens some characters (U+0958 becomes two code
 * units, U+FB2C three), and a length checked before it let text through that the event schema's
 * limit then refused, a 500.
 */
const text = (maxLength: number, allowLineBreaks = false, normalize = false) =>
  (normalize ? z.string().normalize('NFC') : z.string())
    .min(1)
    .max(maxLength)
    .regex(VISIBLE, 'must not be blank')
    .regex(
      allowLineBreaks ? NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS : NO_CONTROL_CHARACTERS,
      allowLineBreaks ? 'must not hold control characters other than tabs and line breaks' : 'must not hold control characters',
    )
    .regex(NO_BIDI_CONTROLS, 'must not hold bidirectional controls')
/**
 * A reference (an invoice number, a receipt, a decision, a case, a provider) is written one way
 * only: it begins and ends with a visible character, its only space is the plain one, it breaks
 * no line and holds no invisible character but the joiners and marks between letters, and it is
 * kept in Unicode's composed form (NFC). Else "RE-7", "RE-7 " and "RE 7" with a no-break space
 * would be three invoice numbers of one commitment, each booked once (docs/domain.md rule 2).
 */
export const reference = text(TEXT_LIMITS.reference, false, true).regex(
  ONE_WAY,
  'must begin and end with a visible character, and hold no line break, no other space than the plain one and no invisible character',
)
export const freeText = text(TEXT_LIMITS.freeText, true).meta({ description: PERSONAL_DATA_NOTE })

/** No half of a surrogate pair alone (`"\ud800"` is valid JSON, but no text): the two alternatives are disjoint, so linear. */
const WELL_FORMED = /^(?:[^\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/

/**
 * Who someone is: a token's `sub` as the identity provider issued it. It is recorded in the
 * metadata of every event the person writes, so it must be text every store keeps and every
 * hash covers: no control character (a NUL stopped PostgreSQL's projections at that event for
 * good), no lone surrogate (no hash of it), no bidirectional control (the audit trail would show
 * another name than is stored), not blank. Nothing more: the provider issues it and keeps it
 * unique, and it is compared exactly and never normalised, as the provider's value is the identity.
 */
export const subject = z
  .string()
  .min(1)
  .max(256)
  .regex(VISIBLE, 'must not be blank')
  .regex(NO_CONTROL_CHARACTERS, 'must not hold control characters')
  .regex(NO_BIDI_CONTROLS, 'must not hold bidirectional controls')
  .regex(WELL_FORMED, 'must not hold a lone surrogate')
/** A name to show (a token's `name`): no control characters, no bidirectional controls, no lone surrogates; a token's other name is left out. */
export const displayName = z
  .string()
  .max(TEXT_LIMITS.name)
  .regex(NO_CONTROL_CHARACTERS, 'must not hold control characters')
  .regex(NO_BIDI_CONTROLS, 'must not hold bidirectional controls')
  .regex(WELL_FORMED, 'must not hold a lone surrogate')
export const businessDate = z.iso
  .date()
  .regex(/^(20\d\d|2100)-/, 'must be a date in the years 2000 to 2100')
  .meta({ description: 'YYYY-MM-DD' })
export const slug = sozialraumId
export const yearParam = z.string().regex(/^(20\d\d|2100)$/, 'year must be between 2000 and 2100')
const MAX_POSITION = 2n ** 63n - 1n
export const positionText = z
  .string()
  .regex(/^(0|[1-9]\d{0,18})$/, 'must be a non-negative integer')
  // zod runs this even when the pattern failed: only digits may reach BigInt.
  .refine((text) => !/^\d+$/.test(text) || BigInt(text) <= MAX_POSITION, 'must not exceed 2^63 - 1')

export const readQuery = {
  minPosition: positionText.optional().meta({
    description:
      `Read your own write: answer once the read models have processed this position of the event log (a write's \`position\`, a whole number from 0 to 2^63 − 1 = ${MAX_POSITION}); 503 after 5 seconds. ` +
      'A position beyond the last event of the log is refused at once (400)',
  }),
}

/**
 * The id of a commitment or spending: a UUID, taken in any case and kept in lower case, so that
 * one UUID names one commitment whether a client writes it in upper or lower case.
 */
export const resourceId = z
  .uuid()
  .toLowerCase()
  .meta({ description: 'A UUID; upper and lower case name the same id, which answers show in lower case' })

export const budgetParams = z.strictObject({ year: yearParam, sozialraum: slug })
export const commitmentParams = z.strictObject({ year: yearParam, sozialraum: slug, id: resourceId })
export const spendingParams = commitmentParams

/** Writes take their input from the body alone. */
export const noQuery = z.strictObject({})

export const writeHeaders = z.looseObject({
  // Compared exactly and kept in the events' metadata: no control character (a tab, or C1
  // controls, which HTTP lets through as Latin-1).
  'idempotency-key': z.string().min(1).max(128).regex(NO_CONTROL_CHARACTERS, 'Idempotency-Key must not hold control characters').optional(),
  'if-match': z
    .string()
    .regex(/^"(0|[1-9]\d{0,18})"$/, 'If-Match must be a quoted revision, e.g. "3"')
    .optional(),
})

// Bodies

export const registerSozialraumBody = z.strictObject({
  id: slug,
  name: text(TEXT_LIMITS.name),
  status: z.enum(SOZIALRAUM_STATUSES).optional(),
})
export const sozialraumStatusBody = z.strictObject({ status: z.enum(SOZIALRAUM_STATUSES), decisionRef: reference })
export const allocationBody = z.strictObject({
  line,
  amount: amountText('positive'),
  decisionRef: reference,
  note: freeText.optional(),
})
export const adjustmentBody = z.strictObject({ line, amount: amountText('nonzero'), reason: freeText })
export const transferBody = z
  .strictObject({ fromLine: line, toLine: line, amount: amountText('positive'), reason: freeText })
  .refine((body) => body.fromLine !== body.toLine, { message: 'toLine must differ from fromLine', path: ['toLine'] })
const overBudgetRequest = z
  .strictObject({ justification: freeText })
  .meta({ description: 'Why an ambulatory commitment may exceed the line (legal entitlement, SGB VIII §§ 27 ff.)' })
export const commitmentBody = z
  .strictObject({
    id: resourceId.optional(),
    line: line.optional(),
    provider: reference,
    caseRef: reference.meta({ description: 'Pseudonymous case reference from the case management system, never a name' }),
    helpType: reference.optional(),
    amount: amountText('positive'),
    period: z.strictObject({ from: businessDate, to: businessDate }),
    decisionRef: reference.optional(),
    overBudget: overBudgetRequest.optional(),
  })
  .refine((body) => body.period.to >= body.period.from, {
    message: 'the period must not end before it starts',
    path: ['period', 'to'],
  })
export const amendmentBody = z.strictObject({
  amount: amountText('nonzero'),
  reason: freeText,
  overBudget: overBudgetRequest.optional(),
})
export const approvalBody = z.strictObject({ decision: z.enum(['approve', 'reject']), comment: freeText.optional() })
export const invoiceBody = z.strictObject({ invoiceNo: reference, amount: amountText('positive'), invoiceDate: businessDate })
export const releaseBody = z.strictObject({ reason: freeText })
export const spendingBody = z.strictObject({
  id: resourceId.optional(),
  amount: amountText('positive'),
  purpose: freeText,
  category: reference.optional(),
  receiptRef: reference,
  date: businessDate,
})
export const reversalBody = z.strictObject({ reason: freeText })

// Responses: the schemas with an `id` are the named components of the OpenAPI document.

export const balanceSchema = z
  .object({ allocated: moneyOut, committed: moneyOut, spent: moneyOut, available: moneyOut })
  .meta({ id: 'Balance', description: 'Money of a line or a budget: allocated − committed − spent = available' })
export const budgetSchema = z
  .object({
    year: z.number().int(),
    sozialraum: z.string(),
    revision: positionText,
    closed: z.boolean(),
    lines: z.object({ ambulatory: balanceSchema, flexible: balanceSchema }),
    total: balanceSchema,
    overBudget: z
      .object({ commitments: z.number().int(), amount: moneyOut })
      .meta({ description: 'Over-budget commitments that bind or have spent money (amount − released), and how much' }),
  })
  .meta({ id: 'Budget', description: "A Sozialraum's budget of one year, with its two lines" })
export const budgetListSchema = z
  .object({ year: z.number().int(), items: z.array(budgetSchema), total: balanceSchema })
  .meta({ id: 'BudgetList', description: 'Every budget of a year, with their total' })
export const sozialraumSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(SOZIALRAUM_STATUSES),
    openedAt: z.string(),
  })
  .meta({ id: 'Sozialraum' })
export const sozialraumListSchema = z.object({ items: z.array(sozialraumSchema) }).meta({ id: 'SozialraumList' })
const invoiceSchema = z
  .object({ invoiceNo: z.string(), amount: moneyOut, invoiceDate: z.string() })
  .meta({ id: 'Invoice', description: 'A provider invoice booked against a commitment' })
export const commitmentStatus = z.enum(['requested', 'open', 'closed', 'rejected'])
export const commitmentSchema = z
  .object({
    id: z.string(),
    year: z.number().int(),
    sozialraum: z.string(),
    line,
    provider: z.string(),
    caseRef: z.string(),
    helpType: z.string().optional(),
    period: z.object({ from: z.string(), to: z.string() }),
    decisionRef: z.string().optional(),
    amount: moneyOut,
    invoiced: moneyOut,
    released: moneyOut,
    remaining: moneyOut,
    carried: moneyOut.meta({ description: 'What the year close carried into the next year (closed here as carried over, not released)' }),
    carriedTo: z.object({ year: z.number().int(), commitmentId: z.string() }).optional(),
    carriedFrom: z.object({ year: z.number().int(), commitmentId: z.string() }).optional(),
    status: commitmentStatus,
    overBudget: z.boolean(),
    overBudgetJustification: z.string().optional(),
    createdBy: z.string(),
    createdAt: z.string(),
    requestedBy: z.string().nullable().meta({
      description:
        'Who asked for what waits for approval (status `requested`), who may therefore not approve it; null otherwise. Not always `createdBy`: an increase asked for by another team lead, or a commitment carried in by a year close.',
    }),
    invoices: z.array(invoiceSchema),
    lastDecision: z
      .object({ decision: z.enum(['approve', 'reject']), by: z.string(), at: z.string(), comment: z.string().optional() })
      .optional(),
  })
  .meta({ id: 'Commitment', description: 'Funds committed to a provider for a case, with its invoices' })
export const commitmentListSchema = z
  .object({ items: z.array(commitmentSchema) })
  .meta({ id: 'CommitmentList' })
export const spendingSchema = z
  .object({
    id: z.string(),
    year: z.number().int(),
    sozialraum: z.string(),
    line: z.literal('flexible'),
    amount: moneyOut,
    purpose: z.string(),
    category: z.string().optional(),
    receiptRef: z.string(),
    date: z.string(),
    reversed: z.boolean(),
    createdBy: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'Spending', description: 'A flexible spending, paid from the flexible line' })
export const spendingListSchema = z.object({ items: z.array(spendingSchema) }).meta({ id: 'SpendingList' })
export const auditEntrySchema = z
  .object({
    position: positionText,
    streamId: z.string(),
    revision: positionText,
    eventId: z.string(),
    type: z.string(),
    version: z.number().int(),
    recordedAt: z.string(),
    actor: z.object({ sub: z.string(), role: z.string() }),
    data: z.unknown(),
  })
  .meta({ id: 'AuditEntry', description: 'One event of the log, as it was recorded' })
export const auditPageSchema = z
  .object({
    items: z.array(auditEntrySchema),
    next: positionText.nullable().meta({ description: 'Pass as `after` for the next page; null on the last page' }),
  })
  .meta({ id: 'AuditPage' })

const writeEnvelope = {
  position: positionText.meta({ description: 'Where the write stands in the global log; pass as ?minPosition= to read it' }),
  revision: positionText.meta({ description: "The stream's revision after the write (also the ETag)" }),
}
export const utilisationWarningSchema = z
  .object({
    line,
    threshold: z.number().meta({ description: 'The utilisation threshold in percent that this write reached' }),
    utilisation: z.string().nullable().meta({ description: "The line's utilisation after the write, percent with two decimals; null with nothing allocated" }),
  })
  .meta({ id: 'UtilisationWarning', description: 'A configured utilisation threshold of a line that this write crossed' })
export const budgetWrite = <T extends z.ZodRawShape>(resource: T) =>
  z.object({ ...writeEnvelope, budget: budgetSchema, ...resource, warnings: z.array(utilisationWarningSchema) })
export const sozialraumWriteSchema = z
  .object({ ...writeEnvelope, ...sozialraumSchema.shape })
  .meta({ id: 'SozialraumWritten', description: 'A Sozialraum as written, with the position of the write' })
export const commitmentWriteSchema = budgetWrite(commitmentSchema.shape).meta({
  id: 'CommitmentWritten',
  description: 'A commitment as written, with the budget right after the write',
})
export const spendingWriteSchema = budgetWrite(spendingSchema.shape).meta({
  id: 'SpendingWritten',
  description: 'A spending as written, with the budget right after the write',
})

export const problemSchema = z
  .object({
    type: z.string().meta({ description: 'A URN ending in the problem code, e.g. urn:sojus-ledger:problem:validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }).meta({ id: 'FieldError' }))
      .optional()
      .meta({ description: 'On validation problems: each field that is not valid' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' })

// The year close and moves between Sozialräume (docs/domain.md rules 8 and 9)

export const yearCloseBody = z.strictObject({
  reason: freeText,
  carryUnspent: z
    .array(line)
    .max(LINES.length)
    .refine((lines) => new Set(lines).size === lines.length, 'names each line once')
    .optional()
    .meta({ description: 'Lines whose unspent allocation carries into the next year; it lapses on the others' }),
})
export const yearStatus = z.enum(['open', 'close-requested', 'closing', 'closed'])
const yearRequest = z.object({ reason: z.string(), carryUnspent: z.array(line), by: z.string(), at: z.string() })
const yearDecision = z.object({ decision: z.enum(['approve', 'reject']), by: z.string(), at: z.string(), comment: z.string().optional() })
export const yearWriteSchema = z
  .object({ ...writeEnvelope, year: z.number().int(), status: yearStatus, request: yearRequest.optional(), decision: yearDecision.optional() })
  .meta({ id: 'YearCloseWritten', description: "The year's close as written" })
export const fiscalYearSchema = z
  .object({
    year: z.number().int(),
    status: yearStatus,
    request: yearRequest.optional(),
    decision: yearDecision.optional(),
    closedAt: z.string().optional(),
    budgets: z.object({ total: z.number().int(), closed: z.number().int() }),
    carried: z.object({
      commitments: z.number().int(),
      amount: moneyOut.meta({ description: "The carried commitments' remainders" }),
      allocation: moneyOut.meta({
        description: "The money the year's lines gave the next year: the remainders' cover (less where a line carried a deficit along) and the unspent money carried",
      }),
      unspent: moneyOut,
      received: z.number().int().meta({ description: 'How many carried commitments the next year has opened so far' }),
      lapsed: moneyOut,
    }),
  })
  .meta({ id: 'FiscalYear', description: "A fiscal year's close and its progress" })

const moveEnd = z.strictObject({ sozialraum: slug, line })
export const moveBody = z
  // No client-chosen id: the target knows a move by its id alone, so ids must never meet; a
  // retry is made safe with Idempotency-Key.
  .strictObject({ from: moveEnd, to: moveEnd, amount: amountText('positive'), reason: freeText })
  .refine((body) => body.from.sozialraum !== body.to.sozialraum, {
    message: 'a move goes to another Sozialraum; within one budget, transfer between its lines',
    path: ['to', 'sozialraum'],
  })
export const moveStatus = z.enum(['in-transit', 'completed', 'refused', 'reverted'])
export const moveSchema = z
  .object({
    id: z.string(),
    year: z.number().int(),
    from: z.object({ sozialraum: z.string(), line }),
    to: z.object({ sozialraum: z.string(), line }),
    amount: moneyOut,
    reason: z.string(),
    status: moveStatus,
    why: z.string().optional(),
    requestedBy: z.string(),
    requestedAt: z.string(),
    settledAt: z.string().optional(),
  })
  .meta({ id: 'Move', description: 'A move of money between Sozialräume of one year, and how far it got' })
export const moveWriteSchema = z
  .object({ ...writeEnvelope, id: z.string(), year: z.number().int(), from: moveSchema.shape.from, to: moveSchema.shape.to, amount: moneyOut, reason: z.string(), status: moveStatus })
  .meta({ id: 'MoveWritten', description: 'A move as written: completed (201), or still in transit (202)' })

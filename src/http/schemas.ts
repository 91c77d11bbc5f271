import { z } from 'zod'
import { sozialraumId } from '../domain/sozialraum.js'
import { LINES, SOZIALRAUM_STATUSES, TEXT_LIMITS } from '../domain/events.js'
import { parseAmount } from '../domain/money.js'

/** Request and response schemas of API.md. Requests are strict: unknown fields are rejected. */

const PERSONAL_DATA_NOTE = 'Free text kept forever in the audit trail: never put personal data of children or families here.'

export const amountText = (rule: 'positive' | 'nonzero') =>
  z
    .string()
    .superRefine((text, context) => {
      const parsed = parseAmount(text)
      if (!parsed.ok) context.addIssue({ code: 'custom', message: `amount ${parsed.reason}` })
      else if (rule === 'positive' && parsed.cents <= 0n) context.addIssue({ code: 'custom', message: 'amount must be greater than 0' })
      else if (rule === 'nonzero' && parsed.cents === 0n) context.addIssue({ code: 'custom', message: 'amount must not be 0' })
    })
    .meta({ description: 'EUR as a decimal string with at most two decimals, e.g. "1250.50"', example: '1250.50' })

export const moneyOut = z.string().regex(/^-?\d+\.\d{2}$/).meta({ example: '1250.50' })
export const line = z.enum(LINES)
/** Text that says something: bounded, not blank, no control characters (free text may break lines). */
const text = (maxLength: number, allowLineBreaks = false) =>
  z
    .string()
    .min(1)
    .max(maxLength)
    .regex(/\S/, 'must not be blank')
    .regex(
      allowLineBreaks ? /^(?:[^\p{Cc}]|[\t\n\r])*$/u : /^[^\p{Cc}]*$/u,
      allowLineBreaks ? 'must not hold control characters other than tabs and line breaks' : 'must not hold control characters',
    )
export const reference = text(TEXT_LIMITS.reference)
export const freeText = text(TEXT_LIMITS.freeText, true).meta({ description: PERSONAL_DATA_NOTE })
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

export const readQuery = { minPosition: positionText.optional() }

export const budgetParams = z.strictObject({ year: yearParam, sozialraum: slug })
export const commitmentParams = z.strictObject({ year: yearParam, sozialraum: slug, id: z.uuid() })
export const spendingParams = commitmentParams

/** Writes take their input from the body alone. */
export const noQuery = z.strictObject({})

export const writeHeaders = z.looseObject({
  'idempotency-key': z.string().min(1).max(128).optional(),
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
    id: z.uuid().optional(),
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
  id: z.uuid().optional(),
  amount: amountText('positive'),
  purpose: freeText,
  category: reference.optional(),
  receiptRef: reference,
  date: businessDate,
})
export const reversalBody = z.strictObject({ reason: freeText })

// Responses

export const balanceSchema = z.object({ allocated: moneyOut, committed: moneyOut, spent: moneyOut, available: moneyOut })
export const budgetSchema = z.object({
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
export const budgetListSchema = z.object({ year: z.number().int(), items: z.array(budgetSchema), total: balanceSchema })
export const sozialraumSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(SOZIALRAUM_STATUSES),
  openedAt: z.string(),
})
export const commitmentSchema = z.object({
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
  status: z.enum(['requested', 'open', 'closed', 'rejected']),
  overBudget: z.boolean(),
  overBudgetJustification: z.string().optional(),
  createdBy: z.string(),
  createdAt: z.string(),
  invoices: z.array(z.object({ invoiceNo: z.string(), amount: moneyOut, invoiceDate: z.string() })),
  lastDecision: z
    .object({ decision: z.enum(['approve', 'reject']), by: z.string(), at: z.string(), comment: z.string().optional() })
    .optional(),
})
export const spendingSchema = z.object({
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
export const auditEntrySchema = z.object({
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

const writeEnvelope = { position: positionText, revision: positionText }
export const budgetWrite = <T extends z.ZodRawShape>(resource: T) =>
  z.object({ ...writeEnvelope, budget: budgetSchema, ...resource })
export const sozialraumWriteSchema = z.object({ ...writeEnvelope, ...sozialraumSchema.shape })

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
})

import { v7 as uuidv7 } from 'uuid'
import { Readable } from 'node:stream'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { stringify } from 'csv-stringify/sync'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AuditEntry } from '../../readmodels/queries.js'
import { CommandHandler, ConcurrencyExhaustedError, StreamBusyError, type Decider } from '../../application/command-handler.js'
import { budgetStreamId, toStoredEvent, yearStreamId } from '../../application/stored-event.js'
import { isAuditEvent, type AuditEvent } from '../../domain/events.js'
import { formatCents } from '../../domain/money.js'
import type { EventStore, Position, RecordedEvent } from '../../eventstore/port.js'
import { problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import { problem, sendProblem } from '../problem.js'
import { readQuery, yearParam } from '../schemas.js'
import { commandContext } from '../write.js'

/**
 * GET /v1/audit/export?year=&format=csv|jsonl: every event of a fiscal year in log order, streamed.
 *
 * The events come from the event store, not from the `audit_events` read model: an export is the
 * truth the auditor takes away, with nothing between them that may lag, be rebuilt (a 503 for
 * minutes on a large log) or differ from what was stored; and it is one consistent snapshot, the
 * events up to the head of the log when the export began. (`audit_events` would not be cheaper
 * either: its index is (year, sozialraum, position), so `year = ? ORDER BY position` sorts the
 * whole year once per page: SQLite plans USE TEMP B-TREE FOR ORDER BY.)
 *
 * Every budget event of a year lives in a stream `budget-<year>-<sozialraum>`, which starts with
 * the budget's first allocation. The port reads the global log or one stream, so the export reads
 * the year's budget streams, a bounded page of each at a time, and merges them by position. Which
 * budgets a year has, it takes from the balances read model (`budgets`), once that has processed
 * the head: the verifier (POST /v1/audit/verify) checks that read model against the events. The
 * alternative, reading the whole log and keeping the year's streams, costs every year's events
 * for one year's export: on 1,000,000 events, 13–19 s for a year of 100,000 on the benchmark's
 * machine, and more with every year the log grows.
 *
 * Memory stays flat, whatever the size of the year: about EXPORT_BUFFERED_EVENTS events are read
 * ahead (at least 16 per stream) and one page of EXPORT_PAGE_SIZE is formatted at a time; the next
 * is read only once the client has taken the previous one (a Readable pulls on demand, so a slow
 * client holds the reading). Between pages the event loop runs other requests.
 *
 * Every export is recorded before its first byte leaves, as an AuditExported event (who, which
 * year and format, when) in the stream `audit-exports`, which the audit trail shows
 * (`GET /v1/audit/events?type=AuditExported`) and the chain protects like every other stream.
 */

export const EXPORT_FORMATS = ['csv', 'jsonl'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

/** Events formatted and sent per page. */
export const EXPORT_PAGE_SIZE = 1000
/** About the most events read ahead over all the year's streams together: each stream's page is a share of it. */
export const EXPORT_BUFFERED_EVENTS = 5000
export const AUDIT_EXPORTS_STREAM = 'audit-exports'
/** Exports one process streams at once; each holds about 8 MB of pages and read-ahead. */
export const MAX_CONCURRENT_EXPORTS = 2
/** The projection that lists a year's budgets (READ_MODELS names it for this route too). */
const BALANCES = 'balances'

const MEDIA_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
}

/** One exported event: the audit trail's entry (its data as recorded), plus its amount as a decimal string. */
export interface ExportEntry extends Omit<AuditEntry, 'data'> {
  /** The event's `amountCents` as EUR with two decimals ("1250.50"); null for events without an amount. */
  amount: string | null
  /** As recorded, in the schema version `version`: never a field an upcaster added. */
  data: Record<string, unknown>
}

/** An event read and checked (`toStoredEvent` throws on one that does not parse), with its data as recorded. */
function exportEntry(recorded: RecordedEvent): ExportEntry {
  const stored = toStoredEvent(recorded)
  const data = recorded.data as Record<string, unknown>
  return {
    position: stored.position.toString(),
    streamId: stored.streamId,
    revision: stored.revision.toString(),
    eventId: stored.eventId,
    type: stored.event.type,
    version: stored.metadata.schemaVersion,
    recordedAt: stored.metadata.recordedAt,
    actor: { sub: stored.metadata.actor.sub, role: stored.metadata.actor.role },
    amount: typeof data.amountCents === 'number' ? formatCents(BigInt(data.amountCents)) : null,
    data,
  }
}

/** The fields of an event's data the CSV reads, whichever of them its type has. */
type AnyData = Partial<Record<string, unknown>>
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/**
 * The CSV's columns: what a reviewer filters on, with German headers. Values stay as stored
 * (event types, lines); amounts are numbers with a decimal comma. The free text of an event is its
 * reason, why (a refused or reverted move), purpose, note, comment or over-budget justification,
 * whichever it has (the JSONL export has them all).
 */
const CSV_COLUMNS = [
  { key: 'position', header: 'Position' },
  { key: 'recordedAt', header: 'Zeitpunkt (UTC)' },
  { key: 'actor', header: 'Akteur' },
  { key: 'role', header: 'Rolle' },
  { key: 'type', header: 'Ereignis' },
  { key: 'sozialraum', header: 'Sozialraum' },
  { key: 'line', header: 'Budgetlinie' },
  { key: 'amount', header: 'Betrag (EUR)' },
  { key: 'provider', header: 'Träger' },
  { key: 'caseRef', header: 'Fallreferenz' },
  { key: 'helpType', header: 'Hilfeart' },
  { key: 'commitment', header: 'Mittelbindung' },
  { key: 'invoice', header: 'Rechnung' },
  { key: 'spending', header: 'Ausgabe' },
  { key: 'date', header: 'Datum' },
  { key: 'text', header: 'Begründung / Zweck' },
  { key: 'reference', header: 'Beschluss / Beleg' },
  { key: 'eventId', header: 'Ereignis-ID' },
  // Added in 0.12.4 after the others, so that a reader that goes by column number still finds them.
  { key: 'move', header: 'Umbuchung' },
  { key: 'counterpart', header: 'Gegenseite (Sozialraum / Linie)' },
  { key: 'carryYear', header: 'Übertrag (Jahr)' },
  { key: 'carriedCommitment', header: 'Übertragene Mittelbindung' },
  // What a year's close left behind, so that the CSV adds up to the monitoring report's figures.
  { key: 'unspentCarried', header: 'Davon ungebunden übertragen (EUR)' },
  { key: 'lapsedAmbulatory', header: 'Verfallen ambulant (EUR)' },
  { key: 'lapsedFlexible', header: 'Verfallen flexibel (EUR)' },
] as const

type CsvRow = Record<(typeof CSV_COLUMNS)[number]['key'], string | bigint | undefined>

/** A nested part of an event's data (`from`, `to`, `lapsed`), or nothing. */
const part = (value: unknown): AnyData => (typeof value === 'object' && value !== null ? (value as AnyData) : {})

/** A move's other end (`{ sozialraum, line }`) as `nord / flexible`. */
function endOf(value: unknown): string | undefined {
  const end = part(value)
  const sozialraum = text(end.sozialraum)
  return sozialraum === undefined ? undefined : `${sozialraum} / ${text(end.line) ?? ''}`
}

/**
 * The links across streams that a reviewer follows: a move's id and other end (the debit names
 * where the money went, the credit and the refusal where it came from), and a carry-over's year and
 * commitment on the other side of the close ("nach 2026" on the old year's events, "aus 2025" on the
 * new year's); and what the close left behind: the unspent part of a line's carry-over, and what
 * lapsed per line.
 */
function crossStream(data: AnyData) {
  const [from, lapsed] = [part(data.from), part(data.lapsed)]
  const fromYear = typeof data.fromYear === 'number' ? data.fromYear : typeof from.year === 'number' ? from.year : undefined
  return {
    move: text(data.moveId),
    counterpart: endOf(data.to) ?? endOf(data.from),
    carryYear: typeof data.toYear === 'number' ? `nach ${data.toYear}` : fromYear === undefined ? undefined : `aus ${fromYear}`,
    carriedCommitment: text(data.toCommitmentId) ?? text(from.commitmentId),
    unspentCarried: centsOf(data.unspentCents),
    lapsedAmbulatory: centsOf(lapsed.ambulatory),
    lapsedFlexible: centsOf(lapsed.flexible),
  }
}

/** Cents as a bigint, which the CSV writes with a decimal comma; undefined for anything else. */
const centsOf = (value: unknown): bigint | undefined => (typeof value === 'number' ? BigInt(value) : undefined)

function csvRow(entry: ExportEntry): CsvRow {
  const data: AnyData = entry.data
  const fromLine = text(data.fromLine)
  return {
    position: entry.position,
    recordedAt: entry.recordedAt,
    actor: entry.actor.sub,
    role: entry.actor.role,
    type: entry.type,
    sozialraum: text(data.sozialraum),
    line: fromLine === undefined ? (text(data.line) ?? (text(data.spendingId) ? 'flexible' : undefined)) : `${fromLine} → ${text(data.toLine)}`,
    // A bigint, so that the cast below writes it with a decimal comma and escape_formulas leaves its sign alone.
    amount: centsOf(data.amountCents),
    provider: text(data.provider),
    caseRef: text(data.caseRef),
    helpType: text(data.helpType),
    commitment: text(data.commitmentId),
    invoice: text(data.invoiceNo),
    spending: text(data.spendingId),
    date: text(data.invoiceDate) ?? text(data.date),
    text: text(data.reason) ?? text(data.why) ?? text(data.purpose) ?? text(data.note) ?? text(data.comment) ?? text(data.overBudgetJustification),
    reference: text(data.decisionRef) ?? text(data.receiptRef),
    eventId: entry.eventId,
    ...crossStream(data),
  }
}

/**
 * CSV for German Excel, written by csv-stringify: UTF-8 with a BOM (else Excel reads it as
 * Windows-1252), `;` between fields (Excel's list separator in German locales), CRLF, fields with
 * `;`, `"` or a line break quoted (`quote_record_delimiter`: a lone LF inside a field is quoted too,
 * which csv-stringify skips by default once a record delimiter is set), amounts with a decimal
 * comma and no thousands separator, so that Excel reads them as numbers.
 *
 * CSV injection (OWASP): a text field that starts with `=`, `+`, `-`, `@`, a tab or a carriage
 * return (or their full-width forms) would be run as a formula by Excel; csv-stringify's
 * `escape_formulas` puts a `'` before it, so that Excel shows it as text (with the `'`). Amounts
 * are bigints, which it leaves alone, so a negative amount stays a number.
 */
function csvText(entries: readonly ExportEntry[], first: boolean): string {
  return stringify(entries.map(csvRow), {
    columns: [...CSV_COLUMNS],
    header: first,
    bom: first,
    delimiter: ';',
    record_delimiter: 'windows',
    quote_record_delimiter: true,
    escape_formulas: true,
    cast: { bigint: (cents) => formatCents(cents).replace('.', ',') },
  })
}

/** One JSON object per line, LF-terminated (JSON Lines). */
const jsonlText = (entries: readonly ExportEntry[]): string => entries.map((entry) => `${JSON.stringify(entry)}\n`).join('')

/** One stream, read a page at a time, up to the head. */
interface StreamCursor {
  readonly streamId: string
  page: RecordedEvent[]
  index: number
  nextRevision: bigint
  /** No page after this one: the stream ended, or went past the head. */
  last: boolean
}

async function readPage(store: EventStore, cursor: StreamCursor, pageSize: number, head: Position): Promise<void> {
  const page = await store.readStream(cursor.streamId, { fromRevision: cursor.nextRevision, maxCount: pageSize })
  // Positions grow with the revision, so what lies past the head is the page's end.
  const kept = page.filter((event) => event.position <= head)
  cursor.page = kept
  cursor.index = 0
  cursor.last = page.length < pageSize || kept.length < page.length
  cursor.nextRevision = (page[page.length - 1]?.revision ?? cursor.nextRevision - 1n) + 1n
}

/** The cursor whose next event comes first in the log. */
function earliest(cursors: readonly StreamCursor[]): StreamCursor | undefined {
  let best: StreamCursor | undefined
  let bestPosition: Position | undefined
  for (const cursor of cursors) {
    const position = cursor.page[cursor.index]?.position
    if (position !== undefined && (bestPosition === undefined || position < bestPosition)) {
      best = cursor
      bestPosition = position
    }
  }
  return best
}

/**
 * The events of the streams up to `head`, in log order, EXPORT_PAGE_SIZE at a time: a merge of the
 * streams by position. Each stream holds one page of `pageSize` events at most; every stream not
 * yet ended holds at least one event, so the earliest of their next events is the log's next.
 */
export async function* inLogOrder(
  store: EventStore,
  streamIds: readonly string[],
  head: Position,
  pageSize: number,
): AsyncGenerator<RecordedEvent[]> {
  let cursors: StreamCursor[] = streamIds.map((streamId) => ({ streamId, page: [], index: 0, nextRevision: 0n, last: false }))
  for (const cursor of cursors) await readPage(store, cursor, pageSize, head)
  cursors = cursors.filter((cursor) => cursor.page.length > 0)
  while (cursors.length > 0) {
    const batch: RecordedEvent[] = []
    for (let next = earliest(cursors); next !== undefined && batch.length < EXPORT_PAGE_SIZE; next = earliest(cursors)) {
      const event = next.page[next.index]
      if (event === undefined) throw new Error(`the cursor of ${next.streamId} has no event at hand`)
      batch.push(event)
      next.index += 1
      if (next.index < next.page.length) continue
      if (!next.last) await readPage(store, next, pageSize, head)
      if (next.index >= next.page.length) cursors = cursors.filter((cursor) => cursor !== next)
    }
    yield batch
    await yieldToEventLoop()
  }
}

/**
 * The export as text pages: the events of the year's budget streams and of its close up to `head`, in log order.
 * A CSV starts with its BOM and header, even when the year has no events.
 */
export async function* exportPages(
  store: EventStore,
  budgets: { year: number; sozialraeume: readonly string[] },
  head: Position,
  format: ExportFormat,
  pageSize = Math.max(16, Math.floor(EXPORT_BUFFERED_EVENTS / Math.max(1, budgets.sozialraeume.length))),
): AsyncGenerator<string> {
  // The year's own stream holds its close: who asked, who approved, and when it was closed.
  const streamIds = [...budgets.sozialraeume.map((sozialraum) => budgetStreamId(budgets.year, sozialraum)), yearStreamId(budgets.year)]
  let first = true
  for await (const batch of inLogOrder(store, streamIds, head, pageSize)) {
    const entries = batch.map(exportEntry)
    yield format === 'csv' ? csvText(entries, first) : jsonlText(entries)
    first = false
  }
  if (first && format === 'csv') yield csvText([], true)
}

/** The record of exports: a decider with nothing to refuse, over a stream of its own. */
type RecordExport = { type: 'RecordExport'; year: number; format: ExportFormat }
const exportRecords: Decider<{ exports: number }, RecordExport, AuditEvent> = {
  decide: (_state, command) => [{ type: 'AuditExported', data: { year: command.year, format: command.format } }],
  evolve: (state) => ({ exports: state.exports + 1 }),
  isEvent: isAuditEvent,
}

const exportQuery = z.strictObject({
  ...readQuery,
  year: yearParam.meta({ description: 'The fiscal year whose budget events are exported' }),
  format: z.enum(EXPORT_FORMATS).meta({
    description:
      '`csv`: for German Excel (UTF-8 with BOM, `;`, decimal comma, CRLF); `jsonl`: one JSON object per line, amounts as decimal strings beside the cents',
  }),
})

export const auditExportRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  // The service's clock is not among the HTTP dependencies: exports are recorded at the real time.
  const records = new CommandHandler(exportRecords, { store: deps.store, clock: () => new Date(), newEventId: uuidv7 })
  let exportsRunning = 0

  app.get(
    '/v1/audit/export',
    {
      schema: {
        tags: ['Audit'],
        summary: 'Every event of a fiscal year, in log order, as CSV for Excel or as JSON Lines',
        description:
          'Streamed. The events of the year’s budget streams and of its close (stream year-<year>) up to the head of the log when the export starts. ' +
          'Each export is recorded first, as an AuditExported event in the audit trail. A HEAD request answers the headers and records nothing.',
        querystring: exportQuery,
        response: {
          200: {
            description: 'The export, as an attachment named sojus-ledger-<year>.<csv|jsonl>',
            content: {
              'text/csv': { schema: z.string().meta({ description: 'UTF-8 with BOM, `;`-separated, CRLF, decimal comma' }) },
              'application/x-ndjson': { schema: z.string().meta({ description: 'One JSON object per line (JSON Lines)' }) },
            },
          },
          400: problemAnswer(
            'The year or the format is missing or not valid, or minPosition is beyond the last event of the log (validation); `errors` names each field',
          ),
        },
      },
    },
    async (request, reply) => {
      // An export holds a stream of pages open for as long as the client reads: a few at a time.
      if (request.method !== 'HEAD' && exportsRunning >= MAX_CONCURRENT_EXPORTS) {
        reply.header('retry-after', '5')
        return sendProblem(reply, problem('unavailable', 503, `${exportsRunning} exports are running; nothing was recorded or sent, try again shortly`))
      }
      exportsRunning += 1
      try {
        await sendExport(deps, records, request, reply, Number(request.query.year), request.query.format)
      } finally {
        exportsRunning -= 1
      }
    },
  )
}

async function sendExport(
  deps: HttpDeps,
  records: CommandHandler<{ exports: number }, RecordExport, AuditEvent>,
  request: FastifyRequest,
  reply: FastifyReply,
  year: number,
  format: ExportFormat,
): Promise<void> {
  const attachment = () =>
    reply
      .code(200)
      .header('content-type', MEDIA_TYPES[format])
      .header('content-disposition', `attachment; filename="sojus-ledger-${year}.${format}"`)
  if (request.method === 'HEAD') return void attachment().send('')
  // Not idempotent on purpose: every export is recorded, a retried one too.
  const context = { ...commandContext(request), idempotencyKey: null, requestHash: null, expectedRevision: undefined }
  let outcome: Awaited<ReturnType<typeof records.execute>>
  try {
    outcome = await records.execute(AUDIT_EXPORTS_STREAM, () => ({ exports: 0 }), { type: 'RecordExport', year, format }, context)
  } catch (error) {
    if (!(error instanceof ConcurrencyExhaustedError || error instanceof StreamBusyError)) throw error
    reply.header('retry-after', '1')
    return sendProblem(reply, problem('unavailable', 503, `${error.message}; the export was not recorded, so not sent: try again`))
  }
  if (outcome.kind !== 'written') throw new Error(`recording an export ended as ${outcome.kind}`)
  const head = await deps.store.headPosition()
  // The year's budgets, from the balances read model once it has processed the head.
  if (!(await deps.runner.waitFor(head, deps.readYourWritesTimeoutMs, [BALANCES]))) {
    reply.header('retry-after', '1')
    return sendProblem(reply, problem('unavailable', 503, 'the list of budgets has not caught up with the log yet, so nothing was sent; try again'))
  }
  const budgets = await deps.readModels.listBudgets(year)
  const sozialraeume = budgets.items.map((budget) => budget.sozialraum)
  attachment().send(Readable.from(exportPages(deps.store, { year, sozialraeume }, head, format), { objectMode: false }))
  // Until the stream is sent: an async handler that resolves before would end the answer empty.
  await reply
}

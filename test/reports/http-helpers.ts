import { randomUUID } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { CommandContext } from '../../src/application/command-handler.js'
import { Ledger } from '../../src/application/ledger.js'
import { carriesAnything, carryOverOf } from '../../src/domain/budget/index.js'
import type { Actor, Line } from '../../src/domain/events.js'
import type { EventStore } from '../../src/eventstore/port.js'
import { formatCents } from '../../src/domain/money.js'
import { finishMove } from '../../src/application/processes.js'
import { get, type ApiResponse, type Json } from '../helpers/api.js'
import { bearer } from '../helpers/tokens.js'

/** What the report tests share: reading a report, its CSV, the year close and moves by the processes' own steps. */

export const REPORTS = ['monitoring', 'forecast', 'providers', 'help-types', 'comparison', 'monthly', 'stale-commitments'] as const
export type ReportName = (typeof REPORTS)[number]
export const TAKES_AS_OF: ReadonlySet<ReportName> = new Set(['monitoring', 'forecast', 'stale-commitments'])

export interface ReportQuery {
  asOf?: string
  days?: number
  format?: 'csv'
}

export function reportUrl(year: number, name: ReportName, query: ReportQuery = {}): string {
  const parts: string[] = []
  if (query.asOf !== undefined && TAKES_AS_OF.has(name)) parts.push(`asOf=${query.asOf}`)
  if (query.days !== undefined && name === 'stale-commitments') parts.push(`days=${query.days}`)
  if (query.format !== undefined) parts.push(`format=${query.format}`)
  return `/v1/reports/${year}/${name}${parts.length === 0 ? '' : `?${parts.join('&')}`}`
}

export async function report(
  app: FastifyInstance,
  year: number,
  name: ReportName,
  query: ReportQuery,
  minPosition: string,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  return get(app, reportUrl(year, name, query), minPosition, headers)
}

export const teamLead = (sub: string, sozialraeume: string[]) => bearer({ sub, role: 'teamlead', sozialraeume })
export const auditor = () => bearer({ sub: 'report-auditor', role: 'auditor' })
export const secondFinance = () => bearer({ sub: 'test-finance-2', role: 'finance' })

// ---------------------------------------------------------------------------------------------
// The CSV a report's JSON must give: its rows as German Excel reads them

const TOTAL = 'Gesamt'
const BOTH = 'Summe'
/** A decimal figure with a comma; an integer as it is; null empty. */
const num = (value: string | number | null): string => (value === null ? '' : String(value).replace('.', ','))
/** Text as csv-stringify's escape_formulas writes it: a leading =, +, -, @, tab or CR gets a '. */
const text = (value: string | null): string => (value === null ? '' : /^[=+\-@\t\r＝＋－＠]/.test(value) ? `'${value}` : value)

export const CSV_HEADERS: Record<ReportName, string[]> = {
  monitoring: [
    'Prognosestichtag', 'Sozialraum', 'Budgetlinie', 'Zugewiesen', 'Übertrag aus Vorjahr', 'Übertrag ins Folgejahr', 'Verschiebung Eingang',
    'Verschiebung Ausgang', 'Verfallen', 'Gebunden', 'Ausgegeben', 'Verfügbar', 'Auslastung (%)', 'Warnstufe (%)', 'Prognose Jahresergebnis',
  ],
  forecast: [
    'Prognosestichtag', 'Sozialraum', 'Budgetlinie', 'Zugewiesen', 'Ausgegeben', 'Erwartet aus Mittelbindungen', 'Hochrechnung flexible Ausgaben',
    'Prognose Ausgaben', 'Prognose Jahresergebnis',
  ],
  providers: ['Zeile', 'Träger', 'Sozialraum', 'Gebunden', 'Abgerechnet', 'Offen', 'Fälle', 'Kosten je Fall'],
  'help-types': ['Zeile', 'Hilfeart', 'Sozialraum', 'Gebunden', 'Abgerechnet', 'Offen', 'Fälle', 'Kosten je Fall'],
  comparison: [
    'Sozialraum', 'Gebunden ambulant', 'Fälle', 'Kosten je Fall', 'Ausgaben flexibel', 'Ausgaben gesamt', 'Anteil flexibel (%)',
    'Kosten je Fall Vorjahr', 'Veränderung Kosten je Fall (%)', 'Ausgaben gesamt Vorjahr', 'Veränderung Ausgaben gesamt (%)',
  ],
  monthly: ['Sozialraum', 'Monat', 'Ambulant', 'Flexibel', 'Summe'],
  'stale-commitments': ['Stichtag', 'Mittelbindung', 'Sozialraum', 'Budgetlinie', 'Träger', 'Fallreferenz', 'Hilfeart', 'Beginn', 'Ende', 'Restbetrag', 'Tage überfällig'],
}

/** The rows (without the header) the CSV of this JSON answer must hold. */
export function csvRowsOf(name: ReportName, body: Json): string[][] {
  switch (name) {
    case 'monitoring': {
      const row = (sozialraum: string, line: string, f: Json) => [
        body.asOf, sozialraum, line, num(f.allocated), num(f.carriedIn), num(f.carriedOut), num(f.movedIn), num(f.movedOut), num(f.lapsed),
        num(f.committed), num(f.spent), num(f.available), num(f.utilisation), num(f.warningLevel), num(f.forecastResult),
      ]
      return [...body.items, { sozialraum: TOTAL, ...body.total }].flatMap((item: Json) => [
        row(item.sozialraum, 'ambulatory', item.lines.ambulatory),
        row(item.sozialraum, 'flexible', item.lines.flexible),
        row(item.sozialraum, BOTH, item.total),
      ])
    }
    case 'forecast': {
      const row = (sozialraum: string, line: string, f: Json) => [
        body.asOf, sozialraum, line, num(f.allocated), num(f.spent), num(f.expectedCommitments), num(f.runRate), num(f.forecastSpent), num(f.forecastResult),
      ]
      return [...body.items, { sozialraum: TOTAL, ...body.total }].flatMap((item: Json) => [
        row(item.sozialraum, 'ambulatory', item.lines.ambulatory),
        row(item.sozialraum, 'flexible', item.lines.flexible),
        row(item.sozialraum, BOTH, item.total),
      ])
    }
    case 'providers':
    case 'help-types': {
      const key = name === 'providers' ? 'provider' : 'helpType'
      const row = (kind: string, group: string | null, sozialraum: string, f: Json) => [
        kind, text(group), sozialraum, num(f.committed), num(f.invoiced), num(f.open), num(f.cases), num(f.costPerCase),
      ]
      return [
        ...body.items.flatMap((item: Json) => [
          ...item.sozialraeume.map((s: Json) => row('Einzeln', item[key], s.sozialraum, s)),
          row('Summe', item[key], BOTH, item.total),
        ]),
        row('Gesamt', TOTAL, BOTH, body.total),
      ]
    }
    case 'comparison': {
      const row = (sozialraum: string, f: Json) => [
        sozialraum, num(f.ambulatoryCommitted), num(f.cases), num(f.costPerCase), num(f.flexibleSpent), num(f.totalSpent), num(f.flexibleShare),
        num(f.previous.costPerCase), num(f.change.costPerCase), num(f.previous.totalSpent), num(f.change.totalSpent),
      ]
      return [...body.items.map((item: Json) => row(item.sozialraum, item)), row(TOTAL, body.total)]
    }
    case 'monthly': {
      const row = (sozialraum: string, month: string, f: Json) => [sozialraum, month, num(f.ambulatory), num(f.flexible), num(f.total)]
      return [...body.items, { sozialraum: TOTAL, ...body.total }].flatMap((item: Json) => [
        ...item.months.map((m: Json) => row(item.sozialraum, String(m.month), m)),
        row(item.sozialraum, BOTH, item.total),
      ])
    }
    case 'stale-commitments':
      return body.items.map((item: Json) => [
        body.asOf, item.id, item.sozialraum, item.line, text(item.provider), text(item.caseRef), text(item.helpType),
        item.period.from, item.period.to, num(item.remaining), num(item.daysOverdue),
      ])
  }
}

/** Checks a CSV answer: headers of the attachment, BOM, `;`, CRLF, header row, and rows equal to the JSON's. */
export function assertCsvMatches(t: Test, name: ReportName, year: number, csv: ApiResponse, json: Json, what: string): void {
  t.equal(csv.status, 200, `${what}: 200 (${csv.status === 200 ? '' : csv.text.slice(0, 300)})`)
  t.equal(csv.headers['content-type'], 'text/csv; charset=utf-8', `${what}: text/csv`)
  t.equal(csv.headers['content-disposition'], `attachment; filename="${name}-${year}.csv"`, `${what}: an attachment named ${name}-${year}.csv`)
  t.ok(csv.text.startsWith('\uFEFF'), `${what}: starts with the UTF-8 BOM`)
  t.ok(csv.text.endsWith('\r\n'), `${what}: CRLF line ends`)
  const records = parse(csv.text, { bom: true, delimiter: ';', record_delimiter: '\r\n', relax_column_count: false }) as string[][]
  t.strictSame(records[0], CSV_HEADERS[name], `${what}: the header row`)
  t.strictSame(records.slice(1), csvRowsOf(name, json), `${what}: the rows are the JSON's, with decimal commas`)
  const pointed = records.slice(1).flat().filter((cell) => /^-?\d+\.\d+$/.test(cell))
  t.strictSame(pointed, [], `${what}: no number with a decimal point`)
}

// ---------------------------------------------------------------------------------------------
// The year close and moves, by the steps their processes take (the service's processes do the same)

const context = (actor: Actor): CommandContext => ({
  actor,
  correlationId: 'report-test',
  causationId: 'report-test',
  idempotencyKey: null,
  requestHash: null,
  expectedRevision: undefined,
})
const FINANCE: Actor = { sub: 'test-finance', role: 'finance' }

export function stepLedger(store: EventStore): Ledger {
  return new Ledger({ store, clock: () => new Date(), newEventId: randomUUID })
}

/** Closes a budget (carrying its open commitments, and the unspent of `carryUnspent`) and has the next year receive what it carried. */
export async function closeBudget(ledger: Ledger, year: number, sozialraum: string, carryUnspent: Line[]): Promise<void> {
  const closed = await ledger.executeBudget(year, sozialraum, { type: 'CloseBudget', carryUnspent }, context(FINANCE))
  if (closed.kind !== 'written') throw new Error(`closing ${year}/${sozialraum}: ${closed.kind === 'rejected' ? closed.error.message : closed.kind}`)
  const carry = carryOverOf(closed.state)
  if (!carriesAnything(carry)) return
  const received = await ledger.executeBudget(year + 1, sozialraum, { type: 'ReceiveCarryOver', carry }, context(FINANCE))
  if (received.kind !== 'written') throw new Error(`receiving ${year}/${sozialraum}: ${received.kind === 'rejected' ? received.error.message : received.kind}`)
}

/** Debits a move and finishes it: credited to the target, or reverted when the target refuses it. */
export async function move(
  ledger: Ledger,
  year: number,
  from: { sozialraum: string; line: Line },
  to: { sozialraum: string; line: Line },
  amountCents: bigint,
): Promise<'completed' | 'reverted'> {
  const id = randomUUID()
  const reason = 'Deckungsfähigkeit'
  const debited = await ledger.executeBudget(
    year,
    from.sozialraum,
    { type: 'DebitMove', moveId: id, line: from.line, amountCents, to, reason },
    context(FINANCE),
  )
  if (debited.kind !== 'written') throw new Error(`debiting a move: ${debited.kind === 'rejected' ? debited.error.message : debited.kind}`)
  const end = await finishMove(ledger, { id, year, from, to, amount: formatCents(amountCents), reason, amountCents }, FINANCE)
  return end.ended
}

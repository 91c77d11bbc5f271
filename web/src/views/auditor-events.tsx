import type { ComponentChildren } from 'preact'
import { Money } from '../components'
import { amountOfCents, COMMITMENT_STATUS_LABELS, germanDate, germanNote, LINE_LABELS } from '../format'
import type { AuditEntry } from '../types'

/**
 * How the auditor's page shows one event of the audit trail: a German name per event type
 * (docs/domain.md, "Event types") and the event's data as recorded, compactly, with amounts
 * (integer cents in the data) as euros.
 */
export const EVENT_LABELS: Readonly<Record<string, string>> = {
  SozialraumRegistered: 'Sozialraum registriert',
  SozialraumStatusChanged: 'Status des Sozialraums geändert',
  BudgetAllocated: 'Zuweisung',
  BudgetAdjusted: 'Korrektur einer Zuweisung',
  BudgetTransferred: 'Umbuchung zwischen Linien',
  CommitmentCreated: 'Mittelbindung angelegt',
  CommitmentApprovalRequested: 'Freigabe erneut angefordert',
  CommitmentAmended: 'Mittelbindung geändert',
  CommitmentApproved: 'Mittelbindung freigegeben',
  CommitmentRejected: 'Mittelbindung abgelehnt',
  InvoiceBooked: 'Rechnung gebucht',
  CommitmentReleased: 'Mittelbindung aufgelöst',
  SpendingRecorded: 'Ausgabe erfasst',
  SpendingReversed: 'Ausgabe storniert',
  CommitmentCarriedOver: 'Mittelbindung ins Folgejahr übertragen',
  AllocationCarriedOver: 'Mittel ins Folgejahr übertragen',
  BudgetClosed: 'Budget abgeschlossen',
  CommitmentCarriedIn: 'Mittelbindung aus dem Vorjahr übernommen',
  BudgetMoveDebited: 'Verschiebung: abgebucht',
  BudgetMoveCredited: 'Verschiebung: gutgeschrieben',
  BudgetMoveRefused: 'Verschiebung: abgelehnt',
  BudgetMoveReverted: 'Verschiebung: zurückgebucht',
  YearCloseRequested: 'Jahresabschluss beantragt',
  YearCloseApproved: 'Jahresabschluss freigegeben',
  YearCloseRejected: 'Jahresabschluss abgelehnt',
  YearClosed: 'Haushaltsjahr abgeschlossen',
  AuditExported: 'Ereignisse exportiert',
}

/** An event type's German name; a type this page does not know yet keeps its technical name. */
export const eventLabel = (type: string): string => EVENT_LABELS[type] ?? type

/** The German name of a data field; fields not listed show their technical name. */
const FIELD_LABELS: Readonly<Record<string, string>> = {
  year: 'Jahr',
  sozialraum: 'Sozialraum',
  sozialraumId: 'Sozialraum',
  name: 'Name',
  status: 'Status',
  line: 'Linie',
  fromLine: 'von Linie',
  toLine: 'auf Linie',
  kind: 'Art',
  fromYear: 'aus Jahr',
  toYear: 'ins Jahr',
  amountCents: 'Betrag',
  unspentCents: 'davon nicht verbraucht',
  approvedAmountCents: 'freigegeben',
  carriedCents: 'übertragene Bindungen',
  allocationCarriedCents: 'übertragene Mittel',
  unspentCarriedCents: 'übertragene Restmittel',
  lapsedCents: 'verfallen',
  lapsed: 'verfallen',
  budgets: 'Budgets',
  carriedCommitments: 'übertragene Mittelbindungen',
  decisionRef: 'Beschluss',
  receiptRef: 'Beleg',
  note: 'Notiz',
  reason: 'Begründung',
  why: 'Grund',
  comment: 'Kommentar',
  purpose: 'Zweck',
  category: 'Kategorie',
  provider: 'Träger',
  caseRef: 'Fall',
  helpType: 'Hilfeart',
  period: 'Zeitraum',
  from: 'von',
  to: 'nach',
  invoiceNo: 'Rechnung',
  invoiceDate: 'Rechnungsdatum',
  date: 'Datum',
  commitmentId: 'Mittelbindung',
  toCommitmentId: 'neue Mittelbindung',
  spendingId: 'Ausgabe',
  moveId: 'Verschiebung',
  overBudget: 'überplanmäßig',
  overBudgetJustification: 'Begründung Überschreitung',
  approvedOverBudget: 'überplanmäßig freigegeben',
  approvedOverBudgetJustification: 'freigegebene Begründung Überschreitung',
  requestedBy: 'beantragt von',
  carryUnspent: 'Restmittel übertragen',
  format: 'Format',
}

/** Inside a value (a period's ends): "to" is where it ends, not where money went. */
const PART_LABELS: Readonly<Record<string, string>> = { to: 'bis' }

/** Fields whose numbers are cents although their name does not end in "Cents": BudgetClosed's lapsed lines. */
const CENTS_OBJECTS = new Set(['lapsed'])
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/
/** Fields that hold a calendar day (an invoice's, a spending's, a period's ends): shown the German way. */
const DATE_FIELDS = new Set(['date', 'invoiceDate', 'from', 'to'])

/**
 * Integer cents (as the events record them) as the API's decimal notation, "-125050" → "-1250.50":
 * no float ever touches an amount. Undefined for what is not a safe integer.
 */
function eventAmount(cents: unknown): string | undefined {
  return typeof cents === 'number' && Number.isSafeInteger(cents) ? amountOfCents(BigInt(cents)) : undefined
}

/**
 * The German word for a coded value, by the field it is in: "ambulatory" in `line`, "open" in
 * `status`. Free text (a purpose, a reason) is shown exactly as recorded, whatever it says.
 */
const LINE_WORDS: Readonly<Record<string, string>> = LINE_LABELS
const STATUS_WORDS: Readonly<Record<string, string>> = { ...COMMITMENT_STATUS_LABELS, pilot: 'Pilot', permanent: 'Regelbetrieb' }
const VALUE_WORDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  line: LINE_WORDS,
  fromLine: LINE_WORDS,
  toLine: LINE_WORDS,
  carryUnspent: LINE_WORDS,
  status: STATUS_WORDS,
  kind: { allocation: 'Zuweisung', 'carry-over': 'Übertrag aus dem Vorjahr' },
  format: { csv: 'CSV', jsonl: 'JSONL' },
}

const word = (field: string, value: string): string => VALUE_WORDS[field]?.[value] ?? value

/** One value of the data (of `field`), shown as an auditor reads it. `cents` says its numbers are amounts. */
function DataValue({ field, value, cents }: { field: string; value: unknown; cents: boolean }): ComponentChildren {
  if (cents) {
    const amount = eventAmount(value)
    if (amount !== undefined) return <Money amount={amount} />
  }
  if (typeof value === 'boolean') return value ? 'ja' : 'nein'
  if (typeof value === 'string') return DATE_FIELDS.has(field) && ISO_DATE.test(value) ? germanDate(value) : word(field, value)
  if (Array.isArray(value)) return value.length === 0 ? '–' : value.map((item) => (typeof item === 'string' ? word(field, item) : JSON.stringify(item))).join(', ')
  if (typeof value === 'object' && value !== null) {
    // A period, a move's other end, the lapsed money per line (keyed by line): its parts in a row.
    return Object.entries(value).map(([key, part], index) => (
      <span key={key}>
        {index > 0 && ', '}
        {PART_LABELS[key] ?? FIELD_LABELS[key] ?? LINE_WORDS[key] ?? key} <DataValue field={key} value={part} cents={cents} />
      </span>
    ))
  }
  return String(value)
}

/** The fields the stream's name says already: year and Sozialraum in budget-2026-malstatt, the year in year-2026. */
function namedByStream(entry: AuditEntry): readonly string[] {
  const { year, sozialraum } = entry.data
  if (entry.streamId === `budget-${String(year)}-${String(sozialraum)}`) return ['year', 'sozialraum']
  if (entry.streamId === `year-${String(year)}`) return ['year']
  return []
}

/** The event's data as a compact list of fields, without what the stream column shows already. */
export function EventData({ entry }: { entry: AuditEntry }) {
  const named = namedByStream(entry)
  const fields = Object.entries(entry.data).filter(([key]) => !named.includes(key))
  if (fields.length === 0) return <span class="muted">–</span>
  return (
    <dl class="au-data">
      {fields.map(([key, value]) => (
        <div key={key}>
          <dt>{FIELD_LABELS[key] ?? key}</dt>
          <dd>
            {key === 'note' && entry.data.kind === 'carry-over' && typeof value === 'string' ? (
              // The close's own note, in German; the recorded words on hover (and in the export).
              <span title={value}>{germanNote(value)}</span>
            ) : (
              <DataValue field={key} value={value} cents={key.endsWith('Cents') || CENTS_OBJECTS.has(key)} />
            )}
          </dd>
        </div>
      ))}
    </dl>
  )
}

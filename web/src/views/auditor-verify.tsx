import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { asProblem } from '../api'
import { useApp } from '../app'
import { Section } from '../components'
import { problemMessage } from '../messages'

/**
 * The two checks an auditor runs on the whole ledger: verify the log (POST /v1/audit/verify) and
 * export a year's events as a file (GET /v1/audit/export), both described in docs/api.md, "Audit".
 */

interface ChainBreak {
  position: string
  streamId: string
  revision: string
  eventId?: string
  reason: string
}

interface Mismatch {
  year: number
  sozialraum: string
  field: string
  expected: string
  actual: string
  divergedAt: string | null
}

interface TrailMismatch {
  position: string
  field: string
  expected: string
  actual: string
}

/** The verify report (docs/api.md, "Seal and verify"); this page verifies without a seal. */
export interface VerifyReport {
  ok: boolean
  eventsChecked: number
  head: string
  comparedAt: { balances: string; commitments: string; spending: string }
  mismatches: Mismatch[]
  mismatchesFound: number
  chain: { ok: boolean; brokenAt?: ChainBreak; breaks: ChainBreak[]; breaksFound: number }
  auditTrail: { ok: boolean; comparedAt: string; mismatches: TrailMismatch[]; mismatchesFound: number }
  /** The same shape: a position, a column (or `row`), what the events say and what the history holds. */
  balanceHistory: { ok: boolean; comparedAt: string; mismatches: TrailMismatch[]; mismatchesFound: number }
}

/** A verify reads the whole log: about 35 s per million events (docs/api.md), so it gets far longer than other requests. */
const VERIFY_TIMEOUT_MS = 10 * 60_000
/** Problems listed on the page; the counts say how many there were, the CLI's JSON report has them all. */
const SHOWN_PROBLEMS = 20
const COUNT = new Intl.NumberFormat('de-DE')

export function VerifySection() {
  const { api } = useApp()
  const [state, setState] = useState<{ busy: boolean; report?: VerifyReport; error?: string }>({ busy: false })
  const run = async () => {
    setState({ busy: true })
    try {
      const report = await api.post<VerifyReport>('/v1/audit/verify', {}, { idempotencyKey: crypto.randomUUID(), timeoutMs: VERIFY_TIMEOUT_MS })
      setState({ busy: false, report })
    } catch (error) {
      const problem = asProblem(error)
      // Here a 409 means another verify is running, not the generic "exists already".
      const message = problem.code === 'conflict' ? 'Gerade läuft schon eine Prüfung. Bitte versuchen Sie es nach deren Ende noch einmal.' : problemMessage(problem)
      setState({ busy: false, error: message })
    }
  }
  return (
    <Section title="Protokoll prüfen">
      <p class="muted">
        Prüft die Hash-Kette jedes Streams, vergleicht die Salden, Mittelbindungen und Ausgaben mit einer Neuberechnung aus den Ereignissen und den
        Prüfpfad mit dem Protokoll. Bei sehr großen Protokollen dauert das bis zu einigen Minuten.
      </p>
      <button type="button" onClick={() => void run()} disabled={state.busy}>
        {state.busy ? 'Prüfung läuft …' : 'Jetzt prüfen'}
      </button>
      {/* One live region announces the verdict, or the refusal, once it arrives. */}
      <div aria-live="polite">
        {state.error !== undefined && <p class="problem">{state.error}</p>}
        {state.report !== undefined && <VerifyResult report={state.report} />}
      </div>
    </Section>
  )
}

/** "in Ordnung", or how many problems of one kind were found. */
const verdict = (found: number, noun: [string, string]) => (found === 0 ? 'in Ordnung' : `${COUNT.format(found)} ${found === 1 ? noun[0] : noun[1]}`)

function VerifyResult({ report }: { report: VerifyReport }) {
  const { comparedAt } = report
  return (
    <div class="au-verify" data-ok={String(report.ok)}>
      <p class={report.ok ? 'au-verdict ok' : 'au-verdict bad'}>
        <span aria-hidden="true">{report.ok ? '✓ ' : '✗ '}</span>
        {report.ok ? 'Das Protokoll ist in Ordnung.' : 'Das Protokoll ist NICHT in Ordnung.'}
      </p>
      <table class="au-figures">
        <caption class="au-hidden">Ergebnis der Prüfung</caption>
        <tbody>
          <Figure label="Geprüfte Ereignisse" name="eventsChecked">{COUNT.format(report.eventsChecked)}</Figure>
          <Figure label="Geprüft bis Ereignis Nr." name="head">{report.head}</Figure>
          <Figure label="Hash-Ketten" name="chain">
            {verdict(report.chain.breaksFound, ['Bruch', 'Brüche'])}
            {report.chain.brokenAt !== undefined && `, erster bei Ereignis Nr. ${report.chain.brokenAt.position}`}
          </Figure>
          <Figure label="Lesemodelle gegen Ereignisse" name="mismatches">
            {verdict(report.mismatchesFound, ['Abweichung', 'Abweichungen'])}
            <small class="muted au-block">
              verglichen bis Nr. {comparedAt.balances} (Salden), {comparedAt.commitments} (Mittelbindungen), {comparedAt.spending} (Ausgaben)
            </small>
          </Figure>
          <Figure label="Prüfpfad gegen Protokoll" name="auditTrail">
            {verdict(report.auditTrail.mismatchesFound, ['Abweichung', 'Abweichungen'])}
            <small class="muted au-block">verglichen bis Nr. {report.auditTrail.comparedAt}</small>
          </Figure>
          <Figure label="Salden-Verlauf gegen Ereignisse" name="balanceHistory">
            {verdict(report.balanceHistory.mismatchesFound, ['Abweichung', 'Abweichungen'])}
            <small class="muted au-block">verglichen bis Nr. {report.balanceHistory.comparedAt}</small>
          </Figure>
        </tbody>
      </table>
      <ProblemTable
        title="Brüche der Hash-Ketten"
        found={report.chain.breaksFound}
        rows={report.chain.breaks}
        columns={[
          ['Nr.', (row) => row.position],
          ['Stream', (row) => row.streamId],
          ['Revision', (row) => row.revision],
          ['Grund', (row) => row.reason],
        ]}
      />
      <ProblemTable
        title="Abweichungen der Lesemodelle"
        found={report.mismatchesFound}
        rows={report.mismatches}
        columns={[
          ['Budget', (row) => `${row.sozialraum} ${row.year}`],
          ['Feld', (row) => row.field],
          ['laut Ereignissen', (row) => row.expected],
          ['laut Lesemodell', (row) => row.actual],
          ['abweichend seit Nr.', (row) => row.divergedAt ?? '–'],
        ]}
      />
      <ProblemTable
        title="Abweichungen des Prüfpfads"
        found={report.auditTrail.mismatchesFound}
        rows={report.auditTrail.mismatches}
        columns={[
          ['Nr.', (row) => row.position],
          ['Feld', (row) => row.field],
          ['laut Protokoll', (row) => row.expected],
          ['im Prüfpfad', (row) => row.actual],
        ]}
      />
      <ProblemTable
        title="Abweichungen des Salden-Verlaufs"
        found={report.balanceHistory.mismatchesFound}
        rows={report.balanceHistory.mismatches}
        columns={[
          ['Nr.', (row) => row.position],
          ['Feld', (row) => row.field],
          ['laut Ereignissen', (row) => row.expected],
          ['im Verlauf', (row) => row.actual],
        ]}
      />
    </div>
  )
}

function Figure({ label, name, children }: { label: string; name: string; children: ComponentChildren }) {
  return (
    <tr data-figure={name}>
      <th scope="row">{label}</th>
      <td>{children}</td>
    </tr>
  )
}

/** The first problems of one kind, as the report names them (technical values: the auditor passes them on to the operators). */
function ProblemTable<T>({ title, found, rows, columns }: { title: string; found: number; rows: readonly T[]; columns: readonly [string, (row: T) => string][] }) {
  if (rows.length === 0) return null
  const shown = rows.slice(0, SHOWN_PROBLEMS)
  return (
    <div class="table-wrap">
      <table class="au-problems">
        <caption>
          {title}
          {found > shown.length && ` (die ersten ${shown.length} von ${COUNT.format(found)})`}
        </caption>
        <thead>
          <tr>
            {columns.map(([label]) => (
              <th scope="col" key={label}>
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row, index) => (
            <tr key={index}>
              {columns.map(([label, value]) => (
                <td class="au-break" key={label}>
                  {value(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/**
 * Saves a file the API answered. The export needs the bearer token, so a plain link cannot fetch
 * it: the page fetches it, and a temporary link to a blob: URL hands it to the browser's download
 * (the CSP allows no inline script, but a navigation to a blob: URL is no script).
 */
function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  // Revoked later, not at once: the browser reads the blob after click() has returned.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

const FORMATS = [
  { format: 'csv', label: 'CSV für Excel herunterladen' },
  { format: 'jsonl', label: 'JSONL herunterladen' },
] as const

export function ExportSection() {
  const { api, year } = useApp()
  const [state, setState] = useState<{ busy?: string; done?: string; error?: string }>({})
  const download = async (format: string) => {
    setState({ busy: format })
    try {
      const { blob, filename } = await api.download(`/v1/audit/export?year=${year}&format=${format}`)
      saveFile(blob, filename)
      setState({ done: `${filename} wurde heruntergeladen.` })
    } catch (error) {
      setState({ error: problemMessage(asProblem(error)) })
    }
  }
  return (
    <Section title="Export">
      <p class="muted">
        Alle Ereignisse der Budgets des Haushaltsjahres {year} als Datei: CSV für Excel (Semikolon, Dezimalkomma) oder JSONL für Programme (eine Zeile
        je Ereignis). Jeder Export wird selbst im Protokoll vermerkt.
      </p>
      <div class="actions">
        {FORMATS.map(({ format, label }) => (
          <button key={format} type="button" class={format === 'csv' ? undefined : 'secondary'} disabled={state.busy !== undefined} onClick={() => void download(format)}>
            {state.busy === format ? 'Wird erstellt …' : label}
          </button>
        ))}
      </div>
      <div aria-live="polite">
        {state.done !== undefined && <p class="success">{state.done}</p>}
        {state.error !== undefined && <p class="problem">{state.error}</p>}
      </div>
    </Section>
  )
}

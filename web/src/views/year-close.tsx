import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { seg } from '../api'
import { useApp } from '../app'
import { Form, LoadState, Money, Section, useLoad, type Values } from '../components'
import { LINE_LABELS, timestamp } from '../format'
import type { FiscalYear, Line, WriteAnswer } from '../types'
import { readAfter } from '../writes'
import { asFourEyes, asYearOrder } from './finance-data'

const STATUS_LABELS: Record<FiscalYear['status'], string> = {
  open: 'offen',
  'close-requested': 'Abschluss beantragt, wartet auf Freigabe',
  closing: 'wird abgeschlossen',
  closed: 'abgeschlossen',
}

/** While the close runs budget by budget, the page reads the year again this often to show its progress. */
const CLOSING_POLL_MS = 2000

/** What the close write answers: the year's new status (docs/api.md, "Fiscal years"). */
type YearWritten = WriteAnswer & Pick<FiscalYear, 'year' | 'status' | 'request' | 'decision'>

/** The carry-over choices as one select: the API takes a list of lines. */
const CARRY_OPTIONS = [
  { value: 'none', label: 'Keine: ungenutzte Mittel verfallen' },
  { value: 'ambulatory', label: `Nur ${LINE_LABELS.ambulatory}` },
  { value: 'flexible', label: `Nur ${LINE_LABELS.flexible}` },
  { value: 'ambulatory,flexible', label: 'Beide Haushaltslinien' },
]

const linesOf = (choice: string): Line[] => (choice === 'none' || choice === '' ? [] : (choice.split(',') as Line[]))

function Row({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  )
}

/** The year's status, who asked and who decided, and what the close carried (docs/fiscal-year.md). */
function YearStatus({ fiscalYear }: { fiscalYear: FiscalYear }) {
  const { request, decision, carried } = fiscalYear
  return (
    <dl class="fin-facts" data-status={fiscalYear.status}>
      <Row label="Status">
        <strong>{STATUS_LABELS[fiscalYear.status]}</strong>
      </Row>
      {request !== undefined && (
        <Row label="Beantragt">
          von {request.by} am {timestamp(request.at)}: „{request.reason}“; Übertrag ungenutzter Mittel:{' '}
          {request.carryUnspent.length === 0 ? 'keiner' : request.carryUnspent.map((line) => LINE_LABELS[line]).join(', ')}
        </Row>
      )}
      {decision !== undefined && (
        <Row label="Entscheidung">
          {decision.decision === 'approve' ? 'freigegeben' : 'abgelehnt'} von {decision.by} am {timestamp(decision.at)}
          {decision.comment !== undefined && <>: „{decision.comment}“</>}
        </Row>
      )}
      <Row label="Budgets abgeschlossen">
        {fiscalYear.budgets.closed} von {fiscalYear.budgets.total}
      </Row>
      {fiscalYear.closedAt !== undefined && <Row label="Abgeschlossen am">{timestamp(fiscalYear.closedAt)}</Row>}
      {fiscalYear.status !== 'open' && fiscalYear.status !== 'close-requested' && (
        <>
          <Row label="Übertragene Mittelbindungen">
            {String(carried.commitments)} (Rest <Money amount={String(carried.amount)} />), davon im Folgejahr eröffnet: {String(carried.received)}
          </Row>
          <Row label="Übertragene Zuweisung">
            <Money amount={String(carried.allocation)} /> (davon ungenutzte Mittel <Money amount={String(carried.unspent)} />)
          </Row>
          <Row label="Verfallen">
            <Money amount={String(carried.lapsed)} />
          </Row>
        </>
      )}
    </dl>
  )
}

function RequestCloseForm({ year, onWritten }: { year: number; onWritten: (answer: YearWritten) => void }) {
  const { api } = useApp()
  return (
    <Form<YearWritten>
      title={`Abschluss ${year} beantragen`}
      fields={[
        { name: 'reason', label: 'Begründung', kind: 'textarea', required: true },
        { name: 'carryUnspent', label: 'Ungenutzte Mittel ins Folgejahr übertragen', kind: 'select', options: CARRY_OPTIONS, required: true, hint: 'Offene Mittelbindungen werden immer übertragen.' },
      ]}
      initial={{ carryUnspent: 'none' }}
      submitLabel="Abschluss beantragen"
      submit={(values: Values, idempotencyKey) =>
        api
          .post<YearWritten>(`/v1/years/${seg(year)}/close`, { reason: values.reason, carryUnspent: linesOf(values.carryUnspent ?? '') }, { idempotencyKey })
          .catch((error: unknown) => Promise.reject(asYearOrder(error)))
      }
      done={onWritten}
      success={() => 'Der Abschluss ist beantragt. Eine zweite Person aus dem Finanzcontrolling muss ihn freigeben.'}
    />
  )
}

function DecideCloseForm({ year, onWritten }: { year: number; onWritten: (answer: YearWritten) => void }) {
  const { api } = useApp()
  return (
    <Form<YearWritten>
      title={`Über den Abschluss ${year} entscheiden`}
      fields={[
        {
          name: 'decision',
          label: 'Entscheidung',
          kind: 'select',
          options: [
            { value: 'approve', label: 'Freigeben: das Jahr wird abgeschlossen' },
            { value: 'reject', label: 'Ablehnen: das Jahr bleibt offen' },
          ],
          required: true,
        },
        { name: 'comment', label: 'Kommentar', kind: 'textarea' },
      ]}
      initial={{ decision: 'approve' }}
      submitLabel="Entscheiden"
      submit={(values, idempotencyKey) =>
        api
          .post<YearWritten>(`/v1/years/${seg(year)}/close/approval`, { decision: values.decision, ...(values.comment === '' ? {} : { comment: values.comment }) }, { idempotencyKey })
          .catch((error: unknown) => Promise.reject(asYearOrder(asFourEyes(error))))
      }
      done={onWritten}
      success={(answer) => (answer.status === 'closing' ? 'Freigegeben: Der Abschluss läuft.' : 'Abgelehnt: Das Jahr bleibt offen.')}
    />
  )
}

/**
 * The year close (#/jahresabschluss): one finance controller asks, a second decides (four eyes);
 * while the close runs, the page follows its progress.
 */
export function YearClosePage() {
  const { api, year, session } = useApp()
  const [after, setAfter] = useState<string>()
  const loaded = useLoad(() => api.get<FiscalYear>(readAfter(`/v1/years/${seg(year)}`, after)), [year, after])
  const fiscalYear = loaded.data

  useEffect(() => {
    if (fiscalYear?.status !== 'closing') return
    const timer = setTimeout(loaded.reload, CLOSING_POLL_MS)
    return () => clearTimeout(timer)
  }, [fiscalYear, loaded.error])

  const written = (answer: YearWritten) => {
    // The answer has the new status at once; the progress figures come with the next read.
    // An approval's answer names no decision of the request itself: keep the one shown until the read.
    loaded.update((current) => ({ ...current, status: answer.status, request: answer.request ?? current.request, decision: answer.decision ?? current.decision }))
    setAfter(answer.position)
  }

  return (
    <Section title={`Jahresabschluss ${year}`}>
      <LoadState loaded={loaded} />
      {fiscalYear !== undefined && (
        <>
          <YearStatus fiscalYear={fiscalYear} />
          {fiscalYear.status === 'open' && <RequestCloseForm year={year} onWritten={written} />}
          {fiscalYear.status === 'close-requested' && (
            <>
              {fiscalYear.request?.by === session.sub && (
                <p class="warning">Sie haben diesen Abschluss beantragt: Freigeben muss ihn eine zweite Person aus dem Finanzcontrolling.</p>
              )}
              <DecideCloseForm year={year} onWritten={written} />
            </>
          )}
        </>
      )}
    </Section>
  )
}

import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiProblem, seg } from '../api'
import { bodyOf, Form, Money, type FieldSpec } from '../components'
import { COMMITMENT_STATUS_LABELS, germanDate, LINE_LABELS, timestamp } from '../format'
import type { Commitment } from '../types'
import { LINE_OPTIONS, withWarnings, type Written } from '../writes'
import { problemMessage } from '../messages'
import { asDecidedMeanwhile, asFourEyes } from './finance-data'
import type { LedgerHandle } from './teamlead-ledger'

const OVER_BUDGET_HINT = 'Nur wenn die ambulante Linie nicht reicht. Dann entscheidet das Finanzcontrolling über die Freigabe.'

const COMMIT_FIELDS: readonly FieldSpec[] = [
  { name: 'provider', label: 'Träger', kind: 'text', required: true },
  { name: 'caseRef', label: 'Aktenzeichen', kind: 'text', required: true },
  { name: 'helpType', label: 'Hilfeart', kind: 'text', hint: 'z. B. SGB VIII § 31' },
  { name: 'line', label: 'Haushaltslinie', kind: 'select', options: LINE_OPTIONS, required: true },
  {
    name: 'amount',
    label: 'Betrag',
    kind: 'amount',
    required: true,
    hint: 'Große Beträge (in der Regel ab 10.000,00 €) gibt eine zweite Person frei.',
  },
  { name: 'period.from', label: 'Zeitraum von', kind: 'date', required: true },
  { name: 'period.to', label: 'Zeitraum bis', kind: 'date', required: true },
  { name: 'decisionRef', label: 'Bescheid', kind: 'text', hint: 'Aktenzeichen des Bewilligungsbescheids, falls vorhanden' },
  { name: 'overBudget.justification', label: 'Begründung für eine Überschreitung', kind: 'textarea', hint: OVER_BUDGET_HINT },
]

const INVOICE_FIELDS: readonly FieldSpec[] = [
  { name: 'invoiceNo', label: 'Rechnungsnummer', kind: 'text', required: true },
  { name: 'amount', label: 'Betrag', kind: 'amount', required: true },
  { name: 'invoiceDate', label: 'Rechnungsdatum', kind: 'date', required: true },
]

const AMEND_FIELDS: readonly FieldSpec[] = [
  { name: 'amount', label: 'Änderung', kind: 'amount', signed: true, required: true, hint: 'Erhöhung positiv, Kürzung mit Minus, z. B. -500,00' },
  { name: 'reason', label: 'Grund', kind: 'textarea', required: true },
  { name: 'overBudget.justification', label: 'Begründung für eine Überschreitung', kind: 'textarea', hint: OVER_BUDGET_HINT },
]

const RELEASE_FIELDS: readonly FieldSpec[] = [{ name: 'reason', label: 'Grund', kind: 'textarea', required: true }]

const DECISION_FIELDS: readonly FieldSpec[] = [
  {
    name: 'decision',
    label: 'Entscheidung',
    kind: 'select',
    required: true,
    options: [
      { value: 'approve', label: 'Freigeben' },
      { value: 'reject', label: 'Ablehnen' },
    ],
  },
  { name: 'comment', label: 'Kommentar', kind: 'textarea' },
]

const WITHDRAW_FIELDS: readonly FieldSpec[] = [{ name: 'comment', label: 'Kommentar', kind: 'textarea' }]

const commitmentPath = (commitment: Commitment, action: string) => `/commitments/${seg(commitment.id)}/${action}`

function periodText(period: Commitment['period']): string {
  return `${germanDate(period.from)} – ${germanDate(period.to)}`
}

/** The form for a new commitment; the period defaults to the whole fiscal year. */
export function CommitForm({ year, ledger }: { year: number; ledger: LedgerHandle }) {
  return (
    <Form<Written<Commitment>>
      title="Neue Mittelbindung"
      fields={COMMIT_FIELDS}
      initial={{ line: 'ambulatory', 'period.from': `${year}-01-01`, 'period.to': `${year}-12-31` }}
      submitLabel="Mittelbindung anlegen"
      submit={(values, key) => ledger.write<Commitment>('/commitments', bodyOf(values), key)}
      done={ledger.commitmentWritten}
      success={(answer) =>
        withWarnings(
          answer.status === 'requested'
            ? `Mittelbindung ${answer.caseRef} angelegt. Sie wartet auf die Freigabe durch eine zweite Person.`
            : `Mittelbindung ${answer.caseRef} angelegt.`,
          answer,
        )
      }
    />
  )
}

/** The budget's commitments; each case reference opens its panel for invoices, amendments and release. */
export function CommitmentTable(props: { commitments: readonly Commitment[]; selected: string | undefined; onSelect: (id: string) => void }) {
  if (props.commitments.length === 0) return <p class="muted">Noch keine Mittelbindungen.</p>
  return (
    <div class="table-wrap">
      <table class="tl-commitments">
        <caption class="muted">Mittelbindungen mit Rechnungen und Rest</caption>
        <thead>
          <tr>
            <th scope="col">Aktenzeichen</th>
            <th scope="col">Träger</th>
            <th scope="col">Linie</th>
            <th scope="col">Zeitraum</th>
            <th scope="col" class="num">Betrag</th>
            <th scope="col" class="num">Abgerechnet</th>
            <th scope="col" class="num">Rest</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {props.commitments.map((commitment) => (
            <tr key={commitment.id} data-commitment={commitment.id} aria-current={commitment.id === props.selected ? 'true' : undefined}>
              <th scope="row">
                {/* The case reference opens the commitment: first in the row, so it never scrolls out of sight. */}
                <button type="button" class="tl-open" aria-label={`Mittelbindung ${commitment.caseRef} öffnen`} onClick={() => props.onSelect(commitment.id)}>
                  {commitment.caseRef}
                </button>
              </th>
              <td>{commitment.provider}</td>
              <td>{LINE_LABELS[commitment.line]}</td>
              <td>{periodText(commitment.period)}</td>
              <td class="num" data-figure="amount">
                <Money amount={commitment.amount} />
              </td>
              <td class="num" data-figure="invoiced">
                <Money amount={commitment.invoiced} />
              </td>
              <td class="num" data-figure="remaining">
                <Money amount={commitment.remaining} />
              </td>
              <td data-status={commitment.status}>
                <StatusBadge commitment={commitment} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function StatusBadge({ commitment }: { commitment: Commitment }) {
  return (
    <>
      {COMMITMENT_STATUS_LABELS[commitment.status]}
      {commitment.overBudget && <span class="badge over"> überplanmäßig</span>}
    </>
  )
}

/**
 * One commitment: its details and invoices, and what may be done with it now. An open one takes
 * invoices, amendments and its release; one waiting for approval can only be withdrawn by whoever
 * asked for it. Focus moves to its heading when it opens, so keyboard users land where it is.
 */
export function CommitmentPanel(props: { commitment: Commitment; ledger: LedgerHandle; me: string; onClose: () => void }) {
  const { commitment, ledger } = props
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [commitment.id])
  // Set when a withdrawal came too late (someone decided meanwhile): the form goes with the reload.
  const [notice, setNotice] = useState<string>()
  return (
    <section class="card tl-panel" aria-labelledby="tl-panel-title" data-commitment={commitment.id}>
      <div class="card-head">
        <h2 id="tl-panel-title" tabIndex={-1} ref={heading}>
          Mittelbindung {commitment.caseRef}
        </h2>
        <button type="button" class="secondary" onClick={props.onClose}>
          Schließen
        </button>
      </div>
      <CommitmentFacts commitment={commitment} />
      <InvoiceTable commitment={commitment} />
      <div class="grid">
        {commitment.status === 'open' && (
          <>
            <Form
              title="Rechnung buchen"
              fields={INVOICE_FIELDS}
              submitLabel="Rechnung buchen"
              submit={(values, key) => ledger.write<Commitment>(commitmentPath(commitment, 'invoices'), bodyOf(values), key)}
              done={ledger.commitmentWritten}
              success={(answer) => withWarnings('Rechnung gebucht.', answer)}
            />
            <Form
              title="Betrag ändern"
              fields={AMEND_FIELDS}
              submitLabel="Änderung buchen"
              submit={(values, key) => ledger.write<Commitment>(commitmentPath(commitment, 'amendments'), bodyOf(values), key)}
              done={ledger.commitmentWritten}
              success={(answer) =>
                withWarnings(answer.status === 'requested' ? 'Änderung beantragt: Sie wartet auf die Freigabe.' : 'Änderung gebucht.', answer)
              }
            />
            <Form
              title="Abschließen und Rest zurückgeben"
              fields={RELEASE_FIELDS}
              submitLabel="Abschließen"
              submit={(values, key) => ledger.write<Commitment>(commitmentPath(commitment, 'release'), bodyOf(values), key)}
              done={ledger.commitmentWritten}
              success={() => 'Mittelbindung abgeschlossen; der Rest steht wieder zur Verfügung.'}
            />
          </>
        )}
        {commitment.status === 'requested' && commitment.requestedBy === props.me && (
          <DecisionForm commitment={commitment} ledger={ledger} withdraw onStale={setNotice} />
        )}
      </div>
      {notice !== undefined && (
        <p class="problem" role="alert">
          {notice}
        </p>
      )}
      {commitment.status === 'requested' && (
        <p class="muted">Rechnungen und Änderungen sind erst nach der Freigabe möglich.</p>
      )}
    </section>
  )
}

function CommitmentFacts({ commitment }: { commitment: Commitment }) {
  const decision = commitment.lastDecision
  return (
    <dl class="tl-facts">
      <dt>Träger</dt>
      <dd>{commitment.provider}</dd>
      {commitment.helpType !== undefined && (
        <>
          <dt>Hilfeart</dt>
          <dd>{commitment.helpType}</dd>
        </>
      )}
      <dt>Haushaltslinie</dt>
      <dd>{LINE_LABELS[commitment.line]}</dd>
      <dt>Zeitraum</dt>
      <dd>{periodText(commitment.period)}</dd>
      {commitment.decisionRef !== undefined && (
        <>
          <dt>Bescheid</dt>
          <dd>{commitment.decisionRef}</dd>
        </>
      )}
      <dt>Betrag / abgerechnet / Rest</dt>
      <dd>
        <Money amount={commitment.amount} /> / <Money amount={commitment.invoiced} /> / <Money amount={commitment.remaining} />
      </dd>
      <dt>Status</dt>
      <dd>
        <StatusBadge commitment={commitment} />
      </dd>
      {commitment.overBudgetJustification !== undefined && (
        <>
          <dt>Begründung der Überschreitung</dt>
          <dd>{commitment.overBudgetJustification}</dd>
        </>
      )}
      <dt>Angelegt</dt>
      <dd>
        {commitment.createdBy}, {timestamp(commitment.createdAt)}
      </dd>
      {commitment.requestedBy !== null && (
        <>
          <dt>Beantragt von</dt>
          <dd>{commitment.requestedBy}</dd>
        </>
      )}
      {decision !== undefined && (
        <>
          <dt>Letzte Entscheidung</dt>
          <dd>
            {decision.decision === 'approve' ? 'freigegeben' : 'abgelehnt'} von {decision.by}, {timestamp(decision.at)}
            {decision.comment !== undefined && `: „${decision.comment}“`}
          </dd>
        </>
      )}
    </dl>
  )
}

function InvoiceTable({ commitment }: { commitment: Commitment }) {
  if (commitment.invoices.length === 0) return <p class="muted">Noch keine Rechnungen.</p>
  return (
    <div class="table-wrap">
      <table class="tl-invoices">
        <caption class="muted">Rechnungen zu {commitment.caseRef}</caption>
        <thead>
          <tr>
            <th scope="col">Rechnungsnummer</th>
            <th scope="col">Datum</th>
            <th scope="col" class="num">Betrag</th>
          </tr>
        </thead>
        <tbody>
          {commitment.invoices.map((invoice) => (
            <tr key={invoice.invoiceNo}>
              <th scope="row">{invoice.invoiceNo}</th>
              <td>{germanDate(invoice.invoiceDate)}</td>
              <td class="num">
                <Money amount={invoice.amount} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A decision sent, with the answer: the message says what was sent (a rejected increase answers `open`). */
interface Decided {
  decision: 'approve' | 'reject'
  answer: Written<Commitment>
}

function decidedMessage({ decision, answer }: Decided, withdraw: boolean): string {
  // A rejection of an increase leaves the commitment open with the terms approved before.
  const kept = answer.status === 'open' ? ' Es gilt der zuletzt freigegebene Betrag.' : ''
  if (withdraw) return `Antrag zu ${answer.caseRef} zurückgezogen.${kept}`
  return decision === 'approve' ? `${answer.caseRef} freigegeben.` : `${answer.caseRef} abgelehnt.${kept}`
}

/**
 * A decision on a commitment that waits for approval. Someone else's request is approved or
 * rejected; the requester can only withdraw their own (the API's rejection by the requester).
 */
function DecisionForm(props: { commitment: Commitment; ledger: LedgerHandle; withdraw?: boolean; onStale: (message: string | undefined) => void }) {
  const { commitment, ledger, withdraw = false } = props
  return (
    <Form<Decided>
      title={withdraw ? 'Antrag zurückziehen' : `Entscheidung zu ${commitment.caseRef}`}
      fields={withdraw ? WITHDRAW_FIELDS : DECISION_FIELDS}
      initial={{ decision: 'approve' }}
      submitLabel={withdraw ? 'Zurückziehen' : 'Entscheidung senden'}
      submit={async (values, key) => {
        const decision = withdraw || values.decision === 'reject' ? 'reject' : 'approve'
        try {
          const answer = await ledger.write<Commitment>(commitmentPath(commitment, 'approval'), bodyOf({ ...values, decision }), key)
          return { decision, answer }
        } catch (error) {
          // A 403 here means this person asked for it (the form is offered to no one else who may not decide).
          const refused = asDecidedMeanwhile(asFourEyes(error))
          // A 409: it waits no longer. The budget is read again (the form goes), and the page says why.
          if (refused instanceof ApiProblem && refused.code === 'decided-meanwhile') {
            props.onStale(problemMessage(refused))
            ledger.loaded.reload()
          }
          throw refused
        }
      }}
      done={({ answer }) => {
        props.onStale(undefined)
        ledger.commitmentWritten(answer)
      }}
      success={(decided) => decidedMessage(decided, withdraw)}
    />
  )
}

/**
 * Commitments in this budget that someone else asked for and that wait for a second person. An
 * over-budget one is listed too, but only finance may decide on it (docs/domain.md, rule 6).
 */
export function Approvals({ commitments, me, ledger }: { commitments: readonly Commitment[]; me: string; ledger: LedgerHandle }) {
  // Who asked may not approve (rule 6): not always who created it (an increase, a carried commitment).
  const waiting = commitments.filter((commitment) => commitment.status === 'requested' && commitment.requestedBy !== me)
  // Set when a decision came too late (someone else decided meanwhile): the list is read again.
  const [notice, setNotice] = useState<string>()
  const said = notice !== undefined && (
    <p class="problem" role="alert">
      {notice}
    </p>
  )
  if (waiting.length === 0) {
    return (
      <>
        {said}
        <p class="muted">Keine Mittelbindungen warten auf Ihre Freigabe.</p>
      </>
    )
  }
  return (
    <>
      {said}
      <ul class="tl-approvals">
        {waiting.map((commitment) => (
          <li key={commitment.id} data-commitment={commitment.id}>
            <p>
              <strong>{commitment.caseRef}</strong>, {commitment.provider}, {LINE_LABELS[commitment.line]}: <Money amount={commitment.amount} /> für{' '}
              {periodText(commitment.period)}; beantragt von {commitment.requestedBy}, angelegt am {timestamp(commitment.createdAt)}.
            </p>
            {commitment.overBudget ? (
              <p class="warning">Überplanmäßig: Darüber entscheidet das Finanzcontrolling.</p>
            ) : (
              <DecisionForm commitment={commitment} ledger={ledger} onStale={setNotice} />
            )}
          </li>
        ))}
      </ul>
    </>
  )
}

import { useContext, useRef, useState } from 'preact/hooks'
import { asProblem, budgetPath, seg } from '../api'
import { useApp } from '../app'
import { Announce, Money, useIdempotencyKey } from '../components'
import { COMMITMENT_STATUS_LABELS, germanDate, LINE_LABELS } from '../format'
import { problemMessage } from '../messages'
import type { Commitment, WriteAnswer } from '../types'
import { asDecidedMeanwhile, asFourEyes, type Approvals } from './finance-data'
import { nameOf, type Names } from '../sozialraeume'

type Decision = 'approve' | 'reject'

/** What identifies a commitment to a person: provider, case, line, period (no personal data: the case is a reference). */
function CommitmentSummary({ commitment, names, id }: { commitment: Commitment; names: Names; id?: string }) {
  return (
    <div id={id}>
      <strong>{commitment.provider}</strong>, Fall {commitment.caseRef}
      {commitment.helpType !== undefined && <> ({commitment.helpType})</>}
      <br />
      <span class="muted">
        {nameOf(names, commitment.sozialraum)}, {LINE_LABELS[commitment.line]}, {germanDate(commitment.period.from)} – {germanDate(commitment.period.to)}, von {commitment.requestedBy ?? commitment.createdBy}
      </span>
      {commitment.overBudget && (
        <>
          <br />
          <span class="badge over">überplanmäßig</span> {commitment.overBudgetJustification}
        </>
      )}
    </div>
  )
}

/**
 * Approve or reject one commitment, with an optional comment. The Idempotency-Key follows the
 * decision and comment sent (useIdempotencyKey): a retry after a lost answer never decides twice.
 */
function Decide({ commitment, describedBy, onDecided, onStale }: Decisions & { commitment: Commitment; describedBy: string }) {
  const { api } = useApp()
  const announce = useContext(Announce)
  const [comment, setComment] = useState('')
  const [busy, setBusy] = useState(false)
  // Guards a second decision before the page has drawn `busy` (a double click).
  const sending = useRef(false)
  const [problem, setProblem] = useState<string>()
  const idempotency = useIdempotencyKey()
  const row = useRef<HTMLDivElement>(null)

  const decide = async (decision: Decision) => {
    if (sending.current) return
    sending.current = true
    setBusy(true)
    setProblem(undefined)
    const text = comment.trim()
    const body = { decision, ...(text === '' ? {} : { comment: text }) }
    try {
      const answer = await api.post<WriteAnswer & Commitment>(
        `${budgetPath(commitment.year, commitment.sozialraum)}/commitments/${seg(commitment.id)}/approval`,
        body,
        { idempotencyKey: idempotency.keyFor(body) },
      )
      idempotency.settled()
      onDecided(answer)
      // The row leaves the list with the decision: say what happened where the focus goes.
      announce(`${commitment.provider}, Fall ${commitment.caseRef}: ${decision === 'approve' ? 'freigegeben' : 'abgelehnt'}.`, row.current)
    } catch (error) {
      const refused = asProblem(asDecidedMeanwhile(asFourEyes(error)))
      idempotency.settled(refused)
      setProblem(problemMessage(refused))
      // The row is stale: the list is read again, and says why the row went.
      if (refused.code === 'decided-meanwhile') onStale(problemMessage(refused))
    } finally {
      sending.current = false
      setBusy(false)
    }
  }

  const errorId = `${describedBy}-error`
  return (
    <div class="fin-decide" ref={row}>
      <input
        type="text"
        aria-label="Kommentar zur Entscheidung (freiwillig)"
        aria-describedby={problem === undefined ? describedBy : `${describedBy} ${errorId}`}
        placeholder="Kommentar (freiwillig)"
        value={comment}
        onInput={(event) => setComment((event.currentTarget as HTMLInputElement).value)}
      />
      <div class="actions">
        {/* aria-disabled, not disabled: a disabled button drops the keyboard focus to the page's top. */}
        <button type="button" aria-disabled={busy || undefined} aria-describedby={describedBy} onClick={() => void decide('approve')}>
          Freigeben
        </button>
        <button type="button" class="secondary" aria-disabled={busy || undefined} aria-describedby={describedBy} onClick={() => void decide('reject')}>
          Ablehnen
        </button>
      </div>
      {problem !== undefined && (
        <p class="problem" id={errorId} role="alert">
          {problem}
        </p>
      )}
    </div>
  )
}

/** The commitments waiting for a second person (four eyes), each with its decision. */
function PendingTable({ pending, names, onDecided, onStale }: Decisions & { pending: readonly Commitment[]; names: Names }) {
  if (pending.length === 0) return <p class="muted">Keine Mittelbindung wartet auf eine Freigabe.</p>
  return (
    <div class="table-wrap">
      <table class="approvals">
        <caption class="muted">Mittelbindungen ab der Vier-Augen-Schwelle und überplanmäßige warten auf die Entscheidung einer zweiten Person.</caption>
        <thead>
          <tr>
            <th scope="col">Mittelbindung</th>
            <th scope="col" class="num">Betrag</th>
            <th scope="col">Entscheidung</th>
          </tr>
        </thead>
        <tbody>
          {pending.map((commitment) => {
            // Commitment ids are unique within a budget only.
            const id = `c-${commitment.sozialraum}-${commitment.id}`
            return (
              <tr key={id} data-commitment={commitment.id}>
                <td>
                  <CommitmentSummary commitment={commitment} names={names} id={id} />
                </td>
                <td class="num">
                  <Money amount={commitment.amount} />
                </td>
                <td>
                  <Decide commitment={commitment} describedBy={id} onDecided={onDecided} onStale={onStale} />
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

/** The year's over-budget commitments (beyond the line, on a legal entitlement), whatever their status. */
function OverBudgetTable({ overBudget, names }: { overBudget: readonly Commitment[]; names: Names }) {
  if (overBudget.length === 0) return <p class="muted">Keine überplanmäßigen Mittelbindungen.</p>
  return (
    <div class="table-wrap">
      <table class="over-budget">
        <caption class="muted">Überplanmäßige Mittelbindungen {overBudget[0]!.year}: über die verfügbaren Mittel der Linie hinaus, mit Begründung.</caption>
        <thead>
          <tr>
            <th scope="col">Mittelbindung</th>
            <th scope="col" class="num">Betrag</th>
            <th scope="col" class="num">Rest</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {overBudget.map((commitment) => (
            <tr key={`${commitment.sozialraum}/${commitment.id}`} data-commitment={commitment.id}>
              <td>
                <CommitmentSummary commitment={commitment} names={names} />
              </td>
              <td class="num">
                <Money amount={commitment.amount} />
              </td>
              <td class="num">
                <Money amount={commitment.remaining} />
              </td>
              <td>{COMMITMENT_STATUS_LABELS[commitment.status]}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** What a decision tells the page: its answer, or that the row was stale (with the message to show once the list is read again). */
interface Decisions {
  onDecided: (answer: WriteAnswer & Commitment) => void
  onStale: (message: string) => void
}

export function ApprovalLists({ approvals, names, notice, onDecided, onStale }: Decisions & { approvals: Approvals; names: Names; notice: string | undefined }) {
  return (
    <>
      <h3>Wartet auf Freigabe ({approvals.pending.length})</h3>
      {notice !== undefined && (
        <p class="problem" role="alert">
          {notice}
        </p>
      )}
      <PendingTable pending={approvals.pending} names={names} onDecided={onDecided} onStale={onStale} />
      <h3>Überplanmäßige Mittelbindungen ({approvals.overBudget.length})</h3>
      <OverBudgetTable overBudget={approvals.overBudget} names={names} />
    </>
  )
}

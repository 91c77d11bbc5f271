import { budgetPath, seg } from '../api'
import { useApp } from '../app'
import { bodyOf, Form, type FieldSpec, type Values } from '../components'
import { euro, LINE_LABELS, timestamp } from '../format'
import type { Line, Move, Sozialraum, WriteAnswer } from '../types'
import { nameOf, type Names } from '../sozialraeume'
import { LINE_OPTIONS, withWarnings, type Written } from '../writes'

/**
 * The finance controller's writes (docs/api.md, "Budgets", "Sozialräume", "Fiscal years and moves"):
 * each a Form whose field names are the API's body paths, so that a refusal lands next to its field.
 */

type Option = { value: string; label: string }

function lineField(name: string, label = 'Haushaltslinie'): FieldSpec {
  return { name, label, kind: 'select', options: LINE_OPTIONS, required: true }
}

function sozialraumField(name: string, options: readonly Option[], label = 'Sozialraum'): FieldSpec {
  return { name, label, kind: 'select', options, required: true }
}

const reasonField: FieldSpec = { name: 'reason', label: 'Begründung', kind: 'textarea', required: true, hint: 'Keine personenbezogenen Daten: der Text bleibt für immer im Verlauf.' }

/** The form's values without the path's Sozialraum, as the body. */
function budgetBody(values: Values): { sozialraum: string; body: Record<string, unknown> } {
  const { sozialraum = '', ...rest } = values
  return { sozialraum, body: bodyOf(rest) }
}

interface WriteFormsProps {
  /** Registered Sozialräume, the targets of a first allocation. */
  registered: readonly Sozialraum[]
  /** Sozialräume with a budget this year: adjustments, transfers and moves need one. */
  budgeted: readonly string[]
  names: Names
  /** A budget write's answer, for the page to update from. */
  onWritten: (answer: WriteAnswer) => void
}

function AllocationForm({ registered, onWritten }: Pick<WriteFormsProps, 'registered' | 'onWritten'>) {
  const { api, year } = useApp()
  const options = registered.map((s) => ({ value: s.id, label: `${s.name} (${s.id})` }))
  return (
    <Form<Written<{ amount: string; line: Line; budget: { sozialraum: string } }>>
      key={options.map((o) => o.value).join()}
      title="Mittel zuweisen"
      fields={[
        sozialraumField('sozialraum', options),
        lineField('line'),
        { name: 'amount', label: 'Betrag', kind: 'amount', required: true },
        { name: 'decisionRef', label: 'Beschluss (Aktenzeichen)', kind: 'text', required: true, hint: 'z. B. HH-2026/0201' },
        { name: 'note', label: 'Notiz', kind: 'textarea' },
      ]}
      initial={{ sozialraum: options[0]?.value ?? '', line: 'ambulatory' }}
      submitLabel="Zuweisen"
      submit={(values, idempotencyKey) => {
        const { sozialraum, body } = budgetBody(values)
        return api.post(`${budgetPath(year, sozialraum)}/allocations`, body, { idempotencyKey })
      }}
      done={onWritten}
      success={(answer) => withWarnings(`${euro(answer.amount)} für ${LINE_LABELS[answer.line]} zugewiesen.`, answer)}
    />
  )
}

function AdjustmentForm({ options, onWritten }: { options: readonly Option[]; onWritten: WriteFormsProps['onWritten'] }) {
  const { api, year } = useApp()
  return (
    <Form<Written<{ amount: string; line: Line }>>
      key={options.map((o) => o.value).join()}
      title="Zuweisung anpassen"
      fields={[
        sozialraumField('sozialraum', options),
        lineField('line'),
        { name: 'amount', label: 'Betrag der Anpassung', kind: 'amount', signed: true, required: true, hint: 'Eine Kürzung mit Minuszeichen, z. B. -5.000,00.' },
        reasonField,
      ]}
      initial={{ sozialraum: options[0]?.value ?? '', line: 'ambulatory' }}
      submitLabel="Anpassen"
      submit={(values, idempotencyKey) => {
        const { sozialraum, body } = budgetBody(values)
        return api.post(`${budgetPath(year, sozialraum)}/adjustments`, body, { idempotencyKey })
      }}
      done={onWritten}
      success={(answer) => withWarnings(`${LINE_LABELS[answer.line]} um ${euro(answer.amount)} angepasst.`, answer)}
    />
  )
}

function TransferForm({ options, onWritten }: { options: readonly Option[]; onWritten: WriteFormsProps['onWritten'] }) {
  const { api, year } = useApp()
  return (
    <Form<Written<{ amount: string; fromLine: Line; toLine: Line }>>
      key={options.map((o) => o.value).join()}
      title="Zwischen Haushaltslinien umbuchen"
      fields={[
        sozialraumField('sozialraum', options),
        lineField('fromLine', 'Von Haushaltslinie'),
        lineField('toLine', 'Nach Haushaltslinie'),
        { name: 'amount', label: 'Betrag', kind: 'amount', required: true },
        reasonField,
      ]}
      initial={{ sozialraum: options[0]?.value ?? '', fromLine: 'ambulatory', toLine: 'flexible' }}
      submitLabel="Umbuchen"
      submit={(values, idempotencyKey) => {
        const { sozialraum, body } = budgetBody(values)
        return api.post(`${budgetPath(year, sozialraum)}/transfers`, body, { idempotencyKey })
      }}
      done={onWritten}
      success={(answer) => withWarnings(`${euro(answer.amount)} von ${LINE_LABELS[answer.fromLine]} nach ${LINE_LABELS[answer.toLine]} umgebucht.`, answer)}
    />
  )
}

function MoveForm({ options, names, onWritten }: { options: readonly Option[]; names: Names; onWritten: WriteFormsProps['onWritten'] }) {
  const { api, year } = useApp()
  return (
    <Form<Written<Move>>
      key={options.map((o) => o.value).join()}
      title="Zwischen Sozialräumen verschieben"
      fields={[
        sozialraumField('from.sozialraum', options, 'Von Sozialraum'),
        lineField('from.line', 'Von Haushaltslinie'),
        sozialraumField('to.sozialraum', options, 'Nach Sozialraum'),
        lineField('to.line', 'Nach Haushaltslinie'),
        { name: 'amount', label: 'Betrag', kind: 'amount', required: true },
        reasonField,
      ]}
      initial={{ 'from.sozialraum': options[0]?.value ?? '', 'from.line': 'ambulatory', 'to.sozialraum': options[1]?.value ?? options[0]?.value ?? '', 'to.line': 'ambulatory' }}
      submitLabel="Verschieben"
      submit={(values, idempotencyKey) => api.post(`/v1/budgets/${seg(year)}/moves`, bodyOf(values), { idempotencyKey })}
      done={onWritten}
      success={(move) =>
        move.status === 'completed'
          ? `${euro(move.amount)} von ${nameOf(names, move.from.sozialraum)} nach ${nameOf(names, move.to.sozialraum)} verschoben.`
          : `${euro(move.amount)} bei ${nameOf(names, move.from.sozialraum)} abgebucht; die Gutschrift bei ${nameOf(names, move.to.sozialraum)} folgt in Kürze.`
      }
    />
  )
}

const SOZIALRAUM_STATUS_OPTIONS = [
  { value: 'pilot', label: 'Pilot' },
  { value: 'permanent', label: 'Regelbetrieb' },
]
const sozialraumStatusLabel = (status: string) => SOZIALRAUM_STATUS_OPTIONS.find((option) => option.value === status)?.label ?? status

/** The registered Sozialräume: who can get an allocation. */
export function SozialraumList({ items }: { items: readonly Sozialraum[] }) {
  if (items.length === 0) return <p class="muted">Noch kein Sozialraum registriert.</p>
  return (
    <div class="table-wrap">
      <table class="sozialraeume">
        <caption class="muted">Registrierte Sozialräume</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kennung</th>
            <th scope="col">Status</th>
            <th scope="col">Registriert am</th>
          </tr>
        </thead>
        <tbody>
          {items.map((sozialraum) => (
            <tr key={sozialraum.id} data-sozialraum={sozialraum.id}>
              <th scope="row">{sozialraum.name}</th>
              <td>{sozialraum.id}</td>
              <td>{sozialraumStatusLabel(sozialraum.status)}</td>
              <td>{timestamp(sozialraum.openedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A fresh install has no Sozialraum: finance registers them before the first allocation. */
export function RegisterSozialraumForm({ onRegistered }: { onRegistered: (answer: Written<Sozialraum>) => void }) {
  const { api } = useApp()
  return (
    <Form<Written<Sozialraum>>
      title="Sozialraum registrieren"
      fields={[
        { name: 'id', label: 'Kennung', kind: 'text', required: true, hint: 'Kleinbuchstaben, Ziffern und Bindestriche, z. B. unteres-malstatt.' },
        { name: 'name', label: 'Name', kind: 'text', required: true },
        { name: 'status', label: 'Status', kind: 'select', options: SOZIALRAUM_STATUS_OPTIONS, required: true },
      ]}
      initial={{ status: 'pilot' }}
      submitLabel="Registrieren"
      submit={(values, idempotencyKey) => api.post('/v1/sozialraeume', bodyOf(values), { idempotencyKey })}
      done={onRegistered}
      success={(answer) => `${answer.name} (${answer.id}) ist registriert. Weisen Sie ihm nun Mittel zu.`}
    />
  )
}

/** A Sozialraum leaves its pilot (or goes back to it), by the decision that says so. */
export function SozialraumStatusForm({ items, onChanged }: { items: readonly Sozialraum[]; onChanged: (answer: Written<Sozialraum>) => void }) {
  const { api } = useApp()
  // The current status in the choice: the same status again is refused (409).
  const options = items.map((s) => ({ value: s.id, label: `${s.name} (${s.id}), bisher ${sozialraumStatusLabel(s.status)}` }))
  return (
    <Form<Written<Sozialraum>>
      key={options.map((o) => o.value).join()}
      title="Status eines Sozialraums ändern"
      fields={[
        sozialraumField('sozialraum', options),
        { name: 'status', label: 'Neuer Status', kind: 'select', options: SOZIALRAUM_STATUS_OPTIONS, required: true },
        { name: 'decisionRef', label: 'Beschluss (Aktenzeichen)', kind: 'text', required: true, hint: 'z. B. JHA-2026/0412' },
      ]}
      initial={{ sozialraum: options[0]?.value ?? '', status: 'permanent' }}
      submitLabel="Status ändern"
      submit={(values, idempotencyKey) => {
        const { sozialraum = '', ...rest } = values
        return api.post(`/v1/sozialraeume/${seg(sozialraum)}/status`, bodyOf(rest), { idempotencyKey })
      }}
      done={onChanged}
      success={(answer) => `${answer.name} (${answer.id}) hat jetzt den Status ${sozialraumStatusLabel(answer.status)}.`}
    />
  )
}

/** Every budget write of the page; those that need a budget appear once one exists. */
export function WriteForms({ registered, budgeted, names, onWritten }: WriteFormsProps) {
  const options = budgeted.map((sozialraum) => ({ value: sozialraum, label: nameOf(names, sozialraum) }))
  return (
    <div class="grid">
      {registered.length === 0 ? <p class="muted">Noch kein Sozialraum registriert: Registrieren Sie zuerst einen (unten).</p> : <AllocationForm registered={registered} onWritten={onWritten} />}
      {options.length > 0 && <AdjustmentForm options={options} onWritten={onWritten} />}
      {options.length > 0 && <TransferForm options={options} onWritten={onWritten} />}
      {options.length > 1 && <MoveForm options={options} names={names} onWritten={onWritten} />}
    </div>
  )
}

import { seg } from '../api'
import { bodyOf, Form, Money, type FieldSpec } from '../components'
import { germanDate } from '../format'
import type { Spending } from '../types'
import { withWarnings, type Written } from '../writes'
import type { LedgerHandle } from './teamlead-ledger'

const SPENDING_FIELDS: readonly FieldSpec[] = [
  { name: 'amount', label: 'Betrag', kind: 'amount', required: true },
  { name: 'purpose', label: 'Zweck', kind: 'text', required: true },
  { name: 'category', label: 'Kategorie', kind: 'text', hint: 'z. B. Gruppenangebot, Einzelfall' },
  { name: 'receiptRef', label: 'Belegnummer', kind: 'text', required: true },
  { name: 'date', label: 'Datum', kind: 'date', required: true, hint: 'Im Haushaltsjahr' },
]

const REVERSAL_FIELDS: readonly FieldSpec[] = [{ name: 'reason', label: 'Grund', kind: 'textarea', required: true }]

/** Flexible spending comes from the flexible line only; the API refuses what the line does not have. */
export function SpendingForm({ ledger }: { ledger: LedgerHandle }) {
  return (
    <Form<Written<Spending>>
      title="Ausgabe erfassen"
      fields={SPENDING_FIELDS}
      submitLabel="Ausgabe buchen"
      submit={(values, key) => ledger.write<Spending>('/spending', bodyOf(values), key)}
      done={ledger.spendingWritten}
      success={(answer) => withWarnings(`Ausgabe ${answer.receiptRef} gebucht.`, answer)}
    />
  )
}

/** The budget's flexible spending; a booked one can be reversed from its row. */
export function SpendingTable({ spending, ledger }: { spending: readonly Spending[]; ledger: LedgerHandle }) {
  if (spending.length === 0) return <p class="muted">Noch keine Ausgaben.</p>
  return (
    <div class="table-wrap">
      <table class="tl-spending">
        <caption class="muted">Ausgaben aus den flexiblen Hilfen</caption>
        <thead>
          <tr>
            <th scope="col">Beleg</th>
            <th scope="col">Datum</th>
            <th scope="col">Zweck</th>
            <th scope="col">Kategorie</th>
            <th scope="col" class="num">Betrag</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {spending.map((item) => (
            <tr key={item.id} data-spending={item.id}>
              <th scope="row">{item.receiptRef}</th>
              <td>{germanDate(item.date)}</td>
              <td>{item.purpose}</td>
              <td>{item.category ?? '–'}</td>
              <td class={item.reversed ? 'num tl-reversed' : 'num'}>
                <Money amount={item.amount} />
              </td>
              <td>{item.reversed ? 'storniert' : <Reversal spending={item} ledger={ledger} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Reversal({ spending, ledger }: { spending: Spending; ledger: LedgerHandle }) {
  return (
    <details class="tl-reversal">
      <summary>
        gebucht – stornieren<span class="tl-hidden"> ({spending.receiptRef})</span>
      </summary>
      <Form<Written<Spending>>
        title={`Ausgabe ${spending.receiptRef} stornieren`}
        fields={REVERSAL_FIELDS}
        submitLabel="Stornieren"
        submit={(values, key) => ledger.write<Spending>(`/spending/${seg(spending.id)}/reversal`, bodyOf(values), key)}
        done={ledger.spendingWritten}
      />
    </details>
  )
}

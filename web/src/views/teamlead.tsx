import { useRef, useState } from 'preact/hooks'
import { seg } from '../api'
import { useApp } from '../app'
import { BudgetTable } from '../budget'
import { LoadState, Money, Section, useLoad } from '../components'
import { nameOf, useSozialraeume } from '../sozialraeume'
import type { BudgetList } from '../types'
import { Approvals, CommitForm, CommitmentPanel, CommitmentTable } from './teamlead-commitments'
import { useLedger, type PositionRef } from './teamlead-ledger'
import { SpendingForm, SpendingTable } from './teamlead-spending'

/**
 * The team lead's page: the budgets of their own Sozialräume in the year shown (the API lists only
 * those), one at a time. Everything written here updates the page from the write's answer.
 */
export function TeamLeadPage() {
  const { api, session, year } = useApp()
  const budgets = useLoad(() => api.get<BudgetList>(`/v1/budgets/${seg(year)}`), [year])
  const { names: known } = useSozialraeume()
  const names = (id: string) => nameOf(known, id)
  const [chosen, setChosen] = useState<string>()
  // Shared by every Sozialraum shown: after a write, the next reads wait until they include it.
  const position: PositionRef = useRef<string | undefined>(undefined)
  const items = budgets.data?.items ?? []
  const current = items.find((budget) => budget.sozialraum === chosen) ?? items[0]
  const withoutBudget = session.sozialraeume.filter((id) => !items.some((budget) => budget.sozialraum === id))

  return (
    <>
      <div class="tl-head">
        <h2>{current === undefined ? `Meine Sozialräume ${year}` : `${names(current.sozialraum)}: Haushaltsjahr ${year}`}</h2>
        {items.length > 1 && (
          <div class="field tl-pick">
            <label for="tl-sozialraum">Sozialraum</label>
            <select id="tl-sozialraum" value={current?.sozialraum} onChange={(event) => setChosen((event.currentTarget as HTMLSelectElement).value)}>
              {items.map((budget) => (
                <option key={budget.sozialraum} value={budget.sozialraum}>
                  {names(budget.sozialraum)}
                </option>
              ))}
            </select>
          </div>
        )}
      </div>
      <LoadState loaded={budgets} />
      {budgets.data !== undefined && withoutBudget.length > 0 && (
        <p class="muted">
          Noch keine Zuweisung in {year} für: {withoutBudget.map(names).join(', ')}.
        </p>
      )}
      {current !== undefined && <SozialraumLedger key={current.sozialraum} year={year} sozialraum={current.sozialraum} position={position} />}
    </>
  )
}

/** One budget: balances, approvals waiting, commitments, flexible spending and the forms to write. */
function SozialraumLedger({ year, sozialraum, position }: { year: number; sozialraum: string; position: PositionRef }) {
  const { session } = useApp()
  const ledger = useLedger(year, sozialraum, position)
  const [selected, setSelected] = useState<string>()
  const data = ledger.loaded.data
  if (data === undefined) return <LoadState loaded={ledger.loaded} />
  const commitment = data.commitments.find((item) => item.id === selected)
  // Closing the panel returns the keyboard to the row it was opened from.
  const close = (id: string) => {
    setSelected(undefined)
    document.querySelector<HTMLElement>(`tr[data-commitment="${CSS.escape(id)}"] .tl-open`)?.focus()
  }

  return (
    // data-revision: the budget's revision shown, so that a test can wait until the API's read side has it.
    <div data-sozialraum={sozialraum} data-revision={data.budget.revision}>
      <Section title="Budget">
        <BudgetTable budget={data.budget} />
        {data.budget.overBudget.commitments > 0 && (
          <p class="warning">
            Überplanmäßig gebunden: {data.budget.overBudget.commitments} Mittelbindung(en) über <Money amount={data.budget.overBudget.amount} />.
          </p>
        )}
      </Section>
      <Section title="Freigaben für Sie">
        <Approvals commitments={data.commitments} me={session.sub} ledger={ledger} />
      </Section>
      <Section title="Mittelbindungen">
        <CommitmentTable commitments={data.commitments} selected={selected} onSelect={setSelected} />
      </Section>
      {commitment !== undefined && (
        <CommitmentPanel key={commitment.id} commitment={commitment} ledger={ledger} me={session.sub} onClose={() => close(commitment.id)} />
      )}
      <Section title="Flexible Hilfen">
        <SpendingTable spending={data.spending} ledger={ledger} />
      </Section>
      <Section title="Erfassen">
        <div class="grid">
          <CommitForm year={year} ledger={ledger} />
          <SpendingForm ledger={ledger} />
        </div>
      </Section>
    </div>
  )
}

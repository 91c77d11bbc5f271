import { useMemo, useState } from 'preact/hooks'
import { seg } from '../api'
import { useApp } from '../app'
import { LoadState, Section, useLoad } from '../components'
import { useSozialraeume } from '../sozialraeume'
import type { BudgetList, Commitment, Move, Sozialraum, WriteAnswer } from '../types'
import { readAfter, type Written } from '../writes'
import { ApprovalLists } from './finance-approvals'
import { BudgetsOverview, withBudget } from './finance-budgets'
import { loadApprovals, loadReports, type Approvals } from './finance-data'
import { RegisterSozialraumForm, SozialraumList, SozialraumStatusForm, WriteForms } from './finance-forms'
import { BurnDown, MonitoringTable } from './finance-monitoring'
import { MoveList } from './finance-moves'

/**
 * The finance controller's main page (#/uebersicht): every budget of the year at a glance, what
 * waits for approval, the monitoring list with its forecast, the monthly burn-down, and the
 * writes. A write's answer carries its budget: that replaces the budget shown at once, and the
 * reports are read again once they have processed the write (minPosition).
 */
export function FinancePage() {
  const { api, year } = useApp()
  // The position of the last write whose answer had no budget (a move): the list is read after it.
  const [budgetsAfter, setBudgetsAfter] = useState<string>()
  // The position of the last write of any kind: the reports and approvals are read after it.
  const [reportsAfter, setReportsAfter] = useState<string>()

  const { loaded: sozialraeume, names } = useSozialraeume()
  const budgets = useLoad(() => api.get<BudgetList>(readAfter(`/v1/budgets/${seg(year)}`, budgetsAfter)), [year, budgetsAfter])
  const reports = useLoad(() => loadReports(api, year, reportsAfter), [year, reportsAfter])
  const moves = useLoad(() => api.get<{ items: Move[] }>(readAfter(`/v1/budgets/${seg(year)}/moves`, reportsAfter)), [year, reportsAfter])
  const budgeted = useMemo(() => budgets.data?.items.map((budget) => budget.sozialraum) ?? [], [budgets.data])
  // Read once the budgets are known (the API lists waiting commitments per budget); until then it
  // stays loading rather than saying that nothing waits.
  const approvals = useLoad(
    () => (budgets.data === undefined ? new Promise<Approvals>(() => {}) : loadApprovals(api, year, budgeted, reportsAfter)),
    [year, reportsAfter, budgeted.join(), budgets.data === undefined],
  )

  const written = (answer: WriteAnswer) => {
    const budget = answer.budget
    if (budget !== undefined) budgets.update((list) => withBudget(list, budget))
    else setBudgetsAfter(answer.position)
    setReportsAfter(answer.position)
  }

  // The decided commitment leaves the list at once; the lists are read again after the write all the same.
  // A decision on a row someone else decided meanwhile: the list is read again, and says why the row went.
  const [staleNotice, setStaleNotice] = useState<string>()
  const stale = (message: string) => {
    setStaleNotice(message)
    approvals.reload()
  }
  const decided = (answer: WriteAnswer & Commitment) => {
    setStaleNotice(undefined)
    // Commitment ids are unique within a budget only.
    const other = (commitment: Commitment) => commitment.id !== answer.id || commitment.sozialraum !== answer.sozialraum
    approvals.update((current) => ({ ...current, pending: current.pending.filter(other) }))
    written(answer)
  }

  // The list of Sozialräume is a read model: a registration's or a status change's answer goes into it at once.
  const registered = (answer: Written<Sozialraum>) => {
    const { position: _position, revision: _revision, ...sozialraum } = answer
    sozialraeume.update((list) => ({ items: [...list.items.filter((item) => item.id !== sozialraum.id), sozialraum].sort((a, b) => (a.id < b.id ? -1 : 1)) }))
  }

  const list = budgets.data
  return (
    <>
      <Section title={`Budgets ${year}`}>
        <LoadState loaded={budgets} />
        {list !== undefined &&
          (list.items.length === 0 ? (
            <p class="muted">Für {year} ist noch keinem Sozialraum ein Budget zugewiesen. Weisen Sie unter „Buchungen“ Mittel zu.</p>
          ) : (
            <BudgetsOverview list={list} names={names} />
          ))}
      </Section>

      <Section title="Freigaben (Vier-Augen-Prinzip)">
        <LoadState loaded={approvals} />
        {approvals.data !== undefined && <ApprovalLists approvals={approvals.data} names={names} notice={staleNotice} onDecided={decided} onStale={stale} />}
      </Section>

      <Section title="Haushaltsüberwachung und Prognose">
        <LoadState loaded={reports} empty={reports.data?.monitoring.items.length === 0} />
        {reports.data !== undefined && reports.data.monitoring.items.length > 0 && <MonitoringTable report={reports.data.monitoring} names={names} />}
      </Section>
      <Section title="Monatsverlauf">
        <LoadState loaded={reports} empty={reports.data?.monthly.items.length === 0} />
        {reports.data !== undefined && reports.data.monthly.items.length > 0 && <BurnDown monthly={reports.data.monthly} monitoring={reports.data.monitoring} names={names} />}
      </Section>

      <Section title="Buchungen">
        <LoadState loaded={sozialraeume} />
        {sozialraeume.data !== undefined && <WriteForms registered={sozialraeume.data.items} budgeted={budgeted} names={names} onWritten={written} />}
      </Section>

      <Section title="Verschiebungen zwischen Sozialräumen">
        <LoadState loaded={moves} />
        {moves.data !== undefined && <MoveList moves={moves.data.items} names={names} />}
      </Section>

      <Section title="Sozialräume">
        {sozialraeume.data !== undefined && <SozialraumList items={sozialraeume.data.items} />}
        <div class="grid">
          <RegisterSozialraumForm onRegistered={registered} />
          {sozialraeume.data !== undefined && sozialraeume.data.items.length > 0 && <SozialraumStatusForm items={sozialraeume.data.items} onChanged={registered} />}
        </div>
      </Section>
    </>
  )
}

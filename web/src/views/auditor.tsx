import { useRef, useState } from 'preact/hooks'
import { useSozialraeume } from '../sozialraeume'
import { BalancesAsOf, localToday, momentOf, positionMoment, type Moment } from './auditor-balances'
import { AuditTimeline } from './auditor-timeline'
import { ExportSection, VerifySection } from './auditor-verify'

/**
 * The auditor's page (`#/pruefung`, finance sees it too): the budgets as they stood at a chosen
 * moment, the verify of the log and the year's export, and the audit trail. It only reads: the
 * one POST, the verify, writes nothing (an export is recorded by the service itself).
 */
export function AuditorPage() {
  const { loaded: sozialraeume, names } = useSozialraeume()
  const items = sozialraeume.data?.items ?? []
  // Today's end: the ledger as it stands, until the auditor picks another moment.
  const [moment, setMoment] = useState<Moment>(() => momentOf(localToday(), '')!)
  const balances = useRef<HTMLDivElement>(null)

  /** From a row of the trail: the balances right after that event, brought into view. */
  const showAfter = (position: string) => {
    setMoment(positionMoment(position))
    balances.current?.focus()
  }

  return (
    <div class="au-page">
      <div id="salden" ref={balances} tabIndex={-1} class="au-focus">
        <BalancesAsOf moment={moment} onMoment={setMoment} names={names} />
      </div>
      <div class="grid">
        <VerifySection />
        <ExportSection />
      </div>
      <AuditTimeline sozialraeume={items} onPosition={showAfter} />
    </div>
  )
}

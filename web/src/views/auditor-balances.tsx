import { useRef, useState } from 'preact/hooks'
import { useApp } from '../app'
import { BalanceHead, BalanceRow, BudgetTable } from '../budget'
import { LoadState, Section, useLoad } from '../components'
import { germanDate, timestamp } from '../format'
import type { BudgetList } from '../types'

/**
 * Every budget of the year as it stood at a past moment (GET /v1/audit/balances). The auditor
 * picks a day, and a time of day if the day is not enough; the API compares with the events'
 * recordedAt in UTC, so the page turns the browser's local time into an ISO timestamp.
 */

/** The moment the balances are read at: a time (asOf), or right after an event of the trail. */
export type Moment = { kind: 'asOf'; asOf: string; label: string } | { kind: 'position'; position: string; label: string }

/** The browser's time zone, named in the form so that nobody wonders which 10:30 is meant. */
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const TIME = /^(\d{2}):(\d{2})(?::(\d{2}))?/

/** "2026-12-02" for today in the browser's time zone: what a date input holds. */
export function localToday(now: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`
}

/**
 * The moment a day, or a day and a time, stands for: the end of it, inclusive, in the browser's
 * time zone. A day alone means its last millisecond (everything recorded that day counts); a
 * time means the last millisecond of that second, so that an event stamped 10:30:00.400 is in
 * "10:30:00", as the timeline shows it. Undefined when the input is not a day or time.
 */
export function momentOf(date: string, time: string): Moment | undefined {
  const day = DATE.exec(date)
  const clock = time === '' ? undefined : TIME.exec(time)
  if (day === null || clock === null) return undefined
  const [hours, minutes, seconds] = clock === undefined ? [23, 59, 59] : [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)]
  const end = new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3]), hours, minutes, seconds, 999)
  if (Number.isNaN(end.getTime())) return undefined
  const label = clock === undefined ? `Ende des ${germanDate(date)}` : timestamp(end.toISOString())
  return { kind: 'asOf', asOf: end.toISOString(), label }
}

export const positionMoment = (position: string): Moment => ({ kind: 'position', position, label: `direkt nach Ereignis Nr. ${position}` })

function balancesQuery(year: number, moment: Moment): string {
  const at = moment.kind === 'asOf' ? `asOf=${encodeURIComponent(moment.asOf)}` : `position=${encodeURIComponent(moment.position)}`
  return `/v1/audit/balances?year=${year}&${at}`
}

export function BalancesAsOf({ moment, onMoment, names }: { moment: Moment; onMoment: (moment: Moment) => void; names: ReadonlyMap<string, string> }) {
  const { api, year } = useApp()
  // The answer carries the moment it was asked for: a label never stands over another moment's figures.
  const loaded = useLoad(async () => ({ moment, list: await api.get<BudgetList>(balancesQuery(year, moment)) }), [year, moment])
  const shown = loaded.data
  return (
    <Section title="Salden zu einem Zeitpunkt">
      <MomentForm onMoment={onMoment} />
      <LoadState loaded={loaded} />
      {shown !== undefined && (
        <div aria-busy={loaded.loading}>
          <p class="au-moment" role="status">
            Stand: <strong>{shown.moment.label}</strong>
            {shown.moment.kind === 'asOf' && ` (Ortszeit ${ZONE})`}, Haushaltsjahr {year}
            {loaded.loading && <span class="muted"> – wird aktualisiert …</span>}
          </p>
          {shown.list.items.length === 0 ? (
            <p class="muted">Zu diesem Zeitpunkt hatte noch kein Budget des Jahres {year} eine Zuweisung.</p>
          ) : (
            <BalancesOf list={shown.list} names={names} />
          )}
        </div>
      )}
    </Section>
  )
}

/** Every Sozialraum's total in one table with the year's total below it, then each one's lines. */
function BalancesOf({ list, names }: { list: BudgetList; names: ReadonlyMap<string, string> }) {
  const name = (id: string) => names.get(id) ?? id
  return (
    <>
      <div class="table-wrap">
        <table class="au-summary">
          <caption class="muted">Summe beider Haushaltslinien je Sozialraum</caption>
          <BalanceHead first="Sozialraum" />
          <tbody>
            {list.items.map((budget) => (
              <BalanceRow key={budget.sozialraum} label={name(budget.sozialraum)} line={budget.sozialraum} balance={budget.total} />
            ))}
          </tbody>
          <tfoot>
            <BalanceRow label="Gesamt" line="total" balance={list.total} />
          </tfoot>
        </table>
      </div>
      {/* Many Sozialräume would make a long page: their lines open on request then. */}
      <details class="au-lines" open={list.items.length <= 4}>
        <summary>Haushaltslinien je Sozialraum ({list.items.length})</summary>
        <div class="grid">
          {list.items.map((budget) => (
            <BudgetTable
              key={budget.sozialraum}
              budget={budget}
              caption={`${name(budget.sozialraum)}, Stand Revision ${budget.revision}${budget.closed ? ' (abgeschlossen)' : ''}`}
            />
          ))}
        </div>
      </details>
    </>
  )
}

/** A day (required) and a time of day (optional); the moment is submitted, not read on every keystroke. */
function MomentForm({ onMoment }: { onMoment: (moment: Moment) => void }) {
  const [date, setDate] = useState(() => localToday())
  const [time, setTime] = useState('')
  const [wrong, setWrong] = useState(false)
  const dateRef = useRef<HTMLInputElement>(null)
  const submit = (event: Event) => {
    event.preventDefault()
    const moment = momentOf(date, time)
    setWrong(moment === undefined)
    if (moment === undefined) return dateRef.current?.focus()
    onMoment(moment)
  }
  return (
    <form class="au-when" onSubmit={submit} aria-label="Zeitpunkt der Salden" noValidate>
      <div class={wrong ? 'field invalid' : 'field'}>
        <label for="as-of-date">Datum</label>
        <input
          id="as-of-date"
          ref={dateRef}
          type="date"
          required
          value={date}
          aria-invalid={wrong}
          aria-describedby={wrong ? 'as-of-hint as-of-error' : 'as-of-hint'}
          onInput={(event) => setDate((event.currentTarget as HTMLInputElement).value)}
        />
      </div>
      <div class="field">
        <label for="as-of-time">Uhrzeit (optional)</label>
        <input id="as-of-time" type="time" step={1} value={time} aria-describedby="as-of-hint" onInput={(event) => setTime((event.currentTarget as HTMLInputElement).value)} />
      </div>
      <button type="submit">Salden anzeigen</button>
      <small id="as-of-hint" class="hint">
        Ohne Uhrzeit gilt das Ende des Tages, mit Uhrzeit das Ende dieser Sekunde, jeweils in Ihrer Ortszeit ({ZONE}). Maßgeblich ist, wann ein
        Ereignis erfasst wurde, nicht sein Buchungs- oder Belegdatum.
      </small>
      {wrong && (
        <small id="as-of-error" class="field-error" role="alert">
          Bitte ein gültiges Datum (und gegebenenfalls eine Uhrzeit) eingeben.
        </small>
      )}
    </form>
  )
}

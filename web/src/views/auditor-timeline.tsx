import { useRef, useState } from 'preact/hooks'
import { asProblem, type ApiProblem } from '../api'
import { useApp } from '../app'
import { LoadState, Section, useLoad } from '../components'
import { ROLE_LABELS, timestamp } from '../format'
import { problemMessage } from '../messages'
import type { AuditEntry, Sozialraum } from '../types'
import { EVENT_LABELS, EventData, eventLabel } from './auditor-events'

/**
 * The audit trail (GET /v1/audit/events): every event, oldest first, filtered and read page by
 * page ("Weitere laden" passes the answer's `next` as `after`).
 */

interface AuditPage {
  items: AuditEntry[]
  next: string | null
}

/** The filters as the form holds them; `from` and `to` are the browser's local date and time. */
interface Filters {
  /** "year": the events of the year chosen in the header; "all": also Sozialraum events and exports, which belong to no year. */
  scope: 'year' | 'all'
  sozialraum: string
  type: string
  actor: string
  from: string
  to: string
}

const NO_FILTERS: Filters = { scope: 'year', sozialraum: '', type: '', actor: '', from: '', to: '' }
const PAGE_SIZE = 50
const TYPES = Object.entries(EVENT_LABELS).sort(([, a], [, b]) => a.localeCompare(b, 'de'))

/** A datetime-local value as the ISO UTC timestamp the API takes; undefined when it is no time. */
function isoOf(local: string): string | undefined {
  // A date-time without an offset is the browser's local time (ECMAScript's Date parsing rule).
  const time = new Date(local)
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString()
}

/** The query of the first page; undefined with a message when a time cannot be read. */
function queryOf(filters: Filters, year: number): { query: string } | { wrong: 'from' | 'to' } {
  const query = new URLSearchParams()
  if (filters.scope === 'year') query.set('year', String(year))
  if (filters.sozialraum !== '') query.set('sozialraum', filters.sozialraum)
  if (filters.type !== '') query.set('type', filters.type)
  if (filters.actor.trim() !== '') query.set('actor', filters.actor.trim())
  for (const key of ['from', 'to'] as const) {
    if (filters[key] === '') continue
    const iso = isoOf(filters[key])
    if (iso === undefined) return { wrong: key }
    query.set(key, iso)
  }
  query.set('limit', String(PAGE_SIZE))
  return { query: query.toString() }
}

export function AuditTimeline({ sozialraeume, onPosition }: { sozialraeume: readonly Sozialraum[]; onPosition: (position: string) => void }) {
  const { api, year } = useApp()
  // Without times the filters always make a query.
  const [query, setQuery] = useState(() => (queryOf(NO_FILTERS, year) as { query: string }).query)
  const loaded = useLoad(() => api.get<AuditPage>(`/v1/audit/events?${query}`), [query])
  const [more, setMore] = useState<{ busy: boolean; error?: ApiProblem }>({ busy: false })
  // Counts the times the trail was read anew: a further page that arrives after that is dropped.
  const round = useRef(0)

  const loadMore = async (after: string) => {
    const asked = round.current
    setMore({ busy: true })
    try {
      const page = await api.get<AuditPage>(`/v1/audit/events?${query}&after=${encodeURIComponent(after)}`)
      if (round.current === asked) loaded.update((data) => ({ items: [...data.items, ...page.items], next: page.next }))
      setMore({ busy: false })
    } catch (error) {
      setMore({ busy: false, error: asProblem(error) })
    }
  }

  /** The same filters again read the trail anew: events may have arrived since. */
  const show = (next: string) => {
    round.current += 1
    setMore({ busy: false })
    if (next === query) loaded.reload()
    else setQuery(next)
  }

  const page = loaded.data
  return (
    <Section title="Ereignisprotokoll">
      <FilterForm sozialraeume={sozialraeume} year={year} onQuery={show} />
      <LoadState loaded={loaded} empty={page !== undefined && page.items.length === 0} />
      {page !== undefined && page.items.length > 0 && (
        <>
          <p class="muted" role="status">
            {page.items.length} {page.items.length === 1 ? 'Ereignis' : 'Ereignisse'} angezeigt{page.next !== null ? ', weitere vorhanden' : ', das sind alle'}.
            {loaded.loading && ' Wird aktualisiert …'}
          </p>
          <EventTable entries={page.items} busy={loaded.loading} onPosition={onPosition} />
        </>
      )}
      {more.error !== undefined && (
        <p class="problem" role="alert">
          {problemMessage(more.error)}
        </p>
      )}
      {page?.next != null && (
        <button type="button" class="secondary" disabled={more.busy} onClick={() => void loadMore(page.next!)}>
          {more.busy ? 'Wird geladen …' : 'Weitere laden'}
        </button>
      )}
    </Section>
  )
}

function EventTable({ entries, busy, onPosition }: { entries: readonly AuditEntry[]; busy: boolean; onPosition: (position: string) => void }) {
  return (
    <div class="table-wrap" aria-busy={busy}>
      <table class="au-events">
        <caption class="muted">Ereignisse in der Reihenfolge des Protokolls, älteste zuerst; Zeiten in Ortszeit</caption>
        <thead>
          <tr>
            <th scope="col" class="num">
              Nr.
            </th>
            <th scope="col">Zeitpunkt</th>
            <th scope="col">Ereignis</th>
            <th scope="col">Stream</th>
            <th scope="col">Akteur</th>
            <th scope="col">Daten</th>
            <th scope="col">
              <span class="au-hidden">Salden</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.position} data-position={entry.position} data-type={entry.type}>
              <td class="num">{entry.position}</td>
              <td>
                <time dateTime={entry.recordedAt}>{timestamp(entry.recordedAt)}</time>
              </td>
              <td class="au-break">
                {eventLabel(entry.type)}
                <small class="muted au-block">
                  {entry.type} · v{entry.version}
                </small>
              </td>
              <td class="au-break">
                {entry.streamId}
                <small class="muted au-block">Revision {entry.revision}</small>
              </td>
              <td>
                {entry.actor.sub}
                <small class="muted au-block">{(ROLE_LABELS as Record<string, string>)[entry.actor.role] ?? entry.actor.role}</small>
              </td>
              <td>
                <EventData entry={entry} />
              </td>
              <td>
                {/* Budget events only: the balances have a moment right after each of them. */}
                {entry.streamId.startsWith('budget-') && (
                  <button type="button" class="secondary au-small" aria-label={`Salden danach (Ereignis Nr. ${entry.position})`} onClick={() => onPosition(entry.position)}>
                    Salden
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** The filters; applied on "Filtern", so that typing an actor's id sends no request per letter. */
function FilterForm({ sozialraeume, year, onQuery }: { sozialraeume: readonly Sozialraum[]; year: number; onQuery: (query: string) => void }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS)
  const [wrong, setWrong] = useState<'from' | 'to'>()
  const form = useRef<HTMLFormElement>(null)
  const change = (key: keyof Filters) => (event: Event) => setFilters((previous) => ({ ...previous, [key]: (event.currentTarget as HTMLInputElement).value }))

  const apply = (next: Filters) => {
    const built = queryOf(next, year)
    if ('wrong' in built) {
      setWrong(built.wrong)
      form.current?.querySelector<HTMLElement>(`#filter-${built.wrong}`)?.focus()
      return
    }
    setWrong(undefined)
    onQuery(built.query)
  }
  const submit = (event: Event) => {
    event.preventDefault()
    apply(filters)
  }
  const reset = () => {
    setFilters(NO_FILTERS)
    apply(NO_FILTERS)
  }

  return (
    <form class="au-filters" ref={form} onSubmit={submit} aria-label="Filter des Ereignisprotokolls" noValidate>
      <div class="field">
        <label for="filter-scope">Jahr</label>
        <select id="filter-scope" value={filters.scope} onChange={change('scope')}>
          <option value="year">Haushaltsjahr {year}</option>
          <option value="all">alle Jahre, mit Sozialräumen und Exporten</option>
        </select>
      </div>
      <div class="field">
        <label for="filter-sozialraum">Sozialraum</label>
        <select id="filter-sozialraum" value={filters.sozialraum} onChange={change('sozialraum')}>
          <option value="">alle</option>
          {sozialraeume.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-type">Ereignis</label>
        <select id="filter-type" value={filters.type} onChange={change('type')}>
          <option value="">alle</option>
          {TYPES.map(([type, label]) => (
            <option key={type} value={type}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-actor">Akteur (Benutzerkennung)</label>
        <input id="filter-actor" type="text" autoComplete="off" value={filters.actor} onInput={change('actor')} />
      </div>
      {(['from', 'to'] as const).map((key) => (
        <div key={key} class={wrong === key ? 'field invalid' : 'field'}>
          <label for={`filter-${key}`}>{key === 'from' ? 'Erfasst ab' : 'Erfasst vor'}</label>
          <input
            id={`filter-${key}`}
            type="datetime-local"
            step={1}
            value={filters[key]}
            aria-invalid={wrong === key}
            {...(wrong === key ? { 'aria-describedby': 'filter-time-error' } : {})}
            onInput={change(key)}
          />
        </div>
      ))}
      <div class="actions">
        <button type="submit">Filtern</button>
        <button type="button" class="secondary" onClick={reset}>
          Zurücksetzen
        </button>
      </div>
      {wrong !== undefined && (
        <p id="filter-time-error" class="field-error" role="alert">
          Bitte einen gültigen Zeitpunkt eingeben.
        </p>
      )}
    </form>
  )
}

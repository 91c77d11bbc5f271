import type { ComponentChildren } from 'preact'
import { createContext } from 'preact'
import { useContext, useEffect, useRef, useState } from 'preact/hooks'
import { asProblem, type ApiProblem } from './api'
import { Chart, type ChartConfiguration } from './chart'
import { euro, parseEuro, typedText } from './format'
import { fieldMessages, problemMessage } from './messages'

/** An amount as the team reads it; the API's decimal string kept in a data attribute for tests and copy. */
export function Money({ amount }: { amount: string }) {
  return <span class="money" data-amount={amount}>{euro(amount)}</span>
}

export interface Loaded<T> {
  data: T | undefined
  error: ApiProblem | undefined
  loading: boolean
  reload: () => void
  /** Replaces the data with what a write answered, without asking the API again. */
  set: (data: T) => void
  /**
   * Changes the loaded data from its latest state (not the render's), so that two answers arriving
   * close together both count. Does nothing before the data has loaded.
   */
  update: (change: (data: T) => T) => void
}

/**
 * Loads once per change of `deps`. Only the latest request counts: an answer that arrives after a
 * newer request, or after a write's answer replaced the data (set, update), is dropped, so an
 * older read never overwrites what a write just answered. A failed load keeps the data it had.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiProblem; loading: boolean }>({ loading: true })
  const [round, setRound] = useState(0)
  const latest = useRef(0)
  useEffect(() => {
    const request = ++latest.current
    setState((previous) => ({ ...previous, loading: true }))
    load().then(
      (data) => request === latest.current && setState({ data, loading: false }),
      (error: unknown) => request === latest.current && setState((previous) => ({ data: previous.data, error: asProblem(error), loading: false })),
    )
  }, [...deps, round])
  return {
    data: state.data,
    error: state.error,
    loading: state.loading,
    reload: () => setRound((n) => n + 1),
    set: (data) => {
      latest.current++
      setState({ data, loading: false })
    },
    update: (change) => {
      latest.current++
      setState((previous) => (previous.data === undefined ? previous : { data: change(previous.data), loading: false }))
    },
  }
}

/**
 * The Idempotency-Key for a write of `input`: the same for the same input until a write succeeds,
 * so that sending again after a lost answer (a timeout, a dropped connection) never books twice;
 * a new one for other input, and after a success (the same booking again on purpose is a second
 * booking). A key the service says was used for another request is dropped.
 */
export function useIdempotencyKey(): { keyFor(input: unknown): string; settled(problem?: ApiProblem): void } {
  const last = useRef<{ input: string; key: string } | undefined>(undefined)
  return {
    keyFor: (input) => {
      const text = JSON.stringify(input)
      if (last.current?.input !== text) last.current = { input: text, key: crypto.randomUUID() }
      return last.current.key
    },
    settled: (problem) => {
      if (problem === undefined || problem.code === 'idempotency-key-reused') last.current = undefined
    },
  }
}

/**
 * What a list shows while it loads or when it could not be read. It takes only what it reads:
 * set and update take a T, so a Loaded<T> is no Loaded<unknown>.
 */
export function LoadState({ loaded, empty }: { loaded: Pick<Loaded<unknown>, 'data' | 'error' | 'loading'>; empty?: boolean }) {
  if (loaded.error !== undefined) return <p class="problem" role="alert">{problemMessage(loaded.error)}</p>
  if (loaded.loading && loaded.data === undefined) return <p class="muted">Wird geladen …</p>
  if (empty === true) return <p class="muted">Keine Einträge.</p>
  return null
}

/**
 * Tells the page a write succeeded, for the forms the write itself removes: the shell shows the
 * message and, when `from` left the page, takes the keyboard focus to it.
 */
export const Announce = createContext<(message: string, from?: Element | null) => void>(() => {})

export type FieldSpec =
  | { name: string; label: string; kind: 'text' | 'textarea' | 'date'; required?: boolean; hint?: string }
  | { name: string; label: string; kind: 'amount'; required?: boolean; hint?: string; signed?: boolean }
  | { name: string; label: string; kind: 'select'; options: readonly { value: string; label: string }[]; required?: boolean; hint?: string }

export type Values = Record<string, string>

/**
 * A form's values as an API body: dotted names become nested objects ("period.to" → period.to),
 * and empty fields are left out, so optional members are absent rather than "".
 */
export function bodyOf(values: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(values)) {
    if (value === '') continue
    const parts = name.split('.')
    let target = body
    for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>
    target[parts[parts.length - 1]!] = value
  }
  return body
}

/** An amount field's value, checked before anything is sent: the API's notation, or a German message. */
function amountValue(field: FieldSpec, text: string): { ok: true; value: string } | { ok: false; message: string } {
  const value = parseEuro(text)
  if (value === undefined) return { ok: false, message: 'Bitte einen gültigen Betrag eingeben, z. B. 1.250,50.' }
  if (!(field.kind === 'amount' && field.signed === true) && value.startsWith('-')) {
    return { ok: false, message: 'Bitte einen positiven Betrag eingeben.' }
  }
  return { ok: true, value }
}

export interface FormProps<T> {
  /** A heading for the form, and its accessible name. */
  title: string
  fields: readonly FieldSpec[]
  initial?: Values
  submitLabel: string
  /**
   * Sends the write. Amount fields arrive in the API's notation ("1250.50"), empty fields as "".
   * The key is the same for a retry of the same input, so a lost answer never books twice.
   */
  submit: (values: Values, idempotencyKey: string) => Promise<T>
  /** Called with the API's answer: the page updates from it, without a reload. */
  done: (answer: T) => void
  /** What the success message says (German). */
  success?: (answer: T) => string
}

/**
 * A write form: labels for every field, the API's refusals in German next to the field they name
 * (aria-describedby), the general message above the button, and focus on the first wrong field.
 */
export function Form<T>(props: FormProps<T>) {
  const initial = props.initial ?? {}
  const [values, setValues] = useState<Values>(() => Object.fromEntries(props.fields.map((f) => [f.name, initial[f.name] ?? ''])))
  const [messages, setMessages] = useState<Record<string, string>>({})
  const [status, setStatus] = useState<string>('')
  const [busy, setBusy] = useState(false)
  // Guards a second submit before the page has drawn `busy` (a double click, Enter twice).
  const sending = useRef(false)
  const idempotency = useIdempotencyKey()
  const announce = useContext(Announce)
  const formRef = useRef<HTMLFormElement>(null)
  const id = useRef(`f${Math.random().toString(36).slice(2, 8)}`).current

  const change = (name: string, value: string) => {
    setValues((previous) => ({ ...previous, [name]: value }))
  }

  const focusFirstWrong = (wrong: Record<string, string>) => {
    const first = props.fields.find((f) => wrong[f.name] !== undefined)
    if (first !== undefined) formRef.current?.querySelector<HTMLElement>(`[name="${first.name}"]`)?.focus()
  }

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    if (sending.current) return
    const checked: Values = {}
    const wrong: Record<string, string> = {}
    for (const field of props.fields) {
      const text = typedText(values[field.name] ?? '')
      if (text === '') {
        if (field.required === true) wrong[field.name] = 'Bitte ausfüllen.'
        checked[field.name] = ''
      } else if (field.kind === 'amount') {
        const amount = amountValue(field, text)
        if (amount.ok) checked[field.name] = amount.value
        else wrong[field.name] = amount.message
      } else checked[field.name] = text
    }
    if (Object.keys(wrong).length > 0) {
      setMessages({ ...wrong, '': 'Bitte prüfen Sie die markierten Felder.' })
      setStatus('')
      focusFirstWrong(wrong)
      return
    }
    sending.current = true
    setBusy(true)
    setMessages({})
    setStatus('')
    try {
      const answer = await props.submit(checked, idempotency.keyFor(checked))
      idempotency.settled()
      setValues(Object.fromEntries(props.fields.map((f) => [f.name, initial[f.name] ?? ''])))
      const said = props.success?.(answer) ?? 'Gespeichert.'
      setStatus(said)
      props.done(answer)
      // A form the write removes (a released commitment's, a decided approval's) cannot say so itself.
      announce(said, formRef.current)
    } catch (error) {
      const problem = asProblem(error)
      idempotency.settled(problem)
      const found = fieldMessages(problem, props.fields.map((f) => f.name))
      setMessages(found)
      focusFirstWrong(found)
    } finally {
      sending.current = false
      setBusy(false)
    }
  }

  return (
    <form class="form" ref={formRef} onSubmit={onSubmit} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`}>{props.title}</h3>
      {props.fields.map((field) => (
        <Field key={field.name} id={`${id}-${field.name}`} field={field} value={values[field.name] ?? ''} message={messages[field.name]} onInput={change} />
      ))}
      {messages[''] !== undefined && (
        <p class="problem" role="alert">
          {messages['']}
        </p>
      )}
      {status !== '' && (
        <p class="success" role="status">
          {status}
        </p>
      )}
      {/* aria-disabled, not disabled: a disabled button drops the keyboard focus to the page's top. */}
      <button type="submit" aria-disabled={busy || undefined}>
        {busy ? 'Wird gesendet …' : props.submitLabel}
      </button>
    </form>
  )
}

function Field(props: { id: string; field: FieldSpec; value: string; message: string | undefined; onInput: (name: string, value: string) => void }) {
  const { id, field, value, message } = props
  const described = [field.hint !== undefined ? `${id}-hint` : '', message !== undefined ? `${id}-error` : ''].filter(Boolean).join(' ')
  const common = {
    id,
    name: field.name,
    value,
    required: field.required === true,
    'aria-invalid': message !== undefined,
    ...(described === '' ? {} : { 'aria-describedby': described }),
    onInput: (event: Event) => props.onInput(field.name, (event.currentTarget as HTMLInputElement).value),
  }
  let control: ComponentChildren
  if (field.kind === 'textarea') control = <textarea rows={2} {...common} />
  else if (field.kind === 'select') {
    control = (
      <select {...common} onChange={common.onInput}>
        {field.required !== true && <option value="">–</option>}
        {field.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    )
  } else if (field.kind === 'amount') control = <input type="text" inputMode="decimal" autoComplete="off" placeholder="0,00" {...common} />
  else if (field.kind === 'date') control = <input type="date" {...common} />
  else control = <input type="text" autoComplete="off" {...common} />
  return (
    <div class={message !== undefined ? 'field invalid' : 'field'}>
      <label for={id}>
        {field.label}
        {field.required === true && <span aria-hidden="true"> *</span>}
      </label>
      {control}
      {field.hint !== undefined && (
        <small id={`${id}-hint`} class="hint">
          {field.hint}
        </small>
      )}
      {message !== undefined && (
        <small id={`${id}-error`} class="field-error">
          {message}
        </small>
      )}
    </div>
  )
}

/** A Chart.js chart on a canvas; `label` is its accessible name, and a table beside it carries the figures. */
export function ChartCanvas({ config, label, height = 260 }: { config: ChartConfiguration; label: string; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    if (canvas.current === null) return
    const chart = new Chart(canvas.current, { ...config, options: { responsive: true, maintainAspectRatio: false, ...config.options } })
    return () => chart.destroy()
  }, [JSON.stringify(config.data), config.type])
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}

/** A section of a page with its heading. */
export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const id = useRef(`s${Math.random().toString(36).slice(2, 8)}`).current
  return (
    <section class="card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  )
}

import { createContext, type ComponentChildren } from 'preact'
import { useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { Api, ApiProblem, retryAfterOf } from './api'
import { finishOidcSignIn, forgetSession, keepSession, sessionOf, startOidcSignIn, storedSession, type Session, type SignInConfig } from './auth'
import { Announce } from './components'
import { ROLE_LABELS } from './format'
import { problemMessage, tooManyRequests } from './messages'
import type { Role } from './types'
import { AuditorPage } from './views/auditor'
import { FinancePage } from './views/finance'
import { TeamLeadPage } from './views/teamlead'
import { YearClosePage } from './views/year-close'

/** What every page needs: the API with the user's token, who they are, and the fiscal year shown. */
export interface AppContext {
  api: Api
  session: Session
  year: number
}

const Context = createContext<AppContext | undefined>(undefined)

export function useApp(): AppContext {
  const context = useContext(Context)
  if (context === undefined) throw new Error('useApp outside the signed-in app')
  return context
}

/** The pages of each role, in the order of the navigation; the first is the role's main page. */
const PAGES: Record<Role, readonly { path: string; label: string; page: () => ComponentChildren }[]> = {
  finance: [
    { path: 'uebersicht', label: 'Übersicht', page: () => <FinancePage /> },
    { path: 'jahresabschluss', label: 'Jahresabschluss', page: () => <YearClosePage /> },
    { path: 'pruefung', label: 'Prüfung', page: () => <AuditorPage /> },
  ],
  teamlead: [{ path: 'team', label: 'Meine Sozialräume', page: () => <TeamLeadPage /> }],
  auditor: [{ path: 'pruefung', label: 'Prüfung', page: () => <AuditorPage /> }],
}

const YEAR_KEY = 'sojus-ledger.year'
/** How long the page waits for the service before it says it cannot reach it. */
const CONFIG_TIMEOUT_MS = 15_000
const FIRST_YEAR = 2000
const LAST_YEAR = 2100

function initialYear(): number {
  const kept = Number(sessionStorage.getItem(YEAR_KEY))
  return Number.isInteger(kept) && kept >= FIRST_YEAR && kept <= LAST_YEAR ? kept : new Date().getFullYear()
}

function useHashPath(): string {
  const read = () => location.hash.replace(/^#\/?/, '')
  const [path, setPath] = useState(read)
  useEffect(() => {
    const update = () => setPath(read())
    addEventListener('hashchange', update)
    return () => removeEventListener('hashchange', update)
  }, [])
  return path
}

/** Why the sign-in form shows again: the token expired, or the service refused it (a 401). */
const EXPIRED = 'Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.'
const REFUSED = problemMessage(new ApiProblem(401, 'unauthorized', ''))
const NOT_SAVED = ' Die letzte Eingabe wurde nicht gespeichert.'

export function App() {
  const [config, setConfig] = useState<SignInConfig>()
  // A token kept in this tab that has expired is forgotten at once, and the form says why.
  const [stored] = useState(storedSession)
  const [session, setSession] = useState<Session | undefined>(stored === 'expired' ? undefined : stored)
  const [failure, setFailure] = useState<string>()
  const [reason, setReason] = useState<string | undefined>(stored === 'expired' ? EXPIRED : undefined)

  useEffect(() => {
    fetch('/dashboard/config', { cache: 'no-store', signal: AbortSignal.timeout(CONFIG_TIMEOUT_MS) })
      .then((response) => response.json() as Promise<SignInConfig>)
      .then(async (loaded) => {
        setConfig(loaded)
        if (loaded.signIn !== 'oidc') return
        const returned = await finishOidcSignIn(loaded)
        if (returned === 'invalid') setFailure('Das Token des Identitätsdienstes nennt keine Rolle für das SOJUS-Budget. Bitte wenden Sie sich an den Betrieb.')
        else if (returned === 'refused') setFailure('Die Anmeldung wurde beim Identitätsanbieter abgebrochen oder abgelehnt.')
        else if (returned !== undefined) signedIn(returned)
      })
      .catch(() => setFailure('Die Anmeldung ist fehlgeschlagen: Der Dienst oder der Identitätsdienst ist nicht erreichbar.'))
  }, [])

  const signedIn = (next: Session) => {
    keepSession(next)
    setReason(undefined)
    setSession(next)
  }
  // Whatever the page knew when the Api was made: forgetting clears every trace of the sign-in.
  // `why`: what the sign-in form says (none after the user signed out themselves).
  const signOut = (why?: string) => {
    forgetSession()
    setReason(why)
    setSession(undefined)
  }
  // A 401: the token expired (or was refused); a write it refused booked nothing, and the form says so.
  const refused = (token: string, write: boolean) => {
    const expired = (sessionOf(token)?.expiresAt ?? 0) <= Date.now()
    signOut(`${expired ? EXPIRED : REFUSED}${write ? NOT_SAVED : ''}`)
  }

  if (session === undefined) return <SignIn config={config} failure={failure} reason={reason} onSignedIn={signedIn} />
  return <Shell session={session} onSignOut={() => signOut()} onRefused={(write) => refused(session.token, write)} />
}

function Shell({ session, onSignOut, onRefused }: { session: Session; onSignOut: () => void; onRefused: (write: boolean) => void }) {
  const [year, setYear] = useState(initialYear)
  const api = useMemo(() => new Api(session.token, onRefused), [session.token])
  const path = useHashPath()
  const pages = PAGES[session.role]
  const current = pages.find((page) => page.path === path) ?? pages[0]!
  const changeYear = (value: number) => {
    sessionStorage.setItem(YEAR_KEY, String(value))
    setYear(value)
  }
  // A write whose form it removed (a decided approval, a released commitment) is told here, and
  // the keyboard focus goes to the message instead of being lost with the form.
  const [said, setSaid] = useState<string>()
  const flash = useRef<HTMLParagraphElement>(null)
  const announce = (message: string, from?: Element | null) => {
    setSaid(undefined)
    setTimeout(() => {
      if (from !== undefined && from !== null && !from.isConnected) setSaid(message)
    }, 0)
  }
  useEffect(() => {
    if (said !== undefined) flash.current?.focus()
  }, [said])
  // The message is about the page it was said on: another page or year does not repeat it.
  useEffect(() => setSaid(undefined), [path, year])
  return (
    <Context.Provider value={{ api, session, year }}>
      <Announce.Provider value={announce}>
        <a class="skip" href="#inhalt">
          Zum Inhalt springen
        </a>
        <header class="top">
          <h1>SOJUS-Budget</h1>
          <nav aria-label="Hauptnavigation">
            <ul>
              {pages.map((page) => (
                <li key={page.path}>
                  <a href={`#/${page.path}`} aria-current={page === current ? 'page' : undefined}>
                    {page.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div class="who">
            <label for="year">Haushaltsjahr</label>
            <select id="year" value={String(year)} onChange={(event) => changeYear(Number((event.currentTarget as HTMLSelectElement).value))}>
              {yearsAround(year).map((y) => (
                <option key={y} value={String(y)}>
                  {y}
                </option>
              ))}
            </select>
            <span class="user">
              {session.name ?? session.sub} <span class="role">({ROLE_LABELS[session.role]})</span>
            </span>
            <button type="button" class="secondary" onClick={onSignOut}>
              Abmelden
            </button>
          </div>
        </header>
        <main id="inhalt" tabIndex={-1}>
          <p class="flash success" role="status" tabIndex={-1} ref={flash}>
            {said}
          </p>
          {/* A key per year: a page's loaded data never outlives the year it was loaded for. */}
          <div key={`${current.path}-${year}`}>{current.page()}</div>
        </main>
      </Announce.Provider>
    </Context.Provider>
  )
}

function yearsAround(year: number): number[] {
  const first = Math.max(FIRST_YEAR, Math.min(year, new Date().getFullYear()) - 5)
  const last = Math.min(LAST_YEAR, Math.max(year, new Date().getFullYear()) + 1)
  return Array.from({ length: last - first + 1 }, (_, index) => first + index)
}

function SignIn(props: { config: SignInConfig | undefined; failure: string | undefined; reason: string | undefined; onSignedIn: (session: Session) => void }) {
  const { config, failure, onSignedIn } = props
  const [token, setToken] = useState('')
  const [message, setMessage] = useState<string>()
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    const session = sessionOf(token)
    if (session === undefined) return setMessage('Das ist kein gültiges Token. Bitte kopieren Sie es vollständig aus „npm run token“.')
    if (session.expiresAt <= Date.now()) return setMessage('Dieses Token ist abgelaufen. Bitte erzeugen Sie ein neues.')
    setBusy(true)
    // The service, not the page, decides whether the token counts: ask it once.
    const answer = await fetch('/v1/sozialraeume', {
      headers: { authorization: `Bearer ${session.token}` },
      cache: 'no-store',
      signal: AbortSignal.timeout(CONFIG_TIMEOUT_MS),
    }).catch(() => undefined)
    setBusy(false)
    if (answer?.ok === true) return onSignedIn(session)
    const refused = answer !== undefined && (answer.status === 401 || answer.status === 403)
    if (answer?.status === 429) return setMessage(tooManyRequests(retryAfterOf(answer)))
    setMessage(refused ? 'Der Dienst hat dieses Token abgelehnt. Bitte erzeugen Sie ein neues.' : 'Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.')
  }
  const shown = message ?? failure

  return (
    <main id="inhalt" class="signin">
      <h1>SOJUS-Budget</h1>
      <p>Budgets der Sozialräume: Zuweisungen, Mittelbindungen, Rechnungen und flexible Hilfen.</p>
      {config === undefined && failure === undefined ? (
        <>
          {props.reason !== undefined && (
            <p class="problem" role="alert">
              {props.reason}
            </p>
          )}
          <p class="muted">Wird geladen …</p>
        </>
      ) : config?.signIn === 'oidc' ? (
        <>
          {(failure ?? props.reason) !== undefined && (
            <p class="problem" role="alert">
              {failure ?? props.reason}
            </p>
          )}
          <button type="button" onClick={() => void startOidcSignIn(config)}>
            Anmelden
          </button>
        </>
      ) : (
        <form onSubmit={submit} class="form" aria-labelledby="signin-title" noValidate>
          <h2 id="signin-title">Anmelden</h2>
          {props.reason !== undefined && shown === undefined && (
            <p class="problem" role="alert">
              {props.reason}
            </p>
          )}
          <div class={shown !== undefined ? 'field invalid' : 'field'}>
            <label for="token">Zugangstoken</label>
            {/* No spell check: Chrome's enhanced spell check would send the token to Google. */}
            <textarea
              id="token"
              name="token"
              rows={4}
              spellcheck={false}
              autoComplete="off"
              autoCapitalize="off"
              value={token}
              aria-invalid={shown !== undefined}
              aria-describedby={shown !== undefined ? 'token-hint token-error' : 'token-hint'}
              onInput={(event) => setToken((event.currentTarget as HTMLTextAreaElement).value)}
            />
            <small id="token-hint" class="hint">
              Das Token erzeugt der Betrieb mit <code>npm run token</code>. Es bleibt nur in diesem Browser-Tab gespeichert.
            </small>
            {shown !== undefined && (
              <small id="token-error" class="field-error" role="alert">
                {shown}
              </small>
            )}
          </div>
          <button type="submit" disabled={busy}>
            Anmelden
          </button>
        </form>
      )}
    </main>
  )
}

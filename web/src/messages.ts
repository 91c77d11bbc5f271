import type { ApiProblem } from './api'

/**
 * The API's problems as German sentences (docs/api.md, "Problem types"). The API's own `detail`
 * is English and meant for developers; the person at the desk reads these. A validation
 * problem names its fields: each message goes next to the field it names (see fieldMessages).
 */
const PROBLEM_MESSAGES: Record<string, string> = {
  validation: 'Die Eingaben sind nicht gültig. Bitte prüfen Sie die markierten Felder.',
  // Shown on the sign-in form the page returns to after a 401 (app.tsx).
  unauthorized: 'Ihre Anmeldung ist abgelaufen oder ungültig. Bitte melden Sie sich erneut an.',
  forbidden: 'Dafür fehlt Ihnen die Berechtigung.',
  // Not an API code: a page gives a 403 on a four-eyes decision (the requester's own approval) this code.
  'four-eyes': 'Eine zweite Person muss entscheiden: Wer den Antrag gestellt hat, darf ihn nicht selbst freigeben.',
  // Not an API code either: a 409 conflict on a commitment's approval, which waits no longer.
  'decided-meanwhile': 'Inzwischen hat jemand anderes darüber entschieden. Die Liste zeigt jetzt den aktuellen Stand.',
  // Not an API code either: a 409 on a year's close (docs/fiscal-year.md, "1. The request").
  'year-order':
    'Der Abschluss ist jetzt nicht möglich: Haushaltsjahre werden der Reihe nach abgeschlossen (ein früheres Jahr mit Budgets ist noch nicht abgeschlossen, oder der Abschluss des Vor- oder Folgejahres läuft), und ein Jahr ohne Budget wird nicht abgeschlossen. Falls sich der Stand geändert hat, laden Sie die Seite bitte neu.',
  'not-found': 'Nicht gefunden: Der Sozialraum, das Budget oder der Vorgang existiert nicht (noch keine Zuweisung?).',
  conflict: 'Das gibt es schon, oder es hat diesen Stand bereits.',
  'commitment-closed': 'Die Mittelbindung ist abgeschlossen oder abgelehnt.',
  'approval-required': 'Die Mittelbindung wartet noch auf die Freigabe.',
  'year-closed': 'Das Haushaltsjahr ist abgeschlossen: Buchungen sind nicht mehr möglich.',
  'precondition-failed': 'Das Budget wurde inzwischen geändert. Bitte laden Sie neu und versuchen Sie es noch einmal.',
  'insufficient-funds': 'Nicht genug verfügbare Mittel auf dieser Haushaltslinie.',
  'exceeds-commitment': 'Der Betrag übersteigt den Rest der Mittelbindung (oder unterschreitet das bereits Abgerechnete).',
  'limit-exceeded': 'Der Betrag überschreitet die zulässige Höchstgrenze.',
  'idempotency-key-reused': 'Dieser Vorgang wurde schon mit anderen Angaben gesendet. Bitte senden Sie das Formular neu ab.',
  'idempotency-key-in-progress': 'Dieser Vorgang wird gerade noch gebucht. Bitte senden Sie ihn gleich noch einmal ab, um das Ergebnis zu sehen.',
  'too-many-requests': 'Zu viele Anfragen. Bitte warten Sie einen Moment.',
  'payload-too-large': 'Die Eingaben sind zu lang.',
  unavailable: 'Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.',
  network: 'Der Dienst ist nicht erreichbar. Bitte prüfen Sie die Verbindung.',
  internal: 'Ein interner Fehler ist aufgetreten. Bitte wenden Sie sich an den Betrieb.',
}

/** The German sentence for a refused request. */
export function problemMessage(problem: ApiProblem): string {
  if (problem.code === 'too-many-requests') return tooManyRequests(problem.retryAfter)
  return PROBLEM_MESSAGES[problem.code] ?? PROBLEM_MESSAGES.internal!
}

/** A 429: how long to wait, when the answer's Retry-After says. */
export function tooManyRequests(retryAfter: number | undefined): string {
  if (retryAfter === undefined) return PROBLEM_MESSAGES['too-many-requests']!
  const wait = retryAfter <= 1 ? 'einer Sekunde' : retryAfter < 120 ? `${retryAfter} Sekunden` : `${Math.ceil(retryAfter / 60)} Minuten`
  return `Zu viele Anfragen. Bitte versuchen Sie es in ${wait} noch einmal.`
}

/**
 * The API's validation messages (zod's and the deciders', English) in German, the most particular
 * first: "an adjustment must not be zero" is about zero before it is about an amount.
 */
const VALIDATION_PATTERNS: [RegExp, string][] = [
  [/unknown field/i, 'Dieses Feld ist nicht vorgesehen.'],
  [/another Sozialraum|different lines|must differ/i, 'Quelle und Ziel müssen verschieden sein.'],
  [/must not be zero|must not be 0|non-?zero/i, 'Der Betrag darf nicht 0 sein.'],
  [/must be positive|greater than 0|positive amount/i, 'Der Betrag muss größer als 0 sein.'],
  [/must not exceed|in magnitude/i, 'Der Betrag ist zu groß.'],
  [/end before it starts/i, 'Das Ende darf nicht vor dem Beginn liegen.'],
  [/period must overlap|fall in fiscal year|fiscal year/i, 'Das Datum liegt nicht im Haushaltsjahr.'],
  [/required|expected .*, received undefined/i, 'Bitte ausfüllen.'],
  [/amount|decimal|cents|money/i, 'Bitte einen gültigen Betrag eingeben, z. B. 1.250,50.'],
  [/date|YYYY-MM-DD/i, 'Bitte ein gültiges Datum eingeben.'],
  [/visible character|bidirectional/i, 'Die Eingabe enthält unsichtbare oder unzulässige Zeichen, oder sie beginnt oder endet mit einem Leerzeichen.'],
  [/too big|at most|too long/i, 'Die Eingabe ist zu lang.'],
  [/blank|too small|at least/i, 'Bitte ausfüllen.'],
  [/control characters/i, 'Die Eingabe enthält unzulässige Zeichen.'],
  [/uuid|version-5|v5/i, 'Die Kennung ist nicht gültig.'],
]

function germanValidation(message: string): string {
  return VALIDATION_PATTERNS.find(([pattern]) => pattern.test(message))?.[1] ?? 'Diese Eingabe ist nicht gültig.'
}

/**
 * Messages per field of a form, keyed by the API's path of the field ("amount", "period.to").
 * A problem that names no field of the form, or is no validation problem, comes back under "".
 */
export function fieldMessages(problem: ApiProblem, fields: readonly string[]): Record<string, string> {
  const messages: Record<string, string> = {}
  for (const error of problem.errors) {
    const field = fields.find((name) => error.path === name || error.path.startsWith(`${name}.`)) ??
      fields.find((name) => name.startsWith(`${error.path}.`))
    if (field !== undefined && messages[field] === undefined) messages[field] = germanValidation(error.message)
  }
  // Refusals of a rule concern the amount a user typed: say it there too, where they look.
  const amountCodes = ['insufficient-funds', 'exceeds-commitment', 'limit-exceeded']
  if (amountCodes.includes(problem.code) && fields.includes('amount')) messages.amount = problemMessage(problem)
  messages[''] = problemMessage(problem)
  return messages
}

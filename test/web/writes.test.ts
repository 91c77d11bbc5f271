import type { Locator } from 'playwright-core'
import t from 'tap'
import { signToken } from '../../src/auth/tokens.js'
import { get, seed } from '../helpers/api.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'
import { SKIP, startDashboard } from './harness.js'

/** What every write of the dashboard shares (web/src/components.tsx, web/src/api.ts), in the browser. */
const YEAR = new Date().getFullYear()
const TEAM_LEAD = { sub: 'tl-a', role: 'teamlead', name: 'Tina Leitung', sozialraeume: ['malstatt'] } as const

/** Fills the team lead's form "Ausgabe erfassen" with one booking of 120,00 € (receipt B-1) and sends it. */
async function bookSpending(form: Locator): Promise<void> {
  await form.getByLabel('Betrag').fill('120,00')
  await form.getByLabel('Zweck').fill('Gruppenangebot')
  await form.getByLabel('Belegnummer').fill('B-1')
  await form.getByLabel('Datum').fill(`${YEAR}-03-01`)
  await form.getByRole('button', { name: 'Ausgabe buchen' }).click()
}

t.test('sending again after a lost answer books once: the same input keeps its Idempotency-Key', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const { app } = dashboard.service
  const { url } = await seed(app, 'malstatt', { year: YEAR, name: 'Malstatt', flexible: '500.00' })
  const page = await dashboard.signIn(TEAM_LEAD)
  const keys: string[] = []
  let lose = true
  // The first write reaches the service and is booked, but its answer never reaches the page.
  // Only the writes: the page's own GET of the list matches the same path, and may come later.
  await page.route('**/spending', async (route) => {
    if (route.request().method() !== 'POST') return route.continue()
    keys.push(route.request().headers()['idempotency-key'] ?? '')
    if (!lose) return route.continue()
    lose = false
    await route.fetch()
    await route.abort('connectionreset')
  })
  const form = page.getByRole('form', { name: 'Ausgabe erfassen' })
  await bookSpending(form)
  await form.getByText('Der Dienst ist nicht erreichbar').waitFor()
  t.pass('the lost answer is told in German')
  // Touching a field and putting it back is the same input.
  await form.getByLabel('Zweck').fill('Gruppenangebot!')
  await form.getByLabel('Zweck').fill('Gruppenangebot')
  await form.getByRole('button', { name: 'Ausgabe buchen' }).click()
  await form.getByText('Ausgabe B-1 gebucht.').waitFor()
  t.equal(keys.length, 2, 'sent twice')
  t.equal(keys[0], keys[1], 'with the same Idempotency-Key')
  const spending = await get(app, `${url}/spending`)
  t.equal(spending.body.items.length, 1, 'booked once')
  const budget = await get(app, url)
  t.equal(budget.body.lines.flexible.spent, '120.00')
  t.equal(await page.locator('table.budget tr[data-line="flexible"] td[data-figure="spent"] .money').getAttribute('data-amount'), '120.00', 'the page shows it once')

  // The same booking again on purpose is a second booking: a new key.
  await bookSpending(form)
  await form.getByText('Ausgabe B-1 gebucht.').waitFor()
  t.not(keys[2], keys[1], 'a new key after a success')
  t.equal((await get(app, url)).body.lines.flexible.spent, '240.00', 'booked twice on purpose')
})

t.test('an expired token signs the user out: a write is answered 401, and the page asks for a new one and says why', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  await seed(dashboard.service.app, 'malstatt', { year: YEAR, name: 'Malstatt' })
  const page = await dashboard.open()
  const expiresAt = Date.now() + 5_000
  await page.getByLabel('Zugangstoken').fill(await signToken(TEST_JWT_SECRET, TEAM_LEAD, Math.floor(expiresAt / 1000)))
  await page.getByRole('button', { name: 'Anmelden' }).click()
  await page.getByRole('heading', { name: `Malstatt: Haushaltsjahr ${YEAR}` }).waitFor()
  // The service allows 30 seconds of clock difference past exp (docs/api.md, "Claims").
  await page.waitForTimeout(expiresAt + 31_000 - Date.now())
  const form = page.getByRole('form', { name: 'Ausgabe erfassen' })
  await bookSpending(form)
  await page.getByLabel('Zugangstoken').waitFor()
  await page.getByText('Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an. Die letzte Eingabe wurde nicht gespeichert.').waitFor()
  t.pass('the sign-in form says the sign-in expired and the input was not saved')
  t.equal(await page.evaluate("sessionStorage.getItem('sojus-ledger.token')"), null, 'the expired token is forgotten')
})

t.test('too many requests on a write: the form says how long to wait', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  await seed(dashboard.service.app, 'malstatt', { year: YEAR, name: 'Malstatt' })
  const page = await dashboard.signIn(TEAM_LEAD)
  await page.route('**/spending', (route) =>
    route.request().method() !== 'POST'
      ? route.continue()
      : route.fulfill({
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '5' },
          body: JSON.stringify({ type: 'urn:sojus-ledger:problem:too-many-requests', title: 'Too many requests', status: 429 }),
        }),
  )
  const form = page.getByRole('form', { name: 'Ausgabe erfassen' })
  await bookSpending(form)
  await form.getByText('Zu viele Anfragen. Bitte versuchen Sie es in 5 Sekunden noch einmal.').waitFor()
  t.pass('the wait from Retry-After is said in German')
})

t.test('a crossed threshold with decimals is written the German way', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t, { UTILISATION_WARNINGS_AMBULATORY: '80.5,95.25' })
  await seed(dashboard.service.app, 'malstatt', { year: YEAR, name: 'Malstatt', ambulatory: '10000.00' })
  const page = await dashboard.signIn(TEAM_LEAD)
  const form = page.getByRole('form', { name: 'Neue Mittelbindung' })
  await form.getByLabel('Träger').fill('Jugendhilfe Saar gGmbH')
  await form.getByLabel('Aktenzeichen').fill('HZE-1')
  await form.getByLabel('Betrag').fill('8.100,00')
  await form.getByRole('button', { name: 'Mittelbindung anlegen' }).click()
  await form.getByText('Mittelbindung HZE-1 angelegt.').waitFor()
  t.match(await form.locator('.success').innerText(), /\(Schwelle 80,5\u00a0%\)/, 'the threshold reads 80,5 %')
})

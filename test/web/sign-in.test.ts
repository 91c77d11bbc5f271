import t from 'tap'
import { signToken } from '../../src/auth/tokens.js'
import { TEST_JWT_SECRET, tokenFor } from '../helpers/tokens.js'
import { seriousViolations, SKIP, startDashboard } from './harness.js'

t.test('the sign-in form refuses what is no token, then signs in and out', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const page = await dashboard.open()
  t.same(await seriousViolations(page), [], 'no serious or critical accessibility violation on the sign-in page')
  const field = page.getByLabel('Zugangstoken')
  t.same(
    [await field.getAttribute('spellcheck'), await field.getAttribute('autocomplete'), await field.getAttribute('autocapitalize')],
    ['false', 'off', 'off'],
    'the token goes to no spell checker, autofill or capitalisation',
  )
  await page.getByLabel('Zugangstoken').fill('kein-token')
  await page.getByRole('button', { name: 'Anmelden' }).click()
  await page.getByText('Das ist kein gültiges Token').waitFor()
  t.pass('a text that is no token gets a German message')
  const signedIn = await dashboard.signIn({ sub: 'anna', role: 'finance', name: 'Anna Beispiel' })
  t.ok(await signedIn.getByText('Anna Beispiel').isVisible(), 'the header names the user')
  t.ok(await signedIn.evaluate("sessionStorage.getItem('sojus-ledger.token') !== null"), 'the token lives in sessionStorage')
  t.equal(await signedIn.evaluate('localStorage.length'), 0, 'nothing in localStorage')
  await signedIn.getByRole('button', { name: 'Abmelden' }).click()
  await signedIn.getByLabel('Zugangstoken').waitFor()
  t.equal(await signedIn.evaluate("sessionStorage.getItem('sojus-ledger.token')"), null, 'sign-out forgets the token')
})

t.test('a token that expired while the tab was away is forgotten on reload, and the form says why', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const page = await dashboard.open()
  const expired = await signToken(TEST_JWT_SECRET, { sub: 'anna', role: 'finance' }, Math.floor(Date.now() / 1000) - 60)
  await page.evaluate(`sessionStorage.setItem('sojus-ledger.token', ${JSON.stringify(expired)})`)
  await page.reload()
  await page.getByText('Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.').first().waitFor()
  t.pass('the sign-in form says the sign-in expired')
  t.equal(await page.evaluate("sessionStorage.getItem('sojus-ledger.token')"), null, 'the expired token is gone from sessionStorage')
  t.same(await seriousViolations(page), [], 'no serious accessibility violation with the message')
  const signedIn = await dashboard.signIn({ sub: 'anna', role: 'finance', name: 'Anna Beispiel' })
  t.ok(await signedIn.getByText('Anna Beispiel').isVisible(), 'a new token signs in')
})

t.test('too many requests at sign-in: its own message, with the wait the answer names', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const page = await dashboard.open()
  await page.route('**/v1/sozialraeume', (route) =>
    route.fulfill({
      status: 429,
      headers: { 'content-type': 'application/problem+json', 'retry-after': '30' },
      body: JSON.stringify({ type: 'urn:sojus-ledger:problem:too-many-requests', title: 'Too many requests', status: 429 }),
    }),
  )
  await page.getByLabel('Zugangstoken').fill(await tokenFor({ sub: 'anna', role: 'finance' }))
  await page.getByRole('button', { name: 'Anmelden' }).click()
  await page.getByText('Zu viele Anfragen. Bitte versuchen Sie es in 30 Sekunden noch einmal.').waitFor()
  t.pass('a 429 is not called unreachable')
})

import t from 'tap'
import { seriousViolations, SKIP, startDashboard } from './harness.js'

t.test('the sign-in form refuses what is no token, then signs in and out', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const page = await dashboard.open()
  t.same(await seriousViolations(page), [], 'no serious or critical accessibility violation on the sign-in page')
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

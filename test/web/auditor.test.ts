import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from 'playwright-core'
import t from 'tap'
import { get, post, seed, spendingBody } from '../helpers/api.js'
import { amountsIn, screenshot, seriousViolations, SKIP, startDashboard } from './harness.js'

/**
 * The auditor's page (#/pruefung) against the real service: the balances at a past moment, the
 * audit trail with its filters and paging, the verify and the CSV export, each compared with what
 * the API answers for the same question.
 */

/** The browser runs in Europe/Berlin (harness): the moment is typed as a Berlin wall-clock time. */
const ZONE = 'Europe/Berlin'
const BERLIN = new Intl.DateTimeFormat('sv-SE', {
  timeZone: ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
})

/** "2026-12-02" and "06:10:42": what the date and time inputs take for `time` in Berlin. */
function berlinInputs(time: Date): { date: string; time: string } {
  const [date = '', clock = ''] = BERLIN.format(time).split(' ')
  return { date, time: clock }
}

const FIGURES = ['allocated', 'committed', 'spent', 'available'] as const
const figures = (balance: Record<string, string>): string[] => FIGURES.map((key) => balance[key]!)

/** Waits until the Money of `selector` shows `amount`: the page answers asynchronously. */
async function waitForAmount(page: Page, selector: string, amount: string): Promise<void> {
  await page.locator(`${selector} .money[data-amount="${amount}"]`).first().waitFor()
}

t.test('the auditor reads past balances, the trail, a verify and the export', { skip: SKIP }, async (t) => {
  const dashboard = await startDashboard(t)
  const app = dashboard.service.app
  const year = Number(new Intl.DateTimeFormat('en', { timeZone: ZONE, year: 'numeric' }).format(new Date()))
  const today = berlinInputs(new Date()).date

  // Before the moment: two budgets, and a spending in one of them.
  await seed(app, 'malstatt', { year, name: 'Malstatt', ambulatory: '180000.00', flexible: '9000.00' })
  await seed(app, 'burbach', { year, name: 'Burbach', ambulatory: '50000.00', flexible: '4000.00' })
  const spent = await post(app, `/v1/budgets/${year}/malstatt/spending`, spendingBody({ amount: '120.25', date: today }))
  t.equal(spent.status, 201, 'a spending before the moment')

  // The moment is a whole second (the time input's precision), after every write above; the next write waits for the following second.
  const second = Math.floor(Date.now() / 1000) * 1000
  await sleep(second + 1100 - Date.now())
  const moment = berlinInputs(new Date(second))
  const asOf = new Date(second + 999).toISOString()

  // After the moment: another allocation and enough spendings for a second page of the trail.
  const allocated = await post(app, `/v1/budgets/${year}/malstatt/allocations`, { line: 'ambulatory', amount: '2500.50', decisionRef: 'HH-nach' })
  t.equal(allocated.status, 201, 'an allocation after the moment')
  let last = allocated.body.position as string
  for (let n = 1; n <= 50; n++) {
    const answer = await post(app, `/v1/budgets/${year}/burbach/spending`, spendingBody({ amount: '1.00', receiptRef: `R-${n}`, date: today }))
    last = answer.body.position as string
  }

  const then = await get(app, `/v1/audit/balances?year=${year}&asOf=${asOf}`, last)
  const now = await get(app, `/v1/budgets/${year}`, last)
  t.equal(then.status, 200, 'the API answers the balances at the moment')
  t.not(then.body.total.allocated, now.body.total.allocated, 'the moment had other balances than now')
  t.equal(then.body.items.length, 2, 'both budgets existed at the moment')

  const page = await dashboard.signIn({ sub: 'pruefer', role: 'auditor', name: 'Paula Prüfer' })
  await page.getByRole('heading', { name: 'Salden zu einem Zeitpunkt' }).waitFor()

  await t.test('first the balances as they stand now', async (t) => {
    await waitForAmount(page, 'table.au-summary tr[data-line="total"] [data-figure="allocated"]', now.body.total.allocated)
    t.same(await amountsIn(page, 'table.au-summary tr[data-line="total"]'), figures(now.body.total), 'the total is the current one')
  })

  await t.test('a past moment shows the balances the API gives for it', async (t) => {
    await page.getByLabel('Datum', { exact: true }).fill(moment.date)
    await page.getByLabel('Uhrzeit (optional)').fill(moment.time)
    // By keyboard: Enter in the form asks for the balances.
    await page.getByLabel('Uhrzeit (optional)').press('Enter')
    await waitForAmount(page, 'table.au-summary tr[data-line="total"] [data-figure="allocated"]', then.body.total.allocated)
    t.match(await page.locator('.au-moment').textContent(), moment.time, 'the page names the moment it shows')
    t.same(await amountsIn(page, 'table.au-summary tr[data-line="total"]'), figures(then.body.total), 'the total as it was then')
    for (const budget of then.body.items) {
      t.same(await amountsIn(page, `table.au-summary tr[data-line="${budget.sozialraum}"]`), figures(budget.total), `${budget.sozialraum}: its total then`)
      for (const line of ['ambulatory', 'flexible']) {
        t.same(
          await amountsIn(page, `table.budget[data-sozialraum="${budget.sozialraum}"] tr[data-line="${line}"]`),
          figures(budget.lines[line]),
          `${budget.sozialraum}, ${line}: as it was then`,
        )
      }
    }
    t.ok(await page.locator('table.au-summary').getByRole('rowheader', { name: 'Malstatt' }).isVisible(), 'Sozialräume by name')
    t.match(await page.locator('table.au-summary tr[data-line="malstatt"] [data-figure="spent"]').textContent(), /^120,25\s€$/, 'in German notation')
  })

  const trail = await get(app, `/v1/audit/events?year=${year}&limit=1000`)
  const shownRows = (): Promise<{ position: string | null; type: string | null }[]> =>
    page.locator('table.au-events tbody tr').evaluateAll((rows) => rows.map((row) => ({ position: row.getAttribute('data-position'), type: row.getAttribute('data-type') })))

  await t.test('the trail lists the year’s events, page by page', async (t) => {
    const expected = trail.body.items.map((entry: { position: string; type: string }) => ({ position: entry.position, type: entry.type }))
    t.equal(expected.length, 56, 'the API has 5 allocations and 51 spendings of the year')
    await page.locator('table.au-events tbody tr').nth(49).waitFor()
    t.same(await shownRows(), expected.slice(0, 50), 'the first page: the first 50 events, oldest first')
    await page.getByRole('button', { name: 'Weitere laden' }).click()
    await page.locator('table.au-events tbody tr').nth(55).waitFor()
    t.same(await shownRows(), expected, '"Weitere laden" adds the rest')
    t.equal(await page.getByRole('button', { name: 'Weitere laden' }).count(), 0, 'no further page')
    const late = page.locator(`table.au-events tr[data-position="${allocated.body.position}"]`)
    t.match(await late.textContent(), /Zuweisung/, 'a German name for the event type')
    t.match(await late.textContent(), /2\.500,50\s€/, 'its amountCents as euros')
    t.match(await late.textContent(), /test-finance/, 'the actor')
  })

  await t.test('the filters ask the API for what they say', async (t) => {
    const allocations = await get(app, `/v1/audit/events?year=${year}&type=BudgetAllocated&sozialraum=malstatt&limit=1000`)
    await page.getByLabel('Sozialraum', { exact: true }).selectOption('malstatt')
    await page.getByLabel('Ereignis', { exact: true }).selectOption('BudgetAllocated')
    await page.getByRole('button', { name: 'Filtern', exact: true }).click()
    // Exactly that many rows (the CSP forbids waitForFunction's eval: locators instead).
    const rows = page.locator('table.au-events tbody tr')
    await rows.nth(allocations.body.items.length).waitFor({ state: 'detached' })
    await rows.nth(allocations.body.items.length - 1).waitFor()
    t.same(
      (await shownRows()).map((row) => row.position),
      allocations.body.items.map((entry: { position: string }) => entry.position),
      'Malstatt’s allocations only',
    )
    await page.getByRole('button', { name: 'Zurücksetzen' }).click()
    await page.locator('table.au-events tbody tr').nth(49).waitFor()
    t.pass('reset shows the whole year again')
  })

  await t.test('a row of the trail shows the balances right after its event', async (t) => {
    const position = spent.body.position as string
    const after = await get(app, `/v1/audit/balances?year=${year}&position=${position}`)
    await page.getByRole('button', { name: `Salden danach (Ereignis Nr. ${position})` }).click()
    await page.locator('.au-moment', { hasText: `Ereignis Nr. ${position}` }).waitFor()
    await waitForAmount(page, 'table.au-summary tr[data-line="total"] [data-figure="spent"]', after.body.total.spent)
    t.same(await amountsIn(page, 'table.au-summary tr[data-line="total"]'), figures(after.body.total), 'the total right after the spending')
  })

  await t.test('verify shows the report’s verdict and figures', async (t) => {
    await page.getByRole('button', { name: 'Jetzt prüfen' }).click()
    await page.locator('.au-verify').waitFor({ timeout: 60_000 })
    const report = await post(app, '/v1/audit/verify', {})
    t.equal(report.body.ok, true, 'the API verifies the log')
    t.equal(await page.locator('.au-verify').getAttribute('data-ok'), 'true', 'the page shows a positive result')
    t.match(await page.locator('.au-verdict').textContent(), /Das Protokoll ist in Ordnung\./, 'in German')
    t.equal(await page.locator('[data-figure="eventsChecked"] td').textContent(), String(report.body.eventsChecked), 'the events checked')
    t.equal(await page.locator('[data-figure="head"] td').textContent(), report.body.head, 'up to the head of the log')
    t.equal(await page.locator('[data-figure="chain"] td').textContent(), 'in Ordnung', 'the chains hold')
    t.match(await page.locator('[data-figure="balanceHistory"] td').textContent(), /^in Ordnung/, 'the balance history agrees')
  })

  await t.test('the CSV export downloads the year’s file', async (t) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV für Excel herunterladen' }).click()])
    t.equal(download.suggestedFilename(), `sojus-ledger-${year}.csv`, 'named as the API names it')
    const file = await readFile(await download.path(), 'utf8')
    const api = await get(app, `/v1/audit/export?year=${year}&format=csv`)
    t.ok(file.startsWith('\uFEFFPosition;'), 'a CSV for German Excel: byte order mark, semicolons')
    t.equal(file.split('\r\n')[0], api.text.split('\r\n')[0], 'the header line as the API has it')
    t.equal(file, api.text, 'the same events as the API exports')
    await page.getByText(`sojus-ledger-${year}.csv wurde heruntergeladen.`).waitFor()
  })

  await t.test('accessible, and usable at 1280 and 800 px', async (t) => {
    t.same(await seriousViolations(page), [], 'no serious or critical accessibility violation')
    await page.evaluate('window.scrollTo(0, 0)')
    await screenshot(page, 'auditor')
    await page.setViewportSize({ width: 800, height: 900 })
    // The elements that stick out on the right, if any, named in the failure.
    const wide = await page.evaluate(`[...document.querySelectorAll('body *')]
      .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 1 && !node.closest('.table-wrap'))
      .map((node) => node.tagName + '.' + node.className).slice(0, 10)`)
    t.same(wide, [], 'no page-wide horizontal scrolling at 800 px')
    t.ok(await page.getByRole('button', { name: 'Jetzt prüfen' }).isVisible(), 'the actions stay reachable')
  })
})

import { AxeBuilder } from '@axe-core/playwright'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { TokenClaims } from '../../src/auth/tokens.js'
import { builtDashboard } from '../../src/http/routes/dashboard.js'
import { startTestService } from '../helpers/service.js'
import { tokenFor } from '../helpers/tokens.js'

/**
 * End-to-end tests of the dashboard (docs/dashboard.md): the real service on a fresh embedded
 * store, listening on a port, and Debian's Chromium driven by playwright-core. No browser is
 * downloaded: CHROMIUM_PATH, or /usr/bin/chromium, which `.ci/run` installs with apt-get.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Where the tests write each role's main page at 1280 × 800 (the README links there). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots')

/** Chromium as root in a container, on a machine without network: no sandbox, no background traffic. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
]

interface TapTest {
  teardown(fn: () => unknown): void
}

/** Why the dashboard tests cannot run here, or undefined when they can. */
function missing(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`
  if (builtDashboard() === undefined) return 'the dashboard is not built (npm run build:web)'
  return undefined
}

function skipReason(): string | false {
  const reason = missing()
  if (reason === undefined) return false
  // In CI a skipped browser test would hide a broken dashboard: fail loudly instead.
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    throw new Error(`the dashboard tests cannot run in CI: ${reason}`)
  }
  return reason
}

/** `{ skip: SKIP }` on each dashboard test: false, or why it cannot run on this machine (outside CI). */
export const SKIP: string | false = skipReason()

export interface Dashboard {
  /** The service (its app answers inject() for setting up and checking data through the API). */
  service: Awaited<ReturnType<typeof startTestService>>
  baseUrl: string
  browser: Browser
  /** A new browser page at 1280 × 800 in German, at the dashboard's sign-in form; errors on it fail the test. */
  open(): Promise<Page>
  /** open(), then signed in with a token for `claims` (or the token given) through the sign-in form. */
  signIn(claims: TokenClaims, token?: string): Promise<Page>
}

/** The service listening on a free port, and a browser; both closed when the test ends. */
export async function startDashboard(t: TapTest, environment: Record<string, string> = {}): Promise<Dashboard> {
  const service = await startTestService(t, {}, environment)
  await service.app.listen({ port: 0, host: '127.0.0.1' })
  const address = service.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the service listens on no port')
  const baseUrl = `http://127.0.0.1:${address.port}`
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const open = async (): Promise<Page> => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      locale: 'de-DE',
      timezoneId: 'Europe/Berlin',
    })
    const page = await context.newPage()
    // The dashboard's own errors fail the test: it must not throw or break its CSP. (Another
    // site's pages, an identity provider's, may log what they like; refused requests are answers.)
    const errors: string[] = []
    const ours = () => page.url().startsWith(baseUrl)
    page.on('pageerror', (error) => ours() && errors.push(error.message))
    page.on('console', (message) => {
      // A refused request (4xx) is an answer the page shows; a dropped connection one a test made.
      if (ours() && message.type() === 'error' && !/status of 4\d\d|net::ERR_CONNECTION_RESET/.test(message.text())) errors.push(message.text())
    })
    t.teardown(() => {
      if (errors.length > 0) throw new Error(`the page reported errors:\n  ${errors.join('\n  ')}`)
    })
    t.teardown(() => context.close())
    await page.goto(baseUrl)
    return page
  }
  return {
    service,
    baseUrl,
    browser,
    open,
    signIn: async (claims, token) => {
      const page = await open()
      await page.getByLabel('Zugangstoken').fill(token ?? (await tokenFor(claims)))
      await page.getByRole('button', { name: 'Anmelden' }).click()
      await page.getByRole('button', { name: 'Abmelden' }).waitFor()
      return page
    },
  }
}

/** axe-core's serious and critical violations on the page as it is now, as readable lines (none is the goal). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze()
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact}: ${violation.id} (${violation.help}) at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)
}

/** Writes the page at 1280 × 800 to docs/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false })
}

/** The decimal amount a Money element shows (its data-amount), for comparison with the API's figures. */
export async function amountsIn(page: Page, selector: string): Promise<string[]> {
  return page.locator(`${selector} .money`).evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-amount') ?? ''))
}

import { builtDashboard, isDashboardPath } from '../../src/http/routes/dashboard.js'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { signToken, type TokenClaims } from '../../src/auth/tokens.js'
import type { Role } from '../../src/domain/events.js'
import {
  assertProblem,
  commitmentBody,
  get,
  post,
  seed,
  spendingBody,
  uuid,
  type ApiResponse,
  type Headers,
  type Seeded,
} from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * Every route × every caller × inside/outside a team lead's scope gives the status API.md
 * documents ("Authentication and roles", the role column of every route table; DOMAIN rules 6
 * and 7), and a refused request writes nothing.
 *
 * The table below is written from API.md on purpose, not imported from src/http/access.ts: the
 * point is to check the implementation against the contract. A route the app serves without a
 * row here, or a row the app does not serve, fails the "one row per route" subtest.
 *
 * Callers: no token, a token signed with a foreign secret (both 401), finance, auditor, a team
 * lead whose scope holds the path's Sozialraum and one whose scope does not. Every cell prepares
 * its own state (a fresh Sozialraum, commitment or spending, made by another finance user) so that
 * an allowed write succeeds; a GET row also checks HEAD, which Fastify answers with the GET route.
 * Rows API.md documents but the app does not serve yet are `pending`: reported as tap todos (tap
 * does not run a todo's body); once the app serves the route, the route check below fails until
 * `pending` is dropped, and the row's cells then run like the others.
 * Then: the `filter` routes show a team lead only their Sozialräume (and totals over those only),
 * and the four-eyes rules of the approval route (DOMAIN rule 6).
 */

type Caller = 'no token' | 'bad token' | 'finance' | 'auditor' | 'teamlead in scope' | 'teamlead out of scope'
const CALLERS: readonly Caller[] = [
  'no token',
  'bad token',
  'finance',
  'auditor',
  'teamlead in scope',
  'teamlead out of scope',
]

/**
 * Who may call a route, as API.md says. `public`: everyone, no token needed (operations).
 * For team leads: `scope` — only when the path's Sozialraum is one of theirs (API.md "teamlead
 * (scope)", "own only"); `filter` — allowed, the answer holds only their Sozialräume.
 */
type Access =
  | { public: true; off?: false }
  /** Answers `status` to every caller, whatever their token: `/metrics` while METRICS_TOKEN is unset. */
  | { public?: false; off: true; status: 404 }
  | { public?: false; off?: false; roles: readonly Role[]; teamlead?: 'scope' | 'filter' }

const PUBLIC: Access = { public: true }
/**
 * API.md "Metrics": /metrics takes only the static METRICS_TOKEN (no caller here has it, and no
 * JWT counts) and answers 404 while it is unset, as in this matrix's service. The token's own
 * cells (401 without it or with a wrong one, 200 with it) are in test/http/metrics.test.ts.
 */
const METRICS_OFF: Access = { off: true, status: 404 }
const FINANCE_ONLY: Access = { roles: ['finance'] }
const ANY_ROLE: Access = { roles: ['finance', 'auditor', 'teamlead'] }
const AUDIT: Access = { roles: ['finance', 'auditor'] }
/** "teamlead (scope), finance": the writes of commitments and spending. */
const BOOKING: Access = { roles: ['finance', 'teamlead'], teamlead: 'scope' }
/** "finance, auditor, teamlead (own only)" and "read roles" on one budget. */
const BUDGET_READ: Access = { roles: ['finance', 'auditor', 'teamlead'], teamlead: 'scope' }
/** The same on a whole year: a team lead's answer is limited to their Sozialräume. */
const YEAR_READ: Access = { roles: ['finance', 'auditor', 'teamlead'], teamlead: 'filter' }

/** What a cell sends: prepared fresh for each caller so that an allowed write can succeed. */
interface Prepared {
  /** The Sozialraum the request is about: the in-scope team lead's token names it. */
  sozialraum: string
  url: string
  body?: unknown
  /** For reads: wait until the read models have seen the preparation. */
  minPosition?: string
}

interface Row {
  method: 'GET' | 'POST'
  /** As Fastify spells the route. */
  path: string
  access: Access
  /** The status of an allowed call (503 only for the dashboard page while it is not built: npm run build:web). */
  success: 200 | 201 | 503
  /** The route writes events when it succeeds (the ledger's writes, and an export, which is recorded). */
  writes: boolean
  prepare: () => Promise<Prepared>
  /** API.md documents the route, but the app does not serve it yet: the row is a tap todo. */
  pending?: string
}

const BUDGET = '/v1/budgets/:year/:sozialraum'

const moveBody = (from: Seeded, to: Seeded) => ({
  from: { sozialraum: from.sozialraum, line: 'ambulatory' },
  to: { sozialraum: to.sozialraum, line: 'ambulatory' },
  amount: '10',
  reason: 'Deckung',
})

/** Builds the matrix; the preparations write through `app` as the default finance actor. */
function matrix(app: FastifyInstance): Row[] {
  let counter = 0
  const fresh = (tag: string): string => `mx-${tag}-${++counter}`

  const mustWrite = (response: ApiResponse, what: string): ApiResponse => {
    if (response.status !== 201) throw new Error(`preparing ${what}: ${response.status} ${response.text}`)
    return response
  }

  const seeded = (tag: string): Promise<Seeded> => seed(app, fresh(tag))

  /** A funded budget with one commitment (created by the default finance actor, not a caller). */
  async function withCommitment(
    tag: string,
    overrides: Record<string, unknown> = {},
  ): Promise<Seeded & { id: string }> {
    const budget = await seeded(tag)
    const id = uuid()
    const created = mustWrite(await post(app, `${budget.url}/commitments`, commitmentBody({ id, ...overrides })), tag)
    return { ...budget, id, position: created.body.position }
  }

  async function withSpending(tag: string): Promise<Seeded & { id: string }> {
    const budget = await seeded(tag)
    const id = uuid()
    const recorded = mustWrite(await post(app, `${budget.url}/spending`, spendingBody({ id })), tag)
    return { ...budget, id, position: recorded.body.position }
  }

  /**
   * A year nobody else has touched, with a budget (a year without one is not closed): each close
   * row gets its own, going back from 2024, so that no earlier year with budgets waits to close
   * (the budgets of 2025 come after them). A neighbour whose close is only asked for stops none.
   */
  let years = 2025
  async function freshYear(): Promise<number> {
    const year = (years -= 1)
    await seed(app, fresh(`year-${year}`), { year })
    return year
  }

  /** A fresh year whose close the default finance actor asked for (so that another controller may decide). */
  async function closeRequested(): Promise<number> {
    const year = await freshYear()
    mustWrite(await post(app, `/v1/years/${year}/close`, { reason: 'Jahresabschluss' }), 'close request')
    return year
  }

  /** Two funded budgets of 2025 and a completed move between them. */
  async function withMove(tag: string): Promise<Seeded & { id: string }> {
    const [from, to] = [await seeded(`${tag}-from`), await seeded(`${tag}-to`)]
    const moved = mustWrite(await post(app, '/v1/budgets/2025/moves', moveBody(from, to)), tag)
    return { ...from, id: moved.body.id, position: moved.body.position }
  }

  const reading = (budget: Seeded, url: string): Prepared => ({
    sozialraum: budget.sozialraum,
    url,
    minPosition: budget.position,
  })

  return [
    // Operations (no role column in API.md: they are for load balancers, monitoring and people).
    { method: 'GET', path: '/health', access: PUBLIC, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/health' }) },
    { method: 'GET', path: '/ready', access: PUBLIC, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/ready' }) },
    { method: 'GET', path: '/openapi.json', access: PUBLIC, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/openapi.json' }) },
    { method: 'GET', path: '/docs', access: PUBLIC, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/docs' }) },
    { method: 'GET', path: '/metrics', access: METRICS_OFF, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/metrics' }) },
    // The dashboard: its page (503 while it is not built) and how it signs in; its built files are left out below.
    { method: 'GET', path: '/', access: PUBLIC, success: builtDashboard() === undefined ? 503 : 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/' }) },
    { method: 'GET', path: '/dashboard/config', access: PUBLIC, success: 200, writes: false, prepare: async () => ({ sozialraum: fresh('ops'), url: '/dashboard/config' }) },

    // Sozialräume
    {
      method: 'POST',
      path: '/v1/sozialraeume',
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const id = fresh('register')
        return { sozialraum: id, url: '/v1/sozialraeume', body: { id, name: `Sozialraum ${id}` } }
      },
    },
    {
      method: 'GET',
      path: '/v1/sozialraeume',
      access: ANY_ROLE,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('list'), '/v1/sozialraeume'),
    },
    {
      method: 'POST',
      path: '/v1/sozialraeume/:id/status',
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('status')
        return {
          sozialraum: budget.sozialraum,
          url: `/v1/sozialraeume/${budget.sozialraum}/status`,
          body: { status: 'permanent', decisionRef: '0201/2013' },
        }
      },
    },

    // Budgets
    {
      method: 'POST',
      path: `${BUDGET}/allocations`,
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('allocate')
        return {
          sozialraum: budget.sozialraum,
          url: `${budget.url}/allocations`,
          body: { line: 'flexible', amount: '500.00', decisionRef: 'KB-1' },
        }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/adjustments`,
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('adjust')
        return {
          sozialraum: budget.sozialraum,
          url: `${budget.url}/adjustments`,
          body: { line: 'ambulatory', amount: '-100.00', reason: 'Korrektur' },
        }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/transfers`,
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('transfer')
        return {
          sozialraum: budget.sozialraum,
          url: `${budget.url}/transfers`,
          body: { fromLine: 'ambulatory', toLine: 'flexible', amount: '100.00', reason: 'Umschichtung' },
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/budgets/:year',
      access: YEAR_READ,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('year'), '/v1/budgets/2025'),
    },
    {
      method: 'GET',
      path: BUDGET,
      access: BUDGET_READ,
      success: 200,
      writes: false,
      prepare: async () => {
        const budget = await seeded('budget')
        return reading(budget, budget.url)
      },
    },

    // Commitments
    {
      method: 'POST',
      path: `${BUDGET}/commitments`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('commit')
        return { sozialraum: budget.sozialraum, url: `${budget.url}/commitments`, body: commitmentBody({ id: uuid() }) }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/commitments/:id/amendments`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const c = await withCommitment('amend')
        return {
          sozialraum: c.sozialraum,
          url: `${c.url}/commitments/${c.id}/amendments`,
          body: { amount: '100.00', reason: 'Mehrbedarf' },
        }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/commitments/:id/invoices`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const c = await withCommitment('invoice')
        return {
          sozialraum: c.sozialraum,
          url: `${c.url}/commitments/${c.id}/invoices`,
          body: { invoiceNo: 'RE-1', amount: '100.00', invoiceDate: '2025-02-01' },
        }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/commitments/:id/release`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const c = await withCommitment('release')
        return { sozialraum: c.sozialraum, url: `${c.url}/commitments/${c.id}/release`, body: { reason: 'Hilfe beendet' } }
      },
    },
    {
      // The caller is always a second person here: the commitment was requested by someone else.
      method: 'POST',
      path: `${BUDGET}/commitments/:id/approval`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const c = await withCommitment('approve', { amount: '10000.00' })
        return {
          sozialraum: c.sozialraum,
          url: `${c.url}/commitments/${c.id}/approval`,
          body: { decision: 'approve', comment: 'geprüft' },
        }
      },
    },
    {
      method: 'GET',
      path: `${BUDGET}/commitments`,
      access: BUDGET_READ,
      success: 200,
      writes: false,
      prepare: async () => {
        const c = await withCommitment('commitments')
        return reading(c, `${c.url}/commitments`)
      },
    },
    {
      method: 'GET',
      path: `${BUDGET}/commitments/:id`,
      access: BUDGET_READ,
      success: 200,
      writes: false,
      prepare: async () => {
        const c = await withCommitment('commitment')
        return reading(c, `${c.url}/commitments/${c.id}`)
      },
    },
    {
      method: 'GET',
      path: '/v1/reports/:year/over-budget-commitments',
      access: YEAR_READ,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('report'), '/v1/reports/2025/over-budget-commitments'),
    },
    ...['monitoring', 'forecast', 'providers', 'help-types', 'comparison', 'monthly', 'stale-commitments'].map(
      (name): Row => ({
        method: 'GET',
        path: `/v1/reports/:year/${name}`,
        access: YEAR_READ,
        success: 200,
        writes: false,
        prepare: async () => reading(await seeded('report'), `/v1/reports/2025/${name}`),
      }),
    ),

    // The year close and moves between Sozialräume
    {
      method: 'POST',
      path: '/v1/years/:year/close',
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => ({ sozialraum: fresh('year'), url: `/v1/years/${await freshYear()}/close`, body: { reason: 'Jahresabschluss' } }),
    },
    {
      method: 'POST',
      path: '/v1/years/:year/close/approval',
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => ({ sozialraum: fresh('year'), url: `/v1/years/${await closeRequested()}/close/approval`, body: { decision: 'reject' } }),
    },
    {
      method: 'GET',
      path: '/v1/years/:year',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('year'), '/v1/years/2025'),
    },
    {
      method: 'POST',
      path: '/v1/budgets/:year/moves',
      access: FINANCE_ONLY,
      success: 201,
      writes: true,
      prepare: async () => {
        const [from, to] = [await seeded('move-from'), await seeded('move-to')]
        return { sozialraum: from.sozialraum, url: '/v1/budgets/2025/moves', body: moveBody(from, to) }
      },
    },
    {
      method: 'GET',
      path: '/v1/budgets/:year/moves',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => reading(await withMove('moves'), '/v1/budgets/2025/moves'),
    },
    {
      method: 'GET',
      path: '/v1/budgets/:year/moves/:id',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => {
        const move = await withMove('move')
        return reading(move, `/v1/budgets/2025/moves/${move.id}`)
      },
    },

    // Flexible spending
    {
      method: 'POST',
      path: `${BUDGET}/spending`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const budget = await seeded('spend')
        return { sozialraum: budget.sozialraum, url: `${budget.url}/spending`, body: spendingBody({ id: uuid() }) }
      },
    },
    {
      method: 'POST',
      path: `${BUDGET}/spending/:id/reversal`,
      access: BOOKING,
      success: 201,
      writes: true,
      prepare: async () => {
        const s = await withSpending('reverse')
        return { sozialraum: s.sozialraum, url: `${s.url}/spending/${s.id}/reversal`, body: { reason: 'Fehlbuchung' } }
      },
    },
    {
      method: 'GET',
      path: `${BUDGET}/spending`,
      access: BUDGET_READ,
      success: 200,
      writes: false,
      prepare: async () => {
        const s = await withSpending('spendings')
        return reading(s, `${s.url}/spending`)
      },
    },

    // Audit
    {
      method: 'GET',
      path: '/v1/audit/events',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('audit'), '/v1/audit/events?year=2025&limit=5'),
    },
    {
      method: 'GET',
      path: '/v1/audit/balances',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('balances'), '/v1/audit/balances?year=2025&position=1'),
    },
    {
      method: 'POST',
      path: '/v1/audit/verify',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => ({ sozialraum: (await seeded('verify')).sozialraum, url: '/v1/audit/verify', body: {} }),
    },
    {
      method: 'GET',
      path: '/v1/audit/seal',
      access: AUDIT,
      success: 200,
      writes: false,
      prepare: async () => reading(await seeded('seal'), '/v1/audit/seal'),
    },
    {
      method: 'GET',
      path: '/v1/audit/export',
      access: AUDIT,
      success: 200,
      writes: true,
      prepare: async () => reading(await seeded('export'), '/v1/audit/export?year=2025&format=jsonl'),
    },
  ]
}

/** The status API.md documents for `caller` on a route with this access. */
function expectedStatus(row: Row, caller: Caller): number {
  const access = row.access
  if (access.public) return row.success
  if (access.off) return access.status
  if (caller === 'no token' || caller === 'bad token') return 401
  const role: Role = caller === 'finance' ? 'finance' : caller === 'auditor' ? 'auditor' : 'teamlead'
  if (!access.roles.includes(role)) return 403
  if (caller === 'teamlead out of scope' && access.teamlead === 'scope') return 403
  return row.success
}

/** A signature the service does not know: a well-formed token that must not get in. */
const FOREIGN_SECRET = 'another-secret-that-is-long-enough-for-hs256-9876543210'
const OUTSIDE = 'mx-elsewhere'

async function headersFor(caller: Caller, sozialraum: string): Promise<Headers> {
  switch (caller) {
    case 'no token':
      return { authorization: '' }
    case 'bad token':
      return { authorization: `Bearer ${await signToken(FOREIGN_SECRET, { sub: 'mx-finance', role: 'finance' }, '1h')}` }
    case 'finance':
      return bearer({ sub: 'mx-finance', role: 'finance' })
    case 'auditor':
      return bearer({ sub: 'mx-auditor', role: 'auditor' })
    case 'teamlead in scope':
      return bearer({ sub: 'mx-lead-in', role: 'teamlead', sozialraeume: [sozialraum] })
    case 'teamlead out of scope':
      return bearer({ sub: 'mx-lead-out', role: 'teamlead', sozialraeume: [OUTSIDE] })
  }
}

/**
 * The app's routes as `METHOD /path`, read from `printRoutes` (Fastify has no route list). HEAD
 * routes are Fastify's automatic twins of the GET routes; swagger-ui's own routes under /docs/
 * are left out (the /docs entry itself stays).
 */
function appRoutes(app: FastifyInstance): Set<string> {
  const routes = new Set<string>()
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line)
    if (!match) continue
    const depth = [...(match[1] ?? '')].length / 4
    const path = (depth === 0 ? '' : (stack[depth - 1] ?? '')) + match[2]
    stack[depth] = path
    stack.length = depth + 1
    for (const method of (match[3] ?? '').split(',').map((text) => text.trim())) {
      if (method === '' || method === 'HEAD') continue
      if (path.startsWith('/docs') && path !== '/docs') continue
      // The dashboard's built files (named by their content) are served like the page itself.
      if (isDashboardPath(path) && path !== '/') continue
      routes.add(`${method} ${path}`)
    }
  }
  return routes
}

/** The status of a HEAD request (the helpers send GET and POST only); `authorization: ''` sends none. */
async function head(app: FastifyInstance, url: string, minPosition: string | undefined, headers: Headers): Promise<number> {
  const { authorization, ...rest } = headers
  const withPosition = minPosition === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}minPosition=${minPosition}`
  const response = await app.inject({
    method: 'HEAD',
    url: withPosition,
    headers: authorization === undefined || authorization === '' ? rest : { ...rest, authorization },
  })
  return response.statusCode
}

const key = (row: Pick<Row, 'method' | 'path'>): string => `${row.method} ${row.path}`

const centsOf = (money: string): bigint => BigInt(money.replace('.', ''))

t.test('access matrix: every route × every caller', async (t) => {
  // Many cells are failed authentications on purpose; keep their per-address limit out of the way.
  const service = await startTestService(t, { failedAuthenticationsPerMinute: 1_000_000 })
  const { app, store } = service
  await seed(app, OUTSIDE)
  const rows = matrix(app)

  t.test('the matrix has one row per route of the app', async (t) => {
    const served = appRoutes(app)
    const documented = new Set(rows.filter((row) => row.pending === undefined).map(key))
    t.same(
      [...served].filter((route) => !documented.has(route)).sort(),
      [],
      'every route the app serves has a row (add one for a new route, or drop `pending` from its row)',
    )
    t.same(
      [...documented].filter((route) => !served.has(route)).sort(),
      [],
      'every row not marked pending is a route the app serves',
    )
    // The same, told as a number. API.md's route tables hold 23 routes under /v1 (Sozialräume 3,
    // budgets 5, commitments 7 with the approval extension, spending 3, audit 5); the app serves
    // the extension GET /v1/reports/:year/over-budget-commitments too: 23 + 1 = 24. Then the
    // fiscal year (issue 11): close, approval, the year, a move and the moves' two reads (6), and
    // seven reports: 24 + 6 + 7 = 37. Outside /v1: /health, /ready, /openapi.json, /docs, /metrics, and the dashboard's / and /dashboard/config.
    const underV1 = [...served].filter((route) => route.split(' ')[1]?.startsWith('/v1/')).length
    t.equal(underV1, 37, 'routes under /v1: the count this matrix was written for')
    // A check that does not depend on how printRoutes draws its tree.
    for (const row of rows) {
      if (row.pending === undefined) t.ok(app.hasRoute({ method: row.method, url: row.path }), `${key(row)} is a route`)
    }
  })

  for (const row of rows) {
    const options = row.pending === undefined ? {} : { todo: row.pending }
    t.test(key(row), options, async (t) => {
      for (const caller of CALLERS) {
        const prepared = await row.prepare()
        const headers = await headersFor(caller, prepared.sozialraum)
        const before = await store.headPosition()
        const response =
          row.method === 'POST'
            ? await post(app, prepared.url, prepared.body ?? {}, headers)
            : await get(app, prepared.url, prepared.minPosition, headers)
        const after = await store.headPosition()
        const expected = expectedStatus(row, caller)
        const label = `${caller}`
        if (expected === 401) assertProblem(t, response, 401, 'unauthorized', label)
        else if (expected === 403) assertProblem(t, response, 403, 'forbidden', label)
        else {
          const got = response.status === expected ? '' : ` (got ${response.status}: ${response.text.slice(0, 300)})`
          t.equal(response.status, expected, `${label}: ${expected}${got}`)
        }
        if (row.writes && expected >= 200 && expected < 300) t.ok(after > before, `${label}: the allowed write was stored`)
        else t.equal(after, before, `${label}: nothing was written`)
        if (row.method === 'GET') {
          // Fastify answers HEAD with the GET route: it must not be a way around the check.
          const headStatus = await head(app, prepared.url, prepared.minPosition, headers)
          t.equal(headStatus, expected, `${label}: HEAD ${expected} as GET`)
        }
      }
    })
  }

  const auditor = await bearer({ sub: 'mx-auditor', role: 'auditor' })
  const finance = await bearer({ sub: 'mx-finance', role: 'finance' })

  t.test('filter routes: a team lead sees their own Sozialräume, finance and auditor all', async (t) => {
    // Two budgets for the filter routes, each with an over-budget commitment (DOMAIN rule 1).
    const filtered = ['mx-filter-a', 'mx-filter-b']
    let position = '0'
    for (const sozialraum of filtered) {
      const budget = await seed(app, sozialraum, { ambulatory: '1000.00', flexible: '100.00' })
      const created = await post(
        app,
        `${budget.url}/commitments`,
        commitmentBody({ amount: '5000.00', overBudget: { justification: 'Rechtsanspruch § 27 SGB VIII' } }),
      )
      if (created.status !== 201 || created.body.overBudget !== true) throw new Error(`over-budget commitment: ${created.text}`)
      position = created.body.position
    }
    const lead = await bearer({ sub: 'mx-lead-filter', role: 'teamlead', sozialraeume: ['mx-filter-a', 'mx-not-registered'] })

    t.test('GET /v1/budgets/2025 lists a team lead\'s own budgets only, for finance and auditor all', async (t) => {
      const all = await get(app, '/v1/budgets/2025', position, finance)
      t.equal(all.status, 200)
      const allIds: string[] = all.body.items.map((item: { sozialraum: string }) => item.sozialraum)
      t.ok(filtered.every((id) => allIds.includes(id)) && allIds.includes(OUTSIDE), 'finance sees every budget')
      t.same((await get(app, '/v1/budgets/2025', position, auditor)).body, all.body, 'the auditor sees what finance sees')

      const own = await get(app, '/v1/budgets/2025', position, lead)
      t.equal(own.status, 200)
      t.same(own.body.items.map((item: { sozialraum: string }) => item.sozialraum), ['mx-filter-a'], 'the team lead sees only their budget')
      t.same(own.body.items, all.body.items.filter((item: { sozialraum: string }) => item.sozialraum === 'mx-filter-a'), 'as finance sees it')
      for (const field of ['allocated', 'committed', 'spent', 'available'] as const) {
        const sum = (items: { total: Record<string, string> }[]) => items.reduce((total, item) => total + centsOf(item.total[field] ?? '0'), 0n)
        t.equal(centsOf(own.body.total[field]), sum(own.body.items), `the team lead's total ${field} sums their budgets only`)
        t.equal(centsOf(all.body.total[field]), sum(all.body.items), `finance's total ${field} sums every budget`)
      }
    })

    t.test('GET /v1/reports/2025/over-budget-commitments lists a team lead\'s own commitments only', async (t) => {
      const url = '/v1/reports/2025/over-budget-commitments'
      const all = await get(app, url, position, finance)
      t.equal(all.status, 200)
      const allIds: string[] = all.body.items.map((item: { sozialraum: string }) => item.sozialraum)
      t.ok(filtered.every((id) => allIds.includes(id)), 'finance sees the over-budget commitments of every Sozialraum')
      t.same((await get(app, url, position, auditor)).body, all.body, 'the auditor sees what finance sees')

      const own = await get(app, url, position, lead)
      t.equal(own.status, 200)
      t.ok(own.body.items.length > 0, 'the team lead sees their over-budget commitment')
      t.same(
        own.body.items,
        all.body.items.filter((item: { sozialraum: string }) => item.sozialraum === 'mx-filter-a'),
        'the team lead sees exactly those of their Sozialraum',
      )
    })
  })

  t.test('approval: a second person decides; only finance on an over-budget commitment (DOMAIN rule 6)', async (t) => {
    const budget = await seed(app, 'mx-four-eyes', { ambulatory: '50000.00' })
    const leadA = { sub: 'mx-lead-1', role: 'teamlead', sozialraeume: ['mx-four-eyes'] } satisfies TokenClaims
    const leadB = { sub: 'mx-lead-2', role: 'teamlead', sozialraeume: ['mx-four-eyes'] } satisfies TokenClaims
    const outside = { sub: 'mx-lead-3', role: 'teamlead', sozialraeume: [OUTSIDE] } satisfies TokenClaims
    const approve = { decision: 'approve' }
    const reject = { decision: 'reject' }
    const approvalOf = (created: ApiResponse): string => `${budget.url}/commitments/${String(created.body.id)}/approval`

    async function refused(url: string, body: unknown, headers: Headers, status: 403 | 409, code: string, message: string): Promise<void> {
      const before = await store.headPosition()
      assertProblem(t, await post(app, url, body, headers), status, code, message)
      t.equal(await store.headPosition(), before, `${message}: nothing was written`)
    }
    async function decided(url: string, body: unknown, headers: Headers, status: string, message: string): Promise<void> {
      const before = await store.headPosition()
      const response = await post(app, url, body, headers)
      t.equal(response.status, 201, `${message}: 201 (${response.status === 201 ? '' : response.text.slice(0, 300)})`)
      t.equal(response.body?.status, status, `${message}: the commitment is ${status}`)
      t.ok((await store.headPosition()) > before, `${message}: the decision was stored`)
    }

    // Requested by the default finance actor: the same person may not approve it, only withdraw it.
    const byFinance = await post(app, `${budget.url}/commitments`, commitmentBody({ amount: '10000.00' }))
    t.equal(byFinance.body?.status, 'requested')
    await refused(approvalOf(byFinance), approve, {}, 403, 'forbidden', 'the requesting finance controller approves')
    await refused(approvalOf(byFinance), reject, auditor, 403, 'forbidden', 'an auditor rejects')
    await decided(approvalOf(byFinance), reject, {}, 'rejected', 'the requesting finance controller withdraws')

    // Requested by a team lead: not by that team lead, but by another one in scope.
    const byLead = await post(app, `${budget.url}/commitments`, commitmentBody({ amount: '12000.00' }), await bearer(leadA))
    t.equal(byLead.body?.status, 'requested')
    const byLeadUrl = approvalOf(byLead)
    await refused(byLeadUrl, approve, await bearer(leadA), 403, 'forbidden', 'the requesting team lead approves')
    await refused(byLeadUrl, reject, await bearer(outside), 403, 'forbidden', 'a team lead out of scope rejects')
    // While it waits, nobody amends it: in scope 409, out of scope 403 first.
    const amendments = `${budget.url}/commitments/${String(byLead.body.id)}/amendments`
    const amendment = { amount: '100.00', reason: 'Mehrbedarf' }
    await refused(amendments, amendment, finance, 409, 'approval-required', 'finance amends a requested commitment')
    await refused(amendments, amendment, await bearer(leadA), 409, 'approval-required', 'its requester amends it')
    await refused(amendments, amendment, await bearer(leadB), 409, 'approval-required', 'a second team lead amends it')
    await refused(amendments, amendment, await bearer(outside), 403, 'forbidden', 'a team lead out of scope amends it')
    await decided(byLeadUrl, approve, await bearer(leadB), 'open', 'a second team lead in scope approves')

    // Over budget: only finance decides, not a team lead in scope, never an auditor.
    const over = await post(
      app,
      `${budget.url}/commitments`,
      commitmentBody({ amount: '60000.00', overBudget: { justification: 'Rechtsanspruch § 27 SGB VIII' } }),
    )
    t.equal(over.body?.overBudget, true)
    const overUrl = approvalOf(over)
    await refused(overUrl, approve, await bearer(leadB), 403, 'forbidden', 'a team lead approves an over-budget commitment')
    await refused(overUrl, reject, await bearer(leadB), 403, 'forbidden', 'a team lead rejects an over-budget commitment')
    await refused(overUrl, approve, auditor, 403, 'forbidden', 'an auditor')
    await decided(overUrl, approve, finance, 'open', 'a second finance controller approves it')

    // An over-budget request of a team lead: they may withdraw it, not approve it; another lead neither.
    const overByLead = await post(
      app,
      `${budget.url}/commitments`,
      commitmentBody({ amount: '5000.00', overBudget: { justification: 'Rechtsanspruch § 27 SGB VIII' } }),
      await bearer(leadA),
    )
    t.equal(overByLead.body?.overBudget, true)
    t.equal(overByLead.body?.status, 'requested')
    const overByLeadUrl = approvalOf(overByLead)
    await refused(overByLeadUrl, approve, await bearer(leadA), 403, 'forbidden', 'the requesting team lead approves their over-budget request')
    await refused(overByLeadUrl, reject, await bearer(leadB), 403, 'forbidden', "another team lead rejects a lead's over-budget request")
    await decided(overByLeadUrl, reject, await bearer(leadA), 'rejected', 'the requesting team lead withdraws their over-budget request')
  })
})

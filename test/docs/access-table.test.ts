import { readFileSync } from 'node:fs'
import t from 'tap'
import { ACCESS_TABLE, type Access } from '../../src/http/access.js'

/**
 * docs/api.md's access table says who may call each /v1 route; ACCESS_TABLE (src/http/access.ts)
 * enforces it. The two are compared route by route, so that neither gains a route the other lacks
 * (the documented table had missed the reports, the years and the moves).
 */

const BUDGET = '/v1/budgets/:year/:sozialraum'
const ROLES = ['finance', 'teamlead', 'auditor'] as const

/** A route of the table as the document writes it: `…` for a budget's path, `{name}` for a parameter. */
function documented(route: string): string {
  if (route === `GET ${BUDGET}`) return 'GET …'
  return route.replace(BUDGET, '…').replace(/:(\w+)/g, '{$1}')
}

/** What the document writes for a role: ✓, "own" (the path's Sozialraum), "own only" (a filtered list) or — (403). */
function cell(access: Access, role: (typeof ROLES)[number]): string {
  if (access.kind !== 'roles' || !access.roles.includes(role)) return '—'
  if (role !== 'teamlead' || access.teamlead === undefined) return '✓'
  return access.teamlead === 'path' ? 'own' : 'own only'
}

/** The access table's rows: each route of its first cell, with the three role cells (notes like "(1)" left out). */
function documentedRows(): Map<string, string[]> {
  const markdown = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8')
  const table = markdown.slice(markdown.indexOf('| route | `finance` | `teamlead` | `auditor` | no token |'))
  const rows = new Map<string, string[]>()
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break
    const [first = '', ...cells] = line.split('|').slice(1, -1).map((text) => text.trim())
    const roles = cells.slice(0, 3).map((text) => text.replace(/\s*\(\d\)$/, ''))
    for (const [, route] of first.matchAll(/`([A-Z]+ [^`]+)`/g)) rows.set(route!, roles)
  }
  return rows
}

t.test('docs/api.md’s access table has every /v1 route of ACCESS_TABLE, with its roles, and no other', async (t) => {
  const rows = documentedRows()
  const enforced = Object.entries(ACCESS_TABLE).filter(([route]) => route.includes(' /v1/'))
  t.ok(enforced.length > 30, `the /v1 routes of ACCESS_TABLE (${enforced.length})`)
  for (const [route, access] of enforced) {
    t.same(rows.get(documented(route)), ROLES.map((role) => cell(access, role)), `${route} as ${documented(route)}`)
  }
  const known = new Set(enforced.map(([route]) => documented(route)))
  const extra = [...rows.keys()].filter((route) => (route.includes(' /v1/') || route.startsWith('GET …') || route.startsWith('POST …')) && !known.has(route))
  t.same(extra, [], 'no documented /v1 route that ACCESS_TABLE lacks')
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { bearer } from '../helpers/tokens.js'
import { call, centsOf, expect201, killAll, ServerProcess, type Answer } from '../helpers/process.js'

/**
 * The year close survives SIGKILL (docs/fiscal-year.md): a year of 20 Sozialräume with open,
 * waiting, partly invoiced and released commitments is closed, the service is killed at a random
 * point of the close (chosen by how many budgets are closed already), and restarted, twice; after
 * the last restart the close completes, and what each budget carried into the next year equals
 * its open remainders before the close exactly, each commitment once.
 */

const YEAR = 2025
const SOZIALRAEUME = 20
const COMMITMENTS_PER_BUDGET = 30
const KILLS = 2
const CLOSE_TIMEOUT_MS = 60_000

const second = (await bearer({ sub: 'finance-2', role: 'finance' })).authorization ?? ''

interface Remainder {
  id: string
  remaining: bigint
  status: string
}

/** Writes a budget's year; answers the position of its last write. */
async function setUp(server: ServerProcess, index: number): Promise<string> {
  const id = `crash-${index}`
  let last = ''
  const written = async (answer: Promise<Answer>, what: string): Promise<Answer> => {
    const created = await expect201(answer, what)
    last = String(created.body.position)
    return created
  }
  await written(call(server, 'POST', '/v1/sozialraeume', { id, name: `Crash ${index}` }), 'register')
  for (const [line, amount] of [['ambulatory', '2000000'], ['flexible', '10000']] as const) {
    await written(call(server, 'POST', `/v1/budgets/${YEAR}/${id}/allocations`, { line, amount, decisionRef: 'crash' }), 'allocate')
  }
  for (let n = 0; n < COMMITMENTS_PER_BUDGET; n++) {
    // Every seventh waits for approval (at or above the four-eyes threshold).
    const amount = n % 7 === 0 ? '15000.00' : `${1000 + n * 37}.${String(n % 100).padStart(2, '0')}`
    const created = await written(
      call(server, 'POST', `/v1/budgets/${YEAR}/${id}/commitments`, {
        provider: `Träger ${n % 4}`,
        caseRef: `CASE-${index}-${n}`,
        helpType: `SGB VIII § ${27 + (n % 5)}`,
        amount,
        period: { from: `${YEAR}-03-01`, to: `${YEAR + 1}-02-28` },
      }),
      'commit',
    )
    const url = `/v1/budgets/${YEAR}/${id}/commitments/${String(created.body.id)}`
    if (n % 7 === 0) continue
    if (n % 3 === 0) await written(call(server, 'POST', `${url}/invoices`, { invoiceNo: `R-${n}`, amount: '500.01', invoiceDate: `${YEAR}-06-30` }), 'invoice')
    if (n % 5 === 4) await written(call(server, 'POST', `${url}/release`, { reason: 'nicht benötigt' }), 'release')
  }
  return last
}

/** The commitments as the read models show them (once they have processed `minPosition`, when given). */
async function remainders(server: ServerProcess, year: number, sozialraum: string, minPosition?: string): Promise<Remainder[]> {
  const query = minPosition === undefined ? '' : `?minPosition=${minPosition}`
  const answer = await call(server, 'GET', `/v1/budgets/${year}/${sozialraum}/commitments${query}`)
  if (answer.status !== 200) throw new Error(`reading the commitments of ${sozialraum}: ${answer.status} ${JSON.stringify(answer.body)}`)
  const items = answer.body.items as Array<Record<string, unknown>>
  return items.map((item) => ({ id: String(item.id), remaining: centsOf(item.remaining), status: String(item.status) }))
}

/**
 * The year's close as the read models show it. Right after a restart the projections may still
 * catch up on their thread, and the route answers 503 until they have: asked again then.
 */
async function yearOf(server: ServerProcess): Promise<Answer['body']> {
  const deadline = Date.now() + CLOSE_TIMEOUT_MS
  for (;;) {
    const answer = await call(server, 'GET', `/v1/years/${YEAR}`)
    if (answer.status !== 503 || Date.now() > deadline) return answer.body
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('a year close killed at random points completes after restarts and carries each remainder once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-year-crash-'))
  const servers: ServerProcess[] = []
  t.teardown(async () => {
    await killAll(servers)
    rmSync(dir, { recursive: true, force: true })
  })
  const start = () => ServerProcess.start({ DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}` }, (server) => servers.push(server))

  let server = await start()
  let written = ''
  for (let index = 0; index < SOZIALRAEUME; index++) written = await setUp(server, index)
  const open = new Map<string, Remainder[]>()
  for (let index = 0; index < SOZIALRAEUME; index++) {
    const id = `crash-${index}`
    open.set(id, (await remainders(server, YEAR, id, written)).filter((item) => item.status === 'open' || item.status === 'requested'))
  }

  await expect201(call(server, 'POST', `/v1/years/${YEAR}/close`, { reason: 'Jahresabschluss' }), 'ask for the close')
  await expect201(call(server, 'POST', `/v1/years/${YEAR}/close/approval`, { decision: 'approve' }, { authorization: second }), 'approve')

  const killedAt: number[] = []
  for (let kill = 0; kill < KILLS; kill++) {
    // Kill once the read models show at least `target` budgets closed: the close itself is ahead of them.
    const target = 1 + Math.floor(Math.random() * (SOZIALRAEUME - 1))
    let seen = 0
    const deadline = Date.now() + CLOSE_TIMEOUT_MS
    while (Date.now() < deadline) {
      const year = await yearOf(server)
      seen = Number((year.budgets as { closed: number }).closed)
      if (seen >= target || year.status === 'closed') break
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    killedAt.push(seen)
    await server.kill('SIGKILL')
    server = await start()
  }
  t.comment(`killed with ${killedAt.join(' and ')} of ${SOZIALRAEUME} budgets closed in the read models`)

  const deadline = Date.now() + CLOSE_TIMEOUT_MS
  let year = await yearOf(server)
  while (year.status !== 'closed' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    year = await yearOf(server)
  }
  t.equal(year.status, 'closed', 'the close completes after the restarts')
  t.match(year.budgets, { total: SOZIALRAEUME, closed: SOZIALRAEUME })

  let carriedTotal = 0n
  // The read models showed the year closed, which the close records after every carry: they hold each one.
  for (const [sozialraum, before] of open) {
    const next = await remainders(server, YEAR + 1, sozialraum)
    const closed = await call(server, 'GET', `/v1/budgets/${YEAR}/${sozialraum}/commitments`)
    const carriedTo = new Map(
      (closed.body.items as Array<Record<string, unknown>>)
        .filter((item) => item.carriedTo !== undefined)
        .map((item) => [String(item.id), (item.carriedTo as { commitmentId: string }).commitmentId]),
    )
    t.equal(next.length, before.length, `${sozialraum}: each open commitment carried once`)
    const byId = new Map(next.map((item) => [item.id, item]))
    for (const commitment of before) {
      const continued = byId.get(carriedTo.get(commitment.id) ?? '')
      if (continued?.remaining !== commitment.remaining) {
        t.fail(`${sozialraum}: commitment ${commitment.id} carried ${continued?.remaining} instead of ${commitment.remaining}`)
      }
      carriedTotal += commitment.remaining
    }
    const budget = (await call(server, 'GET', `/v1/budgets/${YEAR + 1}/${sozialraum}`)).body
    const committed = centsOf((budget.lines as { ambulatory: { committed: string } }).ambulatory.committed)
    t.equal(committed, before.reduce((sum, item) => sum + item.remaining, 0n), `${sozialraum}: next year's line committed by exactly the remainders`)
  }
  t.equal(centsOf((year.carried as { amount: string }).amount), carriedTotal, 'the year reports what was carried')
  const verified = await call(server, 'POST', '/v1/audit/verify', {})
  t.match(verified.body, { ok: true }, `the audit chain is intact: ${JSON.stringify(verified.body).slice(0, 2000)}`)
})

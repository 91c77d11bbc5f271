import { randomUUID } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import t, { type Test } from 'tap'
import { Ledger } from '../../src/application/ledger.js'
import { finishLateBudget } from '../../src/application/processes.js'
import { FiscalYearQueries } from '../../src/readmodels/fiscal-years.js'
import { formatCents } from '../../src/domain/money.js'
import { assertProblem, assertWritten, budgetUrl, commitmentBody, get, post, seed, spendingBody, type ApiResponse } from '../helpers/api.js'
import { LedgerReadingTheYearEarlier } from '../helpers/ledgers.js'
import { startTestService } from '../helpers/service.js'
import type { Service } from '../../src/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * The year close over HTTP (docs/domain.md rule 8, docs/fiscal-year.md): four eyes, the close
 * process carrying open commitments and named unspent lines into the next year, what a closed
 * year answers afterwards; and moves between Sozialräume (rule 9).
 */

const controller2 = { sub: 'finance-2', role: 'finance' } as const
const asSecond = () => bearer(controller2)
const asTeamLead = () => bearer({ sub: 'lead-a', role: 'teamlead', sozialraeume: ['fy-a'] })

/** Waits until GET /v1/years/{year} answers `status`, up to 15 s. */
async function yearBecomes(app: Parameters<typeof get>[0], year: number, status: string): Promise<ApiResponse> {
  return readUntil(app, `/v1/years/${year}`, (read) => read.body?.status === status)
}

/** Reads `url` until `done` holds of the answer, up to 15 s; answers the last read. */
async function readUntil(app: Parameters<typeof get>[0], url: string, done: (read: ApiResponse) => boolean): Promise<ApiResponse> {
  const deadline = Date.now() + 15_000
  let read = await get(app, url)
  while (!done(read) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    read = await get(app, url)
  }
  return read
}

/** Σ (allocated − spent) over every budget of the years: the money the close must conserve. */
async function money(app: Parameters<typeof get>[0], years: number[], position: string): Promise<bigint> {
  let total = 0n
  for (const year of years) {
    const list = await get(app, `/v1/budgets/${year}`, position)
    const { allocated, spent } = list.body.total as { allocated: string; spent: string }
    total += BigInt(allocated.replace('.', '')) - BigInt(spent.replace('.', ''))
  }
  return total
}

t.test('closing a year over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const a = await seed(app, 'fy-a', { year: 2025, ambulatory: '50000', flexible: '5000' })
  const b = await seed(app, 'fy-b', { year: 2025, ambulatory: '20000', flexible: '2000' })
  const next = await post(app, `${budgetUrl(2026, 'fy-a')}/allocations`, { line: 'ambulatory', amount: '1000', decisionRef: 'HH-2026' })
  assertWritten(t, next, '2026 allocation')

  // a: one open commitment half invoiced, one waiting for approval, one released; b: spending.
  const open = await post(app, `${a.url}/commitments`, commitmentBody({ amount: '3000', period: { from: '2025-07-01', to: '2026-06-30' } }))
  assertWritten(t, open, 'open commitment')
  assertWritten(t, await post(app, `${a.url}/commitments/${open.body.id}/invoices`, { invoiceNo: 'R-1', amount: '1000', invoiceDate: '2025-08-01' }))
  const waiting = await post(app, `${a.url}/commitments`, commitmentBody({ caseRef: 'CASE-2', amount: '12000' }))
  t.equal(waiting.body.status, 'requested', 'at or above the four-eyes threshold it waits')
  const released = await post(app, `${a.url}/commitments`, commitmentBody({ caseRef: 'CASE-3', amount: '500' }))
  assertWritten(t, await post(app, `${a.url}/commitments/${released.body.id}/release`, { reason: 'nicht benötigt' }))
  const spent = await post(app, `${b.url}/spending`, spendingBody({ amount: '300' }))
  assertWritten(t, spent, 'spending')
  const before = await money(app, [2025, 2026], spent.body.position)

  t.test('bad requests write nothing', async (t) => {
    assertProblem(t, await post(app, '/v1/years/2025/close', { reason: 'x', carryUnspent: ['other'] }), 400, 'validation')
    assertProblem(t, await post(app, '/v1/years/2025/close', { reason: 'x', carryUnspent: ['flexible', 'flexible'] }), 400, 'validation')
    assertProblem(t, await post(app, '/v1/years/1999/close', { reason: 'x' }), 400, 'validation')
    assertProblem(t, await post(app, '/v1/years/2100/close', { reason: 'x' }), 400, 'validation')
    assertProblem(t, await post(app, '/v1/years/2025/close', { reason: 'x' }, await asTeamLead()), 403, 'forbidden')
    assertProblem(t, await post(app, '/v1/years/2025/close/approval', { decision: 'approve' }), 409, 'conflict')
    t.equal((await get(app, '/v1/years/2025')).body.status, 'open', 'still open')
  })

  t.test('one controller asks, the same one may not approve, a second does', async (t) => {
    const asked = await post(app, '/v1/years/2025/close', { reason: 'Jahresabschluss 2025', carryUnspent: ['flexible'] })
    t.equal(asked.status, 201, asked.text)
    t.match(asked.body, { year: 2025, status: 'close-requested', request: { reason: 'Jahresabschluss 2025', carryUnspent: ['flexible'], by: 'test-finance' } })
    assertProblem(t, await post(app, '/v1/years/2025/close', { reason: 'again' }), 409, 'conflict')
    assertProblem(t, await post(app, '/v1/years/2025/close/approval', { decision: 'approve' }), 403, 'forbidden')
    // Between request and approval the year still takes writes; the close carries what they leave.
    const late = await post(app, `${a.url}/commitments`, commitmentBody({ caseRef: 'CASE-4', amount: '700' }))
    assertWritten(t, late, 'a commitment between request and approval')

    const approved = await post(app, '/v1/years/2025/close/approval', { decision: 'approve', comment: 'geprüft' }, await asSecond())
    t.equal(approved.status, 201, approved.text)
    t.match(approved.body, { status: 'closing', decision: { decision: 'approve', by: 'finance-2', comment: 'geprüft' } })
    const closed = await yearBecomes(app, 2025, 'closed')
    t.match(closed.body, {
      year: 2025,
      status: 'closed',
      budgets: { total: 2, closed: 2 },
      // open: 2000 left; waiting: 12000; late: 700.
      carried: { commitments: 3, amount: '14700.00', received: 3 },
    })
    t.equal(closed.body.carried.unspent, '6700.00', "a's flexible 5000 and b's 2000 − 300 carry; ambulatory lapses")
    t.equal(closed.body.carried.allocation, '21400.00', 'the lines gave the remainders (none over budget) and the unspent money')
    t.equal(closed.body.carried.lapsed, `${(50000 - 3000 - 12000 - 700 + 20000).toFixed(2)}`, 'the ambulatory rest lapses')
  })

  t.test('the closed year refuses every write and says closed; the next year has what was carried', async (t) => {
    const closed = await yearBecomes(app, 2025, 'closed')
    const position = (await get(app, `/v1/audit/events?year=2026&limit=1000`)).body.next ?? undefined
    assertProblem(t, await post(app, `${a.url}/allocations`, { line: 'ambulatory', amount: '1', decisionRef: 'x' }), 409, 'year-closed')
    assertProblem(t, await post(app, `${a.url}/commitments/${open.body.id}/invoices`, { invoiceNo: 'R-9', amount: '1', invoiceDate: '2025-12-01' }), 409, 'year-closed')
    assertProblem(t, await post(app, `${b.url}/spending`, spendingBody()), 409, 'year-closed')
    assertProblem(t, await post(app, '/v1/years/2025/close', { reason: 'again' }), 409, 'year-closed')
    t.equal(position, undefined, 'the audit list fits one page')
    const budgetA = (await get(app, a.url, (await get(app, '/ready')).body.position)).body
    t.equal(budgetA.closed, true, 'reads say closed')
    // Each closed line gave up what its carried commitments need (and flexible, named, its unspent); what lapses stays.
    t.same(budgetA.lines.ambulatory, { allocated: '35300.00', committed: '0.00', spent: '1000.00', available: '34300.00' }, 'a gave up 14700.00 of 50000.00')
    t.same(budgetA.lines.flexible, { allocated: '0.00', committed: '0.00', spent: '0.00', available: '0.00' }, 'a gave up its 5000.00')
    const budgetB = (await get(app, b.url)).body
    t.same(budgetB.lines.ambulatory, { allocated: '20000.00', committed: '0.00', spent: '0.00', available: '20000.00' }, "b's ambulatory lapses where it is")
    t.same(budgetB.lines.flexible, { allocated: '300.00', committed: '0.00', spent: '300.00', available: '0.00' }, 'b gave up 1700.00, kept what it spent')
    const carriedOpen = (await get(app, `${a.url}/commitments/${open.body.id}`)).body
    t.match(carriedOpen, { status: 'closed', carried: '2000.00', remaining: '0.00', released: '0.00', carriedTo: { year: 2026 } })
    const continued = (await get(app, `${budgetUrl(2026, 'fy-a')}/commitments/${carriedOpen.carriedTo.commitmentId}`)).body
    t.match(continued, {
      year: 2026,
      status: 'open',
      amount: '2000.00',
      provider: carriedOpen.provider,
      caseRef: carriedOpen.caseRef,
      helpType: carriedOpen.helpType,
      carriedFrom: { year: 2025, commitmentId: open.body.id },
    })
    const stillWaiting = (await get(app, `${budgetUrl(2026, 'fy-a')}/commitments?status=requested`)).body.items
    t.equal(stillWaiting.length, 1, 'the request waits for approval in the new year, too')
    t.match(stillWaiting[0], { createdBy: 'finance-2', requestedBy: 'test-finance' }, 'carried in by the close, asked for by whoever asked in 2025')
    const approval = `${budgetUrl(2026, 'fy-a')}/commitments/${stillWaiting[0].id}/approval`
    assertProblem(t, await post(app, approval, { decision: 'approve' }), 403, 'forbidden')
    const approvedInNewYear = await post(app, approval, { decision: 'approve' }, await asSecond())
    t.equal(approvedInNewYear.status, 201, 'a second person approves it in the new year')
    t.equal(closed.body.status, 'closed')
    const newA = (await get(app, budgetUrl(2026, 'fy-a'), approvedInNewYear.body.position)).body
    t.same(newA.lines.ambulatory, { allocated: '15700.00', committed: '14700.00', spent: '0.00', available: '1000.00' })
    t.equal(newA.revision, String(Number(next.body.revision) + 6), 'two carry-over allocations and three commitments, then the approval')
    t.same(newA.lines.flexible, { allocated: '5000.00', committed: '0.00', spent: '0.00', available: '5000.00' })
    const newB = (await get(app, budgetUrl(2026, 'fy-b'))).body
    t.same(newB.lines.flexible.allocated, '1700.00', "b's 2026 budget opened by the carry-over")
    const exported = await get(app, '/v1/audit/export?year=2025&format=jsonl')
    const types = exported.text.trim().split('\n').map((line) => (JSON.parse(line) as { type: string }).type)
    for (const type of ['YearCloseRequested', 'YearCloseApproved', 'CommitmentCarriedOver', 'AllocationCarriedOver', 'BudgetClosed', 'YearClosed']) {
      t.ok(types.includes(type), `the export of 2025 holds ${type}`)
    }
    // The CSV links both sides of the close: the old commitment to the new one and back.
    const rowsOf = async (year: number) =>
      parse((await get(app, `/v1/audit/export?year=${year}&format=csv`)).text, { bom: true, delimiter: ';', columns: true, record_delimiter: '\r\n' }) as Record<string, string>[]
    const linkOf = (row: Record<string, string> | undefined) => [row?.['Übertrag (Jahr)'], row?.['Übertragene Mittelbindung']]
    const [old, next2026] = [await rowsOf(2025), await rowsOf(2026)]
    const carriedOver = old.find((row) => row.Ereignis === 'CommitmentCarriedOver' && row.Mittelbindung === open.body.id)
    t.same(linkOf(carriedOver), ['nach 2026', continued.id], 'CSV 2025: the carried commitment names its continuation')
    const carriedIn = next2026.find((row) => row.Ereignis === 'CommitmentCarriedIn' && row.Mittelbindung === continued.id)
    t.same(linkOf(carriedIn), ['aus 2025', open.body.id], 'CSV 2026: the continuation names its original')
    t.same(
      old.filter((row) => row.Ereignis === 'AllocationCarriedOver').map((row) => row['Übertrag (Jahr)']),
      ['nach 2026', 'nach 2026', 'nach 2026'],
      "CSV 2025: the lines' carry-overs name the year",
    )
    t.ok(
      next2026.filter((row) => row.Ereignis === 'BudgetAllocated' && row['Übertrag (Jahr)'] === 'aus 2025').length > 0,
      "CSV 2026: the carried-in allocations name the year they came from",
    )
    // What the close left behind adds up to what GET /v1/years says, in the CSV's decimal commas.
    const centsIn = (column: string) => old.reduce((total, row) => total + BigInt((row[column] || '0').replace(',', '')), 0n)
    const year2025 = (await get(app, '/v1/years/2025')).body
    t.equal(formatCents(centsIn('Davon ungebunden übertragen (EUR)')), year2025.carried.unspent, 'CSV 2025: the unspent carried')
    t.equal(formatCents(centsIn('Verfallen ambulant (EUR)') + centsIn('Verfallen flexibel (EUR)')), year2025.carried.lapsed, 'CSV 2025: what lapsed, both lines')
    t.equal(await money(app, [2025, 2026], (await get(app, '/ready')).body.position ?? '0'), before, 'no money created or lost')
  })
})

t.test('an approved close starts at once, not at the processes\' next look for work', async (t) => {
  // An hour between the processes' own looks: only the approval's kick can start the close in time.
  const service = await startTestService(t, { processIntervalMs: 3_600_000 })
  const app = service.app
  await seed(app, 'fy-kick', { year: 2025 })
  assertWritten(t, await post(app, '/v1/years/2025/close', { reason: 'Jahresabschluss 2025' }), 'asked')
  assertWritten(t, await post(app, '/v1/years/2025/close/approval', { decision: 'approve' }, await asSecond()), 'approved')
  const closed = await yearBecomes(app, 2025, 'closed')
  t.equal(closed.body.status, 'closed', 'the close ran after the approval, once the read models showed the year closing')
})

/**
 * 2025 closed (with `${late}-a`'s budget) over HTTP while another process's first allocation to
 * `late` races it: `racing` took the year as it read it before the approval, so its allocation
 * lands after the close (docs/fiscal-year.md, What is left open).
 */
async function closedWhileAnAllocationRaces(t: Test, service: Service, late: string) {
  const app = service.app
  await seed(app, `${late}-a`, { year: 2025, flexible: '1000' })
  await post(app, '/v1/sozialraeume', { id: late, name: 'Spät' })
  assertWritten(t, await post(app, '/v1/years/2025/close', { reason: 'Jahresabschluss 2025', carryUnspent: ['flexible'] }), 'asked')
  const racing = new LedgerReadingTheYearEarlier({ store: service.store, clock: () => new Date(), newEventId: randomUUID })
  racing.earlier = await racing.readYear(2025)
  assertWritten(t, await post(app, '/v1/years/2025/close/approval', { decision: 'approve' }, await asSecond()), 'approved')
  t.equal((await yearBecomes(app, 2025, 'closed')).body.status, 'closed')
  const context = { actor: { sub: 'finance-1', role: 'finance' as const }, correlationId: 'late', causationId: 'late', idempotencyKey: null, requestHash: null, expectedRevision: undefined }
  return { racing, context }
}

t.test('a budget whose first allocation landed after its year closed is closed late by the processes, and carried', async (t) => {
  const service = await startTestService(t, { processIntervalMs: 100 })
  const app = service.app
  const { racing, context } = await closedWhileAnAllocationRaces(t, service, 'fy-late')
  const slipped = await racing.executeBudget(2025, 'fy-late', { type: 'AllocateBudget', line: 'flexible', amountCents: 25_000n, decisionRef: 'JHA-spät' }, context)
  t.equal(slipped.kind, 'written', 'the late first allocation is written')

  t.equal((await readUntil(app, '/v1/budgets/2025/fy-late', (read) => read.body?.closed === true)).body.closed, true, 'the processes closed it')
  const next = await readUntil(app, '/v1/budgets/2026/fy-late', (read) => read.status === 200)
  t.equal(next.status, 200, '2026 has the budget it carried into')
  t.equal(next.body.lines.flexible.allocated, '250.00', 'with all of its unspent flexible money, as the close chose')
})

t.test('the read models list a closed year\'s budget as unfinished while it is open or its carry-over is not received', async (t) => {
  // The processes look for work only when kicked: the approval's kick closes the year, nothing more runs.
  const service = await startTestService(t, { processIntervalMs: 3_600_000 })
  const app = service.app
  const { racing, context } = await closedWhileAnAllocationRaces(t, service, 'fy-q-late')
  const queries = new FiscalYearQueries(service.db)
  const caughtUp = async () => t.ok(await service.runner.waitFor(await service.store.headPosition(), 10_000), 'the read models caught up')
  await caughtUp()
  t.same(await queries.unfinishedBudgetsOfClosedYears(), [], 'the close finished every budget it listed')

  t.equal((await racing.executeBudget(2025, 'fy-q-late', { type: 'AllocateBudget', line: 'flexible', amountCents: 25_000n, decisionRef: 'JHA-spät' }, context)).kind, 'written')
  await caughtUp()
  t.same(await queries.unfinishedBudgetsOfClosedYears(), [{ year: 2025, sozialraum: 'fy-q-late' }], 'open in a closed year')
  t.same(await queries.unfinishedBudgetsOfClosedYears(2025), [{ year: 2025, sozialraum: 'fy-q-late' }], 'also when asked for 2025 alone')

  // Closed as the close would, and stopped before the carry-over.
  t.equal((await racing.executeBudget(2025, 'fy-q-late', { type: 'CloseBudget', carryUnspent: ['flexible'] }, context)).kind, 'written')
  await caughtUp()
  t.same(await queries.unfinishedBudgetsOfClosedYears(), [{ year: 2025, sozialraum: 'fy-q-late' }], 'closed, its carry-over not received')

  racing.earlier = undefined
  t.equal(await finishLateBudget(racing, 2025, 'fy-q-late'), true, 'finished')
  await caughtUp()
  t.same(await queries.unfinishedBudgetsOfClosedYears(), [], 'nothing left')
  t.equal((await get(app, '/v1/budgets/2026/fy-q-late')).body.lines.flexible.allocated, '250.00', '2026 received it')
})

t.test('moves between Sozialräume over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const a = await seed(app, 'mv-a', { year: 2025, ambulatory: '1000', flexible: '100' })
  const b = await seed(app, 'mv-b', { year: 2025, ambulatory: '1000', flexible: '100' })
  await post(app, '/v1/sozialraeume', { id: 'mv-c', name: 'No budget' })

  const move = (body: Record<string, unknown>, headers = {}) =>
    post(app, '/v1/budgets/2025/moves', { from: { sozialraum: 'mv-a', line: 'ambulatory' }, to: { sozialraum: 'mv-b', line: 'flexible' }, amount: '250', reason: 'Deckung', ...body }, headers)

  t.test('a move debits one and credits the other', async (t) => {
    const moved = await move({}, { 'idempotency-key': 'move-1' })
    t.equal(moved.status, 201, moved.text)
    t.match(moved.body, { status: 'completed', amount: '250.00', from: { sozialraum: 'mv-a' }, to: { sozialraum: 'mv-b', line: 'flexible' } })
    const again = await move({}, { 'idempotency-key': 'move-1' })
    t.equal(again.status, 201)
    t.equal(again.body.id, moved.body.id, 'a retried request answers with the move it made')
    t.ok(BigInt(again.body.position) >= BigInt(moved.body.position), "the retry's position is at or after the move's last step, not its debit's")
    t.equal((await get(app, a.url, moved.body.position)).body.lines.ambulatory.allocated, '750.00')
    t.equal((await get(app, b.url, moved.body.position)).body.lines.flexible.allocated, '350.00')
    const listed = await get(app, '/v1/budgets/2025/moves', moved.body.position)
    t.match(listed.body.items, [{ id: moved.body.id, status: 'completed' }])
    t.match((await get(app, `/v1/budgets/2025/moves/${moved.body.id}`)).body, { status: 'completed', requestedBy: 'test-finance' })
  })

  t.test('bad moves are refused and write nothing', async (t) => {
    const before = (await get(app, a.url)).body.revision
    assertProblem(t, await move({ amount: '100000' }), 422, 'insufficient-funds')
    assertProblem(t, await move({ to: { sozialraum: 'mv-a', line: 'flexible' } }), 400, 'validation')
    assertProblem(t, await move({ to: { sozialraum: 'mv-c', line: 'flexible' } }), 404, 'not-found')
    assertProblem(t, await move({ to: { sozialraum: 'mv-zzz', line: 'flexible' } }), 404, 'not-found')
    assertProblem(t, await move({ amount: '-1' }), 400, 'validation')
    assertProblem(t, await move({}, await bearer({ sub: 'lead', role: 'teamlead', sozialraeume: ['mv-a', 'mv-b'] })), 403, 'forbidden')
    assertProblem(t, await post(app, '/v1/sozialraeume', { id: 'moves', name: 'Reserved' }), 400, 'validation')
    t.equal((await get(app, a.url)).body.revision, before, 'nothing written')
    assertProblem(t, await get(app, `/v1/budgets/2025/moves/${randomUUID()}`), 404, 'not-found')
  })

  t.test('a move the target cannot take for the limit on balances: 422 before the debit, nothing written', async (t) => {
    // mv-d's flexible line 100.00 short of the limit (100 billion EUR): 99 allocations of a billion and one short of it.
    const d = await seed(app, 'mv-d', { year: 2025, ambulatory: '1000', flexible: '999999900.00' })
    for (let i = 0; i < 99; i++) assertWritten(t, await post(app, `${d.url}/allocations`, { line: 'flexible', amount: '1000000000.00', decisionRef: `HH-${i}` }), `allocation ${i}`)
    const toD = (amount: string, headers = {}) => move({ to: { sozialraum: 'mv-d', line: 'flexible' }, amount }, headers)
    const filled = await toD('100.00', { 'idempotency-key': 'move-to-the-limit' })
    t.equal(filled.status, 201, 'up to the limit exactly')
    const retried = await toD('100.00', { 'idempotency-key': 'move-to-the-limit' })
    t.equal(retried.status, 201, 'its retry answers as the first time, although the target could not take it again')
    t.equal(retried.body.id, filled.body.id)
    const [aBefore, dBefore] = [(await get(app, a.url, retried.body.position)).body.revision, (await get(app, d.url)).body.revision]
    const refused = await toD('0.01')
    assertProblem(t, refused, 422, 'limit-exceeded')
    t.equal((await get(app, a.url)).body.revision, aBefore, 'the source was not debited')
    t.equal((await get(app, d.url)).body.revision, dBefore, 'the target wrote no refusal')
  })

  t.test('a move left in transit is finished by the move process', async (t) => {
    const ledger = new Ledger({ store: service.store, clock: () => new Date(), newEventId: randomUUID })
    const context = { actor: { sub: 'test-finance', role: 'finance' as const }, correlationId: 'c', causationId: 'c', idempotencyKey: null, requestHash: null, expectedRevision: undefined }
    const moveId = randomUUID()
    const debit = await ledger.executeBudget(2025, 'mv-a', { type: 'DebitMove', moveId, line: 'flexible', amountCents: 1000n, to: { sozialraum: 'mv-b', line: 'ambulatory' }, reason: 'crash before credit' }, context)
    t.equal(debit.kind, 'written')
    const deadline = Date.now() + 10_000
    let status = ''
    while (Date.now() < deadline && status !== 'completed') {
      status = (await get(app, `/v1/budgets/2025/moves/${moveId}`)).body?.status ?? ''
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    t.equal(status, 'completed', 'the process credits the target')
    const position = (await get(app, '/ready')).body.position
    t.equal((await get(app, b.url, position)).body.lines.ambulatory.allocated, '1010.00')
  })
})

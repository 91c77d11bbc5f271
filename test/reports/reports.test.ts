import { parse } from 'csv-parse/sync'
import t from 'tap'
import { assertProblem, budgetUrl, commitmentBody, get, post, seed, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import {
  assertCsvMatches,
  auditor,
  closeBudget,
  move,
  REPORTS,
  report,
  secondFinance,
  stepLedger,
  teamLead,
  type ReportQuery,
} from './http-helpers.js'
import { expectedReport, readEvents, recompute } from './recompute.js'

/**
 * The controlling reports over HTTP on a realistic ledger of two years: allocations, adjustments,
 * transfers, commitments (four eyes, approved, rejected, released, amended, on both lines, with
 * and without a help type), invoices dated inside and outside the year, flexible spending and
 * reversals, the close of the first year with its carry-over, and moves between Sozialräume (one
 * completed, one refused and reverted). Every report, in JSON and CSV, for finance, an auditor
 * and team leads, equals a recomputation from the event log (./recompute.ts).
 */

const must = (response: ApiResponse, what: string): ApiResponse => {
  if (response.status !== 201) throw new Error(`${what}: ${response.status} ${response.text}`)
  return response
}


t.test('controlling reports', async (t) => {
  const service = await startTestService(t)
  const { app, store } = service
  const finance2 = await secondFinance()
  const steps = stepLedger(store)

  for (const id of ['nord', 'sued', 'west', 'ost', 'leer']) must(await post(app, '/v1/sozialraeume', { id, name: `Sozialraum ${id}` }), id)
  const allocate = async (year: number, sozialraum: string, ambulatory: string, flexible: string) => {
    for (const [line, amount] of [['ambulatory', ambulatory], ['flexible', flexible]]) {
      must(await post(app, `${budgetUrl(year, sozialraum)}/allocations`, { line, amount, decisionRef: `HH-${year}` }), 'allocation')
    }
  }
  const commit = async (year: number, sozialraum: string, body: Record<string, unknown>): Promise<string> => {
    const id = uuid()
    must(await post(app, `${budgetUrl(year, sozialraum)}/commitments`, { ...commitmentBody(), ...body, id }), `commitment ${JSON.stringify(body)}`)
    return id
  }
  const invoice = async (year: number, sozialraum: string, id: string, amount: string, invoiceDate: string) =>
    must(await post(app, `${budgetUrl(year, sozialraum)}/commitments/${id}/invoices`, { invoiceNo: uuid(), amount, invoiceDate }), 'invoice')
  const spend = async (year: number, sozialraum: string, amount: string, date: string): Promise<string> => {
    const id = uuid()
    must(await post(app, `${budgetUrl(year, sozialraum)}/spending`, spendingBody({ id, amount, date })), 'spending')
    return id
  }
  const approve = async (year: number, sozialraum: string, id: string, decision: 'approve' | 'reject') =>
    must(await post(app, `${budgetUrl(year, sozialraum)}/commitments/${id}/approval`, { decision }, finance2), decision)
  const release = async (year: number, sozialraum: string, id: string) =>
    must(await post(app, `${budgetUrl(year, sozialraum)}/commitments/${id}/release`, { reason: 'Hilfe beendet' }), 'release')

  // 2024: three Sozialräume; their close carries open commitments (and west's unspent flexible line) into 2025.
  await allocate(2024, 'nord', '200000', '20000')
  await allocate(2024, 'sued', '150000', '15000')
  await allocate(2024, 'west', '100000', '10000')
  const c1 = await commit(2024, 'nord', { provider: 'traeger-a', caseRef: 'F-1', helpType: '§ 31 SPFH', amount: '12000', period: { from: '2024-03-01', to: '2025-02-28' } })
  await approve(2024, 'nord', c1, 'approve')
  await invoice(2024, 'nord', c1, '1000', '2024-04-05')
  await invoice(2024, 'nord', c1, '1000', '2024-05-05')
  const c2 = await commit(2024, 'nord', { provider: 'traeger-b', caseRef: 'F-2', helpType: undefined, amount: '3000', period: { from: '2024-01-01', to: '2024-06-30' } })
  await invoice(2024, 'nord', c2, '3000', '2024-07-10')
  const c3 = await commit(2024, 'nord', { provider: 'traeger-a', caseRef: 'F-3', helpType: '§ 30 Erziehungsbeistand', amount: '2500', period: { from: '2024-02-01', to: '2024-12-31' } })
  await invoice(2024, 'nord', c3, '500', '2024-03-01')
  await release(2024, 'nord', c3)
  await spend(2024, 'nord', '300', '2024-02-10')
  const reversed2024 = await spend(2024, 'nord', '150', '2024-03-15')
  must(await post(app, `${budgetUrl(2024, 'nord')}/spending/${reversed2024}/reversal`, { reason: 'doppelt' }), 'reversal')
  const c4 = await commit(2024, 'sued', { provider: 'traeger-b', caseRef: 'F-4', helpType: '§ 31 SPFH', amount: '5000', period: { from: '2024-01-01', to: '2024-12-31' } })
  await invoice(2024, 'sued', c4, '4000', '2024-12-20')
  await spend(2024, 'sued', '1000', '2024-11-11')
  const c5 = await commit(2024, 'west', { provider: 'traeger-c', caseRef: 'F-5', helpType: '§ 31 SPFH', amount: '8000', period: { from: '2024-05-01', to: '2024-12-31' } })
  await invoice(2024, 'west', c5, '2000', '2024-06-30')
  await closeBudget(steps, 2024, 'nord', [])
  await closeBudget(steps, 2024, 'sued', [])
  await closeBudget(steps, 2024, 'west', ['flexible'])

  // 2025
  await allocate(2025, 'nord', '250000', '30000')
  must(await post(app, `${budgetUrl(2025, 'nord')}/adjustments`, { line: 'ambulatory', amount: '-5000', reason: 'Kürzung' }), 'adjustment')
  must(await post(app, `${budgetUrl(2025, 'nord')}/transfers`, { fromLine: 'ambulatory', toLine: 'flexible', amount: '2000', reason: 'Umschichtung' }), 'transfer')
  const c6 = await commit(2025, 'nord', { provider: 'traeger-a', caseRef: 'F-1', helpType: '§ 31 SPFH', amount: '6000', period: { from: '2025-01-01', to: '2025-12-31' } })
  await invoice(2025, 'nord', c6, '500', '2025-01-31')
  await invoice(2025, 'nord', c6, '500', '2024-12-28') // before the year: counts in January
  await invoice(2025, 'nord', c6, '500', '2026-01-05') // after it: counts in December
  must(await post(app, `${budgetUrl(2025, 'nord')}/commitments/${c6}/amendments`, { amount: '1000', reason: 'Verlängerung' }), 'amendment')
  await commit(2025, 'nord', { provider: '=SUMME(A1)', caseRef: 'F-7', helpType: 'Hilfe; mit "Semikolon"', amount: '1500', period: { from: '2025-01-01', to: '2025-03-31' } })
  await commit(2025, 'nord', { provider: 'traeger-d', caseRef: 'F-8', helpType: undefined, amount: '20000', period: { from: '2025-07-01', to: '2026-06-30' } })
  const c9 = await commit(2025, 'nord', { provider: 'traeger-b', caseRef: 'F-9', amount: '15000', period: { from: '2025-02-01', to: '2025-08-31' } })
  await approve(2025, 'nord', c9, 'reject')
  const c10 = await commit(2025, 'nord', { line: 'flexible', provider: 'traeger-e', caseRef: 'F-10', amount: '800', period: { from: '2025-02-01', to: '2025-05-31' } })
  await invoice(2025, 'nord', c10, '200', '2025-03-01')
  await spend(2025, 'nord', '120.50', '2025-01-15')
  const reversed2025 = await spend(2025, 'nord', '80', '2025-04-02')
  must(await post(app, `${budgetUrl(2025, 'nord')}/spending/${reversed2025}/reversal`, { reason: 'Storno' }), 'reversal')
  await spend(2025, 'nord', '45.25', '2025-06-30')
  await allocate(2025, 'sued', '180000', '18000')
  const c11 = await commit(2025, 'sued', { provider: 'traeger-b', caseRef: 'F-11', helpType: '§ 30 Erziehungsbeistand', amount: '9999.99', period: { from: '2025-04-01', to: '2025-09-30' } })
  await invoice(2025, 'sued', c11, '1666.67', '2025-04-30')
  await invoice(2025, 'sued', c11, '1666.66', '2025-05-31')
  await spend(2025, 'sued', '500', '2025-05-05')
  await allocate(2025, 'west', '90000', '9000')
  await commit(2025, 'west', { provider: 'traeger-c', caseRef: 'F-12', helpType: '§ 31 SPFH', amount: '3000', period: { from: '2024-10-01', to: '2025-01-31' } })
  await allocate(2025, 'ost', '50000', '5000')
  const c13 = await commit(2025, 'ost', { provider: 'traeger-a', caseRef: 'F-13', helpType: '§ 31 SPFH', amount: '4000', period: { from: '2025-01-01', to: '2025-12-31' } })
  await release(2025, 'ost', c13)
  await spend(2025, 'ost', '0.01', '2025-12-31')
  t.equal(await move(steps, 2025, { sozialraum: 'nord', line: 'ambulatory' }, { sozialraum: 'sued', line: 'flexible' }, 500_000n), 'completed', 'a move')
  // leer has no budget in 2025: it refuses, and the source is credited back.
  t.equal(await move(steps, 2025, { sozialraum: 'nord', line: 'flexible' }, { sozialraum: 'leer', line: 'flexible' }, 100_000n), 'reverted', 'a refused move')

  const head = (await store.headPosition()).toString()
  const ledger = recompute(await readEvents(store))
  const finance = {}
  const callers: Array<[string, Record<string, string>, readonly string[] | undefined]> = [
    ['finance', finance, undefined],
    ['an auditor', await auditor(), undefined],
    ['a team lead of nord and ost', await teamLead('lead-no', ['nord', 'ost']), ['nord', 'ost']],
    ['a team lead of west', await teamLead('lead-w', ['west']), ['west']],
    ['a team lead of leer (no budget)', await teamLead('lead-l', ['leer']), ['leer']],
  ]

  t.test('the ledger has what the reports are about', async (t) => {
    const nord = ledger.budgets.get('2025/nord')
    t.equal(nord?.ambulatory.carriedIn, 1_000_000n, "nord 2025 received c1's remainder")
    t.equal(nord?.ambulatory.movedOut, 500_000n, 'nord moved 5000.00 out')
    t.equal(nord?.flexible.movedOut, 0n, 'the refused move was reverted')
    t.ok((ledger.budgets.get('2024/west')?.flexible.carriedOut ?? 0n) > 0n, "west carried its flexible line's unspent")
    t.ok((ledger.budgets.get('2024/nord')?.flexible.lapsed ?? 0n) > 0n, "nord's unspent flexible line lapsed")
    t.notOk(ledger.budgets.has('2025/leer'), 'leer has no budget')
  })

  for (const year of [2024, 2025]) {
    for (const name of REPORTS) {
      t.test(`${name} ${year}`, async (t) => {
        const queries: ReportQuery[] = ['monitoring', 'forecast', 'stale-commitments'].includes(name)
          ? [{ asOf: '2025-06-30' }, { asOf: '2024-03-15' }, { asOf: '2026-02-01' }, { asOf: `${year}-12-31`, days: 0 }, { asOf: `${year}-04-30`, days: 3650 }]
          : [{}]
        for (const query of queries) {
          for (const [who, headers, visible] of callers) {
            const what = `${who}, ${JSON.stringify(query)}`
            const json = await report(app, year, name, query, head, headers)
            t.equal(json.status, 200, `${what}: 200 (${json.status === 200 ? '' : json.text.slice(0, 300)})`)
            t.strictSame(json.body, expectedReport(ledger, year, name, query, visible), `${what}: equals the recomputation from the events`)
            const csv = await report(app, year, name, { ...query, format: 'csv' }, head, headers)
            assertCsvMatches(t, name, year, csv, json.body, what)
          }
        }
      })
    }
  }

  t.test('the figures the scenario was built for', async (t) => {
    const stale = await report(app, 2025, 'stale-commitments', { asOf: '2025-06-30' }, head)
    t.strictSame(
      stale.body.items.map((item: { caseRef: string; daysOverdue: number }) => [item.caseRef, item.daysOverdue]),
      [['F-4', 181], ['F-5', 181], ['F-12', 150], ['F-1', 122], ['F-7', 91]],
      'the open commitments overdue by more than 30 days, carried ones with their periods; most overdue first (F-10 ended exactly 30 days before)',
    )
    const monthly = await report(app, 2025, 'monthly', {}, head)
    const nord = monthly.body.items.find((item: { sozialraum: string }) => item.sozialraum === 'nord')
    t.equal(nord.months[0].ambulatory, '1000.00', 'January: an invoice of January and one dated in December 2024')
    t.equal(nord.months[11].ambulatory, '500.00', 'December: an invoice dated in 2026')
    t.equal(nord.months[3].flexible, '0.00', 'April: the spending was reversed')
    const budgets = await get(app, '/v1/budgets/2025', head)
    for (const item of monthly.body.items) {
      const budget = budgets.body.items.find((b: { sozialraum: string }) => b.sozialraum === item.sozialraum)
      t.equal(item.total.total, budget.total.spent, `${item.sozialraum}: the months add up to what the budget spent`)
    }
    const helpTypes = await report(app, 2025, 'help-types', {}, head)
    t.equal(helpTypes.body.items.at(-1).helpType, null, 'commitments without a help type come last, as null')
    const providers = await report(app, 2025, 'providers', {}, head)
    t.notOk(providers.body.items.some((item: { provider: string; sozialraeume: unknown[] }) => item.provider === 'traeger-b' && JSON.stringify(item).includes('F-9')), 'the rejected commitment is left out')
    const csv = await report(app, 2025, 'providers', { format: 'csv' }, head)
    t.match(csv.text, /\r\nEinzeln;'=SUMME\(A1\);nord;/, 'a provider Excel would run as a formula is written as text')
    const helpCsv = await report(app, 2025, 'help-types', { format: 'csv' }, head)
    t.match(helpCsv.text, /\r\nEinzeln;"Hilfe; mit ""Semikolon""";nord;/, 'a help type with ; and " is quoted')
    const comparison = await report(app, 2025, 'comparison', {}, head)
    const ost = comparison.body.items.find((item: { sozialraum: string }) => item.sozialraum === 'ost')
    t.strictSame(ost.previous, { costPerCase: null, totalSpent: null }, 'ost had no budget in 2024')
    t.strictSame(ost.change, { costPerCase: null, totalSpent: null })
    const forecast = await report(app, 2025, 'forecast', { asOf: '2025-12-31' }, head)
    t.equal(forecast.body.total.lines.flexible.runRate, '0.00', 'on 31 December nothing is left to extrapolate')
  })

  t.test('a team lead sees only their own Sozialräume, and totals of those', async (t) => {
    const lead = await teamLead('lead-no', ['nord', 'ost'])
    for (const name of REPORTS) {
      const body = (await report(app, 2025, name, { asOf: '2025-06-30' }, head, lead)).body
      const named = new Set<string>()
      JSON.stringify(body, (key, value: unknown) => {
        if (key === 'sozialraum' && typeof value === 'string') named.add(value)
        return value
      })
      t.ok([...named].every((sozialraum) => sozialraum === 'nord' || sozialraum === 'ost'), `${name}: only nord and ost (${[...named].join(', ')})`)
    }
    const all = await report(app, 2025, 'monitoring', { asOf: '2025-06-30' }, head)
    const own = await report(app, 2025, 'monitoring', { asOf: '2025-06-30' }, head, lead)
    t.not(own.body.total.total.allocated, all.body.total.total.allocated, 'the total is not the whole year’s')
  })

  t.test('bad queries are 400 and name the parameter', async (t) => {
    const cases: Array<[string, string]> = [
      ['/v1/reports/2025/monitoring?asOf=2025-13-01', 'querystring.asOf'],
      ['/v1/reports/2025/forecast?asOf=yesterday', 'querystring.asOf'],
      ['/v1/reports/2025/stale-commitments?days=3651', 'querystring.days'],
      ['/v1/reports/2025/stale-commitments?days=-1', 'querystring.days'],
      ['/v1/reports/2025/stale-commitments?days=07', 'querystring.days'],
      ['/v1/reports/2025/providers?format=xlsx', 'querystring.format'],
      ['/v1/reports/2025/monthly?asOf=2025-01-01', 'querystring.asOf'],
      ['/v1/reports/1999/comparison', 'params.year'],
    ]
    for (const [url, path] of cases) {
      const response = await get(app, url)
      assertProblem(t, response, 400, 'validation', url)
      t.ok(response.body.errors.some((error: { path: string }) => error.path === path), `${url}: names ${path}`)
    }
    t.equal((await get(app, '/v1/reports/2025/stale-commitments?days=3650&asOf=2025-06-30')).status, 200, 'days=3650 is taken')
    t.equal((await get(app, '/v1/reports/2025/stale-commitments?days=0&format=json')).status, 200, 'days=0 and format=json are taken')
    assertProblem(t, await get(app, '/v1/reports/2025/unknown'), 404, 'not-found', 'an unknown report')
    assertProblem(t, await get(app, '/v1/reports/2025/monitoring', undefined, { authorization: '' }), 401, 'unauthorized', 'no token')
  })

  t.test('asOf defaults to today, moved into the fiscal year', async (t) => {
    const today = new Date().toISOString().slice(0, 10)
    const year = Number(today.slice(0, 4))
    t.equal((await report(app, year, 'forecast', {}, head)).body.asOf, today, 'this year: today')
    t.equal((await report(app, year - 1, 'monitoring', {}, head)).body.asOf, `${year - 1}-12-31`, 'a past year: its 31 December')
    t.equal((await report(app, year + 1, 'stale-commitments', {}, head)).body.asOf, `${year + 1}-01-01`, 'a future year: its 1 January')
  })
})

t.test('asOf sets the horizon: the run rate extrapolates the spending dated up to it, the figures are those recorded', async (t) => {
  const { app } = await startTestService(t)
  await seed(app, 'nord', { ambulatory: '10000', flexible: '10000' })
  const commitment = uuid()
  must(await post(app, `${budgetUrl(2025, 'nord')}/commitments`, commitmentBody({ id: commitment, amount: '1200', line: 'ambulatory' })), 'commitment')
  must(await post(app, `${budgetUrl(2025, 'nord')}/commitments/${commitment}/invoices`, { invoiceNo: 'R-11', amount: '1100', invoiceDate: '2025-11-30' }), 'invoice')
  let head = must(await post(app, `${budgetUrl(2025, 'nord')}/spending`, spendingBody({ id: uuid(), amount: '1000', date: '2025-11-30' })), 'spending').body.position
  const figures = (allocated: string, spent: string, expectedCommitments: string, runRate: string, forecastSpent: string, forecastResult: string) =>
    ({ allocated, spent, expectedCommitments, runRate, forecastSpent, forecastResult })

  let forecast = await report(app, 2025, 'forecast', { asOf: '2025-01-31' }, head)
  t.strictSame(
    forecast.body.items[0].lines,
    {
      ambulatory: figures('10000.00', '1100.00', '100.00', '0.00', '1200.00', '8800.00'),
      flexible: figures('10000.00', '1000.00', '0.00', '0.00', '1000.00', '9000.00'),
    },
    'on 31 January: no spending dated up to it, no run rate (it was 10774.19, a deficit of 1774.19 that does not exist); spent is all that is recorded',
  )
  const monitoring = await report(app, 2025, 'monitoring', { asOf: '2025-01-31' }, head)
  const lines = monitoring.body.items[0].lines
  t.strictSame(
    [lines.ambulatory.spent, lines.ambulatory.forecastResult, lines.flexible.spent, lines.flexible.forecastResult],
    ['1100.00', '8800.00', '1000.00', '9000.00'],
    'monitoring: the figures recorded, the forecast result on asOf',
  )

  // 310.00 dated in January: 10.00 a day over 31 days, 3,340.00 over the 334 days left, of which 1,000.00 is recorded.
  head = must(await post(app, `${budgetUrl(2025, 'nord')}/spending`, spendingBody({ id: uuid(), amount: '310', date: '2025-01-10' })), 'spending').body.position
  forecast = await report(app, 2025, 'forecast', { asOf: '2025-01-31' }, head)
  t.strictSame(
    forecast.body.items[0].lines.flexible,
    figures('10000.00', '1310.00', '0.00', '2340.00', '3650.00', '6350.00'),
    'the pace of January, less what is recorded already of the days after 31 January',
  )
  forecast = await report(app, 2025, 'forecast', { asOf: '2025-11-30' }, head)
  // 1,310.00 over 334 days, times the 31 days left: 121.59 (121.586…).
  t.strictSame(forecast.body.items[0].lines.flexible, figures('10000.00', '1310.00', '0.00', '121.59', '1431.59', '8568.41'), 'on 30 November every spending is dated up to it')
})

t.test('the CSV of providers and help types tells a total row from a provider named Gesamt or a help type named Summe', async (t) => {
  const { app } = await startTestService(t)
  await seed(app, 'nord')
  const head = must(
    await post(app, `${budgetUrl(2025, 'nord')}/commitments`, commitmentBody({ id: uuid(), provider: 'Gesamt', helpType: 'Summe', amount: '1200' })),
    'commitment',
  ).body.position
  const rowsOf = async (name: 'providers' | 'help-types') => {
    const csv = await report(app, 2025, name, { format: 'csv' }, head)
    return (parse(csv.text, { bom: true, delimiter: ';', record_delimiter: '\r\n' }) as string[][]).slice(1).map((row) => row.slice(0, 4))
  }
  t.strictSame(
    await rowsOf('providers'),
    [['Einzeln', 'Gesamt', 'nord', '1200,00'], ['Summe', 'Gesamt', 'Summe', '1200,00'], ['Gesamt', 'Gesamt', 'Summe', '1200,00']],
    'providers: the column Zeile says which row is the provider Gesamt and which the total',
  )
  t.strictSame(
    await rowsOf('help-types'),
    [['Einzeln', 'Summe', 'nord', '1200,00'], ['Summe', 'Summe', 'Summe', '1200,00'], ['Gesamt', 'Gesamt', 'Summe', '1200,00']],
    'help types: the help type Summe is a row of its own',
  )
})

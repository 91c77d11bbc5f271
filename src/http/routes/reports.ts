import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { LINES } from '../../domain/events.js'
import { clampIntoYear, todayOf } from '../../domain/reports/dates.js'
import type {
  ComparisonFigures,
  ComparisonReport,
  ForecastFiguresView,
  ForecastReport,
  GroupFigures,
  GroupReport,
  MonitoringFigures,
  MonitoringReport,
  MonthFigures,
  MonthlyReport,
  StaleCommitmentsReport,
} from '../../readmodels/reports.js'
import { answer, JSON_MEDIA_TYPE } from '../answers.js'
import { csvSchema, csvText, hundredths, sendCsv, type CsvCell } from '../csv.js'
import type { HttpDeps } from '../deps.js'
import { businessDate, commitmentSchema, commitmentStatus, line, moneyOut, readQuery, yearParam } from '../schemas.js'

// ---------------------------------------------------------------------------------------------
// Query parameters and answers shared by the controlling reports (docs/reports.md)

const REPORT_FORMATS = ['json', 'csv'] as const
type ReportFormat = (typeof REPORT_FORMATS)[number]

const formatQuery = {
  format: z
    .enum(REPORT_FORMATS)
    .optional()
    .meta({ description: '`json` (the default), or `csv` for German Excel: UTF-8 with BOM, `;`, decimal comma, an attachment `<name>-<year>.csv`' }),
}
const asOfQuery = {
  asOf: businessDate
    .optional()
    .meta({
      description:
        'The date the report stands on (YYYY-MM-DD), moved into the fiscal year; today (UTC) by default. It is the horizon of the forecast (monitoring, forecast) and the date overdue days count to (stale-commitments); the figures are those recorded now, whatever their dates, not as they stood on asOf',
    }),
}
const daysQuery = {
  days: z
    .string()
    // 0 to 3650, as a pattern, so that the OpenAPI document says what is enforced.
    .regex(/^(0|[1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)$/, 'days must be a whole number from 0 to 3650')
    .optional()
    .meta({ description: 'How many days a period must have ended before asOf: more than this (0 to 3650; 30 by default)' }),
}

const percentOut = z.string().regex(/^-?\d+\.\d{2}$/).meta({ description: 'Percent with two decimals', example: '87.50' })

/** A report's 200 answer: JSON, or the same as CSV with `?format=csv`. */
function reportAnswer<T extends z.ZodType>(description: string, schema: T) {
  return {
    description,
    content: { [JSON_MEDIA_TYPE]: { schema }, 'text/csv': { schema: csvSchema } },
  } as { description: string; content: { 'application/json': { schema: T }; 'text/csv': { schema: typeof csvSchema } } }
}

/** The date a report stands on: the query's, or today; moved into the fiscal year. */
/** The date a report stands on: the one asked for, else today by the service's clock; moved into the year. */
const asOfFor = (deps: HttpDeps, year: number, asOf: string | undefined): string => clampIntoYear(asOf ?? todayOf(deps.clock()), year)

/** The answer as JSON, or as the CSV `<name>-<year>.csv` made of its rows. */
function answerReport<T>(reply: FastifyReply, format: ReportFormat | undefined, name: string, year: number, report: T, csv: (report: T) => string): T | FastifyReply {
  return format === 'csv' ? sendCsv(reply, `${name}-${year}.csv`, csv(report)) : report
}

const money = (text: string): bigint => hundredths(text) as bigint
const maybe = (text: string | null): bigint | null => hundredths(text)
/** The Sozialraum column of total rows, and the line column of a budget's both lines together: never a slug. */
const TOTAL = 'Gesamt'
const BOTH_LINES = 'Summe'

// ---------------------------------------------------------------------------------------------
// monitoring

const monitoringFigures = z
  .object({
    allocated: moneyOut.meta({ description: 'Net: allocations and adjustments, transfers, carry-overs and moves in and out' }),
    carriedIn: moneyOut.meta({ description: "Carried in from the previous year's close (part of allocated)" }),
    carriedOut: moneyOut.meta({ description: "Carried into the next year by this year's close (taken off allocated)" }),
    movedIn: moneyOut.meta({ description: 'Moved in from other Sozialräume (part of allocated)' }),
    movedOut: moneyOut.meta({ description: 'Moved out to other Sozialräume (taken off allocated)' }),
    lapsed: moneyOut.meta({ description: "What this year's close let lapse" }),
    committed: moneyOut.meta({ description: "The open remainders of the line's commitments, as recorded now" }),
    spent: moneyOut.meta({ description: 'Invoices and flexible spending recorded so far, net of reversals, whatever their dates (asOf does not filter it)' }),
    available: moneyOut.meta({ description: 'allocated − committed − spent' }),
    utilisation: percentOut.nullable().meta({ description: '(committed + spent) / allocated in percent; null when nothing is allocated' }),
    warningLevel: z.number().nullable().meta({ description: "The highest configured threshold (percent) the line reached, or null; always null for both lines together" }),
    forecastResult: moneyOut.meta({ description: 'allocated − forecast spending, with asOf as its horizon (see the forecast report)' }),
  })
  .meta({ id: 'MonitoringFigures' })
const monitoringLines = { lines: z.object({ ambulatory: monitoringFigures, flexible: monitoringFigures }), total: monitoringFigures }
const monitoringSchema = z
  .object({
    year: z.number().int(),
    asOf: z.string().meta({ description: 'The horizon of forecastResult (the query\'s asOf moved into the year); the other figures are those recorded now' }),
    thresholds: z.object({ ambulatory: z.array(z.number()), flexible: z.array(z.number()) }),
    items: z.array(z.object({ sozialraum: z.string(), ...monitoringLines })),
    total: z.object(monitoringLines),
  })
  .meta({ id: 'MonitoringReport', description: 'Haushaltsüberwachungsliste: every budget of the year by line, and the totals' })

const MONITORING_HEADERS = [
  'Prognosestichtag',
  'Sozialraum',
  'Budgetlinie',
  'Zugewiesen',
  'Übertrag aus Vorjahr',
  'Übertrag ins Folgejahr',
  'Verschiebung Eingang',
  'Verschiebung Ausgang',
  'Verfallen',
  'Gebunden',
  'Ausgegeben',
  'Verfügbar',
  'Auslastung (%)',
  'Warnstufe (%)',
  'Prognose Jahresergebnis',
]
const monitoringRow = (asOf: string, sozialraum: string, lineName: string, figures: MonitoringFigures): CsvCell[] => [
  asOf,
  sozialraum,
  lineName,
  money(figures.allocated),
  money(figures.carriedIn),
  money(figures.carriedOut),
  money(figures.movedIn),
  money(figures.movedOut),
  money(figures.lapsed),
  money(figures.committed),
  money(figures.spent),
  money(figures.available),
  maybe(figures.utilisation),
  figures.warningLevel,
  money(figures.forecastResult),
]
function monitoringCsv(report: MonitoringReport): string {
  const rows = [...report.items, { sozialraum: TOTAL, ...report.total }].flatMap((item) => [
    ...LINES.map((name) => monitoringRow(report.asOf, item.sozialraum, name, item.lines[name])),
    monitoringRow(report.asOf, item.sozialraum, BOTH_LINES, item.total),
  ])
  return csvText(MONITORING_HEADERS, rows)
}

// ---------------------------------------------------------------------------------------------
// forecast

const forecastFigures = z
  .object({
    allocated: moneyOut,
    spent: moneyOut.meta({ description: 'Spent so far: every invoice and flexible spending recorded, net of reversals, whatever its date (asOf does not filter it)' }),
    expectedCommitments: moneyOut.meta({ description: "Open and requested commitments' remainders, spread evenly over their periods, up to 31 December" }),
    runRate: moneyOut.meta({
      description:
        'Flexible line: the spending dated 1 January to asOf per day elapsed, times the days after asOf, less the flexible spending already recorded with a later date; never below 0 (0 on the ambulatory line)',
    }),
    forecastSpent: moneyOut.meta({ description: 'spent + expectedCommitments + runRate' }),
    forecastResult: moneyOut.meta({ description: 'allocated − forecastSpent; negative is a deficit' }),
  })
  .meta({ id: 'ForecastFigures' })
const forecastLines = { lines: z.object({ ambulatory: forecastFigures, flexible: forecastFigures }), total: forecastFigures }
const forecastSchema = z
  .object({
    year: z.number().int(),
    asOf: z.string().meta({ description: 'The horizon of the forecast (the query\'s asOf moved into the year); spent is what is recorded now' }),
    items: z.array(z.object({ sozialraum: z.string(), ...forecastLines })),
    total: z.object(forecastLines),
  })
  .meta({ id: 'ForecastReport', description: 'Hochrechnung: the year-end forecast of every budget by line, and the totals' })

const FORECAST_HEADERS = [
  'Prognosestichtag',
  'Sozialraum',
  'Budgetlinie',
  'Zugewiesen',
  'Ausgegeben',
  'Erwartet aus Mittelbindungen',
  'Hochrechnung flexible Ausgaben',
  'Prognose Ausgaben',
  'Prognose Jahresergebnis',
]
const forecastRow = (asOf: string, sozialraum: string, lineName: string, figures: ForecastFiguresView): CsvCell[] => [
  asOf,
  sozialraum,
  lineName,
  money(figures.allocated),
  money(figures.spent),
  money(figures.expectedCommitments),
  money(figures.runRate),
  money(figures.forecastSpent),
  money(figures.forecastResult),
]
function forecastCsv(report: ForecastReport): string {
  const rows = [...report.items, { sozialraum: TOTAL, ...report.total }].flatMap((item) => [
    ...LINES.map((name) => forecastRow(report.asOf, item.sozialraum, name, item.lines[name])),
    forecastRow(report.asOf, item.sozialraum, BOTH_LINES, item.total),
  ])
  return csvText(FORECAST_HEADERS, rows)
}

// ---------------------------------------------------------------------------------------------
// providers and help-types

const groupFigures = z
  .object({
    committed: moneyOut.meta({ description: 'amount − released − carried: what the commitments bind or have spent this year' }),
    invoiced: moneyOut,
    open: moneyOut.meta({ description: 'The remainder of open and requested commitments: amount − invoiced − released − carried' }),
    cases: z.number().int().meta({ description: 'Distinct case references; a total counts a case once' }),
    costPerCase: moneyOut.nullable().meta({ description: 'committed / cases, to the cent; null without cases' }),
  })
  .meta({ id: 'GroupFigures' })
const groupRows = { sozialraeume: z.array(z.object({ sozialraum: z.string(), ...groupFigures.shape })), total: groupFigures }
const providersSchema = z
  .object({ year: z.number().int(), items: z.array(z.object({ provider: z.string(), ...groupRows })), total: groupFigures })
  .meta({ id: 'ProvidersReport', description: "The year's commitments by provider, per Sozialraum and in total" })
const helpTypesSchema = z
  .object({
    year: z.number().int(),
    items: z.array(z.object({ helpType: z.string().nullable().meta({ description: 'null: commitments without a help type' }), ...groupRows })),
    total: groupFigures,
  })
  .meta({ id: 'HelpTypesReport', description: "The year's commitments by help type, per Sozialraum and in total" })

/**
 * The first column of the providers' and help types' CSVs, what a row is: one Sozialraum of a
 * group, a group's total, or the report's total. Provider and help type are free text (a provider
 * may be named "Gesamt"), so their cells cannot tell a total from a group.
 */
const GROUP_ROW = { sozialraum: 'Einzeln', group: 'Summe', total: 'Gesamt' } as const

const groupRow = (kind: keyof typeof GROUP_ROW, group: string | null, sozialraum: string, figures: GroupFigures): CsvCell[] => [
  GROUP_ROW[kind],
  group,
  sozialraum,
  money(figures.committed),
  money(figures.invoiced),
  money(figures.open),
  figures.cases,
  maybe(figures.costPerCase),
]
function groupCsv(groupHeader: string, report: { items: Array<{ name: string | null; sozialraeume: Array<{ sozialraum: string } & GroupFigures>; total: GroupFigures }>; total: GroupFigures }): string {
  const rows = report.items.flatMap((item) => [
    ...item.sozialraeume.map((row) => groupRow('sozialraum', item.name, row.sozialraum, row)),
    groupRow('group', item.name, BOTH_LINES, item.total),
  ])
  rows.push(groupRow('total', TOTAL, BOTH_LINES, report.total))
  return csvText(['Zeile', groupHeader, 'Sozialraum', 'Gebunden', 'Abgerechnet', 'Offen', 'Fälle', 'Kosten je Fall'], rows)
}
const providersCsv = (report: GroupReport<'provider'>): string =>
  groupCsv('Träger', { ...report, items: report.items.map((item) => ({ ...item, name: item.provider })) })
const helpTypesCsv = (report: GroupReport<'helpType'>): string =>
  groupCsv('Hilfeart', { ...report, items: report.items.map((item) => ({ ...item, name: item.helpType })) })

// ---------------------------------------------------------------------------------------------
// comparison

const comparisonFigures = z
  .object({
    ambulatoryCommitted: moneyOut.meta({ description: 'Ambulatory commitments: amount − released − carried (rejected ones left out)' }),
    cases: z.number().int().meta({ description: 'Distinct case references of those commitments' }),
    costPerCase: moneyOut.nullable(),
    flexibleSpent: moneyOut,
    totalSpent: moneyOut,
    flexibleShare: percentOut.nullable().meta({ description: 'flexibleSpent / totalSpent in percent; null when nothing is spent' }),
    previous: z.object({ costPerCase: moneyOut.nullable(), totalSpent: moneyOut.nullable() }),
    change: z.object({ costPerCase: percentOut.nullable(), totalSpent: percentOut.nullable() }),
  })
  .meta({ id: 'ComparisonFigures' })
const comparisonSchema = z
  .object({
    year: z.number().int(),
    previousYear: z.number().int(),
    items: z.array(z.object({ sozialraum: z.string(), ...comparisonFigures.shape })),
    total: comparisonFigures,
  })
  .meta({ id: 'ComparisonReport', description: 'The Sozialräume side by side, with the change against the previous year' })

const COMPARISON_HEADERS = [
  'Sozialraum',
  'Gebunden ambulant',
  'Fälle',
  'Kosten je Fall',
  'Ausgaben flexibel',
  'Ausgaben gesamt',
  'Anteil flexibel (%)',
  'Kosten je Fall Vorjahr',
  'Veränderung Kosten je Fall (%)',
  'Ausgaben gesamt Vorjahr',
  'Veränderung Ausgaben gesamt (%)',
]
const comparisonRow = (sozialraum: string, figures: ComparisonFigures): CsvCell[] => [
  sozialraum,
  money(figures.ambulatoryCommitted),
  figures.cases,
  maybe(figures.costPerCase),
  money(figures.flexibleSpent),
  money(figures.totalSpent),
  maybe(figures.flexibleShare),
  maybe(figures.previous.costPerCase),
  maybe(figures.change.costPerCase),
  maybe(figures.previous.totalSpent),
  maybe(figures.change.totalSpent),
]
const comparisonCsv = (report: ComparisonReport): string =>
  csvText(COMPARISON_HEADERS, [...report.items.map((item) => comparisonRow(item.sozialraum, item)), comparisonRow(TOTAL, report.total)])

// ---------------------------------------------------------------------------------------------
// monthly

const monthFigures = z.object({ ambulatory: moneyOut, flexible: moneyOut, total: moneyOut }).meta({ id: 'MonthFigures' })
const monthSeries = {
  months: z.array(z.object({ month: z.number().int().min(1).max(12), ...monthFigures.shape })).meta({ description: 'January to December, all twelve' }),
  total: monthFigures,
}
const monthlySchema = z
  .object({ year: z.number().int(), items: z.array(z.object({ sozialraum: z.string(), ...monthSeries })), total: z.object(monthSeries) })
  .meta({ id: 'MonthlyReport', description: 'Spent per month and line, per budget and in total' })

const monthRow = (sozialraum: string, month: number | string, figures: MonthFigures): CsvCell[] => [
  sozialraum,
  month,
  money(figures.ambulatory),
  money(figures.flexible),
  money(figures.total),
]
const monthlyCsv = (report: MonthlyReport): string =>
  csvText(
    ['Sozialraum', 'Monat', 'Ambulant', 'Flexibel', 'Summe'],
    [...report.items, { sozialraum: TOTAL, ...report.total }].flatMap((item) => [
      ...item.months.map((month) => monthRow(item.sozialraum, month.month, month)),
      monthRow(item.sozialraum, BOTH_LINES, item.total),
    ]),
  )

// ---------------------------------------------------------------------------------------------
// stale-commitments

const staleSchema = z
  .object({
    year: z.number().int(),
    asOf: z.string(),
    days: z.number().int(),
    items: z.array(
      z.object({
        id: z.string(),
        sozialraum: z.string(),
        line,
        provider: z.string(),
        caseRef: z.string(),
        helpType: z.string().nullable(),
        period: z.object({ from: z.string(), to: z.string() }),
        remaining: moneyOut,
        daysOverdue: z.number().int().meta({ description: 'Days from the end of the period to asOf' }),
      }),
    ),
    total: z.object({ commitments: z.number().int(), remaining: moneyOut }),
  })
  .meta({ id: 'StaleCommitmentsReport', description: 'Open commitments whose period has ended with money left: to be released' })

const staleCsv = (report: StaleCommitmentsReport): string =>
  csvText(
    ['Stichtag', 'Mittelbindung', 'Sozialraum', 'Budgetlinie', 'Träger', 'Fallreferenz', 'Hilfeart', 'Beginn', 'Ende', 'Restbetrag', 'Tage überfällig'],
    report.items.map((item) => [
      report.asOf,
      item.id,
      item.sozialraum,
      item.line,
      item.provider,
      item.caseRef,
      item.helpType,
      item.period.from,
      item.period.to,
      money(item.remaining),
      item.daysOverdue,
    ]),
  )

// ---------------------------------------------------------------------------------------------

const yearParams = z.strictObject({ year: yearParam })
const SCOPE_NOTE = 'Finance and auditors see every Sozialraum; a team lead sees their own, and the totals of those.'
const describe = (...lines: string[]) => [...lines, '', SCOPE_NOTE, 'With `?format=csv` the same as CSV for German Excel (docs/reports.md).'].join('\n')

export const reportRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.get(
    '/v1/reports/:year/over-budget-commitments',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Every over-budget (überplanmäßige) commitment of a year',
        description: 'DOMAIN rule 1. A team lead sees those of their own Sozialräume.',
        params: yearParams,
        querystring: z.strictObject({
          ...readQuery,
          status: commitmentStatus.optional(),
        }),
        response: {
          200: answer(
            'The over-budget commitments of the year that the token may see',
            z.object({ year: z.number().int(), items: z.array(commitmentSchema) }),
          ),
        },
      },
    },
    async (request) => {
      const year = Number(request.params.year)
      return {
        year,
        items: await deps.readModels.listOverBudgetCommitments(year, request.query.status, request.visibleSozialraeume),
      }
    },
  )

  app.get(
    '/v1/reports/:year/monitoring',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Haushaltsüberwachungsliste: every budget by line, with flows, use, warning level and forecast result',
        description: describe(
          'Per Sozialraum and line: allocated (net) and where it came from or went (carried in and out, moved in and out,',
          'lapsed), committed, spent, available, utilisation, the highest utilisation threshold reached, and the year-end',
          'result of the forecast report as of `asOf`. Both lines together, and the totals of all listed budgets.',
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery, ...asOfQuery }),
        response: { 200: reportAnswer('The monitoring list of the year', monitoringSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.monitoring(year, asOfFor(deps, year, request.query.asOf), deps.utilisationThresholds, request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'monitoring', year, report, monitoringCsv)
    },
  )

  app.get(
    '/v1/reports/:year/forecast',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Hochrechnung: the year-end forecast of every budget by line',
        description: describe(
          'Spent so far, plus the remainders of open and requested commitments spread evenly over their periods up to',
          '31 December, plus the flexible line’s run rate; the result is allocated − forecast spending. The method is',
          'in docs/reports.md.',
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery, ...asOfQuery }),
        response: { 200: reportAnswer('The forecast of the year', forecastSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.forecast(year, asOfFor(deps, year, request.query.asOf), request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'forecast', year, report, forecastCsv)
    },
  )

  app.get(
    '/v1/reports/:year/providers',
    {
      schema: {
        tags: ['Reports'],
        summary: "The year's commitments by provider (Träger), per Sozialraum and in total",
        description: describe('Committed, invoiced, open, cases and cost per case; rejected commitments are left out.'),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery }),
        response: { 200: reportAnswer('The commitments of the year by provider', providersSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.byGroup(year, 'provider', request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'providers', year, report, providersCsv)
    },
  )

  app.get(
    '/v1/reports/:year/help-types',
    {
      schema: {
        tags: ['Reports'],
        summary: "The year's commitments by help type, per Sozialraum and in total",
        description: describe(
          'Committed, invoiced, open, cases and cost per case; rejected commitments are left out, commitments without a',
          'help type are grouped as `helpType: null`.',
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery }),
        response: { 200: reportAnswer('The commitments of the year by help type', helpTypesSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.byGroup(year, 'helpType', request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'help-types', year, report, helpTypesCsv)
    },
  )

  app.get(
    '/v1/reports/:year/comparison',
    {
      schema: {
        tags: ['Reports'],
        summary: 'The Sozialräume side by side, with the change against the previous year',
        description: describe(
          'Ambulatory committed, cases and cost per case, flexible and total spent, the flexible share, and the previous',
          "year's cost per case and total spent with their change in percent (null where the previous year has none).",
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery }),
        response: { 200: reportAnswer('The comparison of the Sozialräume', comparisonSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.comparison(year, request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'comparison', year, report, comparisonCsv)
    },
  )

  app.get(
    '/v1/reports/:year/monthly',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Spent per month and line, per budget and in total (the series of a burn-down chart)',
        description: describe(
          'Invoices count in the month of their invoice date, flexible spending in the month of its date, a reversal in',
          'the month of the spending it reverses; dates outside the fiscal year in January or December.',
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery }),
        response: { 200: reportAnswer('Spent per month of the year', monthlySchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const report = await deps.reports.monthly(year, request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'monthly', year, report, monthlyCsv)
    },
  )

  app.get(
    '/v1/reports/:year/stale-commitments',
    {
      schema: {
        tags: ['Reports'],
        summary: 'Open commitments whose period ended more than `days` days before `asOf`, with money left',
        description: describe(
          'Status open, remainder above 0, and the period ended more than `days` (30 by default) days before `asOf`:',
          'team leads release them. Most overdue first.',
        ),
        params: yearParams,
        querystring: z.strictObject({ ...readQuery, ...formatQuery, ...asOfQuery, ...daysQuery }),
        response: { 200: reportAnswer('The stale commitments of the year', staleSchema) },
      },
    },
    async (request, reply) => {
      const year = Number(request.params.year)
      const days = request.query.days === undefined ? 30 : Number(request.query.days)
      const report = await deps.reports.staleCommitments(year, asOfFor(deps, year, request.query.asOf), days, request.visibleSozialraeume)
      return answerReport(reply, request.query.format, 'stale-commitments', year, report, staleCsv)
    },
  )
}

import { parse } from 'csv-parse/sync'
import t from 'tap'
import type { TokenClaims } from '../../src/auth/tokens.js'
import { formatCents } from '../../src/domain/money.js'
import { exportPages, MAX_CONCURRENT_EXPORTS } from '../../src/http/routes/audit-export.js'
import { assertProblem, commitmentBody, get, post, seed, spendingBody, type ApiResponse, type Json } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer } from '../helpers/tokens.js'

/**
 * GET /v1/audit/export: every event of a year in log order, as CSV for German Excel and as JSON
 * Lines; the two say the same, the CSV survives Excel (BOM, `;`, decimal comma, quoting, no
 * formulas), a year holds its own events only, and every export is itself in the audit trail.
 */

const AUDITOR: TokenClaims = { sub: 'dora', role: 'auditor' }
const TRICKY_PURPOSE = 'Material; Bastelbedarf "Frühling"\nzweite Zeile'
const FORMULA_PURPOSE = '=HYPERLINK("https://example.org","klick")'

const CSV_HEADER = [
  'Position',
  'Zeitpunkt (UTC)',
  'Akteur',
  'Rolle',
  'Ereignis',
  'Sozialraum',
  'Budgetlinie',
  'Betrag (EUR)',
  'Träger',
  'Fallreferenz',
  'Hilfeart',
  'Mittelbindung',
  'Rechnung',
  'Ausgabe',
  'Datum',
  'Begründung / Zweck',
  'Beschluss / Beleg',
  'Ereignis-ID',
  'Umbuchung',
  'Gegenseite (Sozialraum / Linie)',
  'Übertrag (Jahr)',
  'Übertragene Mittelbindung',
  'Davon ungebunden übertragen (EUR)',
  'Verfallen ambulant (EUR)',
  'Verfallen flexibel (EUR)',
]

interface Exported {
  status: number
  headers: Record<string, unknown>
  raw: Buffer
  text: string
}

async function exportOf(app: Parameters<typeof get>[0], query: string, claims: TokenClaims = AUDITOR, method: 'GET' | 'HEAD' = 'GET'): Promise<Exported> {
  const response = await app.inject({ method, url: `/v1/audit/export${query}`, headers: await bearer(claims) })
  return { status: response.statusCode, headers: response.headers, raw: response.rawPayload, text: response.body }
}

const jsonLines = (text: string): Json[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line))

/** The CSV as csv-parse reads it: one object per row, keyed by the header. */
const csvRows = (text: string): Record<string, string>[] =>
  parse(text, { bom: true, delimiter: ';', columns: true, record_delimiter: '\r\n' }) as Record<string, string>[]

/** What the free-text column holds for an event, before the CSV's formula guard. */
function freeTextOf(data: Json): string {
  return data.reason ?? data.why ?? data.purpose ?? data.note ?? data.comment ?? data.overBudgetJustification ?? ''
}

t.test('GET /v1/audit/export', async (t) => {
  let now = new Date('2025-02-03T08:00:00.000Z')
  const service = await startTestService(t, { clock: () => now })
  const app = service.app
  const must = (response: ApiResponse, what: string): ApiResponse => {
    if (response.status !== 201) throw new Error(`${what}: ${response.status} ${response.text}`)
    return response
  }

  // 2025: two budgets with a bit of everything; 2026: one allocation.
  const a = await seed(app, 'export-a', { year: 2025 })
  await seed(app, 'export-b', { year: 2025 })
  now = new Date('2025-02-04T09:15:00.000Z')
  const commitment = must(await post(app, `${a.url}/commitments`, commitmentBody({ provider: '+Träger; "Sonnenschein" gGmbH', amount: '2400.00' })), 'commitment')
  must(await post(app, `${a.url}/commitments/${commitment.body.id}/invoices`, { invoiceNo: 'RE-2025-02', amount: '200.50', invoiceDate: '2025-03-03' }), 'invoice')
  must(await post(app, `${a.url}/commitments/${commitment.body.id}/amendments`, { amount: '-100.00', reason: '-Stundenumfang reduziert' }), 'amendment')
  must(await post(app, `${a.url}/commitments/${commitment.body.id}/release`, { reason: 'Hilfe beendet' }), 'release')
  const tricky = must(await post(app, `${a.url}/spending`, spendingBody({ purpose: TRICKY_PURPOSE, amount: '1250.50' })), 'spending')
  must(await post(app, `${a.url}/spending`, spendingBody({ purpose: FORMULA_PURPOSE, amount: '0.05' })), 'formula spending')
  must(await post(app, `${a.url}/spending/${tricky.body.id}/reversal`, { reason: '@doppelt gebucht' }), 'reversal')
  must(await post(app, `${a.url}/adjustments`, { line: 'ambulatory', amount: '-100.00', reason: 'Korrektur' }), 'adjustment')
  must(await post(app, `${a.url}/transfers`, { fromLine: 'ambulatory', toLine: 'flexible', amount: '1000', reason: 'Umschichtung' }), 'transfer')
  const move = must(
    await post(app, '/v1/budgets/2025/moves', {
      from: { sozialraum: 'export-a', line: 'flexible' },
      to: { sozialraum: 'export-b', line: 'ambulatory' },
      amount: '10.00',
      reason: 'Ausgleich',
    }),
    'move',
  )
  now = new Date('2026-01-05T08:00:00.000Z')
  const last = must(await post(app, '/v1/budgets/2026/export-b/allocations', { line: 'flexible', amount: '5.00', decisionRef: 'HH-2026' }), '2026')
  const head = last.body.position as string
  const trail = await get(app, '/v1/audit/events?year=2025&limit=1000', head)
  t.equal(trail.status, 200)
  const trailOf2025: Json[] = trail.body.items

  const csv = await exportOf(app, '?year=2025&format=csv')
  const jsonl = await exportOf(app, '?year=2025&format=jsonl')

  t.test('answers an attachment of the right type', async (t) => {
    t.equal(csv.status, 200, csv.text.slice(0, 300))
    t.equal(csv.headers['content-type'], 'text/csv; charset=utf-8')
    t.equal(csv.headers['content-disposition'], 'attachment; filename="sojus-ledger-2025.csv"')
    t.equal(jsonl.status, 200, jsonl.text.slice(0, 300))
    t.equal(jsonl.headers['content-type'], 'application/x-ndjson; charset=utf-8')
    t.equal(jsonl.headers['content-disposition'], 'attachment; filename="sojus-ledger-2025.jsonl"')
  })

  t.test('JSONL: the audit trail of the year, in log order, with amounts as decimal strings', async (t) => {
    const lines = jsonLines(jsonl.text)
    t.ok(jsonl.text.endsWith('\n'), 'each line ends with LF')
    t.equal(lines.length, trailOf2025.length, `${lines.length} events`)
    t.same(
      lines.map(({ amount: _amount, ...entry }) => entry),
      trailOf2025,
      'position, stream, revision, id, type, version, recordedAt, actor and data as GET /v1/audit/events has them',
    )
    for (const line of lines) {
      const cents = line.data.amountCents
      t.equal(line.amount, typeof cents === 'number' ? formatCents(BigInt(cents)) : null, `${line.position}: amount beside its cents`)
    }
    t.ok(lines.some((line) => line.amount === '1250.50'), 'two decimals')
    t.ok(lines.some((line) => line.amount === '-100.00'), 'signed')
    t.same(Object.keys(lines[0] ?? {}), ['position', 'streamId', 'revision', 'eventId', 'type', 'version', 'recordedAt', 'actor', 'amount', 'data'])
  })

  t.test('the merge of the year’s streams is the log filtered to them, whatever the page size and the head', async (t) => {
    const log = await service.store.readAll({ after: 0n, maxCount: 10_000 })
    const middle = log[Math.floor(log.length / 2)]?.position ?? 0n
    for (const cut of [BigInt(head), middle]) {
      const expected = log.filter((event) => event.streamId.startsWith('budget-2025-') && event.position <= cut).map((event) => event.position.toString())
      for (const pageSize of [1, 2, 3, 1000]) {
        let text = ''
        for await (const page of exportPages(service.store, { year: 2025, sozialraeume: ['export-b', 'export-a'] }, cut, 'jsonl', pageSize)) text += page
        t.same(jsonLines(text).map((line) => line.position), expected, `up to ${cut}, pages of ${pageSize}`)
      }
    }
  })

  t.test('CSV parsed back says what the JSONL says, row by row', async (t) => {
    const rows = csvRows(csv.text)
    const lines = jsonLines(jsonl.text)
    t.same(Object.keys(rows[0] ?? {}), CSV_HEADER, 'the header')
    t.equal(rows.length, lines.length, 'one row per event')
    for (const [index, line] of lines.entries()) {
      const row = rows[index] ?? {}
      const where = `${line.position} ${line.type}`
      t.equal(row.Position, line.position, `${where}: position`)
      t.equal(row['Ereignis-ID'], line.eventId, `${where}: event id`)
      t.equal(row.Ereignis, line.type, `${where}: type`)
      t.equal(row['Zeitpunkt (UTC)'], line.recordedAt, `${where}: ISO time`)
      t.equal(row.Akteur, line.actor.sub, `${where}: actor`)
      t.equal(row.Rolle, line.actor.role, `${where}: role`)
      t.equal(row.Sozialraum, line.data.sozialraum, `${where}: Sozialraum`)
      t.equal((row['Betrag (EUR)'] ?? '').replace(',', '.'), line.amount ?? '', `${where}: amount, decimal comma converted`)
      t.equal(row.Mittelbindung, line.data.commitmentId ?? '', `${where}: commitment`)
      t.equal(row.Rechnung, line.data.invoiceNo ?? '', `${where}: invoice`)
      t.equal(row.Ausgabe, line.data.spendingId ?? '', `${where}: spending`)
      const freeText = freeTextOf(line.data)
      t.equal(row['Begründung / Zweck'], /^[=+\-@]/.test(freeText) ? `'${freeText}` : freeText, `${where}: free text`)
      const provider = line.data.provider ?? ''
      t.equal(row['Träger'], /^[=+\-@]/.test(provider) ? `'${provider}` : provider, `${where}: provider`)
    }
    const transfer = rows.find((row) => row.Ereignis === 'BudgetTransferred')
    t.equal(transfer?.Budgetlinie, 'ambulatory → flexible', 'a transfer names both lines')
    const moved = rows.filter((row) => row.Umbuchung === move.body.id)
    t.same(
      moved.map((row) => [row.Ereignis, row.Sozialraum, row.Budgetlinie, row['Betrag (EUR)'], row['Gegenseite (Sozialraum / Linie)'], row['Begründung / Zweck']]),
      [
        ['BudgetMoveDebited', 'export-a', 'flexible', '10,00', 'export-b / ambulatory', 'Ausgleich'],
        ['BudgetMoveCredited', 'export-b', 'ambulatory', '10,00', 'export-a / flexible', 'Ausgleich'],
      ],
      "a move's two ends, each naming the other, by the move's id",
    )
    t.ok(
      rows.filter((row) => !row.Ereignis?.startsWith('BudgetMove')).every((row) => row.Umbuchung === '' && row['Gegenseite (Sozialraum / Linie)'] === ''),
      'no other event names a move',
    )
  })

  t.test('CSV bytes: BOM, `;`, CRLF, decimal comma, quoting, no formulas', async (t) => {
    t.same([...csv.raw.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM')
    const text = csv.raw.subarray(3).toString('utf8')
    t.ok(text.startsWith(`${CSV_HEADER.join(';')}\r\n`), 'the header, `;`-separated, CRLF')
    t.ok(text.endsWith('\r\n'), 'the last record ends with CRLF')
    t.notOk(/(^|[^\r])\n/.test(text.replace(/"(?:[^"]|"")*"/g, '""')), 'outside quoted fields every LF follows a CR')
    t.ok(text.includes(';1250,50;'), 'decimal comma')
    t.ok(text.includes(';-100,00;'), 'a negative amount stays a number: no quote, no apostrophe')
    t.ok(text.includes(';0,05;'), 'cents below one euro')
    t.ok(text.includes('"Material; Bastelbedarf ""Frühling""\nzweite Zeile"'), 'a purpose with ;, " and a line break is quoted, its quotes doubled')
    t.ok(text.includes(`;"'=HYPERLINK(""https://example.org"",""klick"")";`), 'a formula is text: prefixed with an apostrophe')
    t.notOk(/;=|;"=/.test(text), 'no field starts with =')
    t.ok(text.includes(";'-Stundenumfang reduziert;"), 'nor with -')
    t.ok(text.includes(";'@doppelt gebucht;"), 'nor with @')
    t.ok(text.includes(`;"'+Träger; ""Sonnenschein"" gGmbH";`), 'nor with +')
    const rows = csvRows(csv.text)
    t.equal(rows.find((row) => row.Ausgabe === tricky.body.id && row.Ereignis === 'SpendingRecorded')?.['Begründung / Zweck'], TRICKY_PURPOSE, 'round-trips')
  })

  t.test('a year holds its own budget events only', async (t) => {
    const lines = jsonLines(jsonl.text)
    t.ok(lines.every((line) => line.streamId.startsWith('budget-2025-') && line.data.year === 2025), 'budget events of 2025')
    t.notOk(lines.some((line) => line.type === 'SozialraumRegistered'), 'no registrations: they belong to no year')
    const positions = lines.map((line) => BigInt(line.position))
    t.ok(positions.every((position, index) => index === 0 || position > (positions[index - 1] ?? 0n)), 'log order')
    const of2026 = jsonLines((await exportOf(app, '?year=2026&format=jsonl')).text)
    t.same(of2026.map((line) => [line.streamId, line.type, line.amount]), [['budget-2026-export-b', 'BudgetAllocated', '5.00']])
    const empty = await exportOf(app, '?year=2031&format=csv')
    t.equal(empty.status, 200)
    t.equal(empty.text, `\uFEFF${CSV_HEADER.join(';')}\r\n`, 'an empty year: BOM and header')
    t.equal((await exportOf(app, '?year=2031&format=jsonl')).text, '', 'an empty year: no lines')
  })

  t.test('every export is recorded in the audit trail; HEAD records nothing', async (t) => {
    const head = await exportOf(service.app, '?year=2025&format=csv', { sub: 'felix', role: 'finance' }, 'HEAD')
    t.equal(head.status, 200)
    t.equal(head.headers['content-disposition'], 'attachment; filename="sojus-ledger-2025.csv"')
    const finance = await exportOf(app, '?year=2025&format=jsonl', { sub: 'felix', role: 'finance' })
    t.equal(finance.status, 200, 'finance exports too')
    const recorded = await get(app, '/v1/audit/events?type=AuditExported', String(await service.store.headPosition()))
    t.equal(recorded.status, 200)
    const exports = recorded.body.items.map((entry: Json) => [entry.streamId, entry.actor.sub, entry.actor.role, entry.data])
    t.same(exports, [
      ['audit-exports', 'dora', 'auditor', { year: 2025, format: 'csv' }],
      ['audit-exports', 'dora', 'auditor', { year: 2025, format: 'jsonl' }],
      ['audit-exports', 'dora', 'auditor', { year: 2026, format: 'jsonl' }],
      ['audit-exports', 'dora', 'auditor', { year: 2031, format: 'csv' }],
      ['audit-exports', 'dora', 'auditor', { year: 2031, format: 'jsonl' }],
      ['audit-exports', 'felix', 'finance', { year: 2025, format: 'jsonl' }],
    ])
    const ofYear = await get(app, '/v1/audit/events?year=2025&type=AuditExported', String(await service.store.headPosition()))
    t.same(ofYear.body.items, [], 'an export is no event of the year it exported')
  })

  t.test('who may export, and what is asked', async (t) => {
    const lead = await exportOf(app, '?year=2025&format=csv', { sub: 'ben', role: 'teamlead', sozialraeume: ['export-a'] })
    t.equal(lead.status, 403, 'a team lead may not')
    t.match(String(lead.headers['content-type']), /^application\/problem\+json/)
    const anonymous = await app.inject({ method: 'GET', url: '/v1/audit/export?year=2025&format=csv' })
    t.equal(anonymous.statusCode, 401)
    for (const query of ['?year=2025', '?format=csv', '?year=1999&format=csv', '?year=2025&format=xlsx', '?year=2025&format=csv&sozialraum=x']) {
      const response = await get(app, `/v1/audit/export${query}`, undefined, await bearer(AUDITOR))
      assertProblem(t, response, 400, 'validation', query)
    }
    const before = await get(app, '/v1/audit/events?type=AuditExported', String(await service.store.headPosition()))
    t.equal(before.body.items.length, 6, 'refused requests record nothing')
  })
})

t.test('a few exports at a time: more are refused with 503 before anything is recorded', async (t) => {
  const service = await startTestService(t)
  await seed(service.app, 'export-limit', { year: 2025 })
  const before = await service.store.headPosition()
  const answers = await Promise.all(Array.from({ length: MAX_CONCURRENT_EXPORTS + 2 }, () => exportOf(service.app, '?year=2025&format=jsonl')))
  const refused = answers.filter((answer) => answer.status === 503)
  t.equal(answers.filter((answer) => answer.status === 200).length, MAX_CONCURRENT_EXPORTS, 'as many as the limit are sent')
  t.equal(refused.length, 2, 'the others are refused')
  for (const answer of refused) {
    t.match(answer.headers['content-type'], /^application\/problem\+json/)
    t.match(JSON.parse(answer.text), { type: 'urn:sojus-ledger:problem:unavailable', status: 503 })
  }
  t.equal(refused[0]?.headers['retry-after'], '5')
  const recorded = await service.store.readStream('audit-exports', { maxCount: 100 })
  t.equal(recorded.length, MAX_CONCURRENT_EXPORTS, 'only the exports sent are recorded')
  t.ok((await service.store.headPosition()) - before === BigInt(MAX_CONCURRENT_EXPORTS))
  t.equal((await exportOf(service.app, '?year=2025&format=jsonl')).status, 200, 'once they are done, the next one runs')
})

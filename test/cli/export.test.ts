import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { runScript } from '../helpers/cli.js'

/** `sojus-ledger export`: a year's events as the audit export gives them, to stdout or a file. */

// Real processes, each starting tsx: more than the default 120 s on a busy machine.
t.setTimeout(300_000)

t.test('export writes the year’s budget events in log order, as JSON Lines to stdout and as CSV to a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-export-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const cli = (args: readonly string[]) => runScript('src/cli/main.ts', args, { DATABASE_URL: `sqlite:${path}` })
  const seeded = await cli(['seed', '--sozialraeume', '2', '--years', '2', '--commitments', '5', '--spendings', '10', '--first-year', '2025'])
  t.equal(seeded.code, 0, seeded.stderr)

  const db = new Database(path, { readonly: true })
  const expected = (db.prepare("SELECT position, event_id FROM events WHERE stream_id LIKE 'budget-2025-%' ORDER BY position").all() as {
    position: number
    event_id: string
  }[]).map((row) => [String(row.position), row.event_id])
  db.close()
  t.ok(expected.length > 50, `${expected.length} events in 2025`)

  const jsonl = await cli(['export', '--year', '2025', '--format', 'jsonl'])
  t.equal(jsonl.code, 0, jsonl.stderr)
  const lines = jsonl.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { position: string; eventId: string })
  t.same(lines.map((line) => [line.position, line.eventId]), expected, 'every event of the year’s budgets, in log order')

  const file = join(dir, 'export-2025.csv')
  const csv = await cli(['export', '--year', '2025', '--out', file])
  t.equal(csv.code, 0, csv.stderr)
  t.equal(csv.stdout, '', 'nothing on stdout')
  t.match(csv.stderr, /^exported 2025 \(2 budgets, up to position \d+\) to .*export-2025\.csv\n$/)
  const text = readFileSync(file, 'utf8')
  t.ok(text.startsWith('\uFEFFPosition;'), 'CSV for German Excel: BOM, header, ";"')
  t.equal(text.split('\r\n').filter((line) => /^\d+;/.test(line)).length, expected.length, 'a row per event')
  t.same(readdirSync(dir).filter((name) => name.includes('.partial-')), [], 'no partial file left')

  const empty = await cli(['export', '--year', '2031', '--format', 'jsonl'])
  t.equal(empty.code, 0)
  t.equal(empty.stdout, '', 'a year without budgets exports nothing')
})

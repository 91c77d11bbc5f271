import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { ConfigError, parseConfig } from '../config.js'
import { EXPORT_FORMATS, exportPages, type ExportFormat } from '../http/routes/audit-export.js'
import { ReadModels } from '../readmodels/queries.js'
import { openStores, type Stores } from '../service.js'
import { besidePath, fsyncPath, removeOnSignal, removeStalePartials } from './backup.js'
import { refuseMissingStore, refuseStoreFile } from './run.js'

/**
 * `sojus-ledger export --year 2025 [--format csv|jsonl] [--out <file>]`: the events of a fiscal
 * year, exactly as GET /v1/audit/export gives them (the same `exportPages`: CSV for German Excel or
 * JSON Lines, in log order, up to the head of the log when the export began), to a file or stdout.
 *
 * It opens the store as `verify` does: on SQLite it takes the store's lock, so it runs while the
 * service is stopped; on PostgreSQL it may run beside the service. The year's budget streams come
 * from the event log itself (the SQL stores' `events` table), not from a read model that may lag
 * while the service is stopped; with KurrentDB, from the balances read model.
 *
 * Unlike the HTTP route it records no AuditExported event: the command is the operator's, who
 * holds the data files anyway, and a read-only command should not write to the log it exports.
 * A file is written beside its name and renamed once complete; SIGINT and SIGTERM remove it, and
 * one a killed export left is removed by the next export to the same name.
 */

export const EXPORT_USAGE = `usage: sojus-ledger export --year <year> [--format csv|jsonl] [--out <file>]
  Writes the events of a fiscal year (its budgets' streams and its close, in log order) as
  GET /v1/audit/export does: csv for German Excel (the default) or jsonl (JSON Lines).
  --out  the file to write (replaced when it exists); without it, stdout
  On SQLite it takes the store's lock (service stopped); it is not recorded in the audit trail.`

function usage(message: string): never {
  process.stderr.write(`${message}\n${EXPORT_USAGE}\n`)
  process.exit(2)
}

function parseExportArguments(args: readonly string[]): { year: number; format: ExportFormat; out: string | undefined } {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
      options: { year: { type: 'string' }, format: { type: 'string', default: 'csv' }, out: { type: 'string', short: 'o' } },
      strict: true,
    }))
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error))
  }
  const year = Number(values.year)
  if (values.year === undefined || !/^\d{4}$/.test(values.year) || year < 2000 || year > 2100) usage('--year must be a year from 2000 to 2100')
  const format = values.format as ExportFormat
  if (!EXPORT_FORMATS.includes(format)) usage(`--format must be ${EXPORT_FORMATS.join(' or ')}`)
  return { year, format, out: values.out }
}

/** The Sozialräume with a budget stream in `year`. */
async function sozialraeumeOf(stores: Stores, year: number): Promise<string[]> {
  const prefix = `budget-${year}-`
  if (stores.locate !== undefined) {
    const rows = await stores.db.query<{ stream_id: string }>('SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE ? ORDER BY stream_id', [
      `${prefix}%`,
    ])
    return rows.map((row) => row.stream_id.slice(prefix.length))
  }
  const budgets = await new ReadModels(stores.db).listBudgets(year)
  return budgets.items.map((budget) => budget.sozialraum)
}

export async function exportCommand(args: readonly string[]): Promise<void> {
  const { year, format, out } = parseExportArguments(args)
  const config = parseConfig(process.env)
  const target = out === undefined ? undefined : resolve(out)
  if (target !== undefined && !existsSync(resolve(target, '..'))) throw new ConfigError(`export: the folder of ${out} does not exist`)
  if (config.database.kind === 'sqlite') refuseMissingStore(config.database.path, 'export')
  if (target !== undefined && config.database.kind === 'sqlite') refuseStoreFile(target, config.database.path, 'export')
  if (target !== undefined && existsSync(target) && statSync(target).isDirectory()) throw new ConfigError(`export: ${out} is a folder; name a file (in it)`)
  const stores = await openStores(config, 'export')
  try {
    const head = await stores.store.headPosition()
    const sozialraeume = await sozialraeumeOf(stores, year)
    const pages = Readable.from(exportPages(stores.store, { year, sozialraeume }, head, format), { objectMode: false })
    if (target === undefined) {
      await pipeline(pages, process.stdout, { end: false })
      return
    }
    removeStalePartials(target)
    const partial = besidePath(target, 'partial')
    const release = removeOnSignal(partial, 'export')
    try {
      await pipeline(pages, createWriteStream(partial, { mode: 0o600 }))
      fsyncPath(partial)
      renameSync(partial, target)
    } finally {
      rmSync(partial, { force: true })
      release()
    }
    process.stderr.write(`exported ${year} (${sozialraeume.length} budgets, up to position ${head}) to ${target}\n`)
  } finally {
    await stores.close()
  }
}

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { readSealKey, sealForgery, sealInputSchema, type Seal } from '../audit/seal.js'
import { verifyLog, type VerifyProgress } from '../audit/verify.js'
import { parseConfig } from '../config.js'
import { openStores } from '../service.js'
import { assertKnownSchema, loadMigrations } from '../sql/migrate.js'
import { isMain, refuseMissingStore, runCommand, writeOut } from './run.js'

/**
 * `npm run verify [-- --seal <file>]`: the verify of POST /v1/audit/verify, offline. On SQLite it
 * takes the store's lock, so it runs while the service is stopped (and is refused while it runs);
 * on PostgreSQL it may run beside the service, comparing the read models as far as they have got. The JSON
 * report goes to stdout, progress to stderr when that is a terminal. Exit status: 0 when the log
 * verifies, 1 when it does not, or when the seal is not one this service made (then nothing is
 * verified: a forged seal is refused, as the HTTP route refuses it with a 400), or the verify
 * cannot run; 2 for a wrong command line.
 */
const USAGE = 'usage: npm run verify [-- --seal <file>]   (a seal as GET /v1/audit/seal gave it)\n'

/** The seal file named on the command line, if any; a wrong command line exits 2 with the usage. */
function parseVerifyArguments(args: readonly string[]): string | undefined {
  try {
    const { values } = parseArgs({ args: [...args], options: { seal: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true })
    if (values.help) {
      process.stdout.write(USAGE)
      process.exit(0)
    }
    return values.seal
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`)
    process.exit(2)
  }
}

function readSeal(path: string): Seal {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new SealFileError(`${path}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const parsed = sealInputSchema.safeParse(json)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(seal)'}: ${issue.message}`)
    throw new SealFileError(`${path} is not a seal: ${problems.slice(0, 5).join('; ')}`)
  }
  return parsed.data
}

class SealFileError extends Error {}

function showProgress(progress: VerifyProgress): void {
  const share = progress.head === 0n ? 100 : Number((progress.position * 1000n) / progress.head) / 10
  const events = progress.eventsChecked.toLocaleString('en')
  process.stderr.write(`\rverified ${events} events, position ${progress.position} of ${progress.head} (${share}%)`)
}

export async function verifyCommand(args: readonly string[]): Promise<void> {
  const sealPath = parseVerifyArguments(args)
  const config = parseConfig(process.env)
  if (config.database.kind === 'sqlite') refuseMissingStore(config.database.path, 'verify')
  let seal: Seal | undefined
  if (sealPath !== undefined) {
    try {
      seal = readSeal(sealPath)
      const forged = sealForgery(seal, readSealKey(config.auditSealKey))
      if (forged !== undefined) throw new SealFileError(`${sealPath}: ${forged}`)
    } catch (error) {
      if (!(error instanceof SealFileError)) throw error
      process.stderr.write(`${error.message}\n`)
      process.exit(1)
    }
  }
  const stores = await openStores(config, 'verify')
  try {
    await assertKnownSchema(stores.db, await loadMigrations())
  } catch (error) {
    await stores.close()
    throw error
  }
  const progress = process.stderr.isTTY ? showProgress : undefined
  let ok: boolean
  try {
    const report = await verifyLog({
      store: stores.store,
      db: stores.db,
      ...(stores.locate === undefined ? {} : { locate: stores.locate }),
      ...(seal ? { seal } : {}),
      ...(progress ? { onProgress: progress } : {}),
    })
    if (progress) process.stderr.write('\n')
    await writeOut(`${JSON.stringify(report, null, 2)}\n`)
    ok = report.ok
  } finally {
    await stores.close()
  }
  // runCommand exits 0 when this returns; a log that does not verify is not an error of the command.
  if (!ok) process.exit(1)
}

if (isMain(import.meta.url)) runCommand('verify', () => verifyCommand(process.argv.slice(2)))

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { signSeal } from '../../src/audit/seal.js'
import { isOperatorError, operatorMessage } from '../../src/cli/run.js'
import { ROOT, runScript } from '../helpers/cli.js'
import { createTestSchema, skipWithoutPostgres, TEST_POSTGRES_URL } from '../helpers/postgres.js'
import { runSql, withSql } from '../helpers/stores.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * How the command-line tool fails, found in review: one line on stderr and exit 1, no stack trace,
 * and nothing made on the way (no empty store on a mistyped path, no seal key, no partial copy).
 */

// Real processes, each starting tsx: more than the default 120 s on a busy machine.
t.setTimeout(300_000)
const cli = (args: readonly string[], environment: Record<string, string>) => runScript('src/cli/main.ts', args, environment)

/** One line on stderr, no stack trace. */
const oneLine = /^[^\n]+\n$/

t.test('verify, export and rebuild refuse a store file that does not exist, and make none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-missing-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = join(dir, 'mistyped.db')
  const environment = { DATABASE_URL: `sqlite:${store}`, JWT_SECRET: TEST_JWT_SECRET }
  for (const args of [['verify'], ['export', '--year', '2025'], ['rebuild', 'all']]) {
    const exit = await cli(args, environment)
    t.equal(exit.code, 1, `${args.join(' ')} exits 1`)
    t.match(exit.stderr, oneLine, `${args.join(' ')}: one line`)
    t.match(exit.stderr, `${args[0]}: there is no store at ${store} (DATABASE_URL)`)
    t.equal(exit.stdout, '', `${args.join(' ')} prints nothing on stdout`)
  }
  t.same(readdirSync(dir), [], 'no store, lock or secret was made')
})

t.test('verify on a store seeded but never migrated says what is missing, in one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-unmigrated-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'seeded.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['seed', '--sozialraeume', '1', '--years', '1'], environment)).code, 0, 'seeded')
  const exit = await cli(['verify'], environment)
  t.equal(exit.code, 1)
  t.match(exit.stderr, oneLine)
  t.match(exit.stderr, /^verify: the read models cannot be compared with the events: no such table: \w+: the store was never migrated \(`sojus-ledger migrate` creates its read models\)/)
})

t.test('verify --seal with the seal key file missing says so and makes no key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-seal-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['migrate'], environment)).code, 0, 'a store')
  const key = join(dir, 'audit-seal-key')
  rmSync(key, { force: true })
  const sealFile = join(dir, 'seal.json')
  writeFileSync(sealFile, JSON.stringify(signSeal([], 0n, new Date(), 'a-seal-key-the-store-was-sealed-with-0123456789')))
  const exit = await cli(['verify', '--seal', sealFile], environment)
  t.equal(exit.code, 1)
  t.match(exit.stderr, oneLine)
  t.match(exit.stderr, `no seal key at ${key}: restore it`)
  t.equal(exit.stdout, '', 'nothing verified')
  t.notOk(existsSync(key), 'no new key was made')
})

t.test('a folder named as the output, an unreachable PostgreSQL: one line each', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-one-line-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['migrate'], environment)).code, 0, 'a store')
  const folder = join(dir, 'a-folder')
  mkdirSync(folder)
  for (const args of [['backup', folder, '--force'], ['export', '--year', '2025', '--out', folder]]) {
    const exit = await cli(args, environment)
    t.equal(exit.code, 1, args.join(' '))
    t.match(exit.stderr, oneLine)
    t.match(exit.stderr, `${args[0]}: ${folder} is a folder`)
  }
  t.same(readdirSync(dir).filter((name) => name.includes('.partial-')), [], 'no partial copy left')

  const postgres = { JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) }
  const away = await cli(['verify'], { ...postgres, DATABASE_URL: 'postgres://postgres:not-shown@127.0.0.1:1/test' })
  t.equal(away.code, 1)
  t.match(away.stderr, oneLine)
  t.match(away.stderr, /^verify: the database \(PostgreSQL\) is not reachable: /)
  t.notMatch(away.stderr, /not-shown/, 'no password')
})

t.test('a search_path naming no schema: one line', { skip: await skipWithoutPostgres() }, async (t) => {
  const url = new URL(TEST_POSTGRES_URL)
  url.searchParams.set('options', '-c search_path=no_such_schema_helper51')
  const exit = await cli(['export', '--year', '2025'], { DATABASE_URL: url.toString(), JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) })
  t.equal(exit.code, 1)
  t.match(exit.stderr, oneLine)
  t.match(exit.stderr, /no schema to work in: the search_path \(DATABASE_URL\) names no schema that exists/)
})

t.test('export into a pipe whose reader goes away stops quietly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-epipe-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  const seeded = await cli(['seed', '--sozialraeume', '1', '--years', '1', '--first-year', '2025', '--spendings', '400'], environment)
  t.equal(seeded.code, 0, seeded.stderr)
  // `export | head -c 100`: the reader takes the first chunk and closes the pipe.
  const exit = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'export', '--year', '2025'], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent', ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.once('data', () => child.stdout.destroy())
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, stderr }))
  })
  t.equal(exit.stderr, '', 'nothing on stderr')
  t.equal(exit.code, 0, 'exit 0: the reader chose to stop')
})

t.test('the file system refusing a file, and a URL no driver parses, are the operator’s: one line, no password', async (t) => {
  const thrown = (action: () => unknown): unknown => {
    try {
      action()
    } catch (error) {
      return error
    }
    throw new Error('it did not throw')
  }
  const missing = thrown(() => readFileSync(join(tmpdir(), 'no-such-folder-helper51', 'x')))
  t.ok(isOperatorError(missing), 'ENOENT')
  if (isOperatorError(missing)) t.match(operatorMessage('export', missing), /^export: ENOENT: no such file or directory, open '.*no-such-folder-helper51/)
  const url = thrown(() => new URL('postgres://u:secret-pw@127.0.0.1:99999/db'))
  t.ok(isOperatorError(url), 'an invalid URL')
  if (isOperatorError(url)) {
    t.match(operatorMessage('verify', url), /^verify: a URL in the configuration is not valid/)
    t.notMatch(operatorMessage('verify', url), /secret-pw/)
  }
  t.notOk(isOperatorError(new Error('a bug')), 'a bug keeps its stack trace')
  t.notOk(isOperatorError(new TypeError('x is not a function')))
})

t.test('an interrupted export leaves no partial copy; a killed one’s copy goes with the next run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-partial-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  const seeded = await cli(['seed', '--sozialraeume', '2', '--years', '1', '--first-year', '2025'], environment)
  t.equal(seeded.code, 0, seeded.stderr)
  const out = join(dir, 'out')
  mkdirSync(out)
  const partials = () => readdirSync(out).filter((name) => name.includes('.partial-'))

  // What a killed process (no pid alive: beyond any pid_max) left, and a partial copy of another file.
  for (const name of ['.year.csv.partial-2147483646', '.year.csv.partial-2147483646-journal', '.other.db.partial-2147483646']) {
    writeFileSync(join(out, name), 'personal data')
  }
  const exported = await cli(['export', '--year', '2025', '--out', join(out, 'year.csv')], environment)
  t.equal(exported.code, 0, exported.stderr)
  t.same(partials(), ['.other.db.partial-2147483646'], 'the stale copies of year.csv are gone, the other file’s stays')
  const backup = await cli(['backup', join(out, 'other.db')], environment)
  t.equal(backup.code, 0, backup.stderr)
  t.same(partials(), [], 'a backup removes the stale copy of its own target')

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'export', '--year', '2025', '--out', join(out, 'interrupted.csv')], {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: 'silent', ...environment },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      // Interrupted once the partial copy is there.
      const poll = setInterval(() => {
        if (partials().some((name) => name.startsWith('.interrupted.csv.partial-'))) {
          clearInterval(poll)
          child.kill(signal)
        }
      }, 2)
      child.on('error', reject)
      child.on('exit', (code, exitSignal) => {
        clearInterval(poll)
        resolve({ code, signal: exitSignal, stderr })
      })
    })
    t.equal(exit.code, signal === 'SIGINT' ? 130 : 143, `${signal}: ${exit.stderr}`)
    t.match(exit.stderr, `export: interrupted by ${signal}; the partial copy is removed`)
    t.same(partials(), [], `${signal}: no partial copy left`)
    t.notOk(existsSync(join(out, 'interrupted.csv')), 'and no export under the name')
  }
})

t.test('token refuses a lifetime that is not positive, naming --expires-in; a bad configuration is exit 1, not the usage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-token-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  for (const expiresIn of ['0s', '-1h', '-5m']) {
    const exit = await cli(['token', '--role', 'finance', '--sub', 'anna', `--expires-in=${expiresIn}`], environment)
    t.equal(exit.code, 2, `--expires-in ${expiresIn} exits 2`)
    t.equal(exit.stdout, '', 'and prints no token')
    t.match(exit.stderr, /^--expires-in must be a positive time like 8h/)
  }
  const notATime = await cli(['token', '--role', 'finance', '--sub', 'anna', '--expires-in', 'soon'], environment)
  t.equal(notATime.code, 2)
  t.match(notATime.stderr, /^--expires-in "soon" is not a time period like 8h/)
  const bogus = await cli(['token', '--role', 'finance', '--sub', 'anna'], { ...environment, DATABASE_URL: 'bogus' })
  t.equal(bogus.code, 1, 'a bad configuration exits 1')
  t.equal(bogus.stderr, 'invalid configuration: DATABASE_URL: must be sqlite:<path> or postgres://…\n', 'its one line, without the usage')
})

t.test('rebuild says when the projections are rebuilt: on SQLite at the next start, on PostgreSQL at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-rebuild-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sqlite = { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['migrate'], sqlite)).code, 0)
  const onSqlite = await cli(['rebuild', 'balances'], sqlite)
  t.equal(onSqlite.code, 0, onSqlite.stderr)
  t.equal(onSqlite.stdout, 'reset balances; the service rebuilds them on its next start\n')
  const skip = await skipWithoutPostgres()
  if (skip) return t.comment(`not on PostgreSQL: ${skip}`)
  const schema = await createTestSchema()
  t.teardown(() => schema.drop())
  const onPostgres = await cli(['rebuild', 'balances'], { DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) })
  t.equal(onPostgres.code, 0, onPostgres.stderr)
  t.equal(onPostgres.stdout, 'reset balances; a running service rebuilds them now, a stopped one on its next start\n')
})

t.test('a database a newer version migrated is refused by serve, migrate, rebuild and verify, in one line, before anything is applied', async (t) => {
  const postgres = await skipWithoutPostgres()
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-newer-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stores: Array<[string, Record<string, string>]> = [['SQLite', { DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}` }]]
  if (postgres === false) {
    const schema = await createTestSchema()
    t.teardown(schema.drop)
    stores.push(['PostgreSQL', { DATABASE_URL: schema.url, AUDIT_SEAL_KEY: 'a-seal-key-for-the-newer-schema-test-0123456789' }])
  }
  for (const [name, database] of stores) {
    const environment = { ...database, JWT_SECRET: TEST_JWT_SECRET, PORT: '0' }
    t.equal((await cli(['migrate'], environment)).code, 0, `${name}: migrated`)
    await runSql(database.DATABASE_URL!, [
      { sql: 'DELETE FROM schema_migrations WHERE version = ?', params: [9] },
      { sql: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', params: [999, '999_from_a_newer_version.sql', new Date().toISOString()] },
    ])
    for (const args of [['migrate'], ['serve'], ['rebuild', 'all'], ['verify']]) {
      const exit = await cli(args, environment)
      t.equal(exit.code, 1, `${name}: ${args.join(' ')} exits 1`)
      t.match(exit.stderr, oneLine, `${name}: ${args.join(' ')}: one line`)
      t.match(exit.stderr, 'the database was migrated by a newer sojus-ledger (migrations 999_from_a_newer_version.sql are unknown to this version)')
    }
    const versions = await withSql(database.DATABASE_URL!, (db) => db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version'))
    t.notOk(versions.some((row) => Number(row.version) === 9), `${name}: the migration it lacks was not applied either`)
  }
})

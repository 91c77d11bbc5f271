import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { signSeal } from '../../src/audit/seal.js'
import { runScript } from '../helpers/cli.js'
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

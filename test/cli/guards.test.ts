import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { maskedConfig } from '../../src/cli/check-config.js'
import { parseConfig } from '../../src/config.js'
import { runScript } from '../helpers/cli.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * Guards of the command-line tool found in review: no command writes its output over the store's
 * own files or the secrets beside it; check-config masks every secret of the configuration; a
 * restore replaces a store too damaged to open.
 */

t.setTimeout(300_000)
const cli = (args: readonly string[], environment: Record<string, string>) => runScript('src/cli/main.ts', args, environment)

t.test('check-config masks the metrics token and a password with an @ in it, whole', async (t) => {
  const config = parseConfig({
    JWT_SECRET: TEST_JWT_SECRET,
    METRICS_TOKEN: 'metrics-token-that-is-long-enough-0123456789',
    DATABASE_URL: 'postgres://app:s3cr@t!x@db.example.org:5432/ledger?sslmode=require',
  })
  const text = JSON.stringify(maskedConfig(config))
  t.notMatch(text, /metrics-token-that/, 'the metrics token is masked')
  t.notMatch(text, /s3cr|t!x/, 'no part of the password shows')
  t.notMatch(text, new RegExp(TEST_JWT_SECRET), 'the JWT secret is masked')
  t.match(text, /db\.example\.org:5432\/ledger/, 'the rest of the URL stays readable')
})

t.test("export and backup refuse to write over the store's own files", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-guards-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = join(dir, 'ledger.db')
  const environment = { DATABASE_URL: `sqlite:${store}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['migrate'], environment)).code, 0, 'a store to protect')
  const before = readFileSync(store)
  symlinkSync(store, join(dir, 'other-name.db'))
  for (const output of [store, `${store}-wal`, `${store}.lock`, join(dir, 'other-name.db'), join(dir, 'audit-seal-key')]) {
    const exported = await cli(['export', '--year', '2025', '--out', output], environment)
    t.equal(exported.code, 1, `export --out ${output} is refused`)
    t.match(exported.stderr, /one of the store's own files/)
    const backup = await cli(['backup', output, '--force'], environment)
    t.equal(backup.code, 1, `backup ${output} is refused`)
  }
  t.same(readFileSync(store), before, 'the store is untouched')
})

t.test('restore replaces a store too damaged to open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-damaged-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = join(dir, 'ledger.db')
  const environment = { DATABASE_URL: `sqlite:${store}`, JWT_SECRET: TEST_JWT_SECRET }
  t.equal((await cli(['migrate'], environment)).code, 0)
  const backupFile = join(dir, 'backup.db')
  const backup = await cli(['backup', backupFile], environment)
  t.equal(backup.code, 0, backup.stderr)
  rmSync(`${store}-wal`, { force: true })
  writeFileSync(store, Buffer.alloc(8192, 0x5a))
  const restored = await cli(['restore', backupFile], environment)
  t.equal(restored.code, 0, restored.stderr)
  t.equal((await cli(['verify'], environment)).code, 0, 'the restored store verifies')
})

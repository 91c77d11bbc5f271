import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runScript } from '../helpers/cli.js'

/**
 * The one command-line tool, `sojus-ledger` (src/cli/main.ts), run as a child process the way the
 * built bin runs: its overview, every command's --help, the usage errors, and check-config.
 */

// Real processes, each starting tsx: more than the default 120 s on a busy machine.
t.setTimeout(300_000)

const COMMANDS = ['serve', 'migrate', 'token', 'rebuild', 'verify', 'export', 'seed', 'backup', 'restore', 'check-config']
const cli = (args: readonly string[], environment: Record<string, string> = {}) => runScript('src/cli/main.ts', args, environment)

t.test('sojus-ledger --help lists every command with one line each', async (t) => {
  const help = await cli(['--help'])
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /^usage: sojus-ledger <command> \[options\]/)
  for (const command of COMMANDS) t.match(help.stdout, new RegExp(`^  ${command} +\\S.+$`, 'm'), `${command} has its line`)
  t.equal(help.stdout.split('\n').filter((line) => /^ {2}\S/.test(line)).length, COMMANDS.length, 'one line per command, no more')
  const none = await cli([])
  t.equal(none.code, 2, 'no command: exit 2')
  t.match(none.stderr, /^usage: sojus-ledger/)
  const unknown = await cli(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^unknown command: frobnicate\n/)
})

t.test('every command has a --help that names it and exits 0 without touching a store', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-cli-help-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // A store path in a folder that does not exist: a command that opened it would fail.
  const environment = { DATABASE_URL: `sqlite:${join(dir, 'missing', 'ledger.db')}` }
  const results = await Promise.all(COMMANDS.map(async (command) => [command, await cli([command, '--help'], environment)] as const))
  for (const [command, help] of results) {
    t.equal(help.code, 0, `${command} --help exits 0 ${help.stderr}`)
    t.match(help.stdout, new RegExp(`^usage: sojus-ledger ${command}\\b`), `${command} --help shows its usage`)
    t.ok(help.stdout.split('\n').length >= 2, `${command} --help explains it`)
  }
  const helpTopic = await cli(['help', 'backup'])
  t.equal(helpTopic.code, 0)
  t.match(helpTopic.stdout, /^usage: sojus-ledger backup <file>/)
})

t.test('wrong command lines exit 2 with the usage', async (t) => {
  const backup = await cli(['backup'])
  t.equal(backup.code, 2)
  t.match(backup.stderr, /name the backup file\nusage: sojus-ledger backup/)
  const exported = await cli(['export', '--year', 'soon'])
  t.equal(exported.code, 2)
  t.match(exported.stderr, /--year must be a year/)
  const migrate = await cli(['migrate', '--now'])
  t.equal(migrate.code, 2)
  t.match(migrate.stderr, /migrate takes no options/)
})

t.test('check-config prints the configuration with secrets masked, and refuses an invalid one', async (t) => {
  const secret = 'a-jwt-secret-that-is-long-enough-0123456789'
  const sealKey = 'an-audit-seal-key-that-is-long-enough-0123456789'
  const valid = await cli(['check-config'], {
    DATABASE_URL: 'postgres://ledger:db-password@db.example:5432/ledger?sslmode=require',
    JWT_SECRET: secret,
    AUDIT_SEAL_KEY: sealKey,
    REDIS_URL: 'redis://:redis-password@cache:6379',
    FOUR_EYES_THRESHOLD: '5000',
  })
  t.equal(valid.code, 0, valid.stderr)
  t.match(valid.stderr, /configuration ok/)
  const printed = JSON.parse(valid.stdout) as Record<string, any>
  t.equal(printed.database.url, 'postgres://ledger:********@db.example:5432/ledger?sslmode=require', 'the database password is masked')
  t.equal(printed.redisUrl, 'redis://:********@cache:6379', 'the Redis password is masked')
  t.same(printed.tokens.keys, { kind: 'secret', secret: '********' }, 'the JWT secret is masked')
  t.same(printed.auditSealKey, { kind: 'key', key: '********' }, 'the seal key is masked')
  t.equal(printed.fourEyesThresholdCents, '500000', 'the rest as parsed')
  for (const hidden of [secret, sealKey, 'db-password', 'redis-password']) t.notOk(valid.stdout.includes(hidden), `${hidden} is not printed`)

  const embedded = await cli(['check-config'], { DATABASE_URL: 'sqlite:/var/lib/sojus/ledger.db', JWT_SECRET: '' })
  t.equal(embedded.code, 0, embedded.stderr)
  t.same(JSON.parse(embedded.stdout).tokens.keys, { kind: 'generated-secret', path: '/var/lib/sojus/jwt-secret' })

  t.notMatch(valid.stderr, /^warning:/m, 'random secrets: no warning')
  const placeholders = await cli(['check-config'], { JWT_SECRET: ' '.repeat(40), AUDIT_SEAL_KEY: 'ab'.repeat(20), METRICS_TOKEN: 'changeme'.repeat(4) })
  t.equal(placeholders.code, 0, 'placeholders are valid, if long enough')
  t.match(placeholders.stderr, /warning: JWT_SECRET has 1 different character\(s\): it looks like a placeholder/)
  t.match(placeholders.stderr, /warning: AUDIT_SEAL_KEY has 2 different character\(s\)/)
  t.match(placeholders.stderr, /warning: METRICS_TOKEN has 7 different character\(s\)/)
  t.match(placeholders.stderr, /configuration ok, with warnings\n$/)

  const invalid = await cli(['check-config'], { PORT: 'eighty', DATABASE_URL: 'mysql://nope' })
  t.equal(invalid.code, 1, 'an invalid configuration exits 1')
  t.equal(invalid.stdout, '', 'and prints no configuration')
  t.match(invalid.stderr, /^invalid configuration: PORT: .*DATABASE_URL: must be sqlite:<path> or postgres:\/\/…\n$/, 'in one line naming each problem')
  const both = await cli(['check-config'], { JWT_SECRET: secret, JWKS_URL: 'https://idp.example/keys' })
  t.equal(both.code, 1)
  t.match(both.stderr, /set JWT_SECRET or JWKS_URL, not both/)
})

t.test('backup and restore point PostgreSQL at pg_dump and pg_restore', async (t) => {
  const environment = { DATABASE_URL: 'postgres://ledger@127.0.0.1:1/none', JWT_SECRET: 'a-jwt-secret-that-is-long-enough-0123456789' }
  const backup = await cli(['backup', join(tmpdir(), 'never.db')], environment)
  t.equal(backup.code, 1)
  t.match(backup.stderr, /^backup copies the embedded SQLite store; on PostgreSQL use pg_dump /)
  const restore = await cli(['restore', join(tmpdir(), 'never.db')], environment)
  t.equal(restore.code, 1)
  t.match(restore.stderr, /^restore copies the embedded SQLite store; on PostgreSQL use pg_restore /)
})

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { notSqlite, pgSchemaArgument } from '../../src/cli/backup.js'
import { parseConfig } from '../../src/config.js'
import { adminQuery, createTestSchema, skipWithoutPostgres } from '../helpers/postgres.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * On PostgreSQL, `backup` and `restore` name pg_dump and pg_restore. Several instances may share
 * one database, a schema each (`options=-c search_path=…`); the commands they name copy and
 * overwrite that schema only (before 0.12.5 they named none, and a restore with `--clean` set
 * every other instance's schema back to the dump's).
 */

const run = promisify(execFile)

t.test('the schema named by search_path, as pg_dump takes it', async (t) => {
  const url = (options?: string) => `postgres://u@h/db${options === undefined ? '' : `?options=${encodeURIComponent(options)}`}`
  t.equal(pgSchemaArgument(url()), 'public', 'none named: public')
  t.equal(pgSchemaArgument(url('-c search_path=ledger_a')), 'ledger_a')
  t.equal(pgSchemaArgument(url('-csearch_path=ledger_b,public')), 'ledger_b', 'the first of several')
  t.equal(pgSchemaArgument(url('-c statement_timeout=5000 -c search_path=ledger_c')), 'ledger_c', 'among other options')
  t.equal(pgSchemaArgument(url('-c search_path="Ledger D"')), `'"Ledger D"'`, 'a quoted name keeps its quotes, for the shell too')
})

t.test("the named commands copy and restore the instance's schema and leave the others alone", { skip: await skipWithoutPostgres() }, async (t) => {
  const [mine, other] = [await createTestSchema(), await createTestSchema()]
  const dir = mkdtempSync(join(tmpdir(), 'sojus-pg-backup-'))
  t.teardown(async () => {
    await Promise.all([mine.drop(), other.drop()])
    rmSync(dir, { recursive: true, force: true })
  })
  const refusal = notSqlite(parseConfig({ DATABASE_URL: mine.url, JWT_SECRET: TEST_JWT_SECRET }), 'backup')
  t.match(refusal?.message, `pg_dump --format=custom --schema=${mine.schema} `, 'backup names the schema')
  t.match(notSqlite(parseConfig({ DATABASE_URL: mine.url, JWT_SECRET: TEST_JWT_SECRET }), 'restore')?.message, `--schema=${mine.schema} `)

  const rows = async (schema: string) => Number((await adminQuery(`SELECT count(*) AS n FROM ${schema}.t`))[0]?.n)
  for (const { schema } of [mine, other]) await adminQuery(`CREATE TABLE ${schema}.t (x int); INSERT INTO ${schema}.t VALUES (1)`)
  const dump = join(dir, 'sojus-ledger.dump')
  // As the README writes it: libpq, unlike pg, takes no `+` for a space.
  const url = mine.url.replaceAll('+', '%20')
  const schema = `--schema=${pgSchemaArgument(url)}`
  await run('pg_dump', ['--format=custom', schema, `--file=${dump}`, url])
  for (const { schema } of [mine, other]) await adminQuery(`INSERT INTO ${schema}.t VALUES (2)`)
  await run('pg_restore', ['--clean', '--if-exists', '--no-owner', schema, `--dbname=${url}`, dump])
  t.equal(await rows(mine.schema), 1, "the instance's schema is back as it was dumped")
  t.equal(await rows(other.schema), 2, "another instance's schema is untouched")
})

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { notSqlite, PG_BACKUP, PG_RESTORE } from '../../src/cli/backup.js'
import { parseConfig } from '../../src/config.js'
import { adminQuery, createTestSchema, skipWithoutPostgres } from '../helpers/postgres.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * On PostgreSQL, `backup` and `restore` print the pg_dump and pg_restore commands to use. Several
 * instances may share one database, a schema each (`options=-c search_path=…`); the commands
 * copy and overwrite that instance's schema only, as the database names it (before 0.12.5 they
 * named none, and a restore with `--clean` set every other instance's schema back to the dump's).
 * Run here as printed, through the shell, with the real tools.
 */

const run = promisify(execFile)

t.test("the printed commands copy and restore the instance's schema and leave the others alone", { skip: await skipWithoutPostgres() }, async (t) => {
  const [mine, other] = [await createTestSchema(), await createTestSchema()]
  const dir = mkdtempSync(join(tmpdir(), 'sojus-pg-backup-'))
  t.teardown(async () => {
    await Promise.all([mine.drop(), other.drop()])
    rmSync(dir, { recursive: true, force: true })
  })
  const config = parseConfig({ DATABASE_URL: mine.url, JWT_SECRET: TEST_JWT_SECRET })
  t.match(notSqlite(config, 'backup')?.message, `on PostgreSQL use ${PG_BACKUP} (`, 'backup prints the command')
  t.match(notSqlite(config, 'restore')?.message, `on PostgreSQL use ${PG_RESTORE} (with the service stopped)`, 'restore prints the command')

  const rows = async (schema: string) => Number((await adminQuery(`SELECT count(*) AS n FROM ${schema}.t`))[0]?.n)
  for (const { schema } of [mine, other]) await adminQuery(`CREATE TABLE ${schema}.t (x int); INSERT INTO ${schema}.t VALUES (1)`)
  // As the README writes DATABASE_URL: libpq, unlike pg, takes no `+` for a space.
  const shell = (command: string) => run('bash', ['-c', command], { cwd: dir, env: { ...process.env, DATABASE_URL: mine.url.replaceAll('+', '%20') } })
  await shell(PG_BACKUP)
  for (const { schema } of [mine, other]) await adminQuery(`INSERT INTO ${schema}.t VALUES (2)`)
  await shell(PG_RESTORE)
  t.equal(await rows(mine.schema), 1, "the instance's schema is back as it was dumped")
  t.equal(await rows(other.schema), 2, "another instance's schema is untouched")
})

import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { connectionOf } from '../helpers/full-disk.js'

/** The SQLite read-model database. */

t.test('queries read together see one snapshot, whatever another connection commits between them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-sqlite-'))
  const path = join(dir, 'read.db')
  const db = new SqliteDatabase(path)
  // Another connection to the file, as the projection thread has; here it commits from inside the
  // read, through a function the read's second query calls, exactly between the first and the last.
  const other = new Database(path)
  t.teardown(async () => {
    other.close()
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  await db.transaction([{ script: 'CREATE TABLE counted (n INTEGER PRIMARY KEY)' }])
  let inserted = 0
  connectionOf(db).function('commit_elsewhere', () => {
    other.prepare('INSERT INTO counted (n) VALUES (?)').run(++inserted)
    return inserted
  })
  const count = 'SELECT count(*) AS count FROM counted'
  const [before, , after] = (await db.queryTogether([{ sql: count }, { sql: 'SELECT commit_elsewhere()' }, { sql: count }])) as Array<
    Array<{ count: number }>
  >
  t.equal(inserted, 1, 'the other connection committed during the read')
  t.equal(before?.[0]?.count, 0)
  t.equal(after?.[0]?.count, 0, 'the last query sees what the first saw, not the insert')
  t.equal((await db.query<{ count: number }>(count))[0]?.count, 1, 'a read after it sees the insert')
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb.js'
import { SqlClaims } from '../../src/eventstore/sql-claims.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { eventStoreContract } from './contract.js'

/**
 * The event store contract on KurrentDB. No KurrentDB server can run on the machines this
 * project is built on, so the suite runs only when KURRENTDB_URL names one, e.g.
 * KURRENTDB_URL='kurrentdb://127.0.0.1:2113?tls=false' (start one with `docker compose up kurrentdb`);
 * otherwise it reports itself skipped with the reason. Never a mock in its place.
 */

const url = process.env.KURRENTDB_URL
const skip = url === undefined || url === '' ? 'KURRENTDB_URL is not set: no KurrentDB server to run the contract against' : false

if (skip) t.test('event store contract: kurrentdb', { skip }, () => {})
else {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-kurrentdb-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The claims live in the read models' SQL database, as in the service.
  const claimsDb = new SqliteDatabase(join(dir, 'claims.db'))
  await migrate(claimsDb, await loadMigrations())
  t.teardown(() => claimsDb.close())
  await eventStoreContract(t, {
    name: 'kurrentdb',
    open: async () => new KurrentDbEventStore({ url: url as string, claims: new SqlClaims(claimsDb) }),
    // One server's log, shared by every test and every earlier run.
    emptyOnOpen: false,
    eventIdsUnique: 'stream',
    anyPositionIsACheckpoint: false,
  })
}

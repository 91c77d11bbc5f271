import t from 'tap'
import { StorageFullError, StoreTimeoutError, StoreUnavailableError } from '../../src/eventstore/port.js'
import { asUnavailable, DatabaseUnavailableError, isConnectionError } from '../../src/sql/pg-pool.js'

/**
 * Which PostgreSQL errors are the database being unavailable (503, tried again) and which are a
 * statement's own failure (as they are). The server raises them for real in
 * test/http/database-outage.test.ts (a cut connection) and test/crash/postgres-full-disk.test.ts
 * (a full tablespace); here every SQLSTATE of the mapping, one by one.
 */

const pgError = (code: string, message = `SQLSTATE ${code}`): Error => Object.assign(new Error(message), { code })

t.test('a full disk (53100) is a StorageFullError, a 503 that names the full disk', async (t) => {
  const mapped = asUnavailable(pgError('53100', 'could not extend file "base/1/2": No space left on device'))
  t.ok(mapped instanceof StorageFullError)
  t.ok(mapped instanceof StoreUnavailableError)
  t.match((mapped as Error).message, /the disk holding the database \(PostgreSQL\) is full: could not extend file/)
  t.notOk(isConnectionError(pgError('53100')), 'the connection stays usable: it goes back to the pool')
})

t.test('a lost or refused connection is a DatabaseUnavailableError', async (t) => {
  for (const code of ['08006', '08001', '57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET']) {
    t.ok(asUnavailable(pgError(code)) instanceof DatabaseUnavailableError, code)
  }
})

t.test('a statement timeout (57014) is a StoreTimeoutError, a 503 that says the database is busy', async (t) => {
  const mapped = asUnavailable(pgError('57014', 'canceling statement due to statement timeout'))
  t.ok(mapped instanceof StoreTimeoutError)
  t.ok(mapped instanceof StoreUnavailableError)
  t.match((mapped as Error).message, /the database \(PostgreSQL\) did not finish a statement in time: canceling statement/)
  t.notOk(isConnectionError(pgError('57014')), 'the connection stays usable: it goes back to the pool')
})

t.test("pg's own read timeout discards the connection: its statement may still run", async (t) => {
  const timedOut = new Error('Query read timeout')
  t.ok(isConnectionError(timedOut), 'not put back in the pool')
  t.ok(asUnavailable(timedOut) instanceof DatabaseUnavailableError)
})

t.test("a statement's own failure stays as it is", async (t) => {
  for (const code of ['23505', '40001', '42P01']) {
    const error = pgError(code)
    t.equal(asUnavailable(error), error, code)
  }
  const unavailable = new StorageFullError('x', new Error('full'))
  t.equal(asUnavailable(unavailable), unavailable, 'an error already mapped is not wrapped again')
})

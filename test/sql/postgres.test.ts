import fc from 'fast-check'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { openService, openStores } from '../../src/service.js'
import { loadMigrations, migrate } from '../../src/sql/migrate.js'
import { createTestSchema, skipWithoutPostgres } from '../helpers/postgres.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/** The PostgreSQL read-model database: migrations under a lock, and statements that keep every value exact. */

const skip = await skipWithoutPostgres()
const logger = pino({ level: 'silent' })

/** The stores on a new schema of their own, dropped when the test ends, with one table made by `create`. */
async function storesWithTable(t: { teardown(fn: () => unknown): void }, create: string) {
  const schema = await createTestSchema()
  const stores = await openStores(parseConfig({ DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET }), 'test', { logger })
  t.teardown(async () => {
    await stores.close()
    await schema.drop()
  })
  await stores.db.transaction([{ script: create }])
  return stores
}

t.test('two processes migrating one database at once apply each migration once', { skip }, async (t) => {
  const schema = await createTestSchema()
  const config = parseConfig({ DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET })
  const [a, b] = [await openStores(config, 'migrate', { logger }), await openStores(config, 'migrate', { logger })]
  t.teardown(async () => {
    await a.close()
    await b.close()
    await schema.drop()
  })
  const migrations = await loadMigrations()
  const applied = await Promise.all([a, b].map((stores) => stores.db.exclusive('migrations', () => migrate(stores.db, migrations))))
  t.same(
    [...applied].sort((x, y) => y.length - x.length),
    [migrations.map((migration) => migration.version), []],
    'one applied them all, the other found nothing to do',
  )
  const rows = await a.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
  t.same(rows.map((row) => Number(row.version)), migrations.map((migration) => migration.version))
})

t.test('two services starting at once on a new database both start', { skip }, async (t) => {
  const schema = await createTestSchema()
  const config = parseConfig({ DATABASE_URL: schema.url, JWT_SECRET: TEST_JWT_SECRET, AUDIT_SEAL_KEY: 'k'.repeat(40) })
  const services = await Promise.all([openService(config, logger), openService(config, logger)])
  t.teardown(async () => {
    for (const service of services) await service.close()
    await schema.drop()
  })
  const projecting = services.map((service) => service.runner.status().projecting)
  t.same([...projecting].sort(), [false, true], 'exactly one of them projects')
})

t.test('values go through a transaction of many statements exactly', { skip }, async (t) => {
  const stores = await storesWithTable(t, 'CREATE TABLE kept (n INTEGER PRIMARY KEY, text TEXT, cents BIGINT)')
  let n = 0
  // Text without NUL (PostgreSQL refuses it in TEXT; the API refuses control characters first).
  const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((value) => !value.includes('\u0000'))
  const texts = fc.oneof(text, fc.constantFrom("'", "''", '\\', "\\'", '?', '$1', 'E\'x\'', ';DROP TABLE kept;--', '😀', ''))
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(texts, fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n })), { minLength: 1, maxLength: 20, size: 'max' }), async (rows) => {
      const first = n
      await stores.db.transaction(
        rows.map(([value, cents]) => ({ sql: 'INSERT INTO kept (n, text, cents) VALUES (?, ?, ?)', params: [n++, value, cents] })),
      )
      const back = await stores.db.query<{ text: string; cents: string }>(
        'SELECT text, CAST(cents AS TEXT) AS cents FROM kept WHERE n >= ? ORDER BY n',
        [first],
      )
      t.same(back, rows.map(([value, cents]) => ({ text: value, cents: cents.toString() })))
    }),
    { numRuns: 100 },
  )
  const [count] = await stores.db.query<{ count: number }>('SELECT count(*) AS count FROM kept')
  t.equal(Number(count?.count), n, 'the table is still there, with every row')
})

t.test('queries read together see one snapshot, whatever another connection commits between them', { skip }, async (t) => {
  const stores = await storesWithTable(t, 'CREATE TABLE counted (n INTEGER PRIMARY KEY)')
  const count = 'SELECT count(*) AS count FROM counted'
  // The second query sleeps; meanwhile another connection of the pool inserts and commits.
  const reading = stores.db.queryTogether([{ sql: count }, { sql: 'SELECT pg_sleep(0.5)' }, { sql: count }])
  await new Promise((resolve) => setTimeout(resolve, 100))
  await stores.db.transaction([{ sql: 'INSERT INTO counted (n) VALUES (1)', params: [] }])
  const committed = await stores.db.query<{ count: string }>(count)
  t.equal(Number(committed[0]?.count), 1, 'the insert is committed while the read still runs')
  const [before, , after] = (await reading) as Array<Array<{ count: string }>>
  t.equal(Number(before?.[0]?.count), 0)
  t.equal(Number(after?.[0]?.count), 0, 'the last query sees what the first saw, not the insert')
})

t.test('a query that fails among those read together rolls back, and the connections stay usable', { skip }, async (t) => {
  const stores = await storesWithTable(t, 'CREATE TABLE counted (n INTEGER PRIMARY KEY)')
  // Fail on every connection of the pool in turn: none may go back to it inside a transaction.
  for (let attempt = 0; attempt < 12; attempt++) {
    await t.rejects(stores.db.queryTogether([{ sql: 'SELECT 1' }, { sql: 'SELECT * FROM no_such_table' }]), /no_such_table/)
  }
  await stores.db.transaction([{ sql: 'INSERT INTO counted (n) VALUES (?)', params: [1] }])
  const [answer] = await stores.db.queryTogether([{ sql: 'SELECT count(*) AS count FROM counted' }])
  t.equal(Number((answer as Array<{ count: string }>)[0]?.count), 1, 'a write and a read after them work')
})

import t from 'tap'
import { ConfigError, parseConfig } from '../src/config.js'

t.test('defaults: the embedded store on 127.0.0.1:3000', async (t) => {
  const config = parseConfig({})
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.same(config.database, { kind: 'sqlite', path: './data/sojus-ledger.db' })
  t.equal(config.eventStoreUrl, undefined)
  t.equal(config.logLevel, 'info')
})

t.test('an empty variable means unset', async (t) => {
  const config = parseConfig({ PORT: '', HOST: '', DATABASE_URL: '', LOG_LEVEL: '' })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.database.kind, 'sqlite')
})

t.test('values are read and checked', async (t) => {
  const config = parseConfig({ PORT: '8080', HOST: '0.0.0.0', DATABASE_URL: 'postgres://u@db/ledger', LOG_LEVEL: 'warn' })
  t.equal(config.port, 8080)
  t.same(config.database, { kind: 'postgres', url: 'postgres://u@db/ledger' })
  for (const bad of [{ PORT: 'eighty' }, { PORT: '70000' }, { DATABASE_URL: 'mysql://x' }, { LOG_LEVEL: 'loud' }, { EVENTSTORE_URL: 'http://x' }]) {
    t.throws(() => parseConfig(bad), ConfigError, JSON.stringify(bad))
  }
  t.throws(() => parseConfig({ PORT: 'eighty' }), /PORT/, 'the message names the variable')
})

t.test('stores that have no adapter yet are refused with a clear message', async (t) => {
  const { openStores } = await import('../src/service.js')
  t.throws(() => openStores(parseConfig({ DATABASE_URL: 'postgres://u@db/ledger' })), { name: 'ConfigError', message: /not supported yet/ })
  t.throws(() => openStores(parseConfig({ EVENTSTORE_URL: 'kurrentdb://localhost:2113' })), { name: 'ConfigError', message: /KurrentDB/ })
})

import t from 'tap'
import { ConfigError, parseConfig } from '../src/config.js'

t.test('defaults: the embedded store on 127.0.0.1:3000', async (t) => {
  const config = parseConfig({})
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.same(config.database, { kind: 'sqlite', path: './data/sojus-ledger.db' })
  t.equal(config.eventStoreUrl, undefined)
  t.equal(config.logLevel, 'info')
  t.same(config.tokens.keys, { kind: 'generated-secret', path: 'data/jwt-secret' }, 'a secret beside the database')
  t.equal(config.fourEyesThresholdCents, 1_000_000n, 'four eyes from 10000.00')
  t.equal(config.rateLimitPerMinute, 60_000)
})

t.test('an empty variable means unset', async (t) => {
  const config = parseConfig({ PORT: '', HOST: '', DATABASE_URL: '', LOG_LEVEL: '' })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.database.kind, 'sqlite')
})

t.test('values are read and checked', async (t) => {
  const config = parseConfig({
    PORT: '8080',
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgres://u@db/ledger',
    LOG_LEVEL: 'warn',
    JWKS_URL: 'https://sso.example.org/realms/jugendamt/protocol/openid-connect/certs',
    JWT_ISSUER: 'https://sso.example.org/realms/jugendamt',
    JWT_AUDIENCE: 'sojus-ledger',
    FOUR_EYES_THRESHOLD: '5000.5',
    RATE_LIMIT_PER_MINUTE: '0',
  })
  t.equal(config.port, 8080)
  t.same(config.database, { kind: 'postgres', url: 'postgres://u@db/ledger', poolSize: 10, statementTimeoutMs: 30_000 })
  t.same(config.tokens, {
    keys: { kind: 'jwks', url: 'https://sso.example.org/realms/jugendamt/protocol/openid-connect/certs' },
    issuer: 'https://sso.example.org/realms/jugendamt',
    audience: 'sojus-ledger',
  })
  t.equal(config.fourEyesThresholdCents, 500_050n)
  t.equal(config.rateLimitPerMinute, 0, '0 turns the rate limit off')
  t.equal(config.trustProxy, false, 'no proxy is trusted by default')
  t.equal(parseConfig({ TRUST_PROXY: '1' }).trustProxy, 1, 'hops')
  t.equal(parseConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(parseConfig({ TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy, '10.0.0.0/8,127.0.0.1', 'addresses')
  t.same(parseConfig({ JWT_SECRET: 'x'.repeat(32) }).tokens.keys, { kind: 'secret', secret: 'x'.repeat(32) })
  for (const bad of [
    { PORT: 'eighty' },
    { PORT: '70000' },
    { DATABASE_URL: 'mysql://x' },
    { DATABASE_URL: 'sqlite::memory:' },
    { DATABASE_URL: 'sqlite: ' },
    { LOG_LEVEL: 'loud' },
    { EVENTSTORE_URL: 'http://x' },
    { JWT_SECRET: 'too-short' },
    { JWKS_URL: 'ftp://keys' },
    { JWT_SECRET: 'x'.repeat(32), JWKS_URL: 'https://sso.example.org/certs' },
    { DATABASE_URL: 'postgres://u@db/ledger' },
    { FOUR_EYES_THRESHOLD: '0' },
    { FOUR_EYES_THRESHOLD: '10000.001' },
    { FOUR_EYES_THRESHOLD: 'ten thousand' },
    { RATE_LIMIT_PER_MINUTE: '-1' },
    { TRUST_PROXY: 'everyone' },
    { UTILISATION_WARNINGS_AMBULATORY: '95,80' },
    { UTILISATION_WARNINGS_AMBULATORY: '80,80' },
    { UTILISATION_WARNINGS_FLEXIBLE: '0' },
    { UTILISATION_WARNINGS_FLEXIBLE: '1001' },
    { UTILISATION_WARNINGS_FLEXIBLE: '80;95' },
  ]) {
    t.throws(() => parseConfig(bad), ConfigError, JSON.stringify(bad))
  }
  t.throws(() => parseConfig({ PORT: 'eighty' }), /PORT/, 'the message names the variable')
})

t.test('DATABASE_URL=sqlite: names a file: not the in-memory database, not a blank path', async (t) => {
  t.throws(() => parseConfig({ DATABASE_URL: 'sqlite::memory:' }), /DATABASE_URL: must name a file: sqlite::memory: would lose every event/)
  t.throws(() => parseConfig({ DATABASE_URL: 'sqlite: ' }), /DATABASE_URL: sqlite: needs the path of the store file/)
  t.throws(() => parseConfig({ DATABASE_URL: 'sqlite:\t' }), /DATABASE_URL/)
  t.same(parseConfig({ DATABASE_URL: 'sqlite:./memory.db' }).database, { kind: 'sqlite', path: './memory.db' })
})

t.test('PORT is decimal digits; the PostgreSQL and Redis URLs must parse, and no message shows them', async (t) => {
  t.equal(parseConfig({ PORT: '0' }).port, 0, '0: any free port')
  t.equal(parseConfig({ PORT: '65535' }).port, 65_535)
  for (const bad of ['0x50', '1e3', ' 80', '80 ', '8080.0', '-1', '65536', '+80']) {
    t.throws(() => parseConfig({ PORT: bad }), /PORT: must be a port number in decimal digits, 0 to 65535/, `PORT=${JSON.stringify(bad)}`)
  }
  const secret = { JWT_SECRET: 'x'.repeat(32) }
  for (const url of ['postgres://u:pw-not-shown@127.0.0.1:99999/db', 'postgresql://u:pw-not-shown@[::1:5432/db']) {
    const error = (() => {
      try {
        parseConfig({ ...secret, DATABASE_URL: url })
      } catch (error) {
        return error
      }
    })()
    t.type(error, ConfigError, url)
    t.match(String(error), /DATABASE_URL: is not a URL the PostgreSQL driver can parse/)
    t.notMatch(String(error), /pw-not-shown/, 'the password is not shown')
  }
  for (const url of [
    'postgres://u@db/ledger',
    'postgres://u:p%40ss@db:5432/ledger?sslmode=require',
    'postgres://u@/ledger?host=/var/run/postgresql',
    'postgres://u@db/ledger?options=-c%20search_path%3Dledger',
    'postgres://u:pa ss@db/ledger',
    // The driver's parser reads certificate files; one this machine lacks is the connection's to report.
    'postgres://u@db/ledger?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem',
  ]) {
    t.equal(parseConfig({ ...secret, DATABASE_URL: url }).database.kind, 'postgres', `${url} is taken`)
  }
  t.throws(() => parseConfig({ REDIS_URL: 'redis://:pw-not-shown@127.0.0.1:99999' }), /REDIS_URL: is not a URL that parses/)
  t.notMatch(String((() => {
    try {
      parseConfig({ REDIS_URL: 'redis://:pw-not-shown@127.0.0.1:99999' })
    } catch (error) {
      return error
    }
  })()), /pw-not-shown/)
  t.equal(parseConfig({ REDIS_URL: 'rediss://:pw@cache:6380/0' }).redisUrl, 'rediss://:pw@cache:6380/0')
})

t.test('utilisation thresholds per line: 80 and 95 by default, a list, or none', async (t) => {
  const base = { JWT_SECRET: 'x'.repeat(32) }
  t.same(parseConfig(base).utilisationThresholds, { ambulatory: [80, 95], flexible: [80, 95] })
  t.same(
    parseConfig({ ...base, UTILISATION_WARNINGS_AMBULATORY: '50,75.5,100', UTILISATION_WARNINGS_FLEXIBLE: 'none' }).utilisationThresholds,
    { ambulatory: [50, 75.5, 100], flexible: [] },
  )
})

t.test('an unreachable PostgreSQL is named as such when the stores open', async (t) => {
  const { openStores } = await import('../src/service.js')
  const config = parseConfig({ JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://u@127.0.0.1:1/ledger' })
  await t.rejects(openStores(config, 'test'), { name: 'DatabaseUnavailableError', message: /not reachable/ })
})

t.test('EVENTSTORE_URL takes the forms KurrentDB\'s client takes', async (t) => {
  const secret = { JWT_SECRET: 'x'.repeat(32) }
  for (const url of ['kurrentdb://127.0.0.1:2113?tls=false', 'kurrentdb+discover://a:2113,b:2113,c:2113', 'esdb://localhost:2113']) {
    t.equal(parseConfig({ ...secret, EVENTSTORE_URL: url }).eventStoreUrl, url, url)
  }
  t.throws(() => parseConfig({ ...secret, EVENTSTORE_URL: 'http://localhost:2113' }), /EVENTSTORE_URL/)
  // With it the client answers a conflict as a "successful" append: refused.
  for (const url of ['kurrentdb://127.0.0.1:2113?tls=false&throwOnAppendFailure=false', 'esdb://h:2113?ThrowOnAppendFailure=false']) {
    t.throws(() => parseConfig({ ...secret, EVENTSTORE_URL: url }), /EVENTSTORE_URL.*throwOnAppendFailure/, url)
  }
  t.ok(parseConfig({ ...secret, EVENTSTORE_URL: 'kurrentdb://h:2113?throwOnAppendFailure=true' }).eventStoreUrl, 'true is the default, and taken')
})

t.test('PostgreSQL settings', async (t) => {
  const config = parseConfig({ JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://u@db/ledger', DATABASE_POOL_SIZE: '4' })
  t.match(config.database, { kind: 'postgres', url: 'postgres://u@db/ledger', poolSize: 4, statementTimeoutMs: 30_000 })
  t.throws(() => parseConfig({ JWT_SECRET: 'x'.repeat(32), DATABASE_POOL_SIZE: '1' }), /DATABASE_POOL_SIZE/)
  t.throws(() => parseConfig({ JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'http://redis' }), /REDIS_URL/)
})

t.test('the dashboard signs in at an identity provider with OIDC_ISSUER and OIDC_CLIENT_ID, or with a token form', async (t) => {
  const provider = {
    JWKS_URL: 'https://sso.example.org/realms/jugendamt/protocol/openid-connect/certs',
    JWT_ISSUER: 'https://sso.example.org/realms/jugendamt',
    JWT_AUDIENCE: 'sojus-ledger',
  }
  t.equal(parseConfig({}).oidc, undefined, 'the token form by default')
  t.same(parseConfig({ ...provider, OIDC_ISSUER: provider.JWT_ISSUER, OIDC_CLIENT_ID: 'sojus-dashboard' }).oidc, {
    issuer: provider.JWT_ISSUER,
    clientId: 'sojus-dashboard',
    scope: 'openid profile',
    connectOrigins: [],
  })
  t.same(
    parseConfig({ ...provider, OIDC_ISSUER: 'https://accounts.google.com', OIDC_CLIENT_ID: 'c', OIDC_CONNECT_ORIGINS: 'https://oauth2.googleapis.com/, http://localhost:8080' })
      .oidc?.connectOrigins,
    ['https://oauth2.googleapis.com', 'http://localhost:8080'],
    'OIDC_CONNECT_ORIGINS: origins, http only on loopback',
  )
  t.equal(
    parseConfig({ ...provider, OIDC_ISSUER: 'http://127.0.0.1:8080/realms/x', OIDC_CLIENT_ID: 'c', OIDC_SCOPE: 'openid roles' }).oidc?.scope,
    'openid roles',
  )
  for (const [bad, why] of [
    [{ ...provider, OIDC_ISSUER: provider.JWT_ISSUER }, /together/],
    [{ ...provider, OIDC_CLIENT_ID: 'c' }, /together/],
    [{ OIDC_ISSUER: provider.JWT_ISSUER, OIDC_CLIENT_ID: 'c' }, /JWKS_URL/],
    [{ ...provider, OIDC_ISSUER: 'http://sso.example.org/realms/x', OIDC_CLIENT_ID: 'c' }, /OIDC_ISSUER/],
    [{ ...provider, OIDC_ISSUER: provider.JWT_ISSUER, OIDC_CLIENT_ID: 'c', OIDC_SCOPE: 'openid\nprofile' }, /OIDC_SCOPE/],
    [{ ...provider, OIDC_CONNECT_ORIGINS: 'https://oauth2.googleapis.com' }, /OIDC_CONNECT_ORIGINS needs OIDC_ISSUER/],
    ...['http://oauth2.googleapis.com', 'https://oauth2.googleapis.com/token', 'oauth2.googleapis.com', 'https://a.example,', "https://a.example 'unsafe-inline'", '*'].map(
      (origins) => [{ ...provider, OIDC_ISSUER: provider.JWT_ISSUER, OIDC_CLIENT_ID: 'c', OIDC_CONNECT_ORIGINS: origins }, /OIDC_CONNECT_ORIGINS/] as const,
    ),
  ] as const) {
    t.throws(() => parseConfig(bad), why, JSON.stringify(bad))
  }
})

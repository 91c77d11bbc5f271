import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { projections } from '../projections/index.js'
import { Ledger } from './application/ledger.js'
import { cachedVerifier, loadOrCreateSecret, tokenVerifier, type TokenKeys, type VerifyToken } from './auth/tokens.js'
import { ConfigError, type Config, type TokenKeysConfig } from './config.js'
import type { EventStore } from './eventstore/port.js'
import { SqliteEventStore } from './eventstore/sqlite.js'
import { buildApp } from './http/app.js'
import { ProjectionRunner } from './projections/runner.js'
import { ReadModels } from './readmodels/queries.js'
import { loadMigrations, migrate } from './sql/migrate.js'
import type { SqlDatabase } from './sql/port.js'
import { SqliteDatabase } from './sql/sqlite.js'

export interface Service {
  app: FastifyInstance
  store: EventStore
  db: SqlDatabase
  runner: ProjectionRunner
  /** Stops taking requests, lets those in flight finish, stops the projections, closes the stores. */
  close(): Promise<void>
}

export interface ServiceOverrides {
  clock?: () => Date
  /** Failed authentications per minute per client address (tests lower it). */
  failedAuthenticationsPerMinute?: number
}

/** The keys tokens are verified with; the embedded default makes its secret on first start. */
export function tokenKeys(keys: TokenKeysConfig): TokenKeys {
  return keys.kind === 'generated-secret' ? { kind: 'secret', secret: loadOrCreateSecret(keys.path) } : keys
}

export function openTokenVerifier(config: Config): VerifyToken {
  return cachedVerifier(
    tokenVerifier(tokenKeys(config.tokens.keys), { issuer: config.tokens.issuer, audience: config.tokens.audience }),
  )
}

/** Opens the stores the configuration names. PostgreSQL and KurrentDB adapters come with their own issues. */
export function openStores(config: Config): { store: EventStore; db: SqlDatabase } {
  if (config.eventStoreUrl !== undefined) {
    throw new ConfigError('EVENTSTORE_URL (KurrentDB) is not supported yet; unset it to keep the events in DATABASE_URL')
  }
  if (config.database.kind !== 'sqlite') {
    throw new ConfigError('DATABASE_URL=postgres://… is not supported yet; use sqlite:<path>')
  }
  return { store: new SqliteEventStore(config.database.path), db: new SqliteDatabase(config.database.path) }
}

/** Wires the whole service: the one place where the parts meet. */
export async function openService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Service> {
  const verifyToken = openTokenVerifier(config)
  const { store, db } = openStores(config)
  try {
    const applied = await migrate(db, await loadMigrations())
    if (applied.length > 0) logger.info({ applied }, 'applied migrations')
    const runner = new ProjectionRunner({ store, db, projections, logger: logger.child({ component: 'projections' }) })
    await runner.start()
    const readModels = new ReadModels(db)
    const ledger = new Ledger({
      store,
      clock: overrides.clock ?? (() => new Date()),
      newEventId: randomUUID,
      findIdempotentWrite: (actorSub, key) => readModels.idempotentWrite(actorSub, key),
      budgetPolicy: { fourEyesThresholdCents: config.fourEyesThresholdCents },
    })
    const app = await buildApp({
      ledger,
      readModels,
      runner,
      store,
      readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
      verifyToken,
      rateLimitPerMinute: config.rateLimitPerMinute,
      trustProxy: config.trustProxy,
      ...(overrides.failedAuthenticationsPerMinute === undefined
        ? {}
        : { failedAuthenticationsPerMinute: overrides.failedAuthenticationsPerMinute }),
      logger,
    })
    let closing: Promise<void> | undefined
    return {
      app,
      store,
      db,
      runner,
      close: () =>
        (closing ??= (async () => {
          await app.close()
          await runner.stop()
          await store.close()
          await db.close()
        })()),
    }
  } catch (error) {
    await store.close()
    await db.close()
    throw error
  }
}

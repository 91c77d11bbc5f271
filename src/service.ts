import { builtDashboard } from './http/routes/dashboard.js'
import { v7 as uuidv7 } from 'uuid'
import type { FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { projections } from '../projections/index.js'
import type { KeyHolds } from './application/idempotency-keys.js'
import { Ledger } from './application/ledger.js'
import { loadSealKey } from './audit/seal.js'
import { LogVerifier, sqlEventLocator, type LocateEvent } from './audit/verify.js'
import { cachedVerifier, loadOrCreateSecret, tokenVerifier, type TokenKeys, type VerifyToken } from './auth/tokens.js'
import { type Config, type TokenKeysConfig } from './config.js'
import type { EventStore } from './eventstore/port.js'
import { KurrentDbEventStore } from './eventstore/kurrentdb.js'
import { PostgresEventStore } from './eventstore/postgres.js'
import { SqlClaims } from './eventstore/sql-claims.js'
import { SqliteEventStore } from './eventstore/sqlite.js'
import { StoreLock } from './eventstore/store-lock.js'
import { buildApp } from './http/app.js'
import { meteredEventStore, ServiceMetrics } from './metrics.js'
import { ProjectionRunner, type Projector } from '../projections/runner.js'
import { ThreadRunner } from '../projections/thread-runner.js'
import { ReadModels } from './readmodels/queries.js'
import { FiscalYearQueries } from './readmodels/fiscal-years.js'
import { ReportQueries } from './readmodels/reports.js'
import { ProcessRunner } from './application/processes.js'
import { readModelYearOrder } from './application/year-order.js'
import { loadMigrations, migrateExclusively, schemaGuard, type Migration } from './sql/migrate.js'
import type { SqlDatabase } from './sql/port.js'
import { SqliteDatabase } from './sql/sqlite.js'
import { PgKeyHolds } from './sql/pg-key-holds.js'
import { PgProjectorLease } from './sql/pg-lease.js'
import { asUnavailable, clientConfig, createPgPool, currentSchema } from './sql/pg-pool.js'
import { PgSession } from './sql/pg-session.js'
import { PostgresDatabase } from './sql/postgres.js'
import { soleProjector, type ProjectorLease } from '../projections/lease.js'

export interface Service {
  app: FastifyInstance
  store: EventStore
  db: SqlDatabase
  /** The projections: on the embedded store a thread of their own (ThreadRunner), else on the event loop. */
  runner: Projector
  /** This instance's Prometheus registry and metrics (GET /metrics). */
  metrics: ServiceMetrics
  /** Stops taking requests, lets those in flight finish, stops the projections, closes the stores. */
  close(): Promise<void>
}

export interface ServiceOverrides {
  clock?: () => Date
  /** Failed authentications per minute per client address (tests lower it). */
  failedAuthenticationsPerMinute?: number
  /** Called with the HTTP app before its routes are declared (tests add hooks every route gets). */
  onApp?: (app: FastifyInstance) => void
  /** false runs the embedded store's projections on the event loop, as other stores do (the benchmarks compare both). */
  projectionThread?: boolean
  /** How often the year-close and move processes look for work besides being kicked (1 s; tests raise it). */
  processIntervalMs?: number
  /** How long a keyed write waits for another process's hold on its key (5 s; tests lower it). */
  keyHoldWaitMs?: number
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

export interface Stores {
  store: EventStore
  db: SqlDatabase
  /** Who projects: on PostgreSQL one process of several, elected; on SQLite the one owner. */
  lease: ProjectorLease
  /** Holds a keyed write's Idempotency-Key across the processes of one PostgreSQL store; none on SQLite (one process). */
  keyHolds: KeyHolds | undefined
  /** Where verify finds an event the store cannot read (the SQL stores keep an `events` table; KurrentDB has none). */
  locate: LocateEvent | undefined
  /** The embedded store in a file, whose projections may run on a thread of their own with their own connections. */
  embedded: { path: string; store: SqliteEventStore } | undefined
  /** Closes both stores and lets the next owner in. */
  close(): Promise<void>
}

export interface StoreOptions {
  logger?: Logger
  /** How long a write waits for another process's hold on its key (KEY_HOLD_WAIT_MS; tests lower it). */
  keyHoldWaitMs?: number
}

/** The event store kept outside the SQL database (KurrentDB), made once the SQL side is open. */
type ExternalEventStore = ((db: SqlDatabase) => EventStore) | undefined

/**
 * Opens the stores the configuration names. SQLite is opened by its one owner: `purpose` (serve,
 * migrate, rebuild-projections) names this process to another that finds the store in use.
 * PostgreSQL is shared by any number of processes. With EVENTSTORE_URL the events live in
 * KurrentDB, and the read models (with the idempotency claims) in DATABASE_URL's SQL database.
 */
export async function openStores(config: Config, purpose: string, options: StoreOptions = {}): Promise<Stores> {
  const logger = options.logger ?? pino({ level: 'silent' })
  const url = config.eventStoreUrl
  const external: ExternalEventStore = url === undefined ? undefined : (db) => new KurrentDbEventStore({ url, claims: new SqlClaims(db) })
  if (config.database.kind === 'postgres') return openPostgresStores(config.database, purpose, { ...options, logger }, external)
  return openSqliteStores(config.database.path, purpose, external)
}

function openSqliteStores(path: string, purpose: string, external: ExternalEventStore): Stores {
  const lock = StoreLock.acquire(path, purpose)
  try {
    const db = new SqliteDatabase(path)
    let embedded: SqliteEventStore | undefined
    const store = external ? external(db) : (embedded = new SqliteEventStore(path))
    return {
      store,
      db,
      lease: soleProjector,
      keyHolds: undefined,
      locate: external ? undefined : sqlEventLocator(db),
      embedded: embedded && path !== ':memory:' ? { path, store: embedded } : undefined,
      close: async () => {
        try {
          await store.close()
          await db.close()
        } finally {
          lock.release()
        }
      },
    }
  } catch (error) {
    lock.release()
    throw error
  }
}

async function openPostgresStores(
  database: Extract<Config['database'], { kind: 'postgres' }>,
  purpose: string,
  { logger, keyHoldWaitMs }: StoreOptions & { logger: Logger },
  external: ExternalEventStore,
): Promise<Stores> {
  const poolOptions = { url: database.url, poolSize: database.poolSize, statementTimeoutMs: database.statementTimeoutMs, logger }
  const pool = createPgPool(poolOptions)
  const session = new PgSession(clientConfig(poolOptions), logger.child({ component: 'database-session' }))
  // The held Idempotency-Keys have a session of their own, for the service only: resetting it
  // (a batch of takes that failed part-way) must not end the projector's lease or the LISTENs.
  const keySession = purpose === 'serve' ? new PgSession(clientConfig(poolOptions), logger.child({ component: 'key-holds' })) : undefined
  const closeAll = async () => {
    await keySession?.close()
    await session.close()
    await pool.end()
  }
  try {
    const schema = await currentSchema(pool).catch((error: unknown) => Promise.reject(asUnavailable(error)))
    await session.start()
    await keySession?.start()
    const db = new PostgresDatabase(pool, schema)
    const store = external ? external(db) : await PostgresEventStore.open({ pool, session, schema })
    return {
      store,
      db,
      lease: new PgProjectorLease(session, schema, logger.child({ component: 'projections' })),
      keyHolds: keySession && new PgKeyHolds(keySession, schema, keyHoldWaitMs),
      locate: external ? undefined : sqlEventLocator(db),
      embedded: undefined,
      close: async () => {
        await store.close()
        await closeAll()
      },
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}

/**
 * Applies the migrations under the lock every process migrates under and, when it applied any,
 * tells the other processes: a running projector of an older version then stops at once
 * (runner.ts, schemaGuard), not only at its next batch.
 */
export async function migrateStores(stores: Stores, migrations: readonly Migration[]): Promise<number[]> {
  const applied = await migrateExclusively(stores.db, migrations)
  // Best effort: the migrations are committed, and an old projector that is not told stops at its
  // next batch all the same (the guard); failing here would leave nobody to announce them.
  if (applied.length > 0 && stores.lease.announce.length > 0) await stores.db.transaction(stores.lease.announce).catch(() => undefined)
  return applied
}

/** Wires the whole service: the one place where the parts meet. */
export async function openService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Service> {
  // The stores first: they create the data folder with its private mode, and refuse a second owner.
  const stores = await openStores(config, 'serve', {
    logger,
    ...(overrides.keyHoldWaitMs === undefined ? {} : { keyHoldWaitMs: overrides.keyHoldWaitMs }),
  })
  const { store, db } = stores
  let app: FastifyInstance | undefined
  let starting: { runner: Projector; started: Promise<void> } | undefined
  try {
    const verifyToken = openTokenVerifier(config)
    const migrations = await loadMigrations()
    const applied = await migrateStores(stores, migrations)
    if (applied.length > 0) logger.info({ applied }, 'applied migrations')
    const guard = schemaGuard(db, migrations)
    const projectionLogger = logger.child({ component: 'projections' })
    const embedded = overrides.projectionThread === false ? undefined : stores.embedded
    const runner: Projector = embedded
      ? new ThreadRunner({ path: embedded.path, store: embedded.store, logger: projectionLogger })
      : new ProjectionRunner({ store, db, projections, lease: stores.lease, logger: projectionLogger, ...(guard && { schemaGuard: guard }) })
    const readModels = new ReadModels(db)
    const fiscalYears = new FiscalYearQueries(db)
    const reports = new ReportQueries(db)
    const clock = overrides.clock ?? (() => new Date())
    // A registry per service, never the global one. The appends of the Ledger and of the HTTP
    // routes (the export's record) go through the metered store; the runner reads the raw one.
    const metrics = new ServiceMetrics({ processDefaults: config.metricsToken !== undefined })
    const meteredStore = meteredEventStore(store, metrics)
    metrics.watchProjections(runner, store, clock)
    const verifier = new LogVerifier({
      store,
      db,
      sealKey: loadSealKey(config.auditSealKey),
      clock,
      ...(stores.locate === undefined ? {} : { locate: stores.locate }),
    })
    const ledger = new Ledger({
      store: meteredStore,
      clock,
      // Time-ordered (UUIDv7): a group commit's new ids land on the last page of the event_id index
      // instead of one random page each, so the writer writes fewer pages per commit (README, Performance).
      newEventId: uuidv7,
      findIdempotentWrite: (actorSub, key) => readModels.idempotentWrite(actorSub, key),
      ...(stores.keyHolds === undefined ? {} : { keyHolds: stores.keyHolds }),
      budgetPolicy: { fourEyesThresholdCents: config.fourEyesThresholdCents },
      yearOrder: readModelYearOrder({
        queries: fiscalYears,
        headPosition: () => store.headPosition(),
        waitFor: (position, timeoutMs, names) => runner.waitFor(position, timeoutMs, names),
      }),
    })
    const processes = new ProcessRunner({
      ledger,
      queries: fiscalYears,
      store,
      waitFor: (position, timeoutMs, names) => runner.waitFor(position, timeoutMs, names),
      isLeader: () => runner.status().projecting,
      logger: logger.child({ component: 'processes' }),
      ...(overrides.processIntervalMs === undefined ? {} : { intervalMs: overrides.processIntervalMs }),
    })
    // Started before the HTTP app is built: the projection thread loads its code meanwhile, on the
    // second core. Awaited below; a failure meanwhile must not be an unhandled rejection.
    const runnerStarted = runner.start()
    runnerStarted.catch(() => undefined)
    starting = { runner, started: runnerStarted }
    app = await buildApp({
      ledger,
      readModels,
      fiscalYears,
      reports,
      processes,
      clock,
      utilisationThresholds: config.utilisationThresholds,
      runner,
      store: meteredStore,
      verifier,
      readYourWritesTimeoutMs: config.readYourWritesTimeoutMs,
      verifyToken,
      rateLimitPerMinute: config.rateLimitPerMinute,
      trustProxy: config.trustProxy,
      metrics,
      dashboard: { root: builtDashboard(), oidc: config.oidc },
      ...(config.metricsToken === undefined ? {} : { metricsToken: config.metricsToken }),
      ...(config.redisUrl === undefined ? {} : { redisUrl: config.redisUrl }),
      ...(overrides.failedAuthenticationsPerMinute === undefined
        ? {}
        : { failedAuthenticationsPerMinute: overrides.failedAuthenticationsPerMinute }),
      ...(overrides.onApp === undefined ? {} : { onApp: overrides.onApp }),
      logger,
    })
    await runnerStarted
    // Last, so that nothing is left running when an earlier step fails.
    processes.start()
    const started = app
    let closing: Promise<void> | undefined
    return {
      app: started,
      store,
      db,
      runner,
      metrics,
      close: () =>
        (closing ??= (async () => {
          await started.close()
          await processes.stop()
          await runner.stop()
          await stores.close()
        })()),
    }
  } catch (error) {
    await app?.close()
    try {
      // A runner still starting is let finish first, so that its stop finds nothing half begun.
      await starting?.started.catch(() => undefined)
      await starting?.runner.stop()
    } finally {
      await stores.close()
    }
    throw error
  }
}

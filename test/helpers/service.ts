import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { parseConfig, type Config } from '../../src/config.js'
import { openService, type Service, type ServiceOverrides } from '../../src/service.js'
import { createTestSchema, postgresUnreachable } from './postgres.js'
import { TEST_JWT_SECRET } from './tokens.js'

/**
 * Records every answer whose status (or, where the route names content types, whose content
 * type) the route does not declare in `schema.response`: the OpenAPI document is built from
 * those declarations, so an answer they miss is one the document hides. Unknown routes (the
 * not-found handler) and hidden routes (the interactive documentation's files) are not checked.
 */
export function recordUndeclaredAnswers(app: FastifyInstance, undeclared: Set<string>): void {
  app.addHook('onResponse', async (request, reply) => {
    // No route: the not-found handler, or the router refused the path (frameworkErrors).
    if (request.is404 || request.routeOptions.url === undefined) return
    const schema = request.routeOptions.schema
    if (schema?.hide === true) return
    const answers = (schema?.response ?? {}) as Record<string, { content?: Record<string, unknown> } | undefined>
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`
    const answer = answers[String(reply.statusCode)]
    if (answer === undefined) {
      undeclared.add(`${route} answered ${reply.statusCode}, which the route does not declare`)
      return
    }
    const mediaType = String(reply.getHeader('content-type') ?? '').split(';')[0]?.trim() ?? ''
    if (answer.content !== undefined && !(mediaType in answer.content)) {
      undeclared.add(`${route} answered ${reply.statusCode} as ${mediaType}, but declares ${Object.keys(answer.content).join(', ')}`)
    }
  })
}

/** Which store the HTTP and projection suites run on: TEST_STORE=postgres runs them on PostgreSQL. */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.TEST_STORE === 'postgres' ? 'postgres' : 'sqlite'

/** The key seals are signed with where there is no data folder to keep a generated one in (PostgreSQL). */
const POSTGRES_AUDIT_SEAL_KEY = 'test-audit-seal-key-'.padEnd(40, 'x')

export interface TestDatabase {
  /** Its DATABASE_URL. */
  url: string
  /** What a service on it needs: DATABASE_URL, and on PostgreSQL AUDIT_SEAL_KEY (no data folder, so no generated key). */
  environment: Record<string, string>
  /** Drops the PostgreSQL schema (the SQLite file's folder is the caller's to delete). */
  drop(): Promise<void>
}

/** A new database for a test (see TEST_STORE): an SQLite file in `dir`, or a new PostgreSQL schema. */
export async function createTestDatabase(dir: string): Promise<TestDatabase> {
  if (TEST_STORE === 'sqlite') {
    const url = `sqlite:${join(dir, 'ledger.db')}`
    return { url, environment: { DATABASE_URL: url }, drop: async () => {} }
  }
  const reason = await postgresUnreachable()
  if (reason !== undefined) throw new Error(`TEST_STORE=postgres, but ${reason}`)
  const schema = await createTestSchema()
  return { url: schema.url, environment: { DATABASE_URL: schema.url, AUDIT_SEAL_KEY: POSTGRES_AUDIT_SEAL_KEY }, drop: schema.drop }
}

/**
 * A fresh database (see TEST_STORE) with the configuration of a service on it, for a test that
 * opens services on it one after the other (a restart, a rebuild between): each service it opens
 * closes, and the database goes, when the test ends.
 */
export async function reopenableTestService(
  t: { teardown(fn: () => unknown): void },
  prefix: string,
): Promise<{ database: TestDatabase; config: Config; open(): Promise<Service> }> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Teardowns run last in, first out: the services close before the database goes.
  const database = await createTestDatabase(dir)
  t.teardown(() => database.drop())
  const config = parseConfig({ ...database.environment, JWT_SECRET: TEST_JWT_SECRET })
  const open = async (): Promise<Service> => {
    const service = await openService(config, pino({ level: 'silent' }))
    t.teardown(() => service.close())
    return service
  }
  return { database, config, open }
}

/** A database the caller made and deletes itself (DATABASE_URL passed to startTestService). */
function givenDatabase(url: string): TestDatabase {
  const environment: Record<string, string> = { DATABASE_URL: url }
  if (!url.startsWith('sqlite:')) environment.AUDIT_SEAL_KEY = POSTGRES_AUDIT_SEAL_KEY
  return { url, environment, drop: async () => {} }
}

/**
 * A test's own service on a fresh database (see TEST_STORE); closed and deleted when the test
 * ends. Every answer it gives must be declared by its route (see recordUndeclaredAnswers), else
 * the test fails. A DATABASE_URL in `environment` names a database of the caller's instead, which
 * is neither made nor deleted here. The answer holds the configuration the service runs with, so
 * that a test can open a second service on the same database (`openService(first.config, …)`).
 */
export async function startTestService(
  t: { teardown(fn: () => unknown): void },
  overrides: ServiceOverrides = {},
  /** More configuration, as environment variables (FOUR_EYES_THRESHOLD, RATE_LIMIT_PER_MINUTE, …). */
  environment: Record<string, string> = {},
): Promise<Service & { dir: string; databaseUrl: string; config: Config }> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-test-'))
  const database = environment.DATABASE_URL === undefined ? await createTestDatabase(dir) : givenDatabase(environment.DATABASE_URL)
  const config = parseConfig({
    ...database.environment,
    JWT_SECRET: TEST_JWT_SECRET,
    ...environment,
  })
  const undeclared = new Set<string>()
  const service = await openService(config, pino({ level: 'silent' }), {
    ...overrides,
    onApp: (app) => {
      recordUndeclaredAnswers(app, undeclared)
      overrides.onApp?.(app)
    },
  }).catch(async (error: unknown) => {
    // A service that did not start leaves no schema or folder behind either.
    await database.drop()
    rmSync(dir, { recursive: true, force: true })
    throw error
  })
  t.teardown(async () => {
    await service.close()
    await database.drop()
    rmSync(dir, { recursive: true, force: true })
    if (undeclared.size > 0) {
      throw new Error(`answers the OpenAPI document does not declare:\n  ${[...undeclared].join('\n  ')}`)
    }
  })
  return { ...service, dir, databaseUrl: database.url, config }
}

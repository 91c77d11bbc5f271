import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { parseConfig } from '../../src/config.js'
import { openService, type Service, type ServiceOverrides } from '../../src/service.js'
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

/**
 * A test's own service on a fresh SQLite file; closed and deleted when the test ends. Every
 * answer it gives must be declared by its route (see recordUndeclaredAnswers), else the test fails.
 */
export async function startTestService(
  t: { teardown(fn: () => unknown): void },
  overrides: ServiceOverrides = {},
  /** More configuration, as environment variables (FOUR_EYES_THRESHOLD, RATE_LIMIT_PER_MINUTE, …). */
  environment: Record<string, string> = {},
): Promise<Service & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-ledger-test-'))
  const config = parseConfig({
    DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`,
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
  })
  t.teardown(async () => {
    await service.close()
    rmSync(dir, { recursive: true, force: true })
    if (undeclared.size > 0) {
      throw new Error(`answers the OpenAPI document does not declare:\n  ${[...undeclared].join('\n  ')}`)
    }
  })
  return { ...service, dir }
}

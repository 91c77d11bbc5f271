import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../../src/config.js'
import { openService, type Service, type ServiceOverrides } from '../../src/service.js'
import { TEST_JWT_SECRET } from './tokens.js'

/** A test's own service on a fresh SQLite file; closed and deleted when the test ends. */
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
  const service = await openService(config, pino({ level: 'silent' }), overrides)
  t.teardown(async () => {
    await service.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { ...service, dir }
}

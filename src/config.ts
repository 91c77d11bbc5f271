import { z } from 'zod'

/** The service's configuration, parsed once from the environment (API.md, "Configuration"). */
const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:<path> or postgres://…')
    .default('sqlite:./data/sojus-ledger.db'),
  EVENTSTORE_URL: z.string().regex(/^(kurrentdb|esdb)(\+discover)?:\/\/.+/, 'must be kurrentdb://…').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

export type Database = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string }

export interface Config {
  port: number
  host: string
  database: Database
  eventStoreUrl: string | undefined
  logLevel: z.infer<typeof environmentSchema>['LOG_LEVEL']
  readYourWritesTimeoutMs: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function parseConfig(environment: NodeJS.ProcessEnv): Config {
  // An empty variable (PORT= in a compose file) means unset, never "0" or "".
  const present = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''))
  const result = environmentSchema.safeParse(present)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
    throw new ConfigError(`invalid configuration: ${problems}`)
  }
  const env = result.data
  const database: Database = env.DATABASE_URL.startsWith('sqlite:')
    ? { kind: 'sqlite', path: env.DATABASE_URL.slice('sqlite:'.length) }
    : { kind: 'postgres', url: env.DATABASE_URL }
  return {
    port: env.PORT,
    host: env.HOST,
    database,
    eventStoreUrl: env.EVENTSTORE_URL,
    logLevel: env.LOG_LEVEL,
    readYourWritesTimeoutMs: 5000,
  }
}

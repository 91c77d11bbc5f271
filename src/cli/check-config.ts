import { existsSync } from 'node:fs'
import { parseConfig, weakSecrets, type Config } from '../config.js'
import { writeOut } from './run.js'

/**
 * `sojus-ledger check-config`: parses the environment's configuration as the service would at
 * start-up and prints it as JSON with every secret masked: the JWT secret, the seal key, and the
 * password of any URL (DATABASE_URL, REDIS_URL, EVENTSTORE_URL, also a `password=` in its query).
 * An invalid configuration is a ConfigError: runCommand prints its one line and exits 1.
 */

export const MASK = '********'

/** Object keys whose string values are secrets wherever they appear (secret, key, metricsToken, …). */
const SECRET_KEYS = /(secret|key|password|token)$/i

/**
 * A URL with the password of its user information and of its query masked. Parsed as a URL, so
 * that a password with an unencoded `@` in it is masked whole; text that is no URL is masked whole.
 */
export function maskUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return MASK
  }
  if (url.password !== '') url.password = MASK
  for (const name of ['password', 'pass', 'passwd', 'sslpassword']) {
    if (url.searchParams.has(name)) url.searchParams.set(name, MASK)
  }
  return url.toString()
}

/** The configuration as plain JSON values, secrets masked; bigints (amounts in cents) as strings. */
export function maskedConfig(config: Config): unknown {
  const mask = (value: unknown, key: string): unknown => {
    if (typeof value === 'bigint') return value.toString()
    if (typeof value === 'string') {
      if (SECRET_KEYS.test(key)) return MASK
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? maskUrl(value) : value
    }
    if (Array.isArray(value)) return value.map((item) => mask(item, ''))
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, mask(inner, name)]))
    }
    return value
  }
  return mask(config, '')
}

/** Notes on the generated secrets of the embedded default: where they are, and whether they exist yet. */
function notes(config: Config): string[] {
  const lines: string[] = []
  const keys = config.tokens.keys
  if (keys.kind === 'generated-secret') {
    lines.push(`JWT secret: generated file ${keys.path}${existsSync(keys.path) ? '' : ' (made on the first start)'}`)
  }
  const seal = config.auditSealKey
  if (seal?.kind === 'generated-key') {
    lines.push(`audit seal key: generated file ${seal.path}${existsSync(seal.path) ? '' : ' (made on first use)'}`)
  }
  return lines
}

export async function checkConfigCommand(): Promise<void> {
  const config = parseConfig(process.env)
  await writeOut(`${JSON.stringify(maskedConfig(config), null, 2)}\n`)
  for (const line of notes(config)) process.stderr.write(`${line}\n`)
  const warnings = weakSecrets(config)
  for (const line of warnings) process.stderr.write(`warning: ${line}\n`)
  process.stderr.write(warnings.length === 0 ? 'configuration ok\n' : 'configuration ok, with warnings\n')
}

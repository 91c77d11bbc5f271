import { parseArgs } from 'node:util'
import { signToken } from '../auth/tokens.js'
import { ConfigError, parseConfig } from '../config.js'
import { ROLES, type Role } from '../domain/events.js'
import { tokenKeys } from '../service.js'

/**
 * `npm run token -- --role teamlead --sub ben --sozialraum unteres-malstatt [--name "Ben B."] [--expires-in 8h]`
 * prints a token signed with JWT_SECRET, or with the embedded default's generated secret.
 */
const USAGE =
  'usage: npm run token -- --role finance|teamlead|auditor --sub <user id> [--sozialraum <id>]... [--name <name>] [--expires-in 8h]'

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`)
  process.exit(2)
}

const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value)

let values
try {
  ;({ values } = parseArgs({
    options: {
      role: { type: 'string' },
      sub: { type: 'string' },
      sozialraum: { type: 'string', multiple: true },
      name: { type: 'string' },
      'expires-in': { type: 'string', default: '8h' },
    },
    strict: true,
  }))
} catch (error) {
  fail(error instanceof Error ? error.message : String(error))
}
const { role, sub, sozialraum, name } = values
if (role === undefined || !isRole(role)) fail(`--role must be one of ${ROLES.join(', ')}`)
if (sub === undefined || sub === '') fail('--sub is required')
if (role === 'teamlead' && (sozialraum === undefined || sozialraum.length === 0)) {
  fail('a teamlead token needs at least one --sozialraum')
}

try {
  const config = parseConfig(process.env)
  if (config.tokens.keys.kind === 'jwks') {
    fail('JWKS_URL is set: tokens come from the identity provider, not from this command')
  }
  const keys = tokenKeys(config.tokens.keys)
  if (keys.kind !== 'secret') fail('no secret to sign with')
  const token = await signToken(keys.secret, { sub, role, name, sozialraeume: sozialraum }, values['expires-in'])
  process.stdout.write(`${token}\n`)
} catch (error) {
  // A bad configuration or --expires-in: say what, without a stack trace.
  fail(error instanceof ConfigError || error instanceof Error ? error.message : String(error))
}

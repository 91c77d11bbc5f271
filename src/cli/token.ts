import { parseArgs } from 'node:util'
import { decodeJwt } from 'jose'
import { MAX_TOKEN_LIFETIME_SECONDS, signToken } from '../auth/tokens.js'
import { ConfigError, parseConfig } from '../config.js'
import { ROLES, type Role } from '../domain/events.js'
import { sozialraumId } from '../domain/sozialraum.js'
import { displayName, subject } from '../http/schemas.js'
import { tokenKeys } from '../service.js'
import { isMain, runCommand, writeOut } from './run.js'

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

export async function tokenCommand(args: readonly string[]): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
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
  const badSub = subject.safeParse(sub).error?.issues[0]
  if (badSub !== undefined) fail(`--sub ${JSON.stringify(sub)} ${badSub.message}: the service would refuse the token`)
  const badName = name === undefined ? undefined : displayName.safeParse(name).error?.issues[0]
  if (badName !== undefined) fail(`--name ${badName.message}: the service would leave it out`)
  if (role === 'teamlead' && (sozialraum === undefined || sozialraum.length === 0)) {
    fail('a teamlead token needs at least one --sozialraum')
  }
  const notASlug = sozialraum?.find((id) => !sozialraumId.safeParse(id).success)
  if (notASlug !== undefined) fail(`--sozialraum ${notASlug} is not a Sozialraum id (a lowercase slug like unteres-malstatt)`)

  // A bad configuration or secret file is not a wrong command line: runCommand says it in one line, exit 1.
  const config = parseConfig(process.env)
  const keys = tokenKeys(config.tokens.keys)
  if (keys.kind === 'jwks') throw new ConfigError('token: JWKS_URL is set: tokens come from the identity provider, not from this command')
  const expiresIn = values['expires-in']
  let token: string
  try {
    token = await signToken(keys.secret, { sub, role, name, sozialraeume: sozialraum }, expiresIn)
  } catch (error) {
    if (!(error instanceof TypeError && /time period/i.test(error.message))) throw error
    fail(`--expires-in ${JSON.stringify(expiresIn)} is not a time period like 8h, 30m or 90s`)
  }
  const lifetimeSeconds = (decodeJwt(token).exp ?? Infinity) - Date.now() / 1000
  if (!(lifetimeSeconds > 0)) fail(`--expires-in must be a positive time like 8h, 30m or 90s: ${expiresIn} would print a token expired already`)
  if (!(lifetimeSeconds <= MAX_TOKEN_LIFETIME_SECONDS)) {
    fail(`--expires-in must be at most ${MAX_TOKEN_LIFETIME_SECONDS / 3600}h: the service refuses longer-lived tokens`)
  }
  await writeOut(`${token}\n`)
}

if (isMain(import.meta.url)) runCommand('token', () => tokenCommand(process.argv.slice(2)))

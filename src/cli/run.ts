import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { SecretFileError } from '../auth/tokens.js'
import { ConfigError } from '../config.js'
import { StoreInUseError } from '../eventstore/store-lock.js'

/** Errors that are the operator's to mend: said in one line, without a stack trace. */
export function isOperatorError(error: unknown): error is Error {
  return error instanceof ConfigError || error instanceof SecretFileError || error instanceof StoreInUseError
}

/** Runs a command-line program: exit 0 when it ends, 1 with one clear line when it fails. */
export function runCommand(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      const message = isOperatorError(error)
        ? error.message
        : `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
      process.stderr.write(`${message}\n`)
      process.exit(1)
    },
  )
}

/** Whether the module at `moduleUrl` was started as the program (`node dist/src/cli/x.js`), not imported by another. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === fileURLToPath(moduleUrl)
  } catch {
    return false
  }
}

/** Writes to stdout and waits until it is flushed (a pipe may take a while), so that an exit after it loses nothing. */
export const writeOut = (text: string): Promise<void> =>
  new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())))

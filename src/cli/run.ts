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

import { existsSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SecretFileError } from '../auth/tokens.js'
import { ConfigError } from '../config.js'
import { StoreInUseError } from '../eventstore/store-lock.js'

/**
 * Refuses a SQLite store file that does not exist: opening it would make a new, empty store, so a
 * read-only command on a mistyped DATABASE_URL would answer for an empty log (and leave it behind).
 */
export function refuseMissingStore(path: string, command: string): void {
  if (!existsSync(path)) throw new ConfigError(`${command}: there is no store at ${path} (DATABASE_URL)`)
}

/**
 * Refuses an output path that is one of the store's own files (the database, its -wal, -shm,
 * -journal and .lock) or the secrets beside it: a command writing there would destroy the store.
 * Paths are compared after resolving links, so another name for the same file is refused too.
 */
export function refuseStoreFile(output: string, storePath: string, command: string): void {
  const real = (path: string): string => {
    const absolute = resolve(path)
    return existsSync(absolute) ? realpathSync(absolute) : join(existsSync(dirname(absolute)) ? realpathSync(dirname(absolute)) : dirname(absolute), basename(absolute))
  }
  const store = real(storePath)
  const folder = dirname(store)
  const forbidden = [store, `${store}-wal`, `${store}-shm`, `${store}-journal`, `${store}.lock`, join(folder, 'jwt-secret'), join(folder, 'audit-seal-key')]
  if (forbidden.includes(real(output))) {
    throw new ConfigError(`${command}: ${output} is one of the store's own files (or a secret beside it); write elsewhere`)
  }
}

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

import { existsSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ReadModelsUnreadableError } from '../audit/verify.js'
import { SecretFileError } from '../auth/tokens.js'
import { ConfigError, isInvalidUrl } from '../config.js'
import { StoreUnavailableError } from '../eventstore/port.js'
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

/** Codes of the file system's refusals an operator mends (a folder named as a file, a missing folder, permissions, a full disk). */
const FILE_ERROR_CODES = new Set(['EISDIR', 'ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'EEXIST', 'EROFS', 'ENOSPC', 'EMFILE'])

const codeOf = (error: unknown): unknown => (error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined)

/** A file the command read or wrote was refused by the file system; its message names the path. */
const isFileError = (error: unknown): boolean =>
  error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string' && FILE_ERROR_CODES.has(String(codeOf(error)))


/**
 * Errors that are the operator's to mend: said in one line, without a stack trace. Besides the
 * configuration, the secrets and the store's lock: a store that cannot be reached (a PostgreSQL
 * that is away), a file the file system refuses, and a URL no driver can parse.
 */
export function isOperatorError(error: unknown): error is Error {
  return (
    error instanceof ConfigError ||
    error instanceof SecretFileError ||
    error instanceof StoreInUseError ||
    error instanceof StoreUnavailableError ||
    error instanceof ReadModelsUnreadableError ||
    isFileError(error) ||
    isInvalidUrl(error)
  )
}

/**
 * The one line that says an operator's error (isOperatorError); `name` is the command or program.
 * A URL the driver could not parse is not shown: its `input` may hold a password.
 */
export function operatorMessage(name: string, error: Error): string {
  if (isInvalidUrl(error)) return `${name}: a URL in the configuration is not valid (DATABASE_URL, REDIS_URL, EVENTSTORE_URL); sojus-ledger check-config names it`
  if (isFileError(error) || error instanceof StoreUnavailableError) return `${name}: ${error.message}`
  if (error instanceof ReadModelsUnreadableError) return `${name}: the read models cannot be compared with the events: ${error.message}`
  return error.message
}

/** Whether stdout's reader went away (`export | head`): the command stops quietly, as other tools do. */
const isClosedPipe = (error: unknown): boolean => codeOf(error) === 'EPIPE'

/** Runs a command-line program: exit 0 when it ends, 1 with one clear line when it fails. */
export function runCommand(name: string, main: () => Promise<void>): void {
  process.stdout.on('error', (error) => {
    if (isClosedPipe(error)) process.exit(0)
  })
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (isClosedPipe(error)) process.exit(0)
      const message = isOperatorError(error)
        ? operatorMessage(name, error)
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

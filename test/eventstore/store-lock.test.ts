import { spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { StoreInUseError, StoreLock } from '../../src/eventstore/store-lock.js'
import { openService } from '../../src/service.js'
import { ROOT, runScript } from '../helpers/cli.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/** One owner per embedded store: a second service, migrate or rebuild on a store in use stops at once. */

function freshStore(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'data', 'ledger.db')
}

/** A process of its own that holds the store's lock as the service does, until killed (SIGKILL: no release). */
async function lockInAnotherProcess(t: { teardown(fn: () => unknown): void }, path: string): Promise<{ pid: number | undefined; kill(): Promise<void> }> {
  const holder = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--eval',
      `import('${join(ROOT, 'src/eventstore/store-lock.ts')}').then(({ StoreLock }) => { StoreLock.acquire(${JSON.stringify(path)}, 'serve'); console.log('locked'); setInterval(() => {}, 1000) })`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise((resolve) => holder.on('exit', resolve))
  t.teardown(() => holder.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve())
    holder.on('exit', (code) => reject(new Error(`the holder exited with ${code}`)))
  })
  return { pid: holder.pid, kill: async () => void (holder.kill('SIGKILL'), await exited) }
}

t.test('a second lock on the same store is refused, naming the file and the holder', async (t) => {
  const path = freshStore(t)
  const lock = StoreLock.acquire(path, 'serve')
  t.throws(() => StoreLock.acquire(path, 'migrate'), StoreInUseError)
  try {
    StoreLock.acquire(path, 'migrate')
  } catch (error) {
    t.match((error as Error).message, path, 'names the store')
    t.match((error as Error).message, `process ${process.pid}`, 'names the process holding it')
    t.match((error as Error).message, 'serve', 'says what the holder does')
  }
  lock.release()
  const again = StoreLock.acquire(path, 'migrate')
  t.pass('released locks can be taken again')
  again.release()
})

t.test('the store, its lock and its folder are private to the service user', async (t) => {
  const path = freshStore(t)
  const config = parseConfig({ DATABASE_URL: `sqlite:${path}`, JWT_SECRET: TEST_JWT_SECRET })
  const service = await openService(config, pino({ level: 'silent' }))
  t.teardown(() => service.close())
  const mode = (file: string) => (statSync(file).mode & 0o777).toString(8)
  t.equal(mode(join(path, '..')), '700', 'the data folder')
  for (const file of [path, `${path}-wal`, `${path}.lock`]) t.equal(mode(file), '600', file)
})

t.test('a second service on a store in use stops at once', async (t) => {
  const path = freshStore(t)
  const config = parseConfig({ DATABASE_URL: `sqlite:${path}`, JWT_SECRET: TEST_JWT_SECRET })
  const first = await openService(config, pino({ level: 'silent' }))
  t.teardown(() => first.close())
  await t.rejects(openService(config, pino({ level: 'silent' })), StoreInUseError)

  const environment = { DATABASE_URL: `sqlite:${path}`, JWT_SECRET: TEST_JWT_SECRET, PORT: '0' }
  const service = await runScript('src/main.ts', [], environment)
  t.equal(service.code, 1, 'a second service process exits with 1')
  t.match(service.stderr, new RegExp(`in use by process ${process.pid}`))
  t.match(service.stderr, path)
  t.notMatch(service.stderr, /\n\s+at /, 'no stack trace')

  for (const [script, args] of [
    ['src/cli/migrate.ts', []],
    ['src/cli/rebuild-projections.ts', ['all']],
  ] as const) {
    const exit = await runScript(script, [...args], environment)
    t.equal(exit.code, 1, `${script} is refused`)
    t.match(exit.stderr, new RegExp(`${path.replace(/[.]/g, '\\.')} is in use by process ${process.pid}`), `${script} names the holder`)
  }
})

t.test('a process that dies holding the lock leaves no stale lock', async (t) => {
  const path = freshStore(t)
  const holder = await lockInAnotherProcess(t, path)
  t.throws(() => StoreLock.acquire(path, 'serve'), { name: 'StoreInUseError', message: new RegExp(`process ${holder.pid}`) })
  await holder.kill()
  const lock = StoreLock.acquire(path, 'serve')
  t.pass('the lock is free once its holder is dead')
  lock.release()
})

t.test('neither a deleted lock file nor a symlink to the store lets a second owner in', async (t) => {
  const path = freshStore(t)
  const lock = StoreLock.acquire(path, 'serve')
  t.teardown(() => lock.release())
  const alias = join(path, '..', '..', 'alias.db')
  symlinkSync(path, alias)
  t.throws(() => StoreLock.acquire(alias, 'migrate'), { name: 'StoreInUseError', message: `process ${process.pid}` }, 'a symlink leads to the same lock')
  for (const suffix of ['.lock', '.lock-wal', '.lock-shm']) rmSync(`${path}${suffix}`, { force: true })
  const exit = await runScript('src/cli/rebuild-projections.ts', ['all'], { DATABASE_URL: `sqlite:${path}`, JWT_SECRET: TEST_JWT_SECRET })
  t.equal(exit.code, 1, 'a rebuild is refused although the lock file is gone')
  t.match(exit.stderr, `in use by process ${process.pid}`)
  t.match(exit.stderr, /lock file was not held/)
})

t.test('a restore, which does not sign in, still refuses a store whose owner lives after its lock file was deleted', async (t) => {
  const path = freshStore(t)
  const holder = await lockInAnotherProcess(t, path)
  for (const suffix of ['.lock', '.lock-wal', '.lock-shm']) rmSync(`${path}${suffix}`, { force: true })
  // Before 0.12.5 a restore took the new lock file and replaced the store under the running service.
  t.throws(() => StoreLock.acquire(path, 'restore', { signIn: false }), { name: 'StoreInUseError', message: /lock file was not held/ })
  await holder.kill()
  StoreLock.acquire(path, 'restore', { signIn: false }).release()
  t.pass('taken once the owner is dead')
  writeFileSync(path, 'not a database at all')
  StoreLock.acquire(path, 'restore', { signIn: false }).release()
  t.pass('a store too damaged to read has no owner to ask: a restore may replace it')
})

t.test('a lock refused while another process reads its owner is not mistaken for a holder', async (t) => {
  const path = freshStore(t)
  const first = StoreLock.acquire(path, 'serve')
  first.release()
  // A reader of the lock file (as a refused starter is, reading the holder's name) does not stop
  // the next owner from committing its own name.
  const reader = new Database(`${realpathSync(path)}.lock`, { readonly: true })
  reader.exec('BEGIN')
  reader.prepare('SELECT * FROM store_owner').all()
  t.teardown(() => reader.close())
  const second = StoreLock.acquire(path, 'serve')
  t.pass('acquired beside a reader')
  second.release()
})

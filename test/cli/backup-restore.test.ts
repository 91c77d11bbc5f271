import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { runScript } from '../helpers/cli.js'
import { AUTHORIZATION, expect201, call, killAll, REQUEST_TIMEOUT_MS, sample, ServerProcess, until, within } from '../helpers/process.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * `sojus-ledger backup` takes a consistent copy of a store a real service process writes to with
 * 16 concurrent writers; every write acknowledged before the backup began is in the copy, and the
 * copy restores (with the service stopped) into a store that verifies. `restore` refuses what is
 * not a backup, and refuses while the service holds the store.
 */

// Real processes, each starting tsx: more than the default 120 s on a busy machine.
t.setTimeout(300_000)

const WRITERS = 16
const YEAR = 2025
const SOZIALRAUM = 'backup-under-load'

function workspace(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-backup-'))
  const servers: ServerProcess[] = []
  t.teardown(async () => {
    await killAll(servers)
    rmSync(dir, { recursive: true, force: true })
  })
  const databasePath = join(dir, 'ledger.db')
  const environment = { DATABASE_URL: `sqlite:${databasePath}`, JWT_SECRET: TEST_JWT_SECRET }
  return {
    dir,
    databasePath,
    start: () => ServerProcess.start(environment, (server) => servers.push(server)),
    cli: (args: readonly string[]) => runScript('src/cli/main.ts', args, environment, 120_000),
  }
}

interface Write {
  id: string
  position?: bigint
  /** When the 201 came back (Date.now()). */
  acknowledgedAt?: number
  error?: string
}

/** The spending ids recorded in a SQLite store, read straight from its event log. */
function spendingsIn(path: string): Map<string, bigint> {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare("SELECT position, data FROM events WHERE type = 'SpendingRecorded'").all() as { position: number; data: string }[]
    return new Map(rows.map((row) => [(JSON.parse(row.data) as { spendingId: string }).spendingId, BigInt(row.position)]))
  } finally {
    db.close()
  }
}

t.test('a backup under 16 concurrent writers holds every write acknowledged before it began, and restores to a store that verifies', async (t) => {
  const { dir, databasePath, start, cli } = workspace(t)
  const server = await start()
  await expect201(call(server, 'POST', '/v1/sozialraeume', { id: SOZIALRAUM, name: 'Backup unter Last' }), 'register')
  await expect201(
    call(server, 'POST', `/v1/budgets/${YEAR}/${SOZIALRAUM}/allocations`, { line: 'flexible', amount: '10000000.00', decisionRef: 'backup-test' }),
    'allocate',
  )

  const writes: Write[] = []
  let stopping = false
  const writer = async () => {
    while (!stopping) {
      const write: Write = { id: randomUUID() }
      writes.push(write)
      try {
        const response = await fetch(`${server.url}/v1/budgets/${YEAR}/${SOZIALRAUM}/spending`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: AUTHORIZATION },
          body: JSON.stringify({ id: write.id, amount: '1.25', purpose: 'backup test', receiptRef: 'B-1', date: `${YEAR}-03-01` }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        const body = (await response.json()) as { position?: string }
        if (response.status === 201 && typeof body.position === 'string') {
          write.position = BigInt(body.position)
          write.acknowledgedAt = Date.now()
        } else write.error = `${response.status} ${JSON.stringify(body)}`
      } catch (error) {
        write.error = error instanceof Error ? error.message : String(error)
      }
    }
  }
  const writers = Array.from({ length: WRITERS }, writer)
  const acknowledged = () => writes.filter((write) => write.position !== undefined)
  await until(() => acknowledged().length >= 100, 60_000, '100 acknowledged spendings')

  // The backup, while the writers go on.
  const backupFile = join(dir, 'backup.db')
  const startedAt = Date.now()
  const before = acknowledged().filter((write) => (write.acknowledgedAt ?? Infinity) < startedAt)
  const backup = await cli(['backup', backupFile])
  const endedAt = Date.now()
  const during = acknowledged().filter((write) => (write.acknowledgedAt ?? 0) > startedAt && (write.acknowledgedAt ?? 0) < endedAt)
  t.equal(backup.code, 0, `backup exits 0: ${backup.stderr}`)
  t.match(backup.stdout, /^backed up \d+ events \(up to position \d+\) and the read models to .*backup\.db/)
  t.match(backup.stdout, /holds no secrets/)
  t.equal(backup.stderr, '', 'quiet when not on a terminal')
  t.ok(during.length > 0, `the service went on acknowledging writes during the backup (${during.length})`)
  t.ok(server.alive, 'the service ran throughout')

  // Restore is refused while the service holds the store, and changes nothing.
  const refused = await cli(['restore', backupFile])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^the store .*ledger\.db is in use by process \d+ .*\(serve, since .*\); stop that process first/)
  t.equal(refused.stderr.trim().split('\n').length, 1, 'in one line')

  stopping = true
  await within(Promise.all(writers), REQUEST_TIMEOUT_MS + 5_000, 'the writers to stop')
  t.strictSame(sample(writes.filter((write) => write.error !== undefined).map((write) => write.error)), sample([]))

  // The backup file alone: one self-contained SQLite file, mode 0600, no owner signed in.
  t.notOk(existsSync(`${backupFile}-wal`), 'no -wal beside the backup')
  t.equal(statSync(backupFile).mode & 0o777, 0o600, 'readable by its owner only')
  t.same(readdirSync(dir).filter((name) => name.includes('.partial-')), [], 'no partial file left')
  const inBackup = spendingsIn(backupFile)
  t.strictSame(
    sample(before.filter((write) => inBackup.get(write.id) !== write.position).map((write) => write.id)),
    sample([]),
    `each of the ${before.length} spendings acknowledged before the backup is in it, at its position`,
  )

  await server.kill('SIGTERM')
  const afterBackup = spendingsIn(databasePath).size
  t.ok(afterBackup > inBackup.size, `the live store went on (${afterBackup} spendings against ${inBackup.size} in the backup)`)

  // Restore with the service stopped: the restored store is the backup, verified. A restore
  // killed before (no pid alive: beyond any pid_max) left its staged copy: this one removes it.
  writeFileSync(join(dir, '.ledger.db.restore-2147483646'), 'a staged copy of personal data')
  const restored = await cli(['restore', backupFile])
  t.same(readdirSync(dir).filter((name) => name.includes('.restore-')), [], 'no staged copy left, also none of a killed restore')
  t.equal(restored.code, 0, `restore exits 0: ${restored.stderr}`)
  t.match(restored.stdout, /^restored \d+ events \(up to position \d+\) from .* into .*ledger\.db, verified\n/)
  t.match(restored.stdout, /the store it replaced is kept as .*ledger\.db\.before-restore-/)
  const inRestored = spendingsIn(databasePath)
  t.strictSame(
    sample(before.filter((write) => inRestored.get(write.id) !== write.position).map((write) => write.id)),
    sample([]),
    'every spending acknowledged before the backup is in the restored store',
  )
  t.equal(inRestored.size, inBackup.size, 'and nothing else: the restored store is the backup')
  const kept = readdirSync(dir).find((name) => name.startsWith('ledger.db.before-restore-') && !name.endsWith('-wal'))
  t.ok(kept !== undefined && spendingsIn(join(dir, kept)).size === afterBackup, 'the replaced store is kept beside, whole')

  const verified = await cli(['verify'])
  t.equal(verified.code, 0, `verify reports ok: ${verified.stderr}`)
  t.equal((JSON.parse(verified.stdout) as { ok: boolean }).ok, true)

  // The service starts on the restored store and serves every acknowledged spending.
  const again = await start()
  const head = before.reduce((max, write) => (write.position !== undefined && write.position > max ? write.position : max), 0n)
  const listed = await call(again, 'GET', `/v1/budgets/${YEAR}/${SOZIALRAUM}/spending?minPosition=${head}`)
  t.equal(listed.status, 200)
  const ids = new Set((listed.body.items as { id: string }[]).map((item) => item.id))
  t.strictSame(sample(before.filter((write) => !ids.has(write.id)).map((write) => write.id)), sample([]), 'the restarted service lists them all')
})

t.test('restore refuses what is not a sojus-ledger backup and leaves the store alone', async (t) => {
  const { dir, databasePath, cli } = workspace(t)
  t.equal((await cli(['migrate'])).code, 0, 'migrated')
  const seeded = await cli(['seed', '--sozialraeume', '1', '--years', '1', '--commitments', '5', '--spendings', '10', '--first-year', '2025'])
  t.equal(seeded.code, 0, seeded.stderr)
  const events = () => {
    const db = new Database(databasePath, { readonly: true })
    try {
      return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n
    } finally {
      db.close()
    }
  }
  const count = events()

  const text = join(dir, 'notes.txt')
  writeFileSync(text, 'this is not a database\n')
  const notSqlite = await cli(['restore', text])
  t.equal(notSqlite.code, 1)
  t.match(notSqlite.stderr, /^restore: .*notes\.txt is not a sojus-ledger backup: not a SQLite database\n$/)

  const other = join(dir, 'other.db')
  const db = new Database(other)
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)')
  db.close()
  const foreign = await cli(['restore', other])
  t.equal(foreign.code, 1)
  t.match(foreign.stderr, /^restore: .*other\.db is not a sojus-ledger backup: it has no table events, schema_migrations\n$/)

  const truncated = join(dir, 'truncated.db')
  const backup = await cli(['backup', join(dir, 'good.db')])
  t.equal(backup.code, 0, backup.stderr)
  const good = new Database(join(dir, 'good.db'), { readonly: true })
  const pages = good.serialize()
  good.close()
  writeFileSync(truncated, pages.subarray(0, Math.floor(pages.length / 2)))
  const damaged = await cli(['restore', truncated])
  t.equal(damaged.code, 1)
  t.match(damaged.stderr, /^restore: .*truncated\.db (is damaged|cannot be opened)/)

  // A backup whose log was changed by hand: the chain does not verify.
  const forged = join(dir, 'forged.db')
  writeFileSync(forged, pages)
  const edit = new Database(forged)
  edit.prepare("UPDATE events SET data = replace(data, '\"amountCents\":', '\"amountCents\":1') WHERE position = (SELECT max(position) FROM events WHERE data LIKE '%amountCents%')").run()
  edit.close()
  const tampered = await cli(['restore', forged])
  t.equal(tampered.code, 1)
  t.match(tampered.stderr, /^restore: .*forged\.db does not verify: .*break.* of the hash chain.*; nothing was changed\n$/)

  t.equal(events(), count, 'the store is unchanged')
  t.same(readdirSync(dir).filter((name) => name.includes('before-restore') || name.includes('.restore-')), [], 'nothing put aside or left staged')

  const fine = await cli(['restore', join(dir, 'good.db')])
  t.equal(fine.code, 0, fine.stderr)
})

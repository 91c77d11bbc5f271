import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { eventHash } from '../../src/audit/chain.js'
import { loadSealKey, rootOf, sealForgery, signSeal, takeSeal, type Seal } from '../../src/audit/seal.js'
import { LogVerifier } from '../../src/audit/verify.js'
import { ConfigError, parseConfig } from '../../src/config.js'
import { get, post, spendingBody } from '../helpers/api.js'
import { startTestService, TEST_STORE } from '../helpers/service.js'
import { openStoresAt } from '../helpers/stores.js'
import { uuid } from '../helpers/api.js'
import {
  appendForged,
  copyOf,
  eventRows,
  runVerifyCli,
  swapPositions,
  tamper,
  TEST_SEAL_KEY,
  verifyFile,
  writeHistory,
  type EventRow,
} from './history.js'

/**
 * Seals: signed with a key kept outside the database; a seal that was changed, or made with
 * another key, is refused; verified against a later log, a seal finds what the chain alone cannot:
 * a stream cut after its last good event, a stream rewritten with fresh hashes, an event slipped
 * in before the seal's position.
 */

const SEALED_AT = new Date('2025-06-30T12:00:00.000Z')

t.test('the key: AUDIT_SEAL_KEY, or on the embedded default a file beside the database', async (t) => {
  t.same(parseConfig({}).auditSealKey, { kind: 'generated-key', path: 'data/audit-seal-key' }, 'beside the JWT secret')
  t.same(parseConfig({ AUDIT_SEAL_KEY: 'k'.repeat(32) }).auditSealKey, { kind: 'key', key: 'k'.repeat(32) })
  t.throws(() => parseConfig({ AUDIT_SEAL_KEY: 'too-short' }), { name: 'ConfigError', message: /AUDIT_SEAL_KEY: must be at least 32 characters/ })
  const postgres = parseConfig({ DATABASE_URL: 'postgres://u@db/ledger', JWT_SECRET: 'x'.repeat(32) })
  t.equal(postgres.auditSealKey, undefined, 'no data folder to keep a key in')
  t.throws(() => loadSealKey(postgres.auditSealKey), ConfigError)
  t.throws(() => loadSealKey(postgres.auditSealKey), /set AUDIT_SEAL_KEY/)
})

const ABOUT_THE_KEY_FILE = 'about the key file made in the SQLite data folder: with PostgreSQL there is none, AUDIT_SEAL_KEY is needed'

t.test('the generated key: a private file beside the SQLite database, never in it', { skip: TEST_STORE !== 'sqlite' ? ABOUT_THE_KEY_FILE : false }, async (t) => {
  const service = await startTestService(t)
  const path = join(service.dir, 'audit-seal-key')
  const key = readFileSync(path, 'utf8').trim()
  t.ok(key.length >= 32, 'the service made a key on its first start')
  t.equal(statSync(path).mode & 0o777, 0o600, 'readable by its owner only')
  const sealed = await get(service.app, '/v1/audit/seal')
  t.equal(sealed.status, 200)
  t.equal(sealForgery(sealed.body as Seal, key), undefined, 'seals are signed with it')
  await service.close()
  for (const file of ['ledger.db', 'ledger.db-wal']) {
    const bytes = (() => {
      try {
        return readFileSync(join(service.dir, file))
      } catch {
        return Buffer.alloc(0)
      }
    })()
    t.notOk(bytes.includes(key), `${file} does not hold the key`)
  }
})

t.test('a seal names every stream at its head, with a root over them, and signs it', async (t) => {
  const service = await startTestService(t, { clock: () => SEALED_AT }, { AUDIT_SEAL_KEY: TEST_SEAL_KEY })
  await writeHistory(service.app)
  const seal = await takeSeal(service.store, TEST_SEAL_KEY, () => SEALED_AT)
  const rows = await eventRows(service.databaseUrl)
  const heads = new Map<string, EventRow>()
  for (const row of rows) heads.set(row.stream_id, row)
  t.strictSame(
    seal.heads,
    [...heads.values()]
      .map((row) => ({ streamId: row.stream_id, revision: String(row.revision), hash: JSON.parse(row.metadata).hash as string }))
      .sort((a, b) => (a.streamId < b.streamId ? -1 : 1)),
    "each stream's last revision and its hash, sorted by stream",
  )
  t.equal(seal.root, rootOf(seal.heads))
  t.equal(seal.position, String(rows[rows.length - 1]?.position), 'the log position it covers')
  t.equal(seal.sealedAt, SEALED_AT.toISOString())
  t.equal(seal.version, 1)
  t.match(seal.logDigest, /^[0-9a-f]{64}$/, "it holds the digest of the log's order")
  t.equal(sealForgery(seal, TEST_SEAL_KEY), undefined, 'it verifies with the key')
  const { logDigest: _logDigest, ...withoutDigest } = seal
  t.match(sealForgery(withoutDigest, TEST_SEAL_KEY), /HMAC does not match/, 'the digest removed: the HMAC covers it')

  const forgeries: Array<[string, Seal, RegExp]> = [
    ['another root', { ...seal, root: 'f'.repeat(64) }, /HMAC does not match/],
    ['another HMAC', { ...seal, hmac: `${seal.hmac.slice(0, 63)}${seal.hmac.endsWith('0') ? '1' : '0'}` }, /HMAC does not match/],
    ['a head moved back', { ...seal, heads: seal.heads.map((head, index) => (index === 0 ? { ...head, revision: '0' } : head)) }, /HMAC does not match/],
    ['another time', { ...seal, sealedAt: '2025-07-01T12:00:00.000Z' }, /HMAC does not match/],
  ]
  for (const [what, forged, reason] of forgeries) t.match(sealForgery(forged, TEST_SEAL_KEY), reason, `${what} is refused`)
  t.match(sealForgery(seal, `${TEST_SEAL_KEY}-other`), /HMAC does not match/, 'a seal checked with another key is refused')
  const otherKey = signSeal(seal.heads, BigInt(seal.position), SEALED_AT, 'someone-elses-key-of-32-characters-000')
  t.match(sealForgery(otherKey, TEST_SEAL_KEY), /HMAC does not match/, 'a seal made with another key is refused')
  const reordered = { ...seal, heads: [...seal.heads].reverse() }
  const { hmac: _hmac, ...content } = reordered
  const signedReordered = signSeal(content.heads, BigInt(content.position), SEALED_AT, TEST_SEAL_KEY)
  t.strictSame(signedReordered.heads, seal.heads, 'signSeal sorts the heads itself')
})

/** A history, its seal, and the closed database (its DATABASE_URL). */
async function sealedLog(t: Test): Promise<{ url: string; seal: Seal; rows: EventRow[] }> {
  const service = await startTestService(t, {}, { AUDIT_SEAL_KEY: TEST_SEAL_KEY })
  const history = await writeHistory(service.app)
  t.ok(await service.runner.waitFor(BigInt(history.position), 5000))
  const seal = await takeSeal(service.store, TEST_SEAL_KEY, () => SEALED_AT)
  await service.close()
  return { url: service.databaseUrl, seal, rows: await eventRows(service.databaseUrl) }
}

t.test('against a later log, a seal finds what the chain cannot', async (t) => {
  const { url, seal, rows } = await sealedLog(t)
  const north = rows.filter((row) => row.stream_id === 'budget-2025-nord')
  const last = rows[rows.length - 1] as EventRow

  const untouched = await verifyFile(await copyOf(t, url), { seal })
  t.equal(untouched.ok, true)
  t.strictSame(untouched.seal, { ok: true, position: seal.position, problems: [], problemsFound: 0 }, 'an untouched log keeps its seal')

  t.test("a stream's tail cut off", async (t) => {
    const copy = await copyOf(t, url)
    const tail = north.slice(-2)
    await tamper(copy, [{ sql: 'DELETE FROM events WHERE position IN (?, ?)', params: [tail[0]?.position ?? null, tail[1]?.position ?? null] }])
    const chainOnly = await verifyFile(copy)
    t.equal(chainOnly.chain.ok, true, 'without the seal, the chain alone does not see it (what is left is a valid chain)')
    const sealed = await verifyFile(copy, { seal })
    t.equal(sealed.ok, false)
    t.strictSame(sealed.seal?.problems, [
      { kind: 'log-order-changed', reason: `the log up to the seal's position ${seal.position} is not the one sealed: events were moved, removed, added or changed` },
      {
        kind: 'went-back',
        streamId: 'budget-2025-nord',
        reason: `the seal has it at revision ${north[north.length - 1]?.revision}; the log now ends at revision ${north[north.length - 3]?.revision}`,
      },
    ])
  })

  t.test('a whole stream deleted', async (t) => {
    const copy = await copyOf(t, url)
    await tamper(copy, [{ sql: "DELETE FROM events WHERE stream_id = 'budget-2025-sued'", params: [] }])
    // Its events were the newest of the log: the read models have processed positions it no longer has.
    const chainOnly = await verifyFile(copy)
    t.match(chainOnly.chain.breaks, [{ streamId: 'unknown', reason: /beyond its head/ }], 'no stream breaks; the chain alone sees only that the log lost its end')
    t.equal(chainOnly.chain.breaksFound, 1)
    t.match((await verifyFile(copy, { seal })).seal?.problems, [{ kind: 'log-order-changed' }, { kind: 'missing', streamId: 'budget-2025-sued' }])
  })

  t.test("a stream's head rewritten with a fresh, valid hash", async (t) => {
    const copy = await copyOf(t, url)
    const head = north[north.length - 1] as EventRow
    const data = JSON.parse(head.data) as Record<string, unknown>
    const metadata = JSON.parse(head.metadata) as Record<string, unknown>
    const changed = { ...data, reason: 'Fehlbuchung (geändert)' }
    const rehashed = { ...metadata, hash: eventHash({ streamId: head.stream_id, revision: BigInt(head.revision), type: head.type, data: changed, metadata }, metadata.previousHash as string) }
    await tamper(copy, [{ sql: 'UPDATE events SET data = ?, metadata = ? WHERE position = ?', params: [JSON.stringify(changed), JSON.stringify(rehashed), head.position] }])
    const chainOnly = await verifyFile(copy)
    t.equal(chainOnly.chain.ok, true, 'without the seal, the chain holds')
    t.strictSame(chainOnly.mismatches, [], 'and no compared value changed')
    t.match(chainOnly.auditTrail.mismatches, [{ position: String(head.position), field: 'data' }], 'only the audit trail, written before, still has the old data')
    t.match((await verifyFile(copy, { seal })).seal?.problems, [
      { kind: 'log-order-changed' },
      { kind: 'hash-differs', streamId: 'budget-2025-nord', reason: `its event at the sealed revision ${head.revision} is not the one sealed: its link differs` },
    ])
  })

  t.test('an event slipped in before the seal', async (t) => {
    const copy = await copyOf(t, url)
    const metadata = { ...(JSON.parse(last.metadata) as Record<string, unknown>), hash: undefined, previousHash: undefined }
    const data = { sozialraumId: 'neu', name: 'Neu', status: 'pilot' }
    const event = { streamId: 'sozialraum-neu', revision: 0n, type: 'SozialraumRegistered', data }
    const linked = { ...metadata, previousHash: null, hash: eventHash({ ...event, metadata }, null) }
    // The last event deleted and another put in at its position: PostgreSQL does not take a
    // position written by hand (an identity column), so the row is overwritten, which comes to the same.
    await tamper(copy, [
      {
        sql: 'UPDATE events SET stream_id = ?, revision = 0, event_id = ?, type = ?, data = ?, metadata = ? WHERE position = ?',
        params: [event.streamId, 'a2b4a2a8-9d1e-4f0e-8a43-51c2d0a1b2c3', event.type, JSON.stringify(data), JSON.stringify(linked), last.position],
      },
    ])
    const report = await verifyFile(copy, { seal })
    t.equal(report.chain.ok, true, 'a valid chain of its own')
    t.match(
      [...(report.seal?.problems ?? [])].sort((a, b) => a.kind.localeCompare(b.kind)),
      [
        { kind: 'log-order-changed' },
        { kind: 'not-covered', streamId: 'sozialraum-neu', reason: `revision 0 at position ${last.position} is older than the seal (position ${seal.position}), but the seal does not hold it` },
        { kind: 'went-back', streamId: last.stream_id },
      ],
    )
  })

  t.test('a forged event appended after the seal, backdated to before it', async (t) => {
    const metadata = JSON.parse(last.metadata) as Record<string, unknown>
    const forge = (copy: string, recordedAt: string, eventId: string) =>
      appendForged(copy, {
        streamId: 'sozialraum-neu',
        revision: 0,
        eventId,
        type: 'SozialraumRegistered',
        data: { sozialraumId: 'neu', name: 'Neu', status: 'pilot' },
        metadata: { ...metadata, recordedAt },
        previousHash: null,
      })
    const copy = await copyOf(t, url)
    const eventId = uuid()
    const position = await forge(copy, '2025-06-30T11:50:00.000Z', eventId)
    const report = await verifyFile(copy, { seal })
    t.equal(report.chain.ok, true, 'its links are valid')
    t.equal(report.ok, false)
    t.strictSame(report.seal?.problems, [
      {
        kind: 'recorded-before-seal',
        streamId: 'sozialraum-neu',
        position: String(position),
        revision: '0',
        eventId,
        reason:
          `it comes after the seal (position ${seal.position}) but was recorded at 2025-06-30T11:50:00.000Z, ` +
          `more than 60 s before the seal was taken (${SEALED_AT.toISOString()})`,
      },
    ])

    const late = await copyOf(t, url)
    await forge(late, '2025-06-30T11:59:30.000Z', uuid())
    t.equal((await verifyFile(late, { seal })).seal?.ok, true, 'decided less than 60 s before the seal, appended after it: kept')
  })

  t.test('two events of different streams swap their positions', async (t) => {
    const index = rows.findIndex((row, at) => at + 1 < rows.length && rows[at + 1]?.stream_id !== row.stream_id)
    const [first, second] = [rows[index] as EventRow, rows[index + 1] as EventRow]
    const copy = await copyOf(t, url)
    await tamper(copy, swapPositions(first, second))
    const report = await verifyFile(copy, { seal })
    t.equal(report.chain.ok, true, 'each stream still reads the same')
    t.strictSame(report.seal?.problems, [
      { kind: 'log-order-changed', reason: `the log up to the seal's position ${seal.position} is not the one sealed: events were moved, removed, added or changed` },
    ])

    // The service's verifier (POST /v1/audit/verify) reports it the same way.
    const stores = await openStoresAt(copy)
    t.teardown(() => stores.close())
    const started = new LogVerifier({ store: stores.store, db: stores.db, sealKey: TEST_SEAL_KEY, clock: () => SEALED_AT }).verify(seal)
    if (started.kind !== 'started') throw new Error(`the verify did not start: ${started.kind}`)
    t.match((await started.report).seal?.problems, [{ kind: 'log-order-changed', reason: /^the log up to/ }])
    await stores.close() // verifyFile opens the stores again (on SQLite they have one owner at a time)

    const older = signSeal(seal.heads, BigInt(seal.position), SEALED_AT, TEST_SEAL_KEY)
    t.equal(older.logDigest, undefined, 'a seal from before the digest')
    t.equal(sealForgery(older, TEST_SEAL_KEY), undefined, 'still verifies')
    t.equal((await verifyFile(copy, { seal: older })).seal?.ok, true, 'and is checked for everything but the order')
  })

  t.test('the command line takes a saved seal', async (t) => {
    const folder = mkdtempSync(join(tmpdir(), 'sojus-seal-'))
    t.teardown(() => rmSync(folder, { recursive: true, force: true }))
    const sealFile = join(folder, 'seal.json')
    writeFileSync(sealFile, JSON.stringify(seal))
    const kept = await runVerifyCli(await copyOf(t, url), '--seal', sealFile)
    t.equal(kept.code, 0, `exit 0: the log keeps its seal (${kept.stderr})`)
    t.match(JSON.parse(kept.stdout), { ok: true, seal: { ok: true, problems: [] } })

    const cut = await copyOf(t, url)
    await tamper(cut, [{ sql: 'DELETE FROM events WHERE position = ?', params: [north[north.length - 1]?.position ?? null] }])
    const broken = await runVerifyCli(cut, '--seal', sealFile)
    t.equal(broken.code, 1, 'exit 1: a stream went back')
    t.match(JSON.parse(broken.stdout), { ok: false, chain: { ok: true }, seal: { ok: false, problems: [{ kind: 'log-order-changed' }, { kind: 'went-back' }] } })

    writeFileSync(sealFile, JSON.stringify({ ...seal, root: '0'.repeat(64) }))
    const forged = await runVerifyCli(await copyOf(t, url), '--seal', sealFile)
    t.equal(forged.code, 1, 'exit 1: a forged seal is refused')
    t.match(forged.stderr, /HMAC does not match/)
    t.equal(forged.stdout, '', 'and nothing is verified')
    writeFileSync(sealFile, JSON.stringify({ ...seal, extra: true }))
    const strict = await runVerifyCli(await copyOf(t, url), '--seal', sealFile)
    t.equal(strict.code, 1)
    t.match(strict.stderr, /is not a seal/)
  })
})

t.test('events written after the seal keep it', async (t) => {
  const service = await startTestService(t, {}, { AUDIT_SEAL_KEY: TEST_SEAL_KEY })
  const history = await writeHistory(service.app)
  const seal = await takeSeal(service.store, TEST_SEAL_KEY, () => SEALED_AT)
  let position = history.position
  for (let index = 0; index < 3; index++) {
    const spent = await post(service.app, `${history.north.url}/spending`, spendingBody())
    t.equal(spent.status, 201)
    position = spent.body.position
  }
  t.ok(await service.runner.waitFor(BigInt(position), 5000))
  await service.close()
  const report = await verifyFile(service.databaseUrl, { seal })
  t.equal(report.ok, true)
  t.equal(report.seal?.ok, true)
})

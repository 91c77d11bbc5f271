import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { withLinks } from '../../src/audit/chain.js'
import { sqliteEventLocator, verifyLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'
import { SqliteDatabase } from '../../src/sql/sqlite.js'
import { commitmentBody, post, seed, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { runScript, type Exit } from '../helpers/cli.js'
import { bearer } from '../helpers/tokens.js'

/**
 * A realistic history for the verifier's tests, written through the HTTP API: two Sozialräume
 * with budgets, a transfer and an adjustment, commitments (one waiting for and given a second
 * person's approval) with invoices, an amendment and a release, flexible spending and a reversal.
 */

export interface History {
  north: { url: string; year: number; sozialraum: string }
  south: { url: string; year: number; sozialraum: string }
  /** The spending ids of the north budget, oldest first; the second one is reversed. */
  spendings: string[]
  commitments: { small: string; closed: string; large: string }
  /** Position of the last write. */
  position: string
}

async function written(response: Promise<ApiResponse>, what: string): Promise<ApiResponse> {
  const answer = await response
  if (answer.status !== 201) throw new Error(`history: ${what} gave ${answer.status} ${answer.text}`)
  return answer
}

export async function writeHistory(app: FastifyInstance): Promise<History> {
  const north = await seed(app, 'nord')
  const south = await seed(app, 'sued', { flexible: '5000.00' })
  await written(post(app, '/v1/sozialraeume/nord/status', { status: 'permanent', decisionRef: 'JHA-0201' }), 'status')
  await written(post(app, `${north.url}/transfers`, { fromLine: 'ambulatory', toLine: 'flexible', amount: '500.00', reason: 'Umschichtung' }), 'transfer')
  await written(post(app, `${north.url}/adjustments`, { line: 'ambulatory', amount: '-100.00', reason: 'Korrektur' }), 'adjustment')

  const commitments = { small: uuid(), closed: uuid(), large: uuid() }
  const commit = (id: string, amount: string) => written(post(app, `${north.url}/commitments`, commitmentBody({ id, amount })), `commitment ${amount}`)
  await commit(commitments.small, '1200.00')
  await commit(commitments.closed, '600.00')
  await commit(commitments.large, '12000.00')
  const secondFinance = await bearer({ sub: 'second-finance', role: 'finance' })
  await written(post(app, `${north.url}/commitments/${commitments.large}/approval`, { decision: 'approve' }, secondFinance), 'approval')
  const invoice = (id: string, invoiceNo: string, amount: string) =>
    written(post(app, `${north.url}/commitments/${id}/invoices`, { invoiceNo, amount, invoiceDate: '2025-02-01' }), `invoice ${invoiceNo}`)
  await invoice(commitments.small, 'RE-1', '100.00')
  await invoice(commitments.small, 'RE-2', '100.00')
  await invoice(commitments.closed, 'RE-3', '600.00')
  await invoice(commitments.large, 'RE-4', '1000.00')
  await written(post(app, `${north.url}/commitments/${commitments.small}/amendments`, { amount: '300.00', reason: 'Mehrbedarf' }), 'amendment')
  await invoice(commitments.small, 'RE-5', '100.00')
  await written(post(app, `${north.url}/commitments/${commitments.small}/release`, { reason: 'Hilfe beendet' }), 'release')

  const spendings: string[] = []
  for (let index = 0; index < 4; index++) {
    const id = uuid()
    spendings.push(id)
    await written(post(app, `${north.url}/spending`, spendingBody({ id, receiptRef: `R-${index}` })), 'spending')
  }
  await written(post(app, `${north.url}/spending/${spendings[1]}/reversal`, { reason: 'Fehlbuchung' }), 'reversal')
  let last: ApiResponse | undefined
  for (let index = 0; index < 3; index++) last = await written(post(app, `${south.url}/spending`, spendingBody({ id: uuid() })), 'spending')
  return { north, south, spendings, commitments, position: String(last?.body.position) }
}

/** A copy of a closed service's database file, deleted when the test ends. */
export function copyOf(t: { teardown(fn: () => unknown): void }, path: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-verify-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const copy = join(dir, 'ledger.db')
  for (const suffix of ['', '-wal']) if (existsSync(`${path}${suffix}`)) copyFileSync(`${path}${suffix}`, `${copy}${suffix}`)
  return copy
}

/** Changes the file with a second connection, as someone with access to it would. */
export function tamper(path: string, change: (db: Database.Database) => void): void {
  const db = new Database(path)
  try {
    change(db)
  } finally {
    db.close()
  }
}

/** Verifies the log in the file at `path`, as the CLI does (with the store's own classes, the lock aside). */
export async function verifyFile(path: string, options: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
  const store = new SqliteEventStore(path)
  const db = new SqliteDatabase(path)
  try {
    return await verifyLog({ store, db, locate: sqliteEventLocator(db), ...options })
  } finally {
    await store.close()
    await db.close()
  }
}

export interface EventRow {
  position: number
  stream_id: string
  revision: number
  event_id: string
  type: string
  data: string
  metadata: string
}

/** The rows of the events table, in log order. */
export function eventRows(path: string): EventRow[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT position, stream_id, revision, event_id, type, data, metadata FROM events ORDER BY position').all() as EventRow[]
  } finally {
    db.close()
  }
}

export interface ForgedEvent {
  streamId: string
  revision: number
  eventId: string
  type: string
  data: unknown
  /** Without links: they are made here, after `previousHash`. */
  metadata: Record<string, unknown>
  previousHash: string | null
}

/**
 * Appends an event with valid links after the last one, as anyone who can write the file could
 * (the chain has no key); answers its position.
 */
export function appendForged(path: string, event: ForgedEvent): number {
  const { hash: _hash, previousHash: _previous, ...metadata } = event.metadata
  const linked = withLinks({ ...event, revision: BigInt(event.revision) }, metadata, event.previousHash)
  let position = 0
  tamper(path, (db) => {
    const inserted = db
      .prepare('INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)')
      .run(event.streamId, event.revision, event.eventId, event.type, JSON.stringify(event.data), JSON.stringify(linked))
    position = Number(inserted.lastInsertRowid)
  })
  return position
}

/** The key the tests' seals are signed with (AUDIT_SEAL_KEY). */
export const TEST_SEAL_KEY = 'a-seal-key-of-at-least-32-characters-0123'

/** Runs `src/cli/verify.ts` on the database file at `path`, as `npm run verify` runs the built one. */
export function runVerifyCli(path: string, ...args: string[]): Promise<Exit> {
  return runScript('src/cli/verify.ts', args, { DATABASE_URL: `sqlite:${path}`, AUDIT_SEAL_KEY: TEST_SEAL_KEY })
}

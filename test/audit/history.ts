import type { FastifyInstance } from 'fastify'
import { withLinks } from '../../src/audit/chain.js'
import { verifyLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify.js'
import type { Statement } from '../../src/sql/port.js'
import { commitmentBody, post, seed, spendingBody, uuid, type ApiResponse } from '../helpers/api.js'
import { runScript, type Exit } from '../helpers/cli.js'
import { copyDatabase, openStoresAt, runSql, withSql } from '../helpers/stores.js'
import { bearer, TEST_JWT_SECRET } from '../helpers/tokens.js'

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

/** A copy of a closed service's database (see copyDatabase), deleted when the test ends: its DATABASE_URL. */
export function copyOf(t: { teardown(fn: () => unknown): void }, url: string): Promise<string> {
  return copyDatabase(t, url)
}

/**
 * Changes the database with a second connection, as someone with access to it would: the
 * statements run in one transaction, as plain SQL that both stores take.
 */
export function tamper(url: string, statements: readonly Statement[]): Promise<void> {
  return runSql(url, statements)
}

/** Verifies the log in the database at `url`, as the CLI does (with the stores it opens). */
export async function verifyFile(url: string, options: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
  const stores = await openStoresAt(url)
  try {
    return await verifyLog({ store: stores.store, db: stores.db, locate: stores.locate, ...options })
  } finally {
    await stores.close()
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
export function eventRows(url: string): Promise<EventRow[]> {
  return withSql(url, (db) => db.query<EventRow>('SELECT position, stream_id, revision, event_id, type, data, metadata FROM events ORDER BY events.position'))
}

/**
 * Statements that move each of two events to the other's position. PostgreSQL does not let a
 * position change (an identity column), so the two rows swap everything else instead, which
 * leaves the table as the move would; the first row steps aside first, so that no unique key
 * (event id; stream and revision) is ever held twice.
 */
export function swapPositions(first: EventRow, second: EventRow): Statement[] {
  const content = (row: EventRow) => [row.stream_id, row.revision, row.event_id, row.type, row.data, row.metadata]
  const set = 'UPDATE events SET stream_id = ?, revision = ?, event_id = ?, type = ?, data = ?, metadata = ? WHERE position = ?'
  return [
    { sql: 'UPDATE events SET revision = -1, event_id = ? WHERE position = ?', params: [`moving-${first.event_id}`, first.position] },
    { sql: set, params: [...content(first), second.position] },
    { sql: set, params: [...content(second), first.position] },
  ]
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
 * Appends an event with valid links after the last one, as anyone who can write the database could
 * (the chain has no key); answers its position.
 */
export async function appendForged(url: string, event: ForgedEvent): Promise<number> {
  const { hash: _hash, previousHash: _previous, ...metadata } = event.metadata
  const linked = withLinks({ ...event, revision: BigInt(event.revision) }, metadata, event.previousHash)
  const [inserted] = await withSql(url, (db) =>
    db.query<{ position: number }>('INSERT INTO events (stream_id, revision, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?) RETURNING position', [
      event.streamId,
      event.revision,
      event.eventId,
      event.type,
      JSON.stringify(event.data),
      JSON.stringify(linked),
    ]),
  )
  if (inserted === undefined) throw new Error('the forged event got no position')
  return Number(inserted.position)
}

/** The key the tests' seals are signed with (AUDIT_SEAL_KEY). */
export const TEST_SEAL_KEY = 'a-seal-key-of-at-least-32-characters-0123'

/** Runs `src/cli/verify.ts` on the database at `url`, as `npm run verify` runs the built one. */
export function runVerifyCli(url: string, ...args: string[]): Promise<Exit> {
  return runScript('src/cli/verify.ts', args, { DATABASE_URL: url, AUDIT_SEAL_KEY: TEST_SEAL_KEY, JWT_SECRET: TEST_JWT_SECRET })
}

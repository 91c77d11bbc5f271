/**
 * The year close on a realistic year: seeds a fresh SQLite store through the deciders
 * (src/cli/seed.ts: 20 Sozialräume × one year, 400 commitments and 1,000 spendings per budget,
 * plus 200 commitments per budget still open at the year's end, every 25th waiting for approval),
 * starts the service on it, asks for and approves the close of the year, and measures how long
 * the close takes until `GET /v1/years/{year}` says closed, how many commitments it carried, and
 * how many events it wrote per second. Then the same for a move between two Sozialräume of the
 * next year (the request's latency, median of 200).
 *
 *   npx tsx bench/year-close.ts                 # about 250,000 events (a minute or two)
 *
 * Knobs: BENCH_CLOSE_SOZIALRAEUME (20), BENCH_CLOSE_COMMITMENTS (400), BENCH_CLOSE_SPENDINGS (1000),
 * BENCH_CLOSE_OPEN (200).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { CommandContext } from '../src/application/command-handler.js'
import { Ledger } from '../src/application/ledger.js'
import { signToken } from '../src/auth/tokens.js'
import { DEFAULT_SEED_OPTIONS, seedLedger, sozialraumOf } from '../src/cli/seed.js'
import { parseConfig } from '../src/config.js'
import { openService, openStores } from '../src/service.js'

const numberFrom = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1 || value > 100_000) throw new Error(`${name} must be a whole number from 1 to 100000`)
  return value
}
const SOZIALRAEUME = numberFrom('BENCH_CLOSE_SOZIALRAEUME', 20)
const COMMITMENTS = numberFrom('BENCH_CLOSE_COMMITMENTS', 400)
const SPENDINGS = numberFrom('BENCH_CLOSE_SPENDINGS', 1000)
const OPEN_COMMITMENTS = numberFrom('BENCH_CLOSE_OPEN', 200)
const YEAR = 2025
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-012345'
const report = (measure: string, value: string): void => void process.stdout.write(`  ${measure.padEnd(44)} ${value}\n`)

const dir = mkdtempSync(join(tmpdir(), 'sojus-bench-close-'))
try {
  const config = parseConfig({ DATABASE_URL: `sqlite:${join(dir, 'ledger.db')}`, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' })
  const stores = await openStores(config, 'bench-seed')
  const seeded = await seedLedger(stores.store, {
    ...DEFAULT_SEED_OPTIONS,
    sozialraeume: SOZIALRAEUME,
    years: 1,
    firstYear: YEAR,
    commitments: COMMITMENTS,
    spendings: SPENDINGS,
    policy: { fourEyesThresholdCents: config.fourEyesThresholdCents },
  })
  // The seed settles most commitments within the year; a real year ends with many open, running
  // into the next: OPEN_COMMITMENTS more per budget, each with money left, a few waiting for approval.
  const ledger = new Ledger({ store: stores.store, clock: () => new Date(`${YEAR}-12-15T10:00:00Z`), newEventId: randomUUID })
  const context = (sub: string): CommandContext => ({
    actor: { sub, role: 'finance' },
    correlationId: 'bench',
    causationId: 'bench',
    idempotencyKey: null,
    requestHash: null,
    expectedRevision: undefined,
  })
  for (let index = 0; index < SOZIALRAEUME; index++) {
    const sozialraum = sozialraumOf(index, undefined).id
    await ledger.executeBudget(YEAR, sozialraum, { type: 'AllocateBudget', line: 'ambulatory', amountCents: 100_000_000n, decisionRef: 'Nachtrag' }, context('anna'))
    for (let n = 0; n < OPEN_COMMITMENTS; n++) {
      await ledger.executeBudget(
        YEAR,
        sozialraum,
        {
          type: 'CreateCommitment',
          commitmentId: randomUUID(),
          line: 'ambulatory',
          provider: `traeger-${n % 12}`,
          caseRef: `FALL-${index}-${n}`,
          helpType: `SGB VIII § ${27 + (n % 8)}`,
          amountCents: n % 25 === 0 ? 1_500_000n : 120_000n + BigInt(n * 17),
          period: { from: `${YEAR}-07-01`, to: `${YEAR + 1}-06-30` },
        },
        context('ben'),
      )
    }
  }
  await stores.close()
  report('seeded', `${seeded.events.toLocaleString('en-US')} events, ${SOZIALRAEUME} budgets × ${COMMITMENTS} commitments`)

  const service = await openService(config, pino({ level: 'silent' }))
  try {
    const head = await service.store.headPosition()
    await service.runner.waitFor(head, 3_600_000)
    const token = async (sub: string) => `Bearer ${await signToken(SECRET, { sub, role: 'finance' }, '1h')}`
    const [anna, erik] = [await token('anna'), await token('erik')]
    const inject = (method: 'GET' | 'POST', url: string, authorization: string, payload?: object) =>
      service.app.inject({ method, url, headers: { authorization, 'content-type': 'application/json' }, ...(payload ? { payload } : {}) })

    await inject('POST', `/v1/years/${YEAR}/close`, anna, { reason: 'Jahresabschluss', carryUnspent: ['flexible'] })
    const before = await service.store.headPosition()
    const started = performance.now()
    const approved = await inject('POST', `/v1/years/${YEAR}/close/approval`, erik, { decision: 'approve' })
    if (approved.statusCode !== 201) throw new Error(`approval: ${approved.statusCode} ${approved.body}`)
    let year: { status: string; carried: { commitments: number; amount: string } } | undefined
    for (;;) {
      year = (await inject('GET', `/v1/years/${YEAR}`, anna)).json()
      if (year?.status === 'closed') break
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const ms = performance.now() - started
    const written = Number((await service.store.headPosition()) - before)
    report('close: approval until closed (read models)', `${(ms / 1000).toFixed(2)} s`)
    report('close: commitments carried', `${year.carried.commitments.toLocaleString('en-US')} (${year.carried.amount} EUR)`)
    report('close: events written, events/s', `${written.toLocaleString('en-US')}, ${Math.round(written / (ms / 1000)).toLocaleString('en-US')}/s`)

    // Two Sozialräume whose 2026 budgets the close opened with the flexible carry-over.
    const [from, to] = [sozialraumOf(0, undefined).id, sozialraumOf(1, undefined).id]
    const latencies: number[] = []
    for (let n = 0; n < 200; n++) {
      const start = performance.now()
      const moved = await inject('POST', `/v1/budgets/${YEAR + 1}/moves`, anna, {
        from: { sozialraum: from, line: 'flexible' },
        to: { sozialraum: to, line: 'flexible' },
        amount: '0.01',
        reason: 'Bench',
      })
      if (moved.statusCode !== 201) throw new Error(`move: ${moved.statusCode} ${moved.body}`)
      latencies.push(performance.now() - start)
    }
    latencies.sort((a, b) => a - b)
    report('move (debit + credit, 3 appends): p50 / p95', `${latencies[100]?.toFixed(1)} ms / ${latencies[190]?.toFixed(1)} ms`)
  } finally {
    await service.close()
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

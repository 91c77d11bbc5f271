import fc from 'fast-check'
import t from 'tap'
import type { DomainEvent, Line } from '../../src/domain/events.js'
import { dateOfDay, dayNumber } from '../../src/domain/reports/dates.js'
import { budgetUrl, post, uuid, type ApiResponse } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { assertCsvMatches, closeBudget, REPORTS, report, secondFinance, stepLedger, teamLead } from './http-helpers.js'
import { expectedReport, readEvents, recompute } from './recompute.js'

/**
 * Random ledgers of two years written through the HTTP API (the second year perhaps after the
 * close of the first), then every report of both years, for finance and a team lead, at a random
 * asOf and number of days, against the recomputation from the event log. Each run writes its own
 * two years into one service, so that runs do not meet.
 */

const SOZIALRAEUME = ['p-a', 'p-b', 'p-c'] as const
const PROVIDERS = ['traeger-1', 'traeger-2', '-traeger-3'] as const
const HELP_TYPES = ['§ 31 SPFH', '§ 30 Erziehungsbeistand', undefined] as const
const CASES = ['C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6'] as const

type Step =
  | { kind: 'allocate'; s: number; line: Line; cents: number }
  | { kind: 'adjust'; s: number; line: Line; cents: number }
  | { kind: 'transfer'; s: number; from: Line; cents: number }
  | { kind: 'commit'; s: number; line: Line; cents: number; provider: number; helpType: number; caseRef: number; start: number; days: number }
  | { kind: 'invoice'; pick: number; cents: number; whole: boolean; day: number }
  | { kind: 'amend'; pick: number; cents: number }
  | { kind: 'decide'; pick: number; approve: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'spend'; s: number; cents: number; day: number }
  | { kind: 'reverse'; pick: number }

const s = fc.nat({ max: SOZIALRAEUME.length - 1 })
const line = fc.constantFrom<Line>('ambulatory', 'flexible')
const pick = fc.nat({ max: 50 })
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('allocate' as const), s, line, cents: fc.integer({ min: 1, max: 5_000_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('adjust' as const), s, line, cents: fc.integer({ min: -500_000, max: 500_000 }).filter((v) => v !== 0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), s, from: line, cents: fc.integer({ min: 1, max: 500_000 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      s,
      line: fc.constantFrom<Line>('ambulatory', 'ambulatory', 'ambulatory', 'flexible'),
      cents: fc.integer({ min: 1, max: 1_200_000 }),
      provider: fc.nat({ max: PROVIDERS.length - 1 }),
      helpType: fc.nat({ max: HELP_TYPES.length - 1 }),
      caseRef: fc.nat({ max: CASES.length - 1 }),
      // Day of the year the period starts (negative: in the year before), and its length.
      start: fc.integer({ min: -200, max: 364 }),
      days: fc.integer({ min: 0, max: 500 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('invoice' as const),
      pick,
      cents: fc.integer({ min: 1, max: 400_000 }),
      whole: fc.boolean(),
      day: fc.integer({ min: -40, max: 400 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('amend' as const), pick, cents: fc.integer({ min: -100_000, max: 300_000 }).filter((v) => v !== 0) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('decide' as const), pick, approve: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('spend' as const), s, cents: fc.integer({ min: 1, max: 200_000 }), day: fc.integer({ min: 0, max: 364 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick }) },
)

const opening = (year: number) =>
  SOZIALRAEUME.flatMap((_, index) =>
    (['ambulatory', 'flexible'] as const).map((which) =>
      fc.record({ kind: fc.constant('allocate' as const), s: fc.constant(index), line: fc.constant(which), cents: fc.integer({ min: 100_000, max: year % 2 === 0 ? 8_000_000 : 6_000_000 }) }),
    ),
  )

const run = fc.record({
  first: fc.tuple(...opening(0)).chain((open) => fc.array(step, { minLength: 10, maxLength: 35, size: 'max' }).map((rest): Step[] => [...open, ...rest])),
  second: fc.tuple(...opening(1)).chain((open) => fc.array(step, { minLength: 10, maxLength: 35, size: 'max' }).map((rest): Step[] => [...open, ...rest])),
  close: fc.option(fc.subarray<Line>(['ambulatory', 'flexible']), { nil: undefined }),
  // Up to a month on either side of the year: asOf is moved into it.
  asOfDay: fc.integer({ min: -31, max: 395 }),
  days: fc.integer({ min: 0, max: 200 }),
  lead: fc.subarray([...SOZIALRAEUME], { minLength: 1 }),
})

const dayIn = (year: number, day: number): string => dateOfDay(dayNumber(`${year}-01-01`) + day)
const money = (cents: number): string => `${cents < 0 ? '-' : ''}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`

t.test('every report equals the recomputation from the events, on random ledgers', async (t) => {
  // A lower four-eyes threshold than the default, so that approvals and rejections happen in most runs.
  const service = await startTestService(t, {}, { FOUR_EYES_THRESHOLD: '6000' })
  const { app, store } = service
  const steps = stepLedger(store)
  const finance2 = await secondFinance()
  for (const id of SOZIALRAEUME) await post(app, '/v1/sozialraeume', { id, name: id })
  const tally = new Map<string, number>()
  let runs = 0

  /** Applies the steps to `year`; refused writes (insufficient funds, closed commitments, …) are part of the game. */
  async function write(year: number, plan: readonly Step[]): Promise<void> {
    const commitments: Array<{ s: number; id: string; remaining: number; status: string }> = []
    const spendings: Array<{ s: number; id: string }> = []
    const url = (index: number) => budgetUrl(year, SOZIALRAEUME[index] as string)
    const remember = (response: ApiResponse) => {
      const found = commitments.find((c) => c.id === response.body?.id)
      if (found && typeof response.body?.remaining === 'string') found.remaining = Math.round(Number(response.body.remaining) * 100)
      if (found && typeof response.body?.status === 'string') found.status = response.body.status
    }
    /** Mostly one the step can act on (a decision one that waits, an invoice or amendment an open one); now and then any. */
    const choose = (step: Step) => {
      if (!('pick' in step) || commitments.length === 0) return undefined
      const wanted = step.kind === 'decide' ? 'requested' : step.kind === 'invoice' || step.kind === 'amend' ? 'open' : undefined
      const candidates = wanted === undefined || step.pick % 4 === 0 ? commitments : commitments.filter((c) => c.status === wanted)
      const from = candidates.length > 0 ? candidates : commitments
      return from[step.pick % from.length]
    }
    for (const step of plan) {
      const commitment = choose(step)
      let response: ApiResponse | undefined
      switch (step.kind) {
        case 'allocate':
          response = await post(app, `${url(step.s)}/allocations`, { line: step.line, amount: money(step.cents), decisionRef: 'HH' })
          break
        case 'adjust':
          response = await post(app, `${url(step.s)}/adjustments`, { line: step.line, amount: money(step.cents), reason: 'Korrektur' })
          break
        case 'transfer':
          response = await post(app, `${url(step.s)}/transfers`, {
            fromLine: step.from,
            toLine: step.from === 'ambulatory' ? 'flexible' : 'ambulatory',
            amount: money(step.cents),
            reason: 'Umschichtung',
          })
          break
        case 'commit': {
          const id = uuid()
          const from = dayIn(year, step.start)
          const to = dayIn(year, Math.max(step.start + step.days, 0))
          response = await post(app, `${url(step.s)}/commitments`, {
            id,
            line: step.line,
            provider: PROVIDERS[step.provider],
            caseRef: CASES[step.caseRef],
            ...(HELP_TYPES[step.helpType] === undefined ? {} : { helpType: HELP_TYPES[step.helpType] }),
            amount: money(step.cents),
            period: { from, to },
          })
          if (response.status === 201) commitments.push({ s: step.s, id, remaining: step.cents, status: String(response.body.status) })
          break
        }
        case 'invoice':
          if (!commitment) continue
          response = await post(app, `${url(commitment.s)}/commitments/${commitment.id}/invoices`, {
            invoiceNo: uuid(),
            amount: money(step.whole ? Math.max(1, commitment.remaining) : Math.min(step.cents, Math.max(1, commitment.remaining))),
            invoiceDate: dayIn(year, step.day),
          })
          break
        case 'amend':
          if (!commitment) continue
          response = await post(app, `${url(commitment.s)}/commitments/${commitment.id}/amendments`, { amount: money(step.cents), reason: 'Änderung' })
          break
        case 'decide':
          if (!commitment) continue
          response = await post(app, `${url(commitment.s)}/commitments/${commitment.id}/approval`, { decision: step.approve ? 'approve' : 'reject' }, finance2)
          break
        case 'release':
          if (!commitment) continue
          response = await post(app, `${url(commitment.s)}/commitments/${commitment.id}/release`, { reason: 'beendet' })
          break
        case 'spend': {
          const id = uuid()
          response = await post(app, `${url(step.s)}/spending`, { id, amount: money(step.cents), purpose: 'Gruppe', receiptRef: 'B-1', date: dayIn(year, step.day) })
          if (response.status === 201) spendings.push({ s: step.s, id })
          break
        }
        case 'reverse': {
          const spending = spendings[step.pick % Math.max(1, spendings.length)]
          if (!spending) continue
          response = await post(app, `${url(spending.s)}/spending/${spending.id}/reversal`, { reason: 'Storno' })
          break
        }
      }
      if (response.status >= 500) throw new Error(`${step.kind}: ${response.status} ${response.text}`)
      if (response.status === 201) remember(response)
    }
  }

  const count = (events: readonly DomainEvent[], from: number) => {
    for (const event of events.slice(from)) tally.set(event.type, (tally.get(event.type) ?? 0) + 1)
  }

  await fc.assert(
    fc.asyncProperty(run, async (plan) => {
      const first = 2030 + 2 * runs
      const second = first + 1
      runs += 1
      const before = (await readEvents(store)).length
      await write(first, plan.first)
      if (plan.close !== undefined) {
        for (const sozialraum of SOZIALRAEUME) await closeBudget(steps, first, sozialraum, plan.close)
      }
      await write(second, plan.second)
      const head = (await store.headPosition()).toString()
      const events = await readEvents(store)
      count(events, before)
      const ledger = recompute(events)
      const lead = await teamLead('lead', plan.lead)
      let same = true
      for (const year of [first, second]) {
        const asOf = dayIn(year, plan.asOfDay)
        for (const name of REPORTS) {
          const expected = (visible?: readonly string[]): unknown => expectedReport(ledger, year, name, { asOf, days: plan.days }, visible)
          for (const [headers, visible] of [[{}, undefined], [lead, plan.lead]] as const) {
            const json = await report(app, year, name, { asOf, days: plan.days }, head, headers)
            const want = expected(visible)
            if (JSON.stringify(json.body) !== JSON.stringify(want)) {
              t.strictSame(json.body, want, `${name} ${year} (${visible === undefined ? 'finance' : `team lead of ${visible.join(', ')}`}), asOf ${asOf}`)
              same = false
            }
          }
          if (!same) return false
          const csv = await report(app, year, name, { asOf, days: plan.days, format: 'csv' }, head)
          const json = await report(app, year, name, { asOf, days: plan.days }, head)
          assertCsvMatches(t, name, year, csv, json.body, `${name} ${year} as CSV`)
        }
      }
      return same
    }),
    { numRuns: 15, endOnFailure: true },
  )

  t.test('the random ledgers held what the reports are about', async (t) => {
    t.comment(JSON.stringify(Object.fromEntries([...tally.entries()].sort())))
    for (const type of ['CommitmentCreated', 'InvoiceBooked', 'CommitmentReleased', 'CommitmentApproved', 'CommitmentRejected', 'SpendingRecorded', 'SpendingReversed', 'CommitmentCarriedOver', 'CommitmentCarriedIn']) {
      t.ok((tally.get(type) ?? 0) > 0, `${type}: ${tally.get(type) ?? 0}`)
    }
  })
})

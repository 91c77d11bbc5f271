/**
 * What the first write to a large budget after a start costs: reading its stream, checking each
 * event (JSON, schema) and folding it into the budget's state, each timed apart, in this process.
 * Takes a store seeded before (`sojus-ledger seed --sozialraeume 20 --years 1 --first-year 2025
 * --commitments 420 --spendings 400`, about 4,900 events per budget, as bench/http.ts does) and
 * folds each of the year's budgets ROUNDS (5) times; prints microseconds per event for each part.
 *
 *   npx tsx bench/profile-fold.ts <ledger.db>
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-fold.ts <ledger.db>
 */
import { toStoredEvent, budgetStreamId } from '../src/application/stored-event.js'
import { sozialraumOf } from '../src/cli/seed.js'
import { evolveBudget, initialBudgetState } from '../src/domain/budget/index.js'
import { isBudgetEvent } from '../src/domain/events.js'
import { MAX_READ_COUNT, type RecordedEvent } from '../src/eventstore/port.js'
import { SqliteEventStore } from '../src/eventstore/sqlite.js'
import { wholeNumberFromEnvironment } from './common.js'

const path = process.argv[2]
if (path === undefined) throw new Error('usage: profile-fold.ts <ledger.db>')
const ROUNDS = wholeNumberFromEnvironment('ROUNDS', 5, 1, 1_000)
const YEAR = 2025
const store = new SqliteEventStore(path, { writer: 'inline' })
const spent = { read: 0, check: 0, fold: 0 }
let events = 0
for (let round = 0; round < ROUNDS; round++) {
  for (let index = 0; index < 20; index++) {
    const sozialraum = sozialraumOf(index, undefined).id
    let started = performance.now()
    const recorded: RecordedEvent[] = []
    for (;;) {
      const page = await store.readStream(budgetStreamId(YEAR, sozialraum), { fromRevision: BigInt(recorded.length), maxCount: MAX_READ_COUNT })
      recorded.push(...page)
      if (page.length < MAX_READ_COUNT) break
    }
    spent.read += performance.now() - started
    started = performance.now()
    const stored = recorded.map(toStoredEvent)
    spent.check += performance.now() - started
    started = performance.now()
    let state = initialBudgetState({ year: YEAR, sozialraum })
    for (const { event, metadata } of stored) {
      if (!isBudgetEvent(event)) throw new Error(`${event.type} in a budget stream`)
      state = evolveBudget(state, event, { recordedAt: metadata.recordedAt, actorSub: metadata.actor.sub })
    }
    spent.fold += performance.now() - started
    events += stored.length
  }
}
const perEvent = (ms: number) => ((ms * 1_000) / events).toFixed(2)
console.log(`${events} events folded (${ROUNDS} rounds of 20 budgets): µs per event read ${perEvent(spent.read)}, checked ${perEvent(spent.check)}, folded ${perEvent(spent.fold)}`)
await store.close()

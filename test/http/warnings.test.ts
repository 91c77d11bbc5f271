import t from 'tap'
import { commitmentBody, post, seed, spendingBody } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/**
 * Graded utilisation warnings (issue 11): a budget write that takes a line's committed + spent
 * across a configured threshold answers 201 with `warnings`; one that stays below, or within the
 * level reached before, answers an empty list. Writes are never refused for it.
 */

t.test('a write that crosses a threshold says so', async (t) => {
  const service = await startTestService(t)
  const app = service.app
  const budget = await seed(app, 'warn', { ambulatory: '1000', flexible: '100' })

  const below = await post(app, `${budget.url}/commitments`, commitmentBody({ amount: '799.99' }))
  t.same(below.body.warnings, [], 'below 80 %: no warning')
  const at80 = await post(app, `${budget.url}/commitments`, commitmentBody({ caseRef: 'C-2', amount: '0.01' }))
  t.same(at80.body.warnings, [{ line: 'ambulatory', threshold: 80, utilisation: '80.00' }], 'exactly 80 % reaches the first threshold')
  const still80 = await post(app, `${budget.url}/commitments`, commitmentBody({ caseRef: 'C-3', amount: '100' }))
  t.same(still80.body.warnings, [], 'a write within the level already reached warns no more')
  const jump = await post(app, `${budget.url}/spending`, spendingBody({ amount: '96' }))
  t.same(jump.body.warnings, [{ line: 'flexible', threshold: 95, utilisation: '96.00' }], 'a jump past both warns of the higher one')
  const over = await post(app, `${budget.url}/commitments`, commitmentBody({ caseRef: 'C-4', amount: '100', overBudget: { justification: 'Rechtsanspruch' } }))
  t.equal(over.status, 201, 'over budget stays allowed for ambulatory help as before')
  t.same(over.body.warnings, [{ line: 'ambulatory', threshold: 95, utilisation: '100.00' }])
  const lowered = await post(app, `${budget.url}/allocations`, { line: 'ambulatory', amount: '1000', decisionRef: 'Nachtrag' })
  t.same(lowered.body.warnings, [], 'more money lowers the utilisation: no warning')
})

t.test('the thresholds are configured per line', async (t) => {
  const service = await startTestService(t, {}, { UTILISATION_WARNINGS_AMBULATORY: '50', UTILISATION_WARNINGS_FLEXIBLE: 'none' })
  const app = service.app
  const budget = await seed(app, 'warn-config', { ambulatory: '1000', flexible: '100' })
  const half = await post(app, `${budget.url}/commitments`, commitmentBody({ amount: '500' }))
  t.same(half.body.warnings, [{ line: 'ambulatory', threshold: 50, utilisation: '50.00' }])
  const flexible = await post(app, `${budget.url}/spending`, spendingBody({ amount: '100' }))
  t.same(flexible.body.warnings, [], 'no thresholds on the flexible line')
})

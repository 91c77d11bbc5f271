import t from 'tap'
import { get, seed } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

/** Without `asOf`, a report stands on today by the service's clock, moved into the fiscal year. */
t.test("asOf defaults to the service's clock", async (t) => {
  const service = await startTestService(t, { clock: () => new Date('2025-06-15T23:30:00Z') })
  const budget = await seed(service.app, 'clock')
  t.equal((await get(service.app, '/v1/reports/2025/forecast', budget.position)).body.asOf, '2025-06-15', 'today, in UTC')
  t.equal((await get(service.app, '/v1/reports/2024/forecast', budget.position)).body.asOf, '2024-12-31', 'a past year stands on its last day')
  t.equal((await get(service.app, '/v1/reports/2026/monitoring', budget.position)).body.asOf, '2026-01-01', 'a future year on its first')
})

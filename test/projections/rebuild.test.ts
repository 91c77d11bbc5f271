import t from 'tap'
import { get, post, seed, spendingBody } from '../helpers/api.js'
import { runScript } from '../helpers/cli.js'
import { reopenableTestService, TEST_STORE } from '../helpers/service.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

/**
 * A rebuild cannot corrupt: run beside a serving service it is refused and the balances stay
 * right; run while the service is stopped, the next start replays the projection and serves the
 * same balances as before.
 */

const rebuild = (url: string, ...names: string[]) =>
  runScript('src/cli/rebuild-projections.ts', names, { DATABASE_URL: url, JWT_SECRET: TEST_JWT_SECRET })

t.test('rebuild while serving is refused; rebuild while stopped replays to the same balances', async (t) => {
  const { database, open } = await reopenableTestService(t, 'sojus-rebuild-')

  let service = await open()
  const budget = await seed(service.app, 'unteres-malstatt')
  let position = budget.position
  for (let index = 0; index < 20; index++) {
    const spent = await post(service.app, `${budget.url}/spending`, spendingBody({ amount: `${index + 1}.25` }))
    t.equal(spent.status, 201)
    position = spent.body.position
  }
  const before = await get(service.app, budget.url, position)
  t.equal(before.status, 200)

  await t.test(
    'refused while the service holds the store',
    {
      skip:
        TEST_STORE !== 'sqlite'
          ? "about SQLite's store lock: PostgreSQL is shared by any number of processes and has no lock that refuses a rebuild beside a running service"
          : false,
    },
    async (t) => {
      const refused = await rebuild(database.url, 'balances')
      t.equal(refused.code, 1, 'refused while the service holds the store')
      t.match(refused.stderr, `in use by process ${process.pid}`)
      const still = await get(service.app, budget.url)
      t.same(still.body, before.body, 'the balances are untouched')
      t.equal((await get(service.app, '/ready')).body.status, 'ready')
    },
  )

  await service.close()
  const done = await rebuild(database.url, 'balances', 'spending')
  t.equal(done.code, 0, done.stderr)
  t.match(done.stdout, 'reset balances, spending')

  service = await open()
  t.equal((await get(service.app, '/v1/sozialraeume')).status, 200, 'a projection that was not reset serves at once')
  // A projection that replays answers 503 until it has caught up.
  const rebuilt = async (url: string) => {
    let answer = await get(service.app, url, position)
    for (let attempt = 0; attempt < 50 && answer.status === 503; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      answer = await get(service.app, url, position)
    }
    return answer
  }
  const after = await rebuilt(budget.url)
  t.equal(after.status, 200)
  t.same(after.body, before.body, 'the rebuilt balances equal the ones before')
  const spendings = await rebuilt(`${budget.url}/spending`)
  t.equal(spendings.body.items.length, 20, 'the rebuilt spending list holds every spending once')
})

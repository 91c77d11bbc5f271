import { projections } from '../../projections/index.js'
import { parseConfig } from '../config.js'
import { resetProjection } from '../../projections/runner.js'
import { openStores } from '../service.js'
import { loadMigrations, migrate } from '../sql/migrate.js'
import { runCommand } from './run.js'

/**
 * `npm run rebuild-projections -- <name…|all>`: empties the named projections' tables and resets
 * their checkpoints; the service replays them from the event log on its next start, serving the
 * other projections meanwhile. It takes the store's lock, so it is refused while the service runs
 * (a running service would move the checkpoints on and leave the tables wrong for good).
 */
const names = process.argv.slice(2)
const known = projections.map((projection) => projection.name)
const chosen = names.includes('all') ? projections : projections.filter((projection) => names.includes(projection.name))
const unknown = names.filter((name) => name !== 'all' && !known.includes(name))
if (names.length === 0 || unknown.length > 0) {
  process.stderr.write(
    `${unknown.length > 0 ? `unknown projection: ${unknown.join(', ')}\n` : ''}usage: npm run rebuild-projections -- <${known.join('|')}|all> …\n`,
  )
  process.exit(2)
}

runCommand('rebuild-projections', async () => {
  const stores = await openStores(parseConfig(process.env), 'rebuild-projections')
  try {
    await stores.db.exclusive('migrations', async () => migrate(stores.db, await loadMigrations()))
    for (const projection of chosen) await resetProjection(stores.db, projection)
    process.stdout.write(`reset ${chosen.map((projection) => projection.name).join(', ')}; they are rebuilt on the next start\n`)
  } finally {
    await stores.close()
  }
})

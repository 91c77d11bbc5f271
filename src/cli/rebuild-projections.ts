import { projections } from '../../projections/index.js'
import { parseConfig } from '../config.js'
import { resetProjection } from '../projections/runner.js'
import { openStores } from '../service.js'
import { loadMigrations, migrate } from '../sql/migrate.js'

/**
 * `npm run rebuild-projections -- <name…|all>`: empties the named projections' tables and resets
 * their checkpoints; the service replays them from the event log on its next start. Run it while
 * the service is stopped: a running service keeps its checkpoints in memory.
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

const { store, db } = openStores(parseConfig(process.env))
try {
  await migrate(db, await loadMigrations())
  for (const projection of chosen) await resetProjection(db, projection)
  process.stdout.write(`reset ${chosen.map((projection) => projection.name).join(', ')}; they are rebuilt on the next start\n`)
} finally {
  await store.close()
  await db.close()
}

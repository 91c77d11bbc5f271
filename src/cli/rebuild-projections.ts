import { projections } from '../../projections/index.js'
import { parseConfig } from '../config.js'
import { resetProjection } from '../../projections/runner.js'
import { migrateStores, openStores } from '../service.js'
import { loadMigrations } from '../sql/migrate.js'
import { isMain, refuseMissingStore, runCommand } from './run.js'

/**
 * `npm run rebuild-projections -- <name…|all>`: empties the named projections' tables and resets
 * their checkpoints; the projector replays them from the event log, serving the other projections
 * meanwhile. On SQLite it takes the store's lock, so it is refused while the service runs, which
 * replays on its next start. On PostgreSQL it may run beside the service: checkpoints move only by
 * compare-and-set, so the projector's next batch fails, and it starts again from the reset.
 */
export async function rebuildCommand(names: readonly string[]): Promise<void> {
  const known = projections.map((projection) => projection.name)
  const chosen = names.includes('all') ? projections : projections.filter((projection) => names.includes(projection.name))
  const unknown = names.filter((name) => name !== 'all' && !known.includes(name))
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(
      `${unknown.length > 0 ? `unknown projection: ${unknown.join(', ')}\n` : ''}usage: sojus-ledger rebuild <${known.join('|')}|all> …\n`,
    )
    process.exit(2)
  }
  const config = parseConfig(process.env)
  // Rebuilding a store that is not there would make and migrate a new, empty one.
  if (config.database.kind === 'sqlite') refuseMissingStore(config.database.path, 'rebuild')
  const stores = await openStores(config, 'rebuild-projections')
  try {
    await migrateStores(stores, await loadMigrations())
    for (const projection of chosen) await resetProjection(stores.db, projection, stores.lease.announce)
    // On SQLite the service is stopped (the lock); on PostgreSQL a running projector replays at once.
    const when = config.database.kind === 'sqlite' ? 'the service rebuilds them on its next start' : 'a running service rebuilds them now, a stopped one on its next start'
    process.stdout.write(`reset ${chosen.map((projection) => projection.name).join(', ')}; ${when}\n`)
  } finally {
    await stores.close()
  }
}

if (isMain(import.meta.url)) runCommand('rebuild-projections', () => rebuildCommand(process.argv.slice(2)))

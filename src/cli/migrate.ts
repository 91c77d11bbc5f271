import { parseConfig } from '../config.js'
import { openStores } from '../service.js'
import { loadMigrations, migrate } from '../sql/migrate.js'

/** `npm run migrate`: applies the read-model migrations to DATABASE_URL and exits. */
const config = parseConfig(process.env)
const { store, db } = openStores(config)
try {
  const applied = await migrate(db, await loadMigrations())
  process.stdout.write(applied.length === 0 ? 'nothing to migrate\n' : `applied migrations ${applied.join(', ')}\n`)
} finally {
  await store.close()
  await db.close()
}

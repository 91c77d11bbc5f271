import { parseConfig } from '../config.js'
import { openStores } from '../service.js'
import { loadMigrations, migrate } from '../sql/migrate.js'
import { runCommand } from './run.js'

/** `npm run migrate`: applies the read-model migrations to DATABASE_URL and exits; refused while the store is in use. */
runCommand('migrate', async () => {
  const stores = openStores(parseConfig(process.env), 'migrate')
  try {
    const applied = await migrate(stores.db, await loadMigrations())
    process.stdout.write(applied.length === 0 ? 'nothing to migrate\n' : `applied migrations ${applied.join(', ')}\n`)
  } finally {
    await stores.close()
  }
})

import { parseConfig } from '../config.js'
import { migrateStores, openStores } from '../service.js'
import { loadMigrations } from '../sql/migrate.js'
import { isMain, runCommand } from './run.js'

/** `npm run migrate`: applies the read-model migrations to DATABASE_URL and exits. SQLite refuses it while the store is in use; on PostgreSQL it waits for another process migrating. */
export async function migrateCommand(): Promise<void> {
  const stores = await openStores(parseConfig(process.env), 'migrate')
  try {
    const applied = await migrateStores(stores, await loadMigrations())
    process.stdout.write(applied.length === 0 ? 'nothing to migrate\n' : `applied migrations ${applied.join(', ')}\n`)
  } finally {
    await stores.close()
  }
}

if (isMain(import.meta.url)) runCommand('migrate', migrateCommand)

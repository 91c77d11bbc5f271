import type { Logger } from 'pino'
import type { Position } from '../src/eventstore/port.js'
import type { SqlDatabase } from '../src/sql/port.js'
import type { Projection } from './projection.js'

/**
 * A projection that replays the log from the start, this far behind its head (positions; on the
 * embedded store one per event), drops the secondary indexes of its tables first and builds them
 * again once it has caught up. Keeping them up to date row by row made a replay of 1,000,000
 * events take about 1.2 to 1.6 times as long; building them at the end took 5 s (bench/rebuild.ts,
 * bench/profile-rebuild.ts). Below this many events the difference is lost in the noise.
 *
 * Only the embedded store's projection thread defers (projections/thread.ts sets it): there a
 * build holds no event loop, and the writer waits for the file's lock at most as long as one
 * index takes (its busy timeout is 5 s; the audit trail's largest index took under 2 s on
 * 1,000,000 events). The runner on the event loop (PostgreSQL, KurrentDB) keeps its indexes.
 */
export const DEFER_INDEXES_BEHIND: Position = 100_000n

/** sqlite_master lists the indexes; on PostgreSQL nothing is ever deferred. */
const deferring = (db: SqlDatabase): boolean => db.dialect === 'sqlite'

/** The projections whose indexes are deferred (dropped, with their definitions kept). */
export async function projectionsWithDeferredIndexes(db: SqlDatabase): Promise<Set<string>> {
  if (!deferring(db)) return new Set()
  const rows = await db.query<{ projection: string }>('SELECT DISTINCT projection FROM deferred_indexes')
  return new Set(rows.map((row) => row.projection))
}

/**
 * Drops the secondary indexes of the projection's tables and keeps the statements that built them,
 * in one transaction. Its reads are not served while it replays (it has not reached its target),
 * so no query waits on a missing index. Resolves with how many it dropped.
 */
export async function deferIndexes(db: SqlDatabase, projection: Projection): Promise<number> {
  if (!deferring(db) || projection.tables.length === 0) return 0
  const indexes = await db.query<{ name: string; sql: string }>(
    `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
       AND tbl_name IN (${projection.tables.map(() => '?').join(', ')}) ORDER BY name`,
    projection.tables,
  )
  await db.transaction(
    indexes.flatMap(({ name, sql }) => [
      { sql: 'INSERT INTO deferred_indexes (name, projection, definition) VALUES (?, ?, ?)', params: [name, projection.name, sql] },
      { script: `DROP INDEX "${name.replaceAll('"', '""')}"` },
    ]),
  )
  return indexes.length
}

/** What SQLite answers when an index's table or column is gone: its definition no longer applies. */
const OBSOLETE = /no such (table|column)/

/**
 * Builds the projection's deferred indexes again, one transaction each, so that a write waits for
 * the file's lock at most as long as one index takes; between two it stops when `stop()` says so,
 * and the rest stay deferred. A definition that a later migration made moot is dropped with a
 * warning: its index exists again under the same name (a migration made it anew), or its table
 * or column is gone. Any other failure (a full disk) leaves it deferred, to be built next time.
 */
export async function buildDeferredIndexes(db: SqlDatabase, projection: string, logger: Logger, stop: () => boolean): Promise<void> {
  const rows = await db.query<{ name: string; definition: string }>(
    'SELECT name, definition FROM deferred_indexes WHERE projection = ? ORDER BY name',
    [projection],
  )
  const forget = { sql: 'DELETE FROM deferred_indexes WHERE name = ?', expectRows: 1 }
  for (const { name, definition } of rows) {
    if (stop()) return
    const exists = await db.query("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [name])
    if (exists.length > 0) {
      logger.warn({ projection, index: name }, 'a deferred index exists again (a migration made it): its old definition is dropped')
      await db.transaction([{ ...forget, params: [name] }])
      continue
    }
    try {
      await db.transaction([{ script: definition }, { ...forget, params: [name] }])
    } catch (error) {
      if (!(error instanceof Error && OBSOLETE.test(error.message))) throw error
      logger.warn({ projection, index: name, err: error }, 'a deferred index no longer applies (a migration changed its table): dropped')
      await db.transaction([{ ...forget, params: [name] }])
    }
  }
}

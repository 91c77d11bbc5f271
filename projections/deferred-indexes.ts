import type { Position } from '../src/eventstore/port.js'
import type { SqlDatabase } from '../src/sql/port.js'
import type { Projection } from './projection.js'

/**
 * A projection that replays the log from the start, this far behind its head (positions; on the
 * embedded store one per event), drops the secondary indexes of its tables first and builds them
 * again once it has caught up. Keeping them up to date row by row made a replay of 1,000,000
 * events take 1.6 times as long, building them took 5 s (bench/rebuild.ts); below this many
 * events the difference is lost in the noise.
 */
export const DEFER_INDEXES_BEHIND: Position = 100_000n

/**
 * Only on SQLite, where a replay runs on the projection thread and an index is built in seconds
 * while the writer waits at most that long for the file's lock. PostgreSQL keeps its indexes:
 * there several processes share the database and its planner, and a replay was not measured.
 */
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

/**
 * Builds the projection's deferred indexes again, one transaction each, so that a write waits for
 * the file's lock at most as long as one index takes (1,000,000 audit events: under 2 s).
 */
export async function buildDeferredIndexes(db: SqlDatabase, projection: string): Promise<void> {
  const rows = await db.query<{ name: string; definition: string }>(
    'SELECT name, definition FROM deferred_indexes WHERE projection = ? ORDER BY name',
    [projection],
  )
  for (const { name, definition } of rows) {
    await db.transaction([{ script: definition }, { sql: 'DELETE FROM deferred_indexes WHERE name = ?', params: [name], expectRows: 1 }])
  }
}

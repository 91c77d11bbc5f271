import type { Statement } from '../src/sql/port.js'

/**
 * Who may project. The projections run in exactly one process at a time: the holder of this
 * lease. The others read the read models it writes and follow its checkpoints.
 */
export interface ProjectorLease {
  /**
   * Starts taking part: `onChange(true)` once this process holds the lease, `onChange(false)` when
   * it lost it. Resolves after the first attempt, so that a lone process projects from its start.
   */
  start(onChange: (held: boolean) => void): Promise<void>
  /** Gives the lease up (another process takes it over). */
  stop(): Promise<void>
  /** Statements every projection batch commits with, so that the other processes hear of it. */
  readonly announce: readonly Statement[]
  /** Calls `listener` when another process committed a projection batch or reset a projection. */
  onAnnounced(listener: () => void): void
}

/** The embedded store has one owner (StoreLock), which is always the projector. */
export const soleProjector: ProjectorLease = {
  start: async (onChange) => onChange(true),
  stop: async () => {},
  announce: [],
  onAnnounced: () => {},
}

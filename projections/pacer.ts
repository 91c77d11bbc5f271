/**
 * Sizes the catch-up batches of the projection runner: as large as fits a time budget, between
 * a floor and a ceiling. Large batches are what make a replay fast (one commit, one checkpoint
 * move and one statement per running figure per batch instead of per event); the budget is what
 * keeps the service answering meanwhile, since on SQLite a batch holds the event loop from its
 * read to its commit. The cost per event is learnt from the batches applied (an average that
 * leans on the recent ones), so that the size follows what the log holds at the moment: a
 * stretch of heavy events gets smaller batches.
 */
export interface PacerLimits {
  /** The fewest events in a batch, whatever they cost: a replay always moves. */
  min: number
  /** The most events in a batch. */
  max: number
  /** About how long one batch may take. */
  budgetMs: number
}

/** Weight of the newest batch in the running cost per event. */
const RECENT_WEIGHT = 0.3
/** Until a batch has been measured: small enough for a first batch of heavy events to stay near the budget. */
const FIRST_GUESS_MS_PER_EVENT = 0.1

export class BatchPacer {
  private msPerEvent = FIRST_GUESS_MS_PER_EVENT

  constructor(private readonly limits: PacerLimits) {
    if (!(limits.min >= 1 && limits.max >= limits.min && limits.budgetMs > 0)) throw new RangeError('pacer limits out of order')
  }

  /** How many events the next batch should take. */
  size(): number {
    const fitting = Math.floor(this.limits.budgetMs / this.msPerEvent)
    return Math.min(this.limits.max, Math.max(this.limits.min, fitting))
  }

  /** A batch of `events` took `ms`. */
  record(events: number, ms: number): void {
    if (events < 1 || !Number.isFinite(ms) || ms < 0) return
    // A batch measured at 0 ms (a coarse clock) must not make the next one unbounded: the ceiling caps it anyway.
    const measured = Math.max(ms / events, 1e-6)
    this.msPerEvent = this.msPerEvent * (1 - RECENT_WEIGHT) + measured * RECENT_WEIGHT
  }
}

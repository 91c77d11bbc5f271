import type { Position } from '../src/eventstore/port.js'

/** At most this many callers wait at once; more are answered "not reached" at once. */
const MAX_WAITERS = 10_000

interface Waiter {
  position: Position
  names: readonly string[] | undefined
  resolve: (reached: boolean) => void
  timer: NodeJS.Timeout
}

/**
 * Callers waiting for projections to reach a position (read-your-writes, the year-close process).
 * Shared by the runner, which projects, and by the projection thread's stand-in on the event loop,
 * which learns the positions from the thread.
 */
export class PositionWaiters {
  private readonly waiters = new Set<Waiter>()

  /**
   * `reached` answers the lowest position the named projections (all when undefined) have
   * processed; `onWait` is told when a caller starts to wait, and after each progress while any
   * still waits (the runner then gathers no events for larger batches, see ProjectionRunner.hurry).
   */
  constructor(
    private readonly reached: (names: readonly string[] | undefined) => Position,
    private readonly onWait: () => void = () => undefined,
  ) {}

  wait(position: Position, timeoutMs: number, names?: readonly string[]): Promise<boolean> {
    if (this.reached(names) >= position) return Promise.resolve(true)
    if (this.waiters.size >= MAX_WAITERS) return Promise.resolve(false)
    this.onWait()
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        names,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          resolve(false)
        }, timeoutMs),
      }
      this.waiters.add(waiter)
    })
  }

  /** Answers every waiter whose position has been reached; tells `onWait` again while some still wait. */
  notify(): void {
    for (const waiter of this.waiters) {
      if (this.reached(waiter.names) < waiter.position) continue
      clearTimeout(waiter.timer)
      this.waiters.delete(waiter)
      waiter.resolve(true)
    }
    if (this.waiters.size > 0) this.onWait()
  }

  /** Answers every waiter "not reached": the projections stop. */
  clear(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.resolve(false)
    }
    this.waiters.clear()
  }
}

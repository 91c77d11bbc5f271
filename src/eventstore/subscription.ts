import type { Position, ReadAllOptions, RecordedEvent, Subscription } from './port.js'

export interface PollingSubscriptionSource {
  after: Position
  batchSize: number
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>
  /** Counts appends seen by this process, so that an append between a read and a wait is not missed. */
  appendCount(): number
  /** Resolves when the append count differs from `seen`, after a poll interval, or on abort. */
  waitForAppend(seen: number, signal: AbortSignal): Promise<void>
}

/**
 * A catch-up subscription over any store that can read its global log in order: read batches
 * after the checkpoint until the log is exhausted, then wait for the next append. Adapters whose
 * readAll never skips a late commit (see docs/architecture.md) get a subscription that never skips one either.
 */
export function pollingSubscription(source: PollingSubscriptionSource): Subscription {
  const abort = new AbortController()
  let checkpoint = source.after

  async function* iterate(): AsyncGenerator<RecordedEvent> {
    while (!abort.signal.aborted) {
      const seen = source.appendCount()
      const batch = await source.readAll({ after: checkpoint, maxCount: source.batchSize })
      for (const event of batch) {
        if (abort.signal.aborted) return
        checkpoint = event.position
        yield event
      }
      if (batch.length < source.batchSize) await source.waitForAppend(seen, abort.signal)
    }
  }

  const iterator = iterate()
  return {
    [Symbol.asyncIterator]: () => iterator,
    close: () => abort.abort(),
  }
}

import type { Ledger } from '../application/ledger.js'
import type { EventStore } from '../eventstore/port.js'
import type { ProjectionRunner } from '../projections/runner.js'
import type { ReadModels } from '../readmodels/queries.js'

/** What the HTTP layer needs from the rest of the service; tests pass their own. */
export interface HttpDeps {
  ledger: Ledger
  readModels: ReadModels
  runner: ProjectionRunner
  store: EventStore
  /** How long `?minPosition=` waits for the read models. */
  readYourWritesTimeoutMs: number
  /** Fastify's trustProxy (see Config.trustProxy). */
  trustProxy?: boolean | number | string
}

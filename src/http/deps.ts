import type { Ledger } from '../application/ledger.js'
import type { LogVerifier } from '../audit/verify.js'
import type { EventStore, Position } from '../eventstore/port.js'
import type { ServiceMetrics } from '../metrics.js'
import type { UtilisationThresholds } from '../domain/budget/warnings.js'
import type { FiscalYearQueries } from '../readmodels/fiscal-years.js'
import type { ReadModels } from '../readmodels/queries.js'
import type { ReportQueries } from '../readmodels/reports.js'
import type { ReadModelProgress } from './read-models.js'
import type { DashboardOptions } from './routes/dashboard.js'

/** What the HTTP layer needs from the rest of the service; tests pass their own. */
export interface HttpDeps {
  ledger: Ledger
  readModels: ReadModels
  /** The year close and moves between Sozialräume (src/readmodels/fiscal-years.ts). */
  fiscalYears: FiscalYearQueries
  /** The controlling reports (src/readmodels/reports.ts, docs/reports.md). */
  reports: ReportQueries
  /**
   * Runs the year-close and move processes soon (after an approval, or a move that could not
   * finish at once), once the read models they list their work from have that write's position.
   */
  processes: { kick(after?: Position): void }
  /** The service's clock: what "today" is for the reports that stand on a date. */
  clock: () => Date
  /** The utilisation thresholds a budget write warns about when it crosses one. */
  utilisationThresholds: UtilisationThresholds
  /** How far the projections are; the runner in projections/ gives it. */
  runner: ReadModelProgress
  store: EventStore
  /** Verifies the log and takes seals (POST /v1/audit/verify, GET /v1/audit/seal). */
  verifier: LogVerifier
  /** How long `?minPosition=` waits for the read models. */
  readYourWritesTimeoutMs: number
  /** With it, rate limits are counted in Redis and shared by every process (see Config.redisUrl). */
  redisUrl?: string
  /** Fastify's trustProxy (see Config.trustProxy). */
  trustProxy?: boolean | number | string
  /** The service's Prometheus metrics (src/metrics.ts); without them no request is measured and /metrics answers 404. */
  metrics?: ServiceMetrics
  /** The web dashboard's built files and sign-in; without it, `/` answers that it was not built. */
  dashboard?: DashboardOptions
}

import { Ledger } from '../../src/application/ledger.js'
import type { YearState } from '../../src/domain/year.js'

/**
 * A ledger that takes a year as it was read earlier (`earlier`): a write whose check read the
 * year just before another process approved its close, and whose append lands after it. The
 * race docs/fiscal-year.md leaves open, made to happen on purpose.
 */
export class LedgerReadingTheYearEarlier extends Ledger {
  earlier: { state: YearState; revision: bigint | undefined } | undefined
  override readYear(year: number): ReturnType<Ledger['readYear']> {
    return this.earlier && year === this.earlier.state.year ? Promise.resolve(this.earlier) : super.readYear(year)
  }
}

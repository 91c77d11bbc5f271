import { auditProjection } from './audit.js'
import { balanceHistoryProjection } from './balance-history.js'
import { balancesProjection } from './balances.js'
import { commitmentsProjection } from './commitments.js'
import { fiscalYearsProjection } from './fiscal-years.js'
import { idempotencyKeysProjection } from './idempotency-keys.js'
import { movesProjection } from './moves.js'
import { monthlyProjection } from './monthly.js'
import type { Projection } from './projection.js'
import { sozialraeumeProjection } from './sozialraeume.js'
import { spendingProjection } from './spending.js'

export type { Projection } from './projection.js'

export const projections: readonly Projection[] = [
  sozialraeumeProjection,
  balancesProjection,
  commitmentsProjection,
  spendingProjection,
  auditProjection,
  idempotencyKeysProjection,
  balanceHistoryProjection,
  fiscalYearsProjection,
  movesProjection,
  monthlyProjection,
]

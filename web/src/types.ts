/**
 * The API's resources as the dashboard reads them (docs/api.md, "Resources"); money is a decimal
 * string. They restate the shapes the service declares (src/http/schemas.ts and the OpenAPI
 * document): the dashboard is a client of the HTTP contract and bundles none of the service's code.
 */
export type Line = 'ambulatory' | 'flexible'
export type Role = 'finance' | 'teamlead' | 'auditor'

export interface Balance {
  allocated: string
  committed: string
  spent: string
  available: string
}

export interface Budget {
  year: number
  sozialraum: string
  revision: string
  closed: boolean
  lines: Record<Line, Balance>
  total: Balance
  overBudget: { commitments: number; amount: string }
}

export interface BudgetList {
  year: number
  items: Budget[]
  total: Balance
}

export interface Sozialraum {
  id: string
  name: string
  status: 'pilot' | 'permanent'
  openedAt: string
}

export interface Decision {
  decision: 'approve' | 'reject'
  by: string
  at: string
  comment?: string
}

export interface Commitment {
  id: string
  year: number
  sozialraum: string
  line: Line
  provider: string
  caseRef: string
  helpType?: string
  period: { from: string; to: string }
  decisionRef?: string
  amount: string
  invoiced: string
  released: string
  carried: string
  remaining: string
  status: 'requested' | 'open' | 'closed' | 'rejected'
  overBudget: boolean
  overBudgetJustification?: string
  createdBy: string
  createdAt: string
  /** Who asked for what waits for approval (null unless `requested`): the one person who may not approve it. */
  requestedBy: string | null
  invoices: { invoiceNo: string; amount: string; invoiceDate: string }[]
  lastDecision?: Decision
}

export interface Spending {
  id: string
  year: number
  sozialraum: string
  line: 'flexible'
  amount: string
  purpose: string
  category?: string
  receiptRef: string
  date: string
  reversed: boolean
  createdBy: string
  createdAt: string
}

/** What every successful write answers (docs/api.md, "The 201 answer"), budget writes with the budget. */
export interface WriteAnswer {
  position: string
  revision: string
  budget?: Budget
  warnings?: { line: Line; threshold: number; utilisation: string | null }[]
}

export interface AuditEntry {
  position: string
  streamId: string
  revision: string
  eventId: string
  type: string
  version: number
  recordedAt: string
  actor: { sub: string; role: Role }
  data: Record<string, unknown>
}

export interface FiscalYear {
  year: number
  status: 'open' | 'close-requested' | 'closing' | 'closed'
  request?: { reason: string; carryUnspent: Line[]; by: string; at: string }
  decision?: Decision
  closedAt?: string
  budgets: { total: number; closed: number }
  carried: Record<string, string | number>
}

export interface Move {
  id: string
  year: number
  from: { sozialraum: string; line: Line }
  to: { sozialraum: string; line: Line }
  amount: string
  reason: string
  status: 'in-transit' | 'completed' | 'refused' | 'reverted'
  why?: string
  requestedBy: string
  requestedAt: string
  settledAt?: string
}

/** A line's row of the Haushaltsüberwachungsliste (docs/reports.md, "monitoring"). */
export interface MonitoringFigures extends Balance {
  carriedIn: string
  carriedOut: string
  movedIn: string
  movedOut: string
  lapsed: string
  /** Percent with two decimals; null with nothing allocated. */
  utilisation: string | null
  /** The highest utilisation threshold reached (80, 95, …), or null below the first. */
  warningLevel: number | null
  forecastResult: string
}

export interface MonitoringReport {
  year: number
  asOf: string
  thresholds: Record<Line, number[]>
  items: { sozialraum: string; lines: Record<Line, MonitoringFigures>; total: MonitoringFigures }[]
  total: { lines: Record<Line, MonitoringFigures>; total: MonitoringFigures }
}

/** Spent in one month (docs/reports.md, "monthly"). */
export interface MonthFigures {
  month: number
  ambulatory: string
  flexible: string
  total: string
}

export interface MonthlyReport {
  year: number
  items: { sozialraum: string; months: MonthFigures[]; total: Omit<MonthFigures, 'month'> }[]
  total: { months: MonthFigures[]; total: Omit<MonthFigures, 'month'> }
}

import { ApiProblem, budgetPath, seg, type Api } from '../api'
import type { Commitment, MonitoringReport, MonthlyReport } from '../types'
import { readAfter } from '../writes'

export interface Reports {
  monitoring: MonitoringReport
  monthly: MonthlyReport
}

export async function loadReports(api: Api, year: number, position: string | undefined): Promise<Reports> {
  const report = (name: string) => readAfter(`/v1/reports/${seg(year)}/${name}`, position)
  const [monitoring, monthly] = await Promise.all([api.get<MonitoringReport>(report('monitoring')), api.get<MonthlyReport>(report('monthly'))])
  return { monitoring, monthly }
}

export interface Approvals {
  /** Every commitment of the year that waits for a second person's decision, oldest first. */
  pending: Commitment[]
  /** Every over-budget commitment of the year, whatever its status. */
  overBudget: Commitment[]
}

/** The year's commitments waiting for approval (one read per budget: the API lists them per budget) and its over-budget ones. */
export async function loadApprovals(api: Api, year: number, sozialraeume: readonly string[], position: string | undefined): Promise<Approvals> {
  const [overBudget, ...perBudget] = await Promise.all([
    api.get<{ items: Commitment[] }>(readAfter(`/v1/reports/${seg(year)}/over-budget-commitments`, position)),
    ...sozialraeume.map((sozialraum) => api.get<{ items: Commitment[] }>(readAfter(`${budgetPath(year, sozialraum)}/commitments?status=requested`, position))),
  ])
  const pending = perBudget.flatMap((answer) => answer.items).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
  return { pending, overBudget: overBudget!.items }
}

/**
 * A 403 on a four-eyes decision means the person asked for it themselves (a finance controller
 * may decide everything else): say that, rather than "no permission".
 */
export function asFourEyes(error: unknown): unknown {
  return error instanceof ApiProblem && error.status === 403 ? new ApiProblem(403, 'four-eyes', error.detail) : error
}

/**
 * A 409 conflict on a commitment's approval: it waits no longer, someone else decided it (or its
 * requester withdrew it) meanwhile. Say that; the page reads its list again.
 */
export function asDecidedMeanwhile(error: unknown): unknown {
  return error instanceof ApiProblem && error.status === 409 && error.code === 'conflict' ? new ApiProblem(409, 'decided-meanwhile', error.detail) : error
}

/** A 409 conflict on a year's close or its approval is about the order of the years: say that, rather than "exists already". */
export function asYearOrder(error: unknown): unknown {
  return error instanceof ApiProblem && error.status === 409 && error.code === 'conflict' ? new ApiProblem(409, 'year-order', error.detail) : error
}

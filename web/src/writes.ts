import { LINES } from './budget'
import { LINE_LABELS, percent, thresholdPercent } from './format'
import type { Budget, WriteAnswer } from './types'

/** A write's 201 answer: the envelope (position, revision, the budget, warnings) plus the resource it wrote. */
export type Written<T = object> = WriteAnswer & T

/** The lines as the options of a select. */
export const LINE_OPTIONS = LINES.map((line) => ({ value: line, label: LINE_LABELS[line] }))

/**
 * `path` read once the read models have processed `position` (docs/api.md, "Read your writes"):
 * after a write, the lists and reports show it, not the state just before it.
 */
export function readAfter(path: string, position: string | undefined): string {
  return position === undefined ? path : `${path}${path.includes('?') ? '&' : '?'}minPosition=${encodeURIComponent(position)}`
}

/** The success message of a write, with the utilisation thresholds it crossed (a warning never refuses it). */
export function withWarnings(message: string, answer: WriteAnswer): string {
  const warnings = (answer.warnings ?? []).map(
    (warning) =>
      `${LINE_LABELS[warning.line]} ${warning.utilisation === null ? '' : `zu ${percent(warning.utilisation)} `}ausgelastet (Schwelle ${thresholdPercent(warning.threshold)})`,
  )
  return warnings.length === 0 ? message : `${message} Hinweis: ${warnings.join('; ')}.`
}

/**
 * The later of two states of one budget: answers of two writes may arrive in either order, and
 * the page must never go back to the older one. Revisions are the stream's, compared exactly.
 */
export function laterBudget(shown: Budget | undefined, answered: Budget): Budget {
  return shown !== undefined && BigInt(shown.revision) > BigInt(answered.revision) ? shown : answered
}

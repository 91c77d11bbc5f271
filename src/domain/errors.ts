/**
 * A broken rule of the ledger. `decide` returns one instead of events; nothing is written.
 * The code is stable and becomes the problem type of the HTTP answer.
 */
export const DOMAIN_ERROR_CODES = [
  'validation',
  'not-found',
  'conflict',
  'insufficient-funds',
  'exceeds-commitment',
  'commitment-closed',
  'approval-required',
  'year-closed',
  'forbidden',
  /** A balance or sum would go beyond MAX_BALANCE_CENTS (money.ts). */
  'limit-exceeded',
] as const
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number]

export class DomainError {
  constructor(
    readonly code: DomainErrorCode,
    readonly message: string,
    /** For validation errors: the field of the command at fault, e.g. "amount" or "period.to". */
    readonly path?: string,
  ) {}
}

export function isDomainError(value: unknown): value is DomainError {
  return value instanceof DomainError
}

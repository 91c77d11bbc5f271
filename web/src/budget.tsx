import { Money } from './components'
import { LINE_LABELS } from './format'
import type { Balance, Budget, Line } from './types'

const LINES: readonly Line[] = ['ambulatory', 'flexible']
const COLUMNS: readonly { key: keyof Balance; label: string }[] = [
  { key: 'allocated', label: 'Zugewiesen' },
  { key: 'committed', label: 'Gebunden' },
  { key: 'spent', label: 'Ausgegeben' },
  { key: 'available', label: 'Verfügbar' },
]

/**
 * One budget's lines and total as a table: the figures every role reads first. Each row carries
 * data-line and each cell data-figure, so tests compare what is shown with the API's answer.
 */
export function BudgetTable({ budget, caption }: { budget: Budget; caption?: string }) {
  return (
    <div class="table-wrap">
      <table class="budget" data-sozialraum={budget.sozialraum}>
        <caption class="muted">{caption ?? `Budget ${budget.year} nach Haushaltslinien${budget.closed ? ' (abgeschlossen)' : ''}`}</caption>
        <BalanceHead first="Haushaltslinie" />
        <tbody>
          {LINES.map((line) => (
            <BalanceRow key={line} label={LINE_LABELS[line]} line={line} balance={budget.lines[line]} />
          ))}
        </tbody>
        <tfoot>
          <BalanceRow label="Gesamt" line="total" balance={budget.total} />
        </tfoot>
      </table>
    </div>
  )
}

/** The head of a table of BalanceRows: what the rows are, then the four figures. */
export function BalanceHead({ first }: { first: string }) {
  return (
    <thead>
      <tr>
        <th scope="col">{first}</th>
        {COLUMNS.map((column) => (
          <th scope="col" class="num" key={column.key}>
            {column.label}
          </th>
        ))}
      </tr>
    </thead>
  )
}

export function BalanceRow({ label, line, balance }: { label: string; line: string; balance: Balance }) {
  return (
    <tr data-line={line}>
      <th scope="row">{label}</th>
      {COLUMNS.map((column) => (
        <td class={balance[column.key].startsWith('-') ? 'num negative' : 'num'} data-figure={column.key} key={column.key}>
          <Money amount={balance[column.key]} />
        </td>
      ))}
    </tr>
  )
}

export { COLUMNS as BALANCE_COLUMNS, LINES }

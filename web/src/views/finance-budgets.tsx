import { BALANCE_COLUMNS, BalanceHead, BalanceRow, LINES } from '../budget'
import { COLOURS, type ChartConfiguration } from '../chart'
import { ChartCanvas } from '../components'
import { addAmounts, COMPACT_EURO, euro, LINE_LABELS } from '../format'
import { nameOf, type Names } from '../sozialraeume'
import type { Balance, Budget, BudgetList } from '../types'
import { laterBudget } from '../writes'

/**
 * The list with `budget` in place of its older self (or added, for a first allocation), and the
 * total summed again exactly: a write's answer updates the page without asking the API again.
 */
export function withBudget(list: BudgetList, answered: Budget): BudgetList {
  const budget = laterBudget(list.items.find((item) => item.sozialraum === answered.sozialraum), answered)
  const items = [...list.items.filter((item) => item.sozialraum !== budget.sozialraum), budget].sort((a, b) =>
    a.sozialraum < b.sozialraum ? -1 : a.sozialraum > b.sozialraum ? 1 : 0,
  )
  const total = Object.fromEntries(
    BALANCE_COLUMNS.map(({ key }) => [key, addAmounts(...items.map((item) => item.total[key]))]),
  ) as unknown as Balance
  return { ...list, items, total }
}

/**
 * Every budget's lines as grouped horizontal bars (one group per Sozialraum and line, one bar per
 * figure). Chart.js needs numbers: the conversion is for drawing only, the table beside it shows
 * the exact amounts.
 */
function budgetsChart(list: BudgetList, names: Names): ChartConfiguration {
  const rows = list.items.flatMap((budget) => LINES.map((line) => ({ label: [nameOf(names, budget.sozialraum), LINE_LABELS[line]], balance: budget.lines[line] })))
  return {
    type: 'bar',
    data: {
      labels: rows.map((row) => row.label),
      datasets: BALANCE_COLUMNS.map((column) => ({
        label: column.label,
        data: rows.map((row) => Number(row.balance[column.key])),
        backgroundColor: COLOURS[column.key],
      })),
    },
    options: {
      indexAxis: 'y',
      scales: { x: { ticks: { callback: (value) => COMPACT_EURO.format(Number(value)) } } },
      plugins: {
        legend: { position: 'bottom' },
        // The exact amount from the API, not the number the bar was drawn with.
        tooltip: { callbacks: { label: (item) => `${item.dataset.label ?? ''}: ${euro(rows[item.dataIndex]!.balance[BALANCE_COLUMNS[item.datasetIndex]!.key])}` } },
      },
    },
  }
}

/** The year's budgets at a glance: the bars, and the same figures as a table (tests read its data attributes). */
export function BudgetsOverview({ list, names }: { list: BudgetList; names: Names }) {
  // Four bars per line and two lines per budget: give each budget room, however many there are.
  const height = Math.max(220, 80 + list.items.length * 110)
  return (
    <>
      <ChartCanvas config={budgetsChart(list, names)} height={height} label={`Balkendiagramm: Zugewiesen, Gebunden, Ausgegeben und Verfügbar je Sozialraum und Haushaltslinie ${list.year}; die Zahlen stehen in der Tabelle darunter.`} />
      <div class="table-wrap">
        <table class="budget budgets-overview">
          <caption class="muted">Budgets {list.year} aller Sozialräume</caption>
          <BalanceHead first="Haushaltslinie" />
          {list.items.map((budget) => (
            <tbody key={budget.sozialraum} data-sozialraum={budget.sozialraum}>
              <tr class="fin-group">
                <th scope="rowgroup" colSpan={BALANCE_COLUMNS.length + 1}>
                  {nameOf(names, budget.sozialraum)}
                  {budget.closed && <span class="muted"> (abgeschlossen)</span>}
                  {budget.overBudget.commitments > 0 && (
                    <span class="badge over">
                      {budget.overBudget.commitments} überplanmäßig: {euro(budget.overBudget.amount)}
                    </span>
                  )}
                </th>
              </tr>
              {LINES.map((line) => (
                <BalanceRow key={line} label={LINE_LABELS[line]} line={line} balance={budget.lines[line]} />
              ))}
              <BalanceRow label="Summe" line="total" balance={budget.total} />
            </tbody>
          ))}
          <tfoot>
            <BalanceRow label="Alle Sozialräume" line="total" balance={list.total} />
          </tfoot>
        </table>
      </div>
    </>
  )
}

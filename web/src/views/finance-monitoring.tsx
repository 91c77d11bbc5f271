import { useState } from 'preact/hooks'
import { LINES } from '../budget'
import { COLOURS, type ChartConfiguration } from '../chart'
import { ChartCanvas, Money } from '../components'
import { COMPACT_EURO, euro, fractionOf, germanDate, germanNumber, LINE_LABELS, percent, subtractAmount, thresholdPercent } from '../format'
import type { MonitoringFigures, MonitoringReport, MonthFigures, MonthlyReport } from '../types'
import { nameOf, type Names } from '../sozialraeume'

const MONTHS = ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August', 'September', 'Oktober', 'November', 'Dezember'] as const

/** The warning level as a badge: which of the line's thresholds it reached, in words and colour. */
function WarningBadge({ level, thresholds }: { level: number | null; thresholds: readonly number[] }) {
  if (level === null) return <span class="badge level-0">keine</span>
  // level-1 for the first threshold, level-2 for any higher one (the CSS knows two steps).
  const step = Math.min(2, thresholds.indexOf(level) + 1 || thresholds.length)
  return <span class={`badge level-${step}`}>ab {thresholdPercent(level)}</span>
}

/** `line` is the API's line, or "total" for both together (tests compare by it). */
function MonitoringRow({ label, line, figures, thresholds }: { label: string; line: string; figures: MonitoringFigures; thresholds: readonly number[] | undefined }) {
  return (
    <tr data-line={line}>
      <th scope="row">{label}</th>
      <td class="num" data-figure="allocated">
        <Money amount={figures.allocated} />
      </td>
      <td class="num" data-figure="utilisation">
        {percent(figures.utilisation)}
      </td>
      <td data-figure="warningLevel">{thresholds === undefined ? '' : <WarningBadge level={figures.warningLevel} thresholds={thresholds} />}</td>
      <td class={figures.forecastResult.startsWith('-') ? 'num negative' : 'num'} data-figure="forecastResult">
        <Money amount={figures.forecastResult} />
      </td>
    </tr>
  )
}

/** The Haushaltsüberwachungsliste: utilisation, warning level and forecast result per budget and line. */
export function MonitoringTable({ report, names }: { report: MonitoringReport; names: Names }) {
  return (
    <div class="table-wrap">
      <table class="monitoring">
        <caption class="muted">
          Stand {germanDate(report.asOf)}. Warnstufen ab {report.thresholds.ambulatory.map(germanNumber).join(' / ')} % (ambulant) und {report.thresholds.flexible.map(germanNumber).join(' / ')} % (flexibel) Auslastung;
          die Prognose ist Zugewiesen minus die hochgerechneten Ausgaben bis 31.12. (negativ: erwartetes Defizit).
        </caption>
        <thead>
          <tr>
            <th scope="col">Haushaltslinie</th>
            <th scope="col" class="num">Zugewiesen</th>
            <th scope="col" class="num">Auslastung</th>
            <th scope="col">Warnstufe</th>
            <th scope="col" class="num">Prognose Jahresergebnis</th>
          </tr>
        </thead>
        {report.items.map((item) => (
          <tbody key={item.sozialraum} data-sozialraum={item.sozialraum}>
            <tr class="fin-group">
              <th scope="rowgroup" colSpan={5}>
                {nameOf(names, item.sozialraum)}
              </th>
            </tr>
            {LINES.map((line) => (
              <MonitoringRow key={line} label={LINE_LABELS[line]} line={line} figures={item.lines[line]} thresholds={report.thresholds[line]} />
            ))}
            <MonitoringRow label="Summe" line="total" figures={item.total} thresholds={undefined} />
          </tbody>
        ))}
        <tfoot>
          <MonitoringRow label="Alle Sozialräume" line="total" figures={report.total.total} thresholds={undefined} />
        </tfoot>
      </table>
    </div>
  )
}

interface BurnDownRow extends MonthFigures {
  /** What is left of the allocation after this month's spending: allocated − spent up to here. */
  remaining: string
}

/** The months with what remains of `allocated` after each, summed exactly. */
function burnDown(allocated: string, months: readonly MonthFigures[]): BurnDownRow[] {
  let remaining = allocated
  return months.map((month) => {
    remaining = subtractAmount(remaining, month.total)
    return { ...month, remaining }
  })
}

function burnDownChart(rows: readonly BurnDownRow[], allocated: string): ChartConfiguration {
  // The even burn from the allocation down to 0 by December, exact; Number() is for drawing only,
  // and the tooltips show the exact amounts (see finance-budgets).
  const even = rows.map((row) => fractionOf(allocated, 12 - row.month, 12))
  const exact: readonly ((row: BurnDownRow, index: number) => string)[] = [
    (row) => row.remaining,
    (_row, index) => even[index]!,
    ...LINES.map((line) => (row: BurnDownRow) => row[line]),
  ]
  return {
    type: 'bar',
    data: {
      labels: rows.map((row) => MONTHS[row.month - 1]!.slice(0, 3)),
      datasets: [
        { type: 'line', label: 'Verbleibend', data: rows.map((row) => Number(row.remaining)), borderColor: COLOURS.available, backgroundColor: COLOURS.available, yAxisID: 'y' },
        { type: 'line', label: 'Gleichmäßiger Abbau', data: even.map(Number), borderColor: COLOURS.allocated, borderDash: [6, 4], pointRadius: 0, yAxisID: 'y' },
        ...LINES.map((line) => ({ type: 'bar' as const, label: `Ausgaben ${LINE_LABELS[line]}`, data: rows.map((row) => Number(row[line])), backgroundColor: line === 'ambulatory' ? COLOURS.spent : COLOURS.flexibleSpent, stack: 'spent', yAxisID: 'y' })),
      ],
    },
    options: {
      plugins: {
        legend: { position: 'bottom' },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label ?? ''}: ${euro(exact[item.datasetIndex]!(rows[item.dataIndex]!, item.dataIndex))}` } },
      },
      scales: { y: { beginAtZero: true, ticks: { callback: (value) => COMPACT_EURO.format(Number(value)) } } },
    },
  }
}

/**
 * The burn-down: what remains of the allocation month by month, with each month's spending by
 * line; for all Sozialräume or one. The allocation to burn down is the monitoring report's.
 */
export function BurnDown({ monthly, monitoring, names }: { monthly: MonthlyReport; monitoring: MonitoringReport; names: Names }) {
  const [sozialraum, setSozialraum] = useState('')
  const item = monthly.items.find((entry) => entry.sozialraum === sozialraum)
  const months = item?.months ?? monthly.total.months
  const year = item?.total ?? monthly.total.total
  const allocated = (sozialraum === '' ? monitoring.total.total : monitoring.items.find((entry) => entry.sozialraum === sozialraum)?.total)?.allocated ?? '0.00'
  const rows = burnDown(allocated, months)
  const scope = sozialraum === '' ? 'alle Sozialräume' : nameOf(names, sozialraum)
  return (
    <>
      <div class="field fin-pick">
        <label for="burndown-sozialraum">Sozialraum</label>
        <select id="burndown-sozialraum" value={sozialraum} onChange={(event) => setSozialraum((event.currentTarget as HTMLSelectElement).value)}>
          <option value="">Alle Sozialräume</option>
          {monthly.items.map((entry) => (
            <option key={entry.sozialraum} value={entry.sozialraum}>
              {nameOf(names, entry.sozialraum)}
            </option>
          ))}
        </select>
      </div>
      <ChartCanvas config={burnDownChart(rows, allocated)} label={`Monatsverlauf ${monthly.year}, ${scope}: verbleibende Mittel und Ausgaben je Monat; die Zahlen stehen in der Tabelle darunter.`} />
      <details>
        <summary>Monatsverlauf als Tabelle</summary>
        <div class="table-wrap">
          <table class="monthly">
            <caption class="muted">
              Ausgaben je Monat, {scope}; Zugewiesen: <Money amount={allocated} />
            </caption>
            <thead>
              <tr>
                <th scope="col">Monat</th>
                {LINES.map((line) => (
                  <th scope="col" class="num" key={line}>
                    {LINE_LABELS[line]}
                  </th>
                ))}
                <th scope="col" class="num">Gesamt</th>
                <th scope="col" class="num">Verbleibend</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.month} data-month={row.month}>
                  <th scope="row">{MONTHS[row.month - 1]}</th>
                  {LINES.map((line) => (
                    <td class="num" key={line}>
                      <Money amount={row[line]} />
                    </td>
                  ))}
                  <td class="num">
                    <Money amount={row.total} />
                  </td>
                  <td class={row.remaining.startsWith('-') ? 'num negative' : 'num'}>
                    <Money amount={row.remaining} />
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Jahr</th>
                {LINES.map((line) => (
                  <td class="num" key={line}>
                    <Money amount={year[line]} />
                  </td>
                ))}
                <td class="num">
                  <Money amount={year.total} />
                </td>
                <td />
              </tr>
            </tfoot>
          </table>
        </div>
      </details>
    </>
  )
}

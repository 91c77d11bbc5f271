import { Money } from '../components'
import { LINE_LABELS, timestamp } from '../format'
import { nameOf, type Names } from '../sozialraeume'
import type { Move } from '../types'

const MOVE_STATUS: Record<Move['status'], string> = {
  'in-transit': 'unterwegs',
  completed: 'abgeschlossen',
  refused: 'vom Ziel abgelehnt',
  reverted: 'zurückgebucht',
}

/**
 * The year's moves between Sozialräume, newest first: a move debits one budget and credits the
 * other in two steps (docs/fiscal-year.md), so one may be under way for a moment.
 */
export function MoveList({ moves, names }: { moves: readonly Move[]; names: Names }) {
  if (moves.length === 0) return <p class="muted">Keine Verschiebungen zwischen Sozialräumen in diesem Jahr.</p>
  const end = (side: Move['from']) => `${nameOf(names, side.sozialraum)}, ${LINE_LABELS[side.line]}`
  return (
    <div class="table-wrap">
      <table class="moves">
        <caption class="muted">Verschiebungen zwischen Sozialräumen, die neueste zuerst</caption>
        <thead>
          <tr>
            <th scope="col">Von</th>
            <th scope="col">Nach</th>
            <th scope="col" class="num">Betrag</th>
            <th scope="col">Status</th>
            <th scope="col">Begründung</th>
            <th scope="col">Beantragt</th>
          </tr>
        </thead>
        <tbody>
          {[...moves].reverse().map((move) => (
            <tr key={move.id} data-move={move.id} data-status={move.status}>
              <td>{end(move.from)}</td>
              <td>{end(move.to)}</td>
              <td class="num">
                <Money amount={move.amount} />
              </td>
              <td>
                {MOVE_STATUS[move.status]}
                {move.why !== undefined && <span class="muted"> ({move.why})</span>}
              </td>
              <td>{move.reason}</td>
              <td>
                {move.requestedBy}, {timestamp(move.requestedAt)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

import { z } from 'zod'
import type { SozialraumEvent, SozialraumStatus } from './events.js'
import { DomainError } from './errors.js'

const RESERVED_IDS: readonly string[] = ['moves']

/** A Sozialraum's id: a lowercase slug (docs/api.md, "Conventions"). */
export const sozialraumId = z
  .string()
  .max(64)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be a lowercase slug like "unteres-malstatt"')
  // GET /v1/budgets/{year}/moves lists a year's moves: a Sozialraum of that name would be hidden behind it.
  .refine((id) => !RESERVED_IDS.includes(id), 'is a reserved word of the API; choose another id')

/** A Sozialraum's registration and status, decided on its own stream. */
export interface SozialraumState {
  id: string
  registered: boolean
  name: string
  status: SozialraumStatus
  openedAt: string
}

export type SozialraumCommand =
  | { type: 'RegisterSozialraum'; name: string; status: SozialraumStatus }
  | { type: 'ChangeSozialraumStatus'; status: SozialraumStatus; decisionRef: string }

export function initialSozialraumState(id: string): SozialraumState {
  return { id, registered: false, name: '', status: 'pilot', openedAt: '' }
}

export function decideSozialraum(
  state: SozialraumState,
  command: SozialraumCommand,
): SozialraumEvent[] | DomainError {
  switch (command.type) {
    case 'RegisterSozialraum':
      if (state.registered) return new DomainError('conflict', `Sozialraum ${state.id} is registered already`)
      return [
        { type: 'SozialraumRegistered', data: { sozialraumId: state.id, name: command.name, status: command.status } },
      ]
    case 'ChangeSozialraumStatus':
      if (!state.registered) return new DomainError('not-found', `Sozialraum ${state.id} is not registered`)
      if (state.status === command.status) {
        return new DomainError('conflict', `Sozialraum ${state.id} is ${command.status} already`)
      }
      return [
        {
          type: 'SozialraumStatusChanged',
          data: { sozialraumId: state.id, status: command.status, decisionRef: command.decisionRef },
        },
      ]
  }
}

export function evolveSozialraum(
  state: SozialraumState,
  event: SozialraumEvent,
  context: { recordedAt: string },
): SozialraumState {
  switch (event.type) {
    case 'SozialraumRegistered':
      return { ...state, registered: true, name: event.data.name, status: event.data.status, openedAt: context.recordedAt }
    case 'SozialraumStatusChanged':
      return { ...state, status: event.data.status }
  }
}

import { randomUUID } from 'node:crypto'
import type { EventStore, EventToAppend, Position } from '../../src/eventstore/port.js'

/** A valid SozialraumRegistered event as the store holds it, for tests that append to a store directly. */
export function registrationEvent(id: string): EventToAppend {
  return {
    id: randomUUID(),
    type: 'SozialraumRegistered',
    data: { sozialraumId: id, name: id, status: 'pilot' },
    metadata: {
      schemaVersion: 1,
      actor: { sub: 'test', role: 'finance' },
      recordedAt: '2025-01-01T00:00:00.000Z',
      correlationId: 'c',
      causationId: 'c',
      idempotencyKey: null,
      requestHash: null,
    },
  }
}

/** Appends `count` registrations, each to a new Sozialraum stream; resolves with the last one's position. */
export async function appendRegistrations(store: EventStore, count: number): Promise<Position> {
  let last = 0n
  for (let i = 0; i < count; i++) {
    const id = randomUUID()
    last = (await store.append(`sozialraum-${id}`, [registrationEvent(id)], 'no_stream')).position
  }
  return last
}

import {
  eventMetadataSchema,
  parseDomainEvent,
  UnknownEventError,
  type DomainEvent,
  type EventMetadata,
} from '../domain/events.js'
import type { Position, RecordedEvent } from '../eventstore/port.js'

/** A recorded event read back and validated: what projections and command handlers consume. */
export interface StoredEvent {
  position: Position
  streamId: string
  revision: bigint
  eventId: string
  event: DomainEvent
  metadata: EventMetadata
  /** The data exactly as it was recorded, before any upcaster: what the audit trail shows. */
  recordedData: unknown
}

export function toStoredEvent(recorded: RecordedEvent): StoredEvent {
  const metadata = eventMetadataSchema.safeParse(recorded.metadata)
  if (!metadata.success) {
    throw new UnknownEventError(recorded.type, 0, `metadata of event ${recorded.id}: ${metadata.error.message}`)
  }
  return {
    position: recorded.position,
    streamId: recorded.streamId,
    revision: recorded.revision,
    eventId: recorded.id,
    event: parseDomainEvent(recorded.type, metadata.data.schemaVersion, recorded.data),
    metadata: metadata.data,
    recordedData: recorded.data,
  }
}

export const budgetStreamId = (year: number, sozialraum: string): string => `budget-${year}-${sozialraum}`
export const sozialraumStreamId = (id: string): string => `sozialraum-${id}`
export const yearStreamId = (year: number): string => `year-${year}`

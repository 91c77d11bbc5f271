import { PersistentMap } from '../../src/domain/persistent-map.js'
/** A deep copy in plain values (a PersistentMap as a Map), so that two states compare by content. */
export function plainCopy(value: unknown): unknown {
  if (value instanceof PersistentMap || value instanceof Map) {
    return new Map([...(value as ReadonlyMap<unknown, unknown>)].map(([key, item]) => [key, plainCopy(item)]))
  }
  if (value instanceof Set) return new Set([...value].map(plainCopy))
  if (Array.isArray(value)) return value.map(plainCopy)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plainCopy(item)]))
  }
  return value
}

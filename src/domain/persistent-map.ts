import { OrderedMap as ImmutableMap } from 'immutable'

/**
 * A map that is never changed: `set` answers a new map that shares all but a few nodes with the
 * old one (Immutable.js's OrderedMap, a hash array mapped trie), in O(log₃₂ n) time instead of
 * the O(n) of copying a Map; it iterates in insertion order, as a Map does. A budget's state holds
 * its commitments and spendings in these, so that folding a stream costs the same for its 10,000th
 * event as for its first, and every state a fold passed through stays valid: a write's answer, a
 * cached view and a decision under way never see one another's changes.
 *
 * It is a ReadonlyMap, so readers (routes, the decider, the verifier) need not know what it is.
 */
export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  private static readonly EMPTY = new PersistentMap<never, never>(ImmutableMap())

  private constructor(private readonly inner: ImmutableMap<K, V>) {}

  static empty<K, V>(): PersistentMap<K, V> {
    return PersistentMap.EMPTY as PersistentMap<K, V>
  }

  /** A map of the given entries; a PersistentMap is taken as it is. */
  static of<K, V>(entries: ReadonlyMap<K, V> | Iterable<readonly [K, V]>): PersistentMap<K, V> {
    if (entries instanceof PersistentMap) return entries as PersistentMap<K, V>
    return new PersistentMap(ImmutableMap<K, V>(entries as Iterable<[K, V]>))
  }

  get size(): number {
    return this.inner.size
  }

  get(key: K): V | undefined {
    return this.inner.get(key)
  }

  has(key: K): boolean {
    return this.inner.has(key)
  }

  /** The map with `key` set to `value`; this one is unchanged. */
  set(key: K, value: V): PersistentMap<K, V> {
    return new PersistentMap(this.inner.set(key, value))
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [key, value] of this.inner) callback(value, key, this)
  }

  *entries(): MapIterator<[K, V]> {
    yield* this.inner.entries()
  }

  *keys(): MapIterator<K> {
    yield* this.inner.keys()
  }

  *values(): MapIterator<V> {
    yield* this.inner.values()
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries()
  }
}

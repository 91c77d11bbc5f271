import fc from 'fast-check'
import t from 'tap'
import { PersistentMap } from '../../src/domain/persistent-map.js'

/**
 * The budget's state keeps its commitments and spendings in a PersistentMap: it must read exactly
 * as a Map that took the same sets (insertion order included), and every earlier version must stay
 * exactly as it was when a later one is made from it.
 */
t.test('a PersistentMap reads as a Map, and every version it passed through stays as it was', async (t) => {
  // size 'max': fast-check's default size would keep the histories to about ten sets.
  const operations = fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }).map((n) => `k${n}`), fc.integer()), { maxLength: 200, size: 'max' })
  fc.assert(
    fc.property(operations, (sets) => {
      const versions: Array<{ map: PersistentMap<string, number>; expected: Array<[string, number]> }> = []
      let map = PersistentMap.empty<string, number>()
      const model = new Map<string, number>()
      for (const [key, value] of sets) {
        map = map.set(key, value)
        model.set(key, value)
        versions.push({ map, expected: [...model] })
      }
      for (const { map: version, expected } of versions) {
        if (JSON.stringify([...version]) !== JSON.stringify(expected)) return false
        if (version.size !== expected.length) return false
        if (!expected.every(([key, value]) => version.get(key) === value && version.has(key))) return false
        if (JSON.stringify([...version.keys()]) !== JSON.stringify(expected.map(([key]) => key))) return false
        if (JSON.stringify([...version.values()]) !== JSON.stringify(expected.map(([, value]) => value))) return false
        const visited: Array<[string, number]> = []
        version.forEach((value, key) => visited.push([key, value]))
        if (JSON.stringify(visited) !== JSON.stringify(expected)) return false
      }
      return !map.has('absent') && map.get('absent') === undefined
    }),
    { numRuns: 300 },
  )
  t.pass('300 random histories of up to 200 sets')
})

t.test('of() takes a Map or entries, and a PersistentMap as it is', async (t) => {
  const entries: Array<[string, number]> = [
    ['b', 2],
    ['a', 1],
  ]
  const map = PersistentMap.of(new Map(entries))
  t.same([...map], entries, 'insertion order kept')
  t.equal(PersistentMap.of(map), map, 'the same map')
  t.same([...PersistentMap.of(entries)], entries)
})

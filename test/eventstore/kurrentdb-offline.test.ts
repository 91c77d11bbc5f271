import { createServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { KurrentDbEventStore, type ClaimRegistry } from '../../src/eventstore/kurrentdb.js'
import { START, StoreUnavailableError, type IdempotencyClaim } from '../../src/eventstore/port.js'

/**
 * The adapter with the real client against a port where nothing listens, and against one that
 * takes the connection and never answers (a frozen node; no server is needed for either): every
 * call fails as StoreUnavailableError naming KurrentDB within the deadline, a subscription fails
 * its iteration instead of the process, and an append whose outcome is unknown keeps its
 * idempotency claim (only a retry of the same request may use the key).
 */

const URL = 'kurrentdb://127.0.0.1:1?tls=false'

/** Records what the adapter claims and gives back (the SQL registry is tested with the service). */
class RecordingClaims implements ClaimRegistry {
  readonly held = new Map<string, string>()
  async claim(streamId: string, claim: IdempotencyClaim): Promise<boolean> {
    this.held.set(claim.key, streamId)
    return true
  }
  async release(_streamId: string, claim: IdempotencyClaim): Promise<void> {
    this.held.delete(claim.key)
  }
}

t.test('every call names KurrentDB as unreachable', async (t) => {
  const claims = new RecordingClaims()
  const store = new KurrentDbEventStore({ url: URL, claims, deadlineMs: 3000 })
  t.teardown(() => store.close())
  const event = { id: '6f1c2a52-7a43-4e0b-9d0c-2f57a3a1b001', type: 'Tested', data: { n: 1 }, metadata: {} }
  await t.rejects(store.append('s-1', [event], 'no_stream', { claims: [{ scope: 'anna', key: 'k1', requestHash: 'h' }] }), StoreUnavailableError)
  t.same([...claims.held], [['k1', 's-1']], 'the claim of the append that may have been stored is kept')
  await t.rejects(store.readStream('s-1', { maxCount: 10 }), StoreUnavailableError)
  await t.rejects(store.readAll({ after: START, maxCount: 10 }), StoreUnavailableError)
  await t.rejects(store.headPosition(), StoreUnavailableError)
})

t.test('a node that takes the connection and never answers: every call fails within the deadline', async (t) => {
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const { port } = silent.address() as AddressInfo
  const store = new KurrentDbEventStore({ url: `kurrentdb://127.0.0.1:${port}?tls=false`, claims: new RecordingClaims(), deadlineMs: 1000 })
  t.teardown(async () => {
    await store.close()
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })
  const event = { id: '6f1c2a52-7a43-4e0b-9d0c-2f57a3a1b002', type: 'Tested', data: { n: 1 }, metadata: {} }
  // Before 0.12.5 the append waited for good: the client's own deadline does not bound it.
  const calls = {
    append: () => store.append('s-2', [event], 'no_stream'),
    readStream: () => store.readStream('s-2', { maxCount: 10 }),
    headPosition: () => store.headPosition(),
  }
  for (const [name, call] of Object.entries(calls)) {
    const failure = await Promise.race([call().then(() => 'answered', (error: unknown) => error), delay(10_000, 'still waiting after 10 s')])
    t.ok(failure instanceof StoreUnavailableError, `${name} fails as StoreUnavailableError, not later than 10 s (deadline 1 s)`)
  }
})

t.test('a subscription fails its iteration, never the process', async (t) => {
  const store = new KurrentDbEventStore({ url: URL, claims: new RecordingClaims() })
  t.teardown(() => store.close())
  // Nobody iterates for a while: the client's error event must not end the process meanwhile.
  const idle = store.subscribeToAll({ after: START })
  await delay(1500)
  idle.close()
  const subscription = store.subscribeToAll({ after: START })
  let failure: unknown
  try {
    for await (const event of subscription) t.fail(`no event expected, got ${event.id}`)
  } catch (error) {
    failure = error
  }
  t.ok(failure instanceof StoreUnavailableError, 'the iteration throws StoreUnavailableError')
  t.match(failure, { store: 'KurrentDB' })
})

import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CommandHandler, type CommandContext, type Decider } from '../../src/application/command-handler.js'
import { IdempotencyKeyIndex, scopedKey, type KeyHolds } from '../../src/application/idempotency-keys.js'
import { toStoredEvent } from '../../src/application/stored-event.js'
import { InvalidEventError, isSozialraumEvent, type SozialraumEvent } from '../../src/domain/events.js'
import {
  decideSozialraum,
  evolveSozialraum,
  initialSozialraumState,
  type SozialraumCommand,
  type SozialraumState,
} from '../../src/domain/sozialraum.js'
import { START, StoreUnavailableError, type EventStore } from '../../src/eventstore/port.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite.js'

/**
 * The command handler checks everything it can before it appends: each decided event against its
 * schema, and the state the events leave against the invariants. Faulty deciders stand in for the
 * bugs these checks catch; a real store shows that nothing of theirs is stored.
 */

const sozialraumDecider: Decider<SozialraumState, SozialraumCommand, SozialraumEvent> = {
  decide: decideSozialraum,
  evolve: evolveSozialraum,
  isEvent: isSozialraumEvent,
}

const context: CommandContext = {
  actor: { sub: 'anna', role: 'finance' },
  correlationId: 'c-1',
  causationId: 'c-1',
  idempotencyKey: null,
  requestHash: null,
  expectedRevision: undefined,
}
const register: SozialraumCommand = { type: 'RegisterSozialraum', name: 'Unteres Malstatt', status: 'pilot' }

function setup(t: { teardown(fn: () => unknown): void }, decider: Decider<SozialraumState, SozialraumCommand, SozialraumEvent>) {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-handler-'))
  const store = new SqliteEventStore(join(dir, 'events.db'))
  t.teardown(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const handler = new CommandHandler(decider, { store, clock: () => new Date('2025-03-01T10:00:00Z'), newEventId: randomUUID })
  const execute = (id: string, command: SozialraumCommand = register) =>
    handler.execute(`sozialraum-${id}`, () => initialSozialraumState(id), command, context)
  return { store, execute }
}

t.test('a sound decider writes, with the version of its event type in the metadata', async (t) => {
  const { store, execute } = setup(t, sozialraumDecider)
  const outcome = await execute('unteres-malstatt')
  t.equal(outcome.kind, 'written')
  const [recorded] = await store.readAll({ after: START, maxCount: 10 })
  t.ok(recorded)
  if (!recorded) return
  t.match(recorded.metadata, { schemaVersion: 1, actor: { sub: 'anna', role: 'finance' } })
  t.same(toStoredEvent(recorded).event, { type: 'SozialraumRegistered', data: { sozialraumId: 'unteres-malstatt', name: 'Unteres Malstatt', status: 'pilot' } })
})

t.test('an event that fails its own schema is refused before the append', async (t) => {
  const { store, execute } = setup(t, {
    ...sozialraumDecider,
    decide: (state) => [{ type: 'SozialraumRegistered', data: { sozialraumId: state.id, name: '', status: 'pilot' } }],
  })
  await t.rejects(execute('leer'), InvalidEventError)
  t.equal(await store.headPosition(), START, 'nothing was stored')
})

t.test('an event with a field of the wrong kind is refused before the append', async (t) => {
  const { store, execute } = setup(t, {
    ...sozialraumDecider,
    decide: (state) => [
      { type: 'SozialraumRegistered', data: { sozialraumId: state.id, name: 'x', status: 'closed' as 'pilot' } },
    ],
  })
  await t.rejects(execute('falsch'), { name: 'InvalidEventError', message: /status/ })
  t.equal(await store.headPosition(), START)
})

t.test('a decision that breaks an invariant is refused before the append', async (t) => {
  const { store, execute } = setup(t, {
    ...sozialraumDecider,
    assertInvariants: (_before, state) => {
      if (state.registered) throw new Error('invariant broken: registered (injected)')
    },
  })
  await t.rejects(execute('kaputt'), { message: /invariant broken/ })
  t.equal(await store.headPosition(), START, 'nothing was stored')
  // The handler keeps no half-made state: a sound decider on the same stream starts afresh.
})

t.test('an evolve that throws on a decided event stores nothing', async (t) => {
  const { store, execute } = setup(t, {
    ...sozialraumDecider,
    evolve: () => {
      throw new Error('evolve cannot fold this (injected)')
    },
  })
  await t.rejects(execute('x'), { message: /injected/ })
  t.equal(await store.headPosition(), START)
})

t.test('a decider that accepts a command without any event is a bug', async (t) => {
  const { store, execute } = setup(t, { ...sozialraumDecider, decide: () => [] })
  await t.rejects(execute('leer'), { message: /without deciding any event/ })
  t.equal(await store.headPosition(), START)
})

t.test('what is stored is what the schema reads: fields the schema does not know are not stored', async (t) => {
  const { store, execute } = setup(t, {
    ...sozialraumDecider,
    decide: (state) => [
      {
        type: 'SozialraumRegistered',
        data: { sozialraumId: state.id, name: 'x', status: 'pilot', extra: 'personal data' } as SozialraumEvent['data'] &
          object,
      } as SozialraumEvent,
    ],
  })
  t.equal((await execute('extra')).kind, 'written')
  const [recorded] = await store.readAll({ after: START, maxCount: 10 })
  t.same(recorded?.data, { sozialraumId: 'extra', name: 'x', status: 'pilot' })
})

/**
 * A key binds to a write: a request that failed before its append leaves the key free for the
 * corrected request; one whose append failed may have been stored, and keeps it.
 */
t.test('an Idempotency-Key is freed by an error before the append, and kept by a failed append', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sojus-handler-'))
  const sqlite = new SqliteEventStore(join(dir, 'events.db'))
  t.teardown(async () => {
    await sqlite.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const failNext = { read: false, append: false }
  const store: EventStore = Object.assign(Object.create(sqlite) as EventStore, {
    readStream: (...args: Parameters<EventStore['readStream']>) => {
      if (!failNext.read) return sqlite.readStream(...args)
      failNext.read = false
      return Promise.reject(new StoreUnavailableError('the database', new Error('gone (injected)')))
    },
    append: (...args: Parameters<EventStore['append']>) => {
      if (!failNext.append) return sqlite.append(...args)
      failNext.append = false
      return Promise.reject(new StoreUnavailableError('KurrentDB', new Error('no answer in time (injected)')))
    },
  })
  const decider: Decider<SozialraumState, SozialraumCommand, SozialraumEvent> = {
    ...sozialraumDecider,
    // A name the event's schema refuses stands in for a bug: InvalidEventError, before the append.
    decide: (state, command) =>
      command.type === 'RegisterSozialraum' && command.name === 'invalid'
        ? [{ type: 'SozialraumRegistered', data: { sozialraumId: state.id, name: '', status: 'pilot' } }]
        : decideSozialraum(state, command),
  }
  const handler = new CommandHandler(decider, {
    store,
    clock: () => new Date('2025-03-01T10:00:00Z'),
    newEventId: randomUUID,
    idempotencyKeys: new IdempotencyKeyIndex(undefined),
  })
  const execute = (id: string, name: string, key: string) =>
    handler.execute(`sozialraum-${id}`, () => initialSozialraumState(id), { ...register, name }, {
      ...context,
      idempotencyKey: key,
      requestHash: `hash-of-${name}`,
    })

  await t.rejects(execute('a', 'invalid', 'k-decided'), InvalidEventError)
  t.equal((await execute('a', 'Valid', 'k-decided')).kind, 'written', 'a refused event frees the key')

  failNext.read = true
  await t.rejects(execute('b', 'First', 'k-read'), StoreUnavailableError)
  t.equal((await execute('b', 'Second', 'k-read')).kind, 'written', 'a failed read of the stream frees the key')

  const head = await sqlite.headPosition()
  failNext.append = true
  await t.rejects(execute('c', 'First', 'k-append'), StoreUnavailableError)
  t.equal(await sqlite.headPosition(), head, 'nothing stored here, but a store may not say so')
  t.equal((await execute('c', 'Second', 'k-append')).kind, 'idempotency-key-reused', 'a failed append keeps the key')
  t.equal((await execute('c', 'First', 'k-append')).kind, 'written', 'for its own request alone')
})

t.test('a keyed write holds its key until it is answered, whatever the answer; a key held elsewhere is in progress', async (t) => {
  const { store } = setup(t, sozialraumDecider)
  const events: string[] = []
  let heldElsewhere = false
  const keyHolds: KeyHolds = {
    hold: async (scoped) => {
      if (heldElsewhere) return undefined
      events.push(`hold ${scoped}`)
      return () => events.push(`unhold ${scoped}`)
    },
  }
  const decider: Decider<SozialraumState, SozialraumCommand, SozialraumEvent> = {
    ...sozialraumDecider,
    decide: (state, command) => {
      if (command.type === 'RegisterSozialraum' && command.name === 'throws') throw new Error('a bug (injected)')
      events.push('decide')
      return decideSozialraum(state, command)
    },
  }
  const handler = new CommandHandler(decider, {
    store,
    clock: () => new Date('2025-03-01T10:00:00Z'),
    newEventId: randomUUID,
    idempotencyKeys: new IdempotencyKeyIndex(undefined),
    keyHolds,
  })
  const execute = (id: string, name: string, key: string | null) =>
    handler.execute(`sozialraum-${id}`, () => initialSozialraumState(id), { ...register, name }, {
      ...context,
      idempotencyKey: key,
      requestHash: key === null ? null : `hash-of-${name}`,
    })
  const scoped = (key: string) => scopedKey('anna', key)

  t.equal((await execute('a', 'Malstatt', 'k-1')).kind, 'written')
  t.same(events, [`hold ${scoped('k-1')}`, 'decide', `unhold ${scoped('k-1')}`], 'held before deciding, given back after')
  events.length = 0
  t.equal((await execute('a', 'Malstatt', 'k-2')).kind, 'rejected', 'registered already')
  t.same(events, [`hold ${scoped('k-2')}`, 'decide', `unhold ${scoped('k-2')}`], 'a refusal gives it back')
  events.length = 0
  await t.rejects(execute('b', 'throws', 'k-3'))
  t.same(events, [`hold ${scoped('k-3')}`, `unhold ${scoped('k-3')}`], 'so does a failure')
  events.length = 0
  t.equal((await execute('c', 'Burbach', null)).kind, 'written')
  t.same(events, ['decide'], 'a write without a key holds nothing')

  events.length = 0
  heldElsewhere = true
  const head = await store.headPosition()
  t.same(await execute('d', 'Burbach', 'k-4'), { kind: 'idempotency-key-in-progress' })
  t.same(events, [], 'not decided')
  t.equal(await store.headPosition(), head, 'nothing written')
  heldElsewhere = false
  t.equal((await execute('d', 'Burbach', 'k-4')).kind, 'written', 'and the key is free for the request once the hold is gone')
})

import t from 'tap'
import { SOZIALRAUM_ID, sozialraumSpec } from '../helpers/decider-spec.js'
import type { SozialraumEvent } from '../../src/domain/events.js'

const registered: SozialraumEvent = {
  type: 'SozialraumRegistered',
  data: { sozialraumId: SOZIALRAUM_ID, name: 'Unteres Malstatt', status: 'pilot' },
}

t.test('a Sozialraum is registered with its name and status', async (t) => {
  const state = sozialraumSpec(t)
    .given([])
    .when({ type: 'RegisterSozialraum', name: 'Unteres Malstatt', status: 'pilot' })
    .then([registered])
  t.same(state, {
    id: SOZIALRAUM_ID,
    registered: true,
    name: 'Unteres Malstatt',
    status: 'pilot',
    openedAt: '2025-02-03T09:30:00.000Z',
  })
})

t.test('a Sozialraum registered before cannot be registered again', async (t) => {
  sozialraumSpec(t)
    .given([registered])
    .when({ type: 'RegisterSozialraum', name: 'Unteres Malstatt', status: 'permanent' })
    .thenFails('conflict', /registered already/)
})

t.test('a pilot Sozialraum is made permanent by a council decision', async (t) => {
  const state = sozialraumSpec(t)
    .given([registered])
    .when({ type: 'ChangeSozialraumStatus', status: 'permanent', decisionRef: 'Vorlage 0201/2013' })
    .then([
      {
        type: 'SozialraumStatusChanged',
        data: { sozialraumId: SOZIALRAUM_ID, status: 'permanent', decisionRef: 'Vorlage 0201/2013' },
      },
    ])
  t.equal(state.status, 'permanent')
  t.equal(state.name, 'Unteres Malstatt', 'the name stays')
})

t.test('a change to the status it has already fails with conflict', async (t) => {
  sozialraumSpec(t)
    .given([registered])
    .when({ type: 'ChangeSozialraumStatus', status: 'pilot', decisionRef: 'x' })
    .thenFails('conflict', /pilot already/)
})

t.test('a status change of an unregistered Sozialraum fails with not-found', async (t) => {
  sozialraumSpec(t)
    .given([])
    .when({ type: 'ChangeSozialraumStatus', status: 'permanent', decisionRef: 'x' })
    .thenFails('not-found', /not registered/)
})

import t from 'tap'
import { assertProblem, assertWritten, get, post } from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('Sozialräume over HTTP', async (t) => {
  const service = await startTestService(t)
  const app = service.app

  t.test('POST /v1/sozialraeume registers one, as a pilot by default', async (t) => {
    const response = await post(app, '/v1/sozialraeume', { id: 'unteres-malstatt', name: 'Unteres Malstatt' })
    assertWritten(t, response, 'register')
    t.equal(response.body.revision, '0', 'the first event of its stream')
    t.match(response.body, { id: 'unteres-malstatt', name: 'Unteres Malstatt', status: 'pilot' })
    t.match(response.body.openedAt, ISO_TIMESTAMP, 'openedAt is an ISO timestamp')
    t.equal(response.body.budget, undefined, 'a Sozialraum write has no budget')

    const list = await get(app, '/v1/sozialraeume', response.body.position)
    t.equal(list.status, 200)
    t.same(
      list.body.items.find((item: { id: string }) => item.id === 'unteres-malstatt'),
      { id: 'unteres-malstatt', name: 'Unteres Malstatt', status: 'pilot', openedAt: response.body.openedAt },
      'the list shows it as written',
    )
  })

  t.test('POST /v1/sozialraeume with status permanent', async (t) => {
    const response = await post(app, '/v1/sozialraeume', {
      id: 'unteres-alt-saarbruecken',
      name: 'Unteres Alt-Saarbrücken',
      status: 'permanent',
    })
    assertWritten(t, response, 'register')
    t.equal(response.body.status, 'permanent')
  })

  t.test('GET /v1/sozialraeume lists them ordered by id', async (t) => {
    const a = await post(app, '/v1/sozialraeume', { id: 'zz-last', name: 'Z' })
    const b = await post(app, '/v1/sozialraeume', { id: 'aa-first', name: 'A' })
    assertWritten(t, a)
    assertWritten(t, b)
    const list = await get(app, '/v1/sozialraeume', b.body.position)
    t.equal(list.status, 200)
    const ids: string[] = list.body.items.map((item: { id: string }) => item.id)
    t.same(ids, [...ids].sort(), 'ordered by id')
    t.ok(ids.includes('aa-first') && ids.includes('zz-last'), 'both are listed')
    for (const item of list.body.items) t.match(item, { id: String, name: String, status: /^(pilot|permanent)$/, openedAt: ISO_TIMESTAMP })
  })

  t.test('registering an existing id is 409 conflict and writes nothing', async (t) => {
    await post(app, '/v1/sozialraeume', { id: 'twice', name: 'Twice' })
    const head = await service.store.headPosition()
    const again = await post(app, '/v1/sozialraeume', { id: 'twice', name: 'Another name' })
    assertProblem(t, again, 409, 'conflict')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('POST /v1/sozialraeume/{id}/status changes the status', async (t) => {
    const registered = await post(app, '/v1/sozialraeume', { id: 'status-change', name: 'Status' })
    const changed = await post(app, '/v1/sozialraeume/status-change/status', {
      status: 'permanent',
      decisionRef: '0201/2013',
    })
    assertWritten(t, changed, 'status')
    t.equal(changed.body.revision, '1', 'the second event of its stream')
    t.match(changed.body, { id: 'status-change', name: 'Status', status: 'permanent', openedAt: registered.body.openedAt })
    const list = await get(app, '/v1/sozialraeume', changed.body.position)
    t.match(list.body.items.find((item: { id: string }) => item.id === 'status-change'), { status: 'permanent' })

    const head = await service.store.headPosition()
    const same = await post(app, '/v1/sozialraeume/status-change/status', { status: 'permanent', decisionRef: 'again' })
    assertProblem(t, same, 409, 'conflict', 'the status it has already')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('status of an unregistered Sozialraum is 404', async (t) => {
    const head = await service.store.headPosition()
    const response = await post(app, '/v1/sozialraeume/nowhere/status', { status: 'permanent', decisionRef: 'x' })
    assertProblem(t, response, 404, 'not-found')
    t.equal(await service.store.headPosition(), head, 'nothing written')
  })

  t.test('If-Match on a status change', async (t) => {
    const registered = await post(app, '/v1/sozialraeume', { id: 'if-match', name: 'If-Match' })
    t.equal(registered.headers.etag, '"0"')
    const stale = await post(
      app,
      '/v1/sozialraeume/if-match/status',
      { status: 'permanent', decisionRef: 'd1' },
      { 'if-match': '"7"' },
    )
    assertProblem(t, stale, 412, 'precondition-failed', 'stale revision')
    const fresh = await post(
      app,
      '/v1/sozialraeume/if-match/status',
      { status: 'permanent', decisionRef: 'd1' },
      { 'if-match': registered.headers.etag as string },
    )
    assertWritten(t, fresh, 'matching revision')
    t.equal(fresh.body.status, 'permanent')
  })

  t.test('Idempotency-Key on registration', async (t) => {
    const body = { id: 'idempotent', name: 'Idempotent' }
    const first = await post(app, '/v1/sozialraeume', body, { 'idempotency-key': 'register-idempotent' })
    assertWritten(t, first)
    t.equal(first.headers['idempotent-replayed'], undefined, 'the first answer is no replay')
    const head = await service.store.headPosition()

    const retry = await post(app, '/v1/sozialraeume', body, { 'idempotency-key': 'register-idempotent' })
    t.equal(retry.status, 201, 'same status')
    t.equal(retry.text, first.text, 'identical body')
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.equal(retry.headers.etag, first.headers.etag)
    t.equal(await service.store.headPosition(), head, 'nothing written by the retry')

    const other = await post(app, '/v1/sozialraeume', { ...body, name: 'Other' }, { 'idempotency-key': 'register-idempotent' })
    assertProblem(t, other, 422, 'idempotency-key-reused')
    t.equal(await service.store.headPosition(), head, 'nothing written by the reuse')

    const trail = await get(app, '/v1/audit/events?sozialraum=idempotent', String(head))
    t.equal(trail.body.items.length, 1, 'one event in the audit trail')
  })
})

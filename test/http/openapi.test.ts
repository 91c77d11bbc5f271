import SwaggerParser from '@apidevtools/swagger-parser'
import Fastify from 'fastify'
import { readFileSync } from 'node:fs'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import t from 'tap'
import { z } from 'zod'
import { ACCESS_TABLE } from '../../src/http/access.js'
import { answer, problemAnswer } from '../../src/http/answers.js'
import { MAX_AUDIT_PAGE } from '../../src/http/routes/audit.js'
import { get, shown, type Json } from '../helpers/api.js'
import { recordUndeclaredAnswers, startTestService } from '../helpers/service.js'

/**
 * The OpenAPI document (/openapi.json) is what generated clients are built from, so it must be
 * valid, and say what the service does: every answer of every operation, errors as
 * application/problem+json of one named Problem schema, patterns that ECMA-262 validators
 * compile without flags, the audit limit as enforced, no token on public routes.
 */

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
const PROBLEM_REF = '#/components/schemas/Problem'
const PUBLIC_PATHS = ['/health', '/ready', '/openapi.json', '/dashboard/config']
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options']
/** Answers every /v1 operation may give, and those every /v1 write may give besides. */
const API_STATUSES = ['400', '401', '403', '429', '500', '503']
const WRITE_STATUSES = ['409', '412', '413', '415', '422']

interface Operation {
  method: string
  path: string
  operation: Json
}

function operationsOf(document: Json): Operation[] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => ({ method, path, operation: item[method] })),
  )
}

/** Every `pattern` in the document, with where it stands. */
function patternsOf(value: unknown, at = '', into: [string, string][] = []): [string, string][] {
  if (Array.isArray(value)) value.forEach((item, index) => patternsOf(item, `${at}/${index}`, into))
  else if (typeof value === 'object' && value !== null) {
    for (const [key, member] of Object.entries(value)) {
      if (key === 'pattern' && typeof member === 'string') into.push([at, member])
      else patternsOf(member, `${at}/${key}`, into)
    }
  }
  return into
}

/** The patterns a property schema holds (its own and those of its allOf), compiled without flags. */
function patternsOfProperty(schema: Json): RegExp[] {
  const all = [schema.pattern, ...((schema.allOf ?? []) as Json[]).map((part) => part.pattern)]
  return all.filter((pattern): pattern is string => typeof pattern === 'string').map((pattern) => new RegExp(pattern))
}

const matchesAll = (patterns: RegExp[], text: string): boolean => patterns.every((pattern) => pattern.test(text))

t.test('the OpenAPI document', async (t) => {
  const service = await startTestService(t)
  const response = await get(service.app, '/openapi.json', undefined, { authorization: '' })
  t.equal(response.status, 200)
  const document: Json = response.body
  const operations = operationsOf(document)
  t.ok(operations.length >= Object.keys(ACCESS_TABLE).length, `${operations.length} operations`)

  t.test('is valid OpenAPI 3 (swagger-parser: schema and semantics)', async (t) => {
    t.match(document.openapi, /^3\.0\./)
    // validate() resolves the $refs in place: it gets its own copy.
    await t.resolves(SwaggerParser.validate(structuredClone(document)), 'valid')
  })

  t.test('info.version is the version in package.json', async (t) => {
    t.equal(document.info.version, PACKAGE_VERSION)
  })

  t.test('every route of the access table is documented, /docs aside', async (t) => {
    for (const route of Object.keys(ACCESS_TABLE)) {
      const [method, path] = route.split(' ') as [string, string]
      const documented = path.replace(/:(\w+)/g, '{$1}')
      t.ok(document.paths[documented]?.[method.toLowerCase()], `${route} is in the document`)
    }
  })

  t.test('named component schemas, one Problem among them', async (t) => {
    const names = Object.keys(document.components.schemas)
    for (const name of ['Budget', 'Balance', 'BudgetList', 'Commitment', 'Spending', 'Sozialraum', 'AuditEntry', 'Problem']) {
      t.ok(names.includes(name), `${name} is a component`)
    }
    t.notOk(names.some((name) => name.endsWith('Input')), `no unused input copies (${names.join(', ')})`)
    t.same(document.components.schemas.Problem.required, ['type', 'title', 'status', 'detail'])
  })

  t.test('every operation declares its answers, each with a description of its own', async (t) => {
    for (const { method, path, operation } of operations) {
      const where = `${method.toUpperCase()} ${path}`
      const statuses = Object.keys(operation.responses)
      t.ok(statuses.some((status) => /^2\d\d$/.test(status)), `${where}: a success answer`)
      t.ok(statuses.includes('500'), `${where}: 500`)
      if (path.startsWith('/v1/')) {
        for (const status of API_STATUSES) t.ok(statuses.includes(status), `${where}: ${status}`)
        // Verify checks the ledger and writes nothing: a body, but no If-Match or Idempotency-Key.
        const expected = path === '/v1/audit/verify' ? ['409', '413', '415'] : WRITE_STATUSES
        if (method === 'post') for (const status of expected) t.ok(statuses.includes(status), `${where}: ${status}`)
        if (path === '/v1/audit/verify') t.notOk(statuses.includes('412') || statuses.includes('422'), `${where}: no 412 or 422`)
      }
      for (const [status, declared] of Object.entries(operation.responses as Record<string, Json>)) {
        t.ok(typeof declared.description === 'string' && declared.description !== 'Default Response' && declared.description.length > 10, `${where} ${status}: says what it is (${declared.description})`)
      }
    }
  })

  t.test('every error answer is application/problem+json of the Problem component', async (t) => {
    for (const { method, path, operation } of operations) {
      for (const [status, declared] of Object.entries(operation.responses as Record<string, Json>)) {
        if (Number(status) < 400) {
          // The export is a file, in the format asked for; /metrics is Prometheus's text format; every other success is JSON.
          const media =
            path === '/v1/audit/export' ? ['text/csv', 'application/x-ndjson'] : path === '/metrics' ? ['text/plain'] : ['application/json']
          for (const type of media) t.ok(declared.content?.[type]?.schema, `${method} ${path} ${status}: ${type}`)
          continue
        }
        const where = `${method.toUpperCase()} ${path} ${status}`
        // /ready's 503 is its answer about the service (degraded, unavailable), not a problem.
        if (path === '/ready' && status === '503') {
          t.same(Object.keys(declared.content ?? {}), ['application/json'], `${where}: the service's state`)
          continue
        }
        t.equal(declared.content?.['application/problem+json']?.schema?.$ref, PROBLEM_REF, `${where}: the Problem schema`)
        const others = Object.keys(declared.content ?? {}).filter((type) => type !== 'application/problem+json')
        t.same(others, [], `${where}: no other content type`)
      }
    }
  })

  t.test('public routes need no token; every other operation needs the bearer token', async (t) => {
    t.same(document.security, [{ bearer: [] }], 'the document default is the bearer token')
    for (const { method, path, operation } of operations) {
      if (PUBLIC_PATHS.includes(path)) t.same(operation.security, [], `${method} ${path}: security: []`)
      else t.equal(operation.security, undefined, `${method} ${path}: the default`)
    }
  })

  t.test('patterns: no \\p{…}, and each compiles as ECMA-262 without flags', async (t) => {
    const patterns = patternsOf(document)
    t.ok(patterns.length > 20, `${patterns.length} patterns`)
    for (const [at, pattern] of patterns) {
      t.notOk(pattern.includes('\\p{') || pattern.includes('\\P{'), `${at}: no Unicode property escape (${pattern})`)
      t.doesNotThrow(() => new RegExp(pattern), `${at}: compiles without the u flag`)
    }
  })

  t.test('text patterns, compiled without the u flag, take "Elterncafé" and refuse control, invisible and bidirectional characters; a reference has no space at either end', async (t) => {
    const spending = document.paths['/v1/budgets/{year}/{sozialraum}/spending'].post.requestBody.content['application/json'].schema.properties
    const registration = document.paths['/v1/sozialraeume'].post.requestBody.content['application/json'].schema.properties
    const texts: [string, RegExp[], boolean][] = [
      ['purpose (free text)', patternsOfProperty(spending.purpose), true],
      ['receiptRef (reference)', patternsOfProperty(spending.receiptRef), false],
      ['name', patternsOfProperty(registration.name), false],
    ]
    for (const [name, patterns, lineBreaks] of texts) {
      t.ok(patterns.length >= 2, `${name}: has its patterns`)
      for (const accepted of ['Elterncafé', 'Jugendtreff Malstätt – Straße', 'Ferienfreizeit 😀', 'ÆØÅ ßẞ ١٢٣']) {
        t.ok(matchesAll(patterns, accepted), `${name}: takes ${shown(accepted)}`)
      }
      for (const refused of ['a\u0000b', 'a\u001bb', 'a\u007fb', 'a\u0085b', 'a\u009fb', '   ', '']) {
        t.notOk(matchesAll(patterns, refused), `${name}: refuses ${shown(refused)}`)
      }
      t.equal(matchesAll(patterns, 'line one\nline two\ttabbed'), lineBreaks, `${name}: line breaks ${lineBreaks ? 'allowed' : 'refused'}`)
      for (const refused of ['\u200b', '\u2800 \u3164', 'a\u202eb', 'a\u2066b', '\u{E0041}\u{E0042}']) {
        t.notOk(matchesAll(patterns, refused), `${name}: refuses ${shown(refused)}`)
      }
    }
    const reference = patternsOfProperty(spending.receiptRef)
    for (const refused of [' R-1', 'R-1 ', 'R\u200b-1', 'R\u00ad1', 'R-1\u2028', 'R-1\ufeff', 'R\u00a01', 'R\u202f1', 'R-1\u{E0020}', 'R-1\u200c']) {
      t.notOk(matchesAll(reference, refused), `a reference refuses ${shown(refused)}`)
    }
    for (const accepted of ['R', 'RE 2025 07', 'Beschluss JHA 12/2025', 'می\u200cخواهم e.V.']) t.ok(matchesAll(reference, accepted), `a reference takes ${shown(accepted)}`)
    t.ok(matchesAll(patternsOfProperty(spending.purpose), 'Ferien\u00adfreizeit \u200dmit Übernachtung'), 'free text may hold a soft hyphen and a joiner')
  })

  t.test('amount and slug patterns are what the server takes', async (t) => {
    const allocation = document.paths['/v1/budgets/{year}/{sozialraum}/allocations'].post
    const amount = patternsOfProperty(allocation.requestBody.content['application/json'].schema.properties.amount)
    t.equal(amount.length, 1, 'the amount has a pattern')
    for (const accepted of ['0.01', '1250', '1250.5', '1250.50', '-250.00']) t.ok(matchesAll(amount, accepted), `amount takes ${accepted}`)
    for (const refused of ['1e3', '10,50', '+10', '010', ' 10', '10.001', '']) t.notOk(matchesAll(amount, refused), `amount refuses ${shown(refused)}`)
    const sozialraum = patternsOfProperty(allocation.parameters.find((parameter: Json) => parameter.name === 'sozialraum').schema)
    t.ok(matchesAll(sozialraum, 'unteres-malstatt'), 'the slug takes unteres-malstatt')
    for (const refused of ['Unteres_Malstatt', 'a--b', '-a', 'malstätt']) t.notOk(matchesAll(sozialraum, refused), `the slug refuses ${refused}`)
  })

  t.test('the audit limit is declared as it is enforced', async (t) => {
    const parameter = document.paths['/v1/audit/events'].get.parameters.find((candidate: Json) => candidate.name === 'limit')
    const limit = patternsOfProperty(parameter.schema)
    t.equal(limit.length, 1, 'a pattern')
    const cases: [string, boolean][] = [
      ['1', true],
      ['100', true],
      [String(MAX_AUDIT_PAGE), true],
      [String(MAX_AUDIT_PAGE + 1), false],
      ['9999', false],
      ['0', false],
      ['01', false],
    ]
    for (const [value, accepted] of cases) {
      t.equal(matchesAll(limit, value), accepted, `the pattern ${accepted ? 'takes' : 'refuses'} limit=${value}`)
      const served = await get(service.app, `/v1/audit/events?limit=${value}`)
      t.equal(served.status, accepted ? 200 : 400, `the server ${accepted ? 'takes' : 'refuses'} limit=${value}`)
    }
  })
  t.test("the stale commitments' days are declared as they are enforced", async (t) => {
    const parameter = document.paths['/v1/reports/{year}/stale-commitments'].get.parameters.find((candidate: Json) => candidate.name === 'days')
    const days = patternsOfProperty(parameter.schema)
    t.equal(days.length, 1, 'a pattern')
    for (let value = 0; value <= 99_999; value += 1) {
      if (matchesAll(days, String(value)) !== value <= 3650) {
        t.fail(`the pattern ${value <= 3650 ? 'refuses' : 'takes'} days=${value}`)
        return
      }
    }
    for (const [value, accepted] of [['0', true], ['3650', true], ['3651', false], ['9999', false], ['07', false], ['-1', false]] as const) {
      t.equal(matchesAll(days, value), accepted, `the pattern ${accepted ? 'takes' : 'refuses'} days=${value}`)
      const served = await get(service.app, `/v1/reports/2025/stale-commitments?days=${value}`)
      t.equal(served.status, accepted ? 200 : 400, `the server ${accepted ? 'takes' : 'refuses'} days=${value}`)
    }
  })

  t.test('minPosition says its maximum, which the server enforces', async (t) => {
    const parameter = document.paths['/v1/budgets/{year}'].get.parameters.find((candidate: Json) => candidate.name === 'minPosition')
    t.match(parameter.description, /9223372036854775807/, 'the description names 2^63 − 1')
    t.equal((await get(service.app, '/v1/budgets/2025?minPosition=9223372036854775808')).status, 400, 'the server refuses 2^63')
  })
})

t.test('answers keyed by content type are still serialised through their schema', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  const problemBody = { type: 'urn:sojus-ledger:problem:not-found', title: 'Not found', status: 404, detail: 'nothing', secret: 'x' }
  app.get(
    '/thing/:kind',
    {
      schema: {
        response: {
          200: answer('A thing', z.object({ name: z.string() })),
          404: problemAnswer('No thing'),
        },
      },
    },
    async (request, reply) => {
      const kind = (request.params as { kind: string }).kind
      if (kind === 'missing') return reply.code(404).type('application/problem+json').send(problemBody)
      if (kind === 'wrong') return { name: 42 }
      return { name: 'a thing', internal: 'not for clients' }
    },
  )
  const thing = await app.inject({ method: 'GET', url: '/thing/ok' })
  t.equal(thing.statusCode, 200)
  t.same(thing.json(), { name: 'a thing' }, 'a field the schema does not name is stripped: the schema serialised it')
  const missing = await app.inject({ method: 'GET', url: '/thing/missing' })
  t.equal(missing.statusCode, 404)
  t.match(String(missing.headers['content-type']), /^application\/problem\+json/)
  t.same(Object.keys(missing.json()).sort(), ['detail', 'status', 'title', 'type'], 'the problem went through the Problem schema')
  const wrong = await app.inject({ method: 'GET', url: '/thing/wrong' })
  t.equal(wrong.statusCode, 500, 'an answer that does not fit its schema is not sent')
})

t.test('an answer a route does not declare is recorded (what every HTTP test checks at its end)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const undeclared = new Set<string>()
  recordUndeclaredAnswers(app, undeclared)
  const declared: { response: Record<string, unknown> } = {
    response: { 200: { description: 'fine', content: { 'application/json': { schema: {} } } } },
  }
  app.get('/declared', { schema: declared }, async () => ({ fine: true }))
  app.get('/teapot', { schema: declared }, async (_request, reply) => reply.code(418).send({ tea: true }))
  app.get('/text', { schema: declared }, async (_request, reply) => reply.type('text/plain').send('plain'))
  for (const url of ['/declared', '/teapot', '/text', '/nowhere']) await app.inject({ method: 'GET', url })
  t.same(
    [...undeclared],
    ['GET /teapot answered 418, which the route does not declare', 'GET /text answered 200 as text/plain, but declares application/json'],
    'the undeclared status and the undeclared content type; not the declared answer, not the unknown route',
  )
})

import { readFileSync } from 'node:fs'
import type { FastifyDynamicSwaggerOptions, SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger'
import type { FastifySchema } from 'fastify'
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod'

/**
 * The OpenAPI document (`/openapi.json`, `/docs`): built by @fastify/swagger from the routes'
 * zod schemas. Two things are added to what fastify-type-provider-zod does on its own: answers
 * keyed by content type (`answers.ts`) are converted too, and the components are the named
 * schemas (`.meta({ id })`) that the document refers to, no others.
 */

/** `package.json` at the top of the project, found from here whether run from src/ or dist/src/. */
const PACKAGE_JSON = new URL(import.meta.url.includes('/dist/src/') ? '../../../package.json' : '../../package.json', import.meta.url)

/** The service's version, read once when the service starts. */
export const SERVICE_VERSION: string = (() => {
  const version = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version?: unknown }).version
  if (typeof version !== 'string') throw new Error(`${PACKAGE_JSON.pathname} has no version`)
  return version
})()

/** The OpenAPI version the document is written in; zod writes its schemas for the same. */
const OPENAPI_VERSION = '3.0.3'
const ZOD_TO_JSON = { zodToJsonConfig: { target: 'openapi-3.0' as const } }

const zodTransform = createJsonSchemaTransform(ZOD_TO_JSON)
const zodTransformObject = createJsonSchemaTransformObject(ZOD_TO_JSON)

interface ContentKeyedAnswer {
  description: string
  content: Record<string, { schema: unknown }>
}

function isContentKeyed(answer: unknown): answer is ContentKeyedAnswer {
  return typeof answer === 'object' && answer !== null && 'content' in answer && typeof answer.content === 'object'
}

/**
 * Converts a route's schemas as fastify-type-provider-zod does, and its content-keyed answers
 * one schema at a time through the same conversion (which takes bare zod schemas only).
 */
const transform: SwaggerTransform = (input) => {
  const response = input.schema?.response as Record<string, unknown> | undefined
  if (response === undefined || input.schema.hide === true) return zodTransform(input)
  const bare: Record<string, unknown> = {}
  const keyed: [string, ContentKeyedAnswer][] = []
  for (const [status, answer] of Object.entries(response)) {
    if (isContentKeyed(answer)) keyed.push([status, answer])
    else bare[status] = answer
  }
  const converted = zodTransform({ ...input, schema: { ...input.schema, response: bare } })
  const convertOne = (status: string, schema: unknown): unknown =>
    (zodTransform({ ...input, schema: { response: { [status]: schema } } }).schema.response as Record<string, unknown>)[status]
  const responses = { ...(converted.schema.response as Record<string, unknown> | undefined) }
  for (const [status, answer] of keyed) {
    responses[status] = {
      description: answer.description,
      content: Object.fromEntries(
        Object.entries(answer.content).map(([mediaType, media]) => [mediaType, { schema: convertOne(status, media.schema) }]),
      ),
    }
  }
  return { ...converted, schema: { ...converted.schema, response: responses } as FastifySchema }
}

const COMPONENT_REF = '#/components/schemas/'

/** The names of the components that `value` refers to with `$ref`. */
function referencedComponents(value: unknown, into: Set<string>): Set<string> {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const next = pending.pop()
    if (Array.isArray(next)) pending.push(...next)
    else if (typeof next === 'object' && next !== null) {
      for (const [key, member] of Object.entries(next)) {
        if (key === '$ref' && typeof member === 'string' && member.startsWith(COMPONENT_REF)) {
          into.add(member.slice(COMPONENT_REF.length))
        } else pending.push(member)
      }
    }
  }
  return into
}

/**
 * Adds the named zod schemas as components, then keeps only those the paths refer to, directly
 * or through another component: zod's registry holds every named schema in both an input and an
 * output version, and most of them are only ever used one way.
 */
const transformObject: SwaggerTransformObject = (input) => {
  const document = zodTransformObject(input) as { paths?: unknown; components?: { schemas?: Record<string, unknown> } }
  const schemas = document.components?.schemas ?? {}
  const used = referencedComponents(document.paths, new Set())
  for (let grown = true; grown; ) {
    const before = used.size
    for (const name of [...used]) referencedComponents(schemas[name], used)
    grown = used.size > before
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)).sort(([a], [b]) => a.localeCompare(b)))
  return { ...document, components: { ...document.components, schemas: kept } } as ReturnType<SwaggerTransformObject>
}

export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'sojus-ledger',
      description:
        'Event-sourced budget ledger for social-space-oriented youth welfare (SOJUS). ' +
        'Every error is application/problem+json (RFC 9457) with a URN type ending in a stable code.',
      version: SERVICE_VERSION,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    security: [{ bearer: [] }],
    tags: [
      { name: 'Sozialräume' },
      { name: 'Budgets' },
      { name: 'Commitments' },
      { name: 'Flexible spending' },
      { name: 'Audit' },
      { name: 'Reports' },
      { name: 'Operations' },
    ],
  },
  transform,
  transformObject,
}

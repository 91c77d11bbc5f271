import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'

/** Helmet's headers, worked out once: a name (lower case) and its value. */
export type SecurityHeaders = Readonly<Record<string, string>>

/**
 * Helmet's headers for these options, as its middleware would set them on a response. They depend
 * on nothing of the request as long as no directive is a function (a nonce, say): such options
 * are refused, rather than worked out once for every request.
 */
export function helmetHeaders(options: Readonly<HelmetOptions>): SecurityHeaders {
  const csp = options.contentSecurityPolicy
  const directives = typeof csp === 'object' ? Object.values(csp.directives ?? {}) : []
  if (directives.some((value) => typeof value === 'function' || (Array.isArray(value) && value.some((part) => typeof part === 'function')))) {
    throw new Error('a content security policy directive that depends on the request cannot be worked out once')
  }
  const headers: Record<string, string> = {}
  const response = {
    setHeader(name: string, value: string | number) {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    },
  }
  let failure: unknown
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => (failure = error))
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure))
  return Object.freeze(headers)
}

/**
 * Security headers (nosniff, frame-ancestors, the content security policy, HSTS behind TLS, …) on
 * every answer that runs Fastify's hooks, 404s and errors included: helmet's, computed once at
 * start. @fastify/helmet built helmet's middleware again for every request, about 4 % of the event
 * loop's time under writes. Registered before any route, so that its hook applies to all of them.
 * (The router's own answers and Node's, which run no hook, set them in app.ts.)
 */
export function addSecurityHeaders(app: FastifyInstance, headers: SecurityHeaders): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}

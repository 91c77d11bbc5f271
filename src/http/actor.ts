import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Actor } from '../domain/events.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sends the request: set here, in one place, for every route. */
    actor: Actor
  }
}

const ANONYMOUS: Actor = Object.freeze({ sub: 'anonymous', role: 'anonymous' })
// Fastify wants no shared object as a decorator's initial value; each request gets its own below.
const ANONYMOUS_PLACEHOLDER = null as unknown as Actor

/**
 * Identifies the actor of each request. Authentication (JWT) comes with its own issue; until it
 * lands every request is recorded as anonymous.
 */
export const actorPlugin = fp(async (app: FastifyInstance) => {
  app.decorateRequest('actor', ANONYMOUS_PLACEHOLDER)
  app.addHook('onRequest', async (request) => {
    request.actor = ANONYMOUS
  })
})

import fastifyStatic from '@fastify/static'
import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { existsSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import type { OidcConfig } from '../../config.js'
import { answer, problemAnswer } from '../answers.js'
import { problem, sendProblem } from '../problem.js'

/**
 * The web dashboard (docs/dashboard.md): the files Vite built from web/ into dist/web, served at
 * `/` without a token (they hold no data; every figure comes from the /v1 API with the user's
 * token), and `GET /dashboard/config`, which tells the page how to sign in.
 */
export interface DashboardOptions {
  /** The built dashboard (dist/web); undefined when it was not built: `/` says so. */
  root: string | undefined
  oidc: OidcConfig | undefined
}

/** The paths the dashboard's files are served at, all public (see accessOf). */
export function isDashboardPath(url: string): boolean {
  return url === '/' || url === '/index.html' || url === '/favicon.svg' || url.startsWith('/assets/')
}

/**
 * dist/web beside the compiled service (dist/src/http/routes → dist/web) or, run from the sources
 * with tsx, in the checkout (src/http/routes → dist/web); undefined when neither was built.
 */
export function builtDashboard(from: string = fileURLToPath(import.meta.url)): string | undefined {
  const top = dirname(dirname(dirname(dirname(from))))
  const root = basename(top) === 'dist' ? join(top, 'web') : join(top, 'dist', 'web')
  return existsSync(join(root, 'index.html')) ? root : undefined
}

const signIn = z.discriminatedUnion('signIn', [
  z.object({ signIn: z.literal('token') }).meta({ description: 'Sign in with a token printed by `npm run token`' }),
  z.object({
    signIn: z.literal('oidc'),
    issuer: z.string(),
    clientId: z.string(),
    scope: z.string(),
  }).meta({ description: "Sign in at the office's identity provider (authorization code with PKCE)" }),
])

/** Vite names every asset by its content: a file under assets/ never changes, index.html may. */
const cacheHeaders =
  (root: string) =>
  (reply: FastifyReply, path: string): void => {
    const immutable = dirname(path) === join(root, 'assets')
    reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  }

export const dashboardRoutes: FastifyPluginAsyncZod<DashboardOptions> = async (app, options) => {
  const oidc = options.oidc
  const config = oidc === undefined ? { signIn: 'token' as const } : { signIn: 'oidc' as const, issuer: oidc.issuer, clientId: oidc.clientId, scope: oidc.scope }
  app.get(
    '/dashboard/config',
    {
      schema: {
        tags: ['Dashboard'],
        summary: 'How the web dashboard signs in',
        response: { 200: answer('How the dashboard signs in', signIn) },
      },
    },
    async () => config,
  )
  if (options.root === undefined) {
    app.get(
      '/',
      {
        schema: {
          // Like the built files that stand in for it, not part of the API's document.
          hide: true,
          tags: ['Dashboard'],
          summary: 'The web dashboard',
          response: { 503: problemAnswer('The dashboard was not built: run `npm run build`') },
        },
      },
      async (_request, reply) =>
        sendProblem(reply, problem('unavailable', 503, 'the dashboard was not built: run `npm run build`')),
    )
    return
  }
  await app.register(fastifyStatic, {
    root: options.root,
    prefix: '/',
    // One route per built file, found at start: an unknown path stays the API's 404 problem.
    wildcard: false,
    index: ['index.html'],
    cacheControl: false,
    setHeaders: cacheHeaders(options.root),
  })
}

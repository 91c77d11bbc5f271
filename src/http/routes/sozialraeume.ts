import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { sozialraumView } from '../../application/views.js'
import { answer, NOT_FOUND, problemAnswer } from '../answers.js'
import type { HttpDeps } from '../deps.js'
import {
  readQuery,
  registerSozialraumBody,
  slug,
  sozialraumListSchema,
  sozialraumStatusBody,
  sozialraumWriteSchema,
  noQuery,
  writeHeaders,
} from '../schemas.js'
import { commandContext, sendWrite } from '../write.js'

export const sozialraeumeRoutes: FastifyPluginAsyncZod<HttpDeps> = async (app, deps) => {
  app.post(
    '/v1/sozialraeume',
    {
      schema: {
        tags: ['Sozialräume'],
        summary: 'Register a Sozialraum',
        headers: writeHeaders,
        querystring: noQuery,
        body: registerSozialraumBody,
        response: {
          201: answer('The Sozialraum as registered', sozialraumWriteSchema),
          409: problemAnswer('A Sozialraum with this id is registered already (conflict)'),
        },
      },
    },
    (request, reply) => {
      const body = request.body
      return sendWrite(
        reply,
        () =>
          deps.ledger.executeSozialraum(
            body.id,
            { type: 'RegisterSozialraum', name: body.name, status: body.status ?? 'pilot' },
            commandContext(request),
          ),
        ({ state }) => sozialraumView(state),
      )
    },
  )

  app.get(
    '/v1/sozialraeume',
    {
      schema: {
        tags: ['Sozialräume'],
        summary: 'List the Sozialräume',
        querystring: z.strictObject(readQuery),
        response: { 200: answer('Every registered Sozialraum', sozialraumListSchema) },
      },
    },
    async () => ({ items: await deps.readModels.listSozialraeume() }),
  )

  app.post(
    '/v1/sozialraeume/:id/status',
    {
      schema: {
        tags: ['Sozialräume'],
        summary: 'Change the status of a Sozialraum (pilot or permanent)',
        params: z.strictObject({ id: slug }),
        headers: writeHeaders,
        querystring: noQuery,
        body: sozialraumStatusBody,
        response: {
          201: answer('The Sozialraum with its new status', sozialraumWriteSchema),
          404: problemAnswer(NOT_FOUND.sozialraum),
          409: problemAnswer('The Sozialraum has this status already (conflict)'),
        },
      },
    },
    (request, reply) =>
      sendWrite(
        reply,
        () =>
          deps.ledger.executeSozialraum(
            request.params.id,
            { type: 'ChangeSozialraumStatus', status: request.body.status, decisionRef: request.body.decisionRef },
            commandContext(request),
          ),
        ({ state }) => sozialraumView(state),
      ),
  )
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendProblem } from '../plugins/error-handler.js'
import { ProblemSchema } from '../schemas/common.js'

const READY_TIMEOUT_MS = 2_000

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Status = Type.Object({ status: Type.String() })

  // The process is alive; says nothing about its dependencies.
  app.get('/healthz', { schema: { tags: ['operations'], response: { 200: Status } } }, async () => ({ status: 'ok' }))

  // Ready to serve: the database answers within READY_TIMEOUT_MS.
  app.get('/readyz', { schema: { tags: ['operations'], response: { 200: Status, 503: ProblemSchema } } }, async (request, reply) => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        app.db.ping(),
        new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS) })
      ])
      return { status: 'ready' }
    } catch {
      return sendProblem(request, reply, 'service_unavailable', 'The database is not reachable')
    } finally {
      clearTimeout(timer)
    }
  })
}

export default healthRoutes

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendProblem } from '../plugins/error-handler.js'
import { problemResponse } from '../schemas/responses.js'

const READY_TIMEOUT_MS = 2_000

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Status = (status: string) => Type.Object({ status: Type.String() }, { examples: [{ status }] })

  // The process is alive; says nothing about its dependencies.
  app.get('/healthz', {
    schema: {
      tags: ['operations'],
      summary: 'Liveness: the process answers',
      description: 'Says nothing about the database: use it to restart a hung process, not to route traffic (that is /readyz).',
      response: { 200: Status('ok') }
    }
  }, async () => ({ status: 'ok' }))

  // Ready to serve: the database answers within READY_TIMEOUT_MS.
  app.get('/readyz', {
    schema: {
      tags: ['operations'],
      summary: 'Readiness: the database answers',
      description: `200 when the database answers a trivial query within ${READY_TIMEOUT_MS / 1000} s; for load balancers.`,
      response: { 200: Status('ready'), 503: problemResponse(503, 'The database did not answer: `service_unavailable`.') }
    }
  }, async (request, reply) => {
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

// What every admin route plugin shares: the hooks that let only a live session whose CURRENT
// roles include admin through, and the error responses those hooks (and step-up) give.
import type { FastifyInstance } from 'fastify'
import { ADMIN_ROLE } from '../../services/admin-service.js'
import { bearerProblems, problemResponse, problemResponses } from '../../schemas/responses.js'

/** Adds authenticate → requireLiveSession → requireRole('admin') to every route of `app`'s scope. */
export function adminOnly (app: FastifyInstance): void {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireLiveSession)
  app.addHook('onRequest', app.requireRole(ADMIN_ROLE))
}

/** The refusals of adminOnly's hooks (and a database outage). */
export const ADMIN_DENIED = { ...bearerProblems, 403: problemResponse(403, 'The caller\'s current roles do not include `admin`: `forbidden`.', 'forbidden'), ...problemResponses(503) }

/** The 403 of an admin change that needs a recent authentication. */
export const ADMIN_STEP_UP = { 403: problemResponse(403, 'The caller\'s current roles do not include `admin` (`forbidden`), or the change needs a recent authentication: `reauthentication_required`.', 'reauthentication_required') }

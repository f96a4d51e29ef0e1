import { fail, redirect } from '@sveltejs/kit'
import { AuthdProblem, AuthdUnavailable, authd } from '$lib/server/authd'
import { REFRESH_COOKIE, clearTokens, visitorOf } from '$lib/server/session'
import { messageFor } from '$lib/server/forms'
import type { Actions } from './$types'

// POST only (a form action): a GET /logout just shows a button, so a link or an <img> on another
// site cannot log anyone out, and SvelteKit's origin check refuses a cross-site form POST.
export const actions: Actions = {
  default: async (event) => {
    const refresh = event.cookies.get(REFRESH_COOKIE)
    if (refresh !== undefined) {
      try {
        await authd.logout(refresh, visitorOf(event))
      } catch (error) {
        // 401: authd already considers the session over. Anything else: the session may still be
        // alive at authd, so say so and keep the cookies (the user can try again) rather than
        // pretend to have logged out.
        if (error instanceof AuthdUnavailable) return fail(503, { message: messageFor(error) })
        if (!(error instanceof AuthdProblem) || error.status !== 401) throw error
      }
    }
    clearTokens(event.cookies)
    redirect(303, '/login')
  }
}

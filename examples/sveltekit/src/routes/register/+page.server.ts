import { fail, redirect } from '@sveltejs/kit'
import { AuthdProblem, AuthdUnavailable, authd, type RegisterInput } from '$lib/server/authd'
import { saveTokens, visitorOf } from '$lib/server/session'
import { endPreviousSession, messageFor } from '$lib/server/forms'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = ({ locals }) => {
  if (locals.user !== null) redirect(303, '/account')
}

export const actions: Actions = {
  default: async (event) => {
    const form = await event.request.formData()
    const email = String(form.get('email') ?? '').trim()
    const username = String(form.get('username') ?? '').trim()
    const input: RegisterInput = { email, password: String(form.get('password') ?? '') }
    if (username !== '') input.username = username
    try {
      // authd's registration also logs in: it answers tokens at once.
      const { tokens } = await authd.register(input, visitorOf(event))
      await endPreviousSession(event)
      saveTokens(event.cookies, tokens)
    } catch (error) {
      if (error instanceof AuthdProblem) return fail(error.status, { email, username, message: messageFor(error) })
      if (error instanceof AuthdUnavailable) return fail(503, { email, username, message: messageFor(error) })
      throw error
    }
    redirect(303, '/account')
  }
}

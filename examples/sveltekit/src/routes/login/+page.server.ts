import { fail, redirect } from '@sveltejs/kit'
import { AuthdProblem, AuthdUnavailable, authd } from '$lib/server/authd'
import { safeRedirect, saveTokens, visitorOf } from '$lib/server/session'
import { endPreviousSession, messageFor } from '$lib/server/forms'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = ({ locals, url }) => {
  if (locals.user !== null) redirect(303, safeRedirect(url.searchParams.get('redirectTo')))
}

export const actions: Actions = {
  default: async (event) => {
    const form = await event.request.formData()
    const login = String(form.get('login') ?? '').trim()
    const password = String(form.get('password') ?? '')
    try {
      const { tokens } = await authd.login({ login, password }, visitorOf(event))
      await endPreviousSession(event)
      saveTokens(event.cookies, tokens)
    } catch (error) {
      // The password is never sent back to the page.
      if (error instanceof AuthdProblem) return fail(error.status, { login, message: messageFor(error) })
      if (error instanceof AuthdUnavailable) return fail(503, { login, message: messageFor(error) })
      throw error
    }
    redirect(303, safeRedirect(event.url.searchParams.get('redirectTo')))
  }
}

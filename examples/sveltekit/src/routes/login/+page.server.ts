import { fail, redirect, type Cookies, type RequestEvent } from '@sveltejs/kit'
import { AuthdProblem, AuthdUnavailable, authd, type Tokens } from '$lib/server/authd'
import { safeRedirect, saveTokens, visitorOf } from '$lib/server/session'
import { endPreviousSession, messageFor } from '$lib/server/forms'
import type { Actions, PageServerLoad } from './$types'

// A login in two steps when the account has a second factor: the password answers an mfaToken,
// which a code then completes. The mfaToken stays on this server's side, in an HttpOnly cookie
// scoped to /login, rather than in a hidden form field: it is half a login (the password is
// already proven), so it is kept away from page scripts (an XSS could read a hidden field) and out
// of the HTML (which a browser may cache or a screen-sharing user show). The cookie also makes the
// second step work as a plain form POST without JavaScript. It lives as long as authd's
// MFA_TOKEN_TTL (5 minutes) and is deleted when the login completes or the token dies.
const MFA_COOKIE = 'mfa_token'
const mfaCookie = { path: '/login', httpOnly: true, sameSite: 'lax', maxAge: 300 } as const

export const load: PageServerLoad = ({ locals, url, cookies }) => {
  if (locals.user !== null) redirect(303, safeRedirect(url.searchParams.get('redirectTo')))
  // A reload during the second step keeps showing the code form.
  // authd sends a failed "Sign in with …" (a provider, see /browser) here with ?error=<code>.
  return { mfaPending: cookies.get(MFA_COOKIE) !== undefined, providerError: url.searchParams.get('error') }
}

async function signIn (event: RequestEvent, tokens: Tokens): Promise<never> {
  await endPreviousSession(event)
  saveTokens(event.cookies, tokens)
  redirect(303, safeRedirect(event.url.searchParams.get('redirectTo')))
}

function forgetChallenge (cookies: Cookies): void {
  cookies.delete(MFA_COOKIE, { path: mfaCookie.path })
}

export const actions: Actions = {
  default: async (event) => {
    const form = await event.request.formData()
    const mfaToken = event.cookies.get(MFA_COOKIE)

    if (form.has('cancel')) {
      forgetChallenge(event.cookies)
      return { login: '', message: '', mfaRequired: false }
    }

    // Second step: a code for the pending challenge.
    if (form.has('code') && mfaToken !== undefined) {
      const code = String(form.get('code') ?? '').trim()
      // A recovery code looks like xxxxx-xxxxx; a TOTP code is 6 digits.
      const answer = /^\d{6}$/.test(code) ? { code } : { recoveryCode: code }
      let tokens: Tokens
      try {
        ({ tokens } = await authd.completeMfa({ mfaToken, ...answer }, visitorOf(event)))
      } catch (error) {
        if (error instanceof AuthdProblem && error.code === 'mfa_token_invalid') {
          forgetChallenge(event.cookies) // back to the password form
          return fail(401, { login: '', message: messageFor(error), mfaRequired: false })
        }
        if (error instanceof AuthdProblem) return fail(error.status, { login: '', message: messageFor(error), mfaRequired: true })
        if (error instanceof AuthdUnavailable) return fail(503, { login: '', message: messageFor(error), mfaRequired: true })
        throw error
      }
      forgetChallenge(event.cookies)
      return await signIn(event, tokens)
    }

    // First step: the password.
    const login = String(form.get('login') ?? '').trim()
    const password = String(form.get('password') ?? '')
    let tokens: Tokens
    try {
      const answer = await authd.login({ login, password }, visitorOf(event))
      if ('mfaRequired' in answer) {
        event.cookies.set(MFA_COOKIE, answer.mfaToken, mfaCookie)
        return { login, message: '', mfaRequired: true }
      }
      tokens = answer.tokens
    } catch (error) {
      // The password is never sent back to the page.
      if (error instanceof AuthdProblem) return fail(error.status, { login, message: messageFor(error), mfaRequired: false })
      if (error instanceof AuthdUnavailable) return fail(503, { login, message: messageFor(error), mfaRequired: false })
      throw error
    }
    forgetChallenge(event.cookies)
    return await signIn(event, tokens)
  }
}

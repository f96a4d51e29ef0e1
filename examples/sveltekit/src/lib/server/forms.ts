// Shared by the login, register and logout form actions.
import type { RequestEvent } from '@sveltejs/kit'
import { AuthdProblem, authd } from './authd'
import { REFRESH_COOKIE, visitorOf } from './session'

/** What the form shows for an authd answer. Keyed on the problem's stable `code`. */
export function messageFor (error: Error): string {
  if (!(error instanceof AuthdProblem)) return 'The sign-in service is unavailable. Try again shortly.'
  switch (error.code) {
    case 'invalid_credentials': return 'Wrong email/username or password.'
    case 'email_taken': return 'That email is already registered.'
    case 'username_taken': return 'That username is taken.'
    case 'rate_limited': return 'Too many attempts. Wait a minute and try again.'
    case 'account_locked': return 'Too many failed attempts: the account is locked for a while.'
    case 'mfa_invalid': return 'That code is wrong, expired or already used. Wait for the next one.'
    case 'mfa_token_invalid': return 'The sign-in took too long or had too many wrong codes. Log in again.'
    case 'mfa_already_enabled': return 'Two-factor authentication is already on.'
    case 'validation_failed':
      return `Check the form: ${error.errors.map((e) => `${e.field} ${e.message}`).join('; ') || error.message}.`
    default: return error.message
  }
}

/** Signing in while signed in (another account, or the same one again): end the previous
 *  session at authd rather than leave it alive and forgotten. Best effort. */
export async function endPreviousSession (event: RequestEvent): Promise<void> {
  const previous = event.cookies.get(REFRESH_COOKIE)
  if (previous === undefined) return
  await authd.logout(previous, visitorOf(event)).catch(() => {})
}

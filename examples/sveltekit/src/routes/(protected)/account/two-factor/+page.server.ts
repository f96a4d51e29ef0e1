import { error, fail } from '@sveltejs/kit'
import QRCode from 'qrcode'
import { AuthdProblem, AuthdUnavailable, authd } from '$lib/server/authd'
import { accessToken, visitorOf } from '$lib/server/session'
import { messageFor } from '$lib/server/forms'
import type { Actions, PageServerLoad } from './$types'

// Turning TOTP on: `start` asks authd for a secret and shows it as a QR code, `confirm` sends the
// first code and shows the recovery codes this once. hooks.server.ts keeps signed-out visitors out
// of the (protected) group, its actions included, and has refreshed the access token if needed.

/** An authd failure as the form's answer (the visitor's tokens are kept either way). */
function failure (cause: unknown) {
  if (cause instanceof AuthdProblem) return fail(cause.status, { message: messageFor(cause) })
  if (cause instanceof AuthdUnavailable) return fail(503, { message: messageFor(cause) })
  throw cause
}

function access (cookies: Parameters<typeof accessToken>[0]): string {
  const token = accessToken(cookies)
  if (token === undefined) error(401, 'Not signed in')
  return token
}

export const load: PageServerLoad = async (event) => {
  try {
    return { totp: (await authd.mfaStatus(access(event.cookies), visitorOf(event))).totp }
  } catch (cause) {
    if (cause instanceof AuthdUnavailable) error(503, messageFor(cause))
    throw cause
  }
}

export const actions: Actions = {
  start: async (event) => {
    try {
      const { secret, otpauthUri } = await authd.startTotp(access(event.cookies), visitorOf(event))
      return await scanStep(secret, otpauthUri)
    } catch (cause) {
      return failure(cause)
    }
  },
  confirm: async (event) => {
    const form = await event.request.formData()
    const code = String(form.get('code') ?? '').trim()
    try {
      const { recoveryCodes } = await authd.confirmTotp(access(event.cookies), code, visitorOf(event))
      return { step: 'codes' as const, recoveryCodes }
    } catch (cause) {
      // A mistyped code: show the same QR code again (the enrolment stays pending at authd) rather
      // than start over with a new secret the user would have to scan again.
      const otpauthUri = String(form.get('otpauthUri') ?? '')
      if (cause instanceof AuthdProblem && cause.code === 'mfa_invalid' && otpauthUri.startsWith('otpauth://')) {
        const again = await scanStep(String(form.get('secret') ?? ''), otpauthUri)
        return fail(400, { ...again, message: messageFor(cause) })
      }
      return failure(cause)
    }
  }
}

/** The enrolment's secret and its otpauth:// URI as a QR code (a data: URL). Drawn here, on this
 *  server: the secret never goes to a third-party QR code service, and the page needs no QR code
 *  library of its own. */
async function scanStep (secret: string, otpauthUri: string) {
  return { step: 'scan' as const, secret, otpauthUri, qr: await QRCode.toDataURL(otpauthUri) }
}

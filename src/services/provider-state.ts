// What a browser carries between `…/providers/{id}/start` and the provider's callback: the
// state, nonce and PKCE code verifier of one authorization request, where to go afterwards, and
// (for linking) which user asked. It lives only in a short-lived HttpOnly cookie, encrypted and
// authenticated (AES-256-GCM, secret-box.ts) under a key of its own derived from the refresh
// secret, bound to the provider: nothing is stored server-side, any instance can open it, and
// a changed or transplanted cookie does not open at all.
import { hkdfSync } from 'node:crypto'
import { createSecretBox } from './secret-box.js'

/** How long a started sign-in may take at the provider (10 minutes). */
export const PROVIDER_STATE_TTL = 600

export interface ProviderState {
  provider: string
  state: string
  /** OpenID providers only. */
  nonce: string | null
  codeVerifier: string
  /** The path under FRONTEND_URL to land on (already checked by safeNext). */
  next: string
  /** Linking: the user who started it; null for a sign-in. */
  userId: string | null
}

export interface ProviderStateBox {
  seal (state: ProviderState): string
  /** The state, or null when the value is not one of ours, for another provider, or expired. */
  open (sealed: string | undefined, provider: string): ProviderState | null
}

export function providerStateKey (refreshSecret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', refreshSecret, Buffer.alloc(0), 'authd provider state v1', 32))
}

export function createProviderStateBox (key: Buffer, now: () => number = Date.now): ProviderStateBox {
  const box = createSecretBox(key)
  const context = (provider: string) => `provider-state:${provider}`
  return {
    seal (state) {
      const expiresAt = Math.floor(now() / 1000) + PROVIDER_STATE_TTL
      return box.seal(JSON.stringify({ ...state, expiresAt }), context(state.provider))
    },
    open (sealed, provider) {
      if (sealed === undefined || sealed === '') return null
      let parsed: ProviderState & { expiresAt: number }
      try {
        parsed = JSON.parse(box.open(sealed, context(provider)))
      } catch {
        return null
      }
      if (parsed.provider !== provider || !(parsed.expiresAt > Math.floor(now() / 1000))) return null
      const { expiresAt: _, ...state } = parsed
      return state
    }
  }
}

/**
 * Where a sign-in may send the browser afterwards: a path of the frontend only. It must start
 * with one `/` (not `//host` or `/\host`, which browsers read as another host) and hold no
 * backslash, whitespace, control character or fragment; anything else is `/`. The caller puts
 * it after FRONTEND_URL, so it can never leave that origin.
 */
export function safeNext (next: string | undefined): string {
  if (next === undefined || next.length > 2048) return '/'
  // eslint-disable-next-line no-control-regex
  if (!/^\/(?![/\\])[^\\\s#\u0000-\u001f\u007f]*$/.test(next)) return '/'
  return next
}

// A server-only client for authd's *app* endpoints (`/v1/app/auth/*`, `/v1/users/me`): both tokens
// travel in JSON bodies between this SvelteKit server and authd, never through the browser.
// It lives under $lib/server, so SvelteKit refuses to bundle it (or AUTHD_URL) into browser code.
import { env } from '$env/dynamic/private'

/** authd's public user object (GET /v1/users/me). */
export interface User {
  id: string
  email: string
  username: string | null
  fullName: string
  bio: string
  birthDate: string | null
  roles: string[]
  emailVerified: boolean
  isActive: boolean
  createdAt: string
  updatedAt: string
  lastLoginAt: string | null
}

export interface Tokens {
  tokenType: 'Bearer'
  access: string
  /** Seconds. */
  accessExpiresIn: number
  refresh: string
  /** Seconds. */
  refreshExpiresIn: number
}

export interface FieldError { field: string, code: string, message: string }

/** A 4xx problem answered by authd (RFC 9457): branch on `code`, never on the text. */
export class AuthdProblem extends Error {
  constructor (readonly status: number, readonly code: string, detail: string, readonly errors: FieldError[] = []) {
    super(detail)
    this.name = 'AuthdProblem'
  }
}

/** authd could not be reached, timed out or answered 5xx. Says nothing about the user's tokens,
 *  so they are kept: throwing them away would log everyone out whenever authd restarts. */
export class AuthdUnavailable extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'AuthdUnavailable'
  }
}

/** The visitor a call is made for. Forwarded so that authd's per-IP rate limits and its session
 *  list see the visitor rather than this server (authd believes X-Forwarded-For only from the
 *  addresses in its TRUST_PROXY: list this server's address there). */
export interface Visitor { ip: string, userAgent: string | null }

const TIMEOUT_MS = 10_000

function authdUrl (path: string): string {
  // Read at call time ($env/dynamic): the same build runs against any authd.
  return `${(env.AUTHD_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '')}${path}`
}

async function call<T> (method: 'GET' | 'POST', path: string, visitor: Visitor, options: { body?: unknown, access?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-forwarded-for': visitor.ip }
  if (visitor.userAgent !== null) headers['user-agent'] = visitor.userAgent
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.access !== undefined) headers.authorization = `Bearer ${options.access}`
  let res: Response
  try {
    res = await fetch(authdUrl(path), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS)
    })
  } catch (error) {
    throw new AuthdUnavailable(`authd is unreachable (${method} ${path})`, { cause: error })
  }
  if (res.status === 204) return undefined as T
  const payload: unknown = await res.json().catch(() => null)
  if (res.ok) return payload as T
  const problem = (payload ?? {}) as { code?: unknown, detail?: unknown, errors?: unknown }
  if (res.status >= 500 || typeof problem.code !== 'string') {
    throw new AuthdUnavailable(`authd answered ${res.status} (${method} ${path})`)
  }
  throw new AuthdProblem(res.status, problem.code, typeof problem.detail === 'string' ? problem.detail : problem.code,
    Array.isArray(problem.errors) ? problem.errors as FieldError[] : [])
}

export interface RegisterInput { email: string, password: string, username?: string }

/** A login whose password was right, for an account with a second factor: no tokens yet. */
export interface MfaChallenge { mfaRequired: true, mfaToken: string, methods: string[] }

export const authd = {
  register: async (input: RegisterInput, visitor: Visitor) =>
    await call<{ user: User, tokens: Tokens }>('POST', '/v1/app/auth/register', visitor, { body: input }),
  /** Tokens, or a challenge when the account has a second factor (then `completeMfa`). */
  login: async (input: { login: string, password: string }, visitor: Visitor) =>
    await call<{ user: User, tokens: Tokens } | MfaChallenge>('POST', '/v1/app/auth/login', visitor, { body: input }),
  /** Second step of such a login: the challenge's mfaToken with a TOTP code or a recovery code. */
  completeMfa: async (input: { mfaToken: string } & ({ code: string } | { recoveryCode: string }), visitor: Visitor) =>
    await call<{ user: User, tokens: Tokens }>('POST', '/v1/app/auth/mfa', visitor, { body: input }),
  mfaStatus: async (access: string, visitor: Visitor) =>
    await call<{ totp: boolean, recoveryCodesLeft: number }>('GET', '/v1/users/me/mfa', visitor, { access }),
  /** Starts TOTP enrolment: a new secret and its otpauth:// URI; nothing changes until confirmed. */
  startTotp: async (access: string, visitor: Visitor) =>
    await call<{ secret: string, otpauthUri: string }>('POST', '/v1/users/me/mfa/totp', visitor, { access }),
  /** Turns TOTP on with a first code; the recovery codes come back this once. */
  confirmTotp: async (access: string, code: string, visitor: Visitor) =>
    await call<{ recoveryCodes: string[] }>('POST', '/v1/users/me/mfa/totp/confirm', visitor, { access, body: { code } }),
  /** Rotation: the presented refresh token is spent; keep the new one from the answer. */
  refresh: async (refresh: string, visitor: Visitor) =>
    (await call<{ tokens: Tokens }>('POST', '/v1/app/auth/refresh', visitor, { body: { refresh } })).tokens,
  /** Ends the whole session at authd (every refresh token of it). */
  logout: async (refresh: string, visitor: Visitor) =>
    await call<undefined>('POST', '/v1/app/auth/logout', visitor, { body: { refresh } }),
  me: async (access: string, visitor: Visitor) =>
    await call<User>('GET', '/v1/users/me', visitor, { access })
}

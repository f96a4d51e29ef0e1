// A Fastify plugin for services that accept authd access tokens:
//
//   await app.register(authdVerifier, { jwksUrl, issuer: 'https://auth.example.com', audience: 'orders' })
//   app.get('/orders', { onRequest: app.requireAuthd }, async (request) => request.authd.sub)
//   app.post('/payouts', { onRequest: app.requireAuthdWith({ requireAmr: ['mfa'], maxAuthAge: 300 }) }, …)
//
// `app.requireAuthd` answers a missing or refused token itself, with the problem JSON authd
// uses (RFC 9457, a stable `code`, `WWW-Authenticate: Bearer …`), so it looks the same whatever
// error handler the host service has. Fastify itself is the host's (an optional peer dependency,
// imported for its types only), never bundled.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { AuthdJwksUnavailableError, AuthdTokenError, checkRequirements, createVerifier, type AuthdClaims, type AuthRequirements, type VerifierOptions } from './index.js'

export { AuthdJwksUnavailableError, AuthdTokenError, createVerifier, type AuthdClaims, type AuthRequirements, type VerifierOptions } from './index.js'

type AuthdHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: 401 unless the request carries a valid authd access token; sets request.authd. */
    requireAuthd: AuthdHook
    /**
     * An onRequest hook like requireAuthd that also applies these requirements (replacing the plugin's
     * `requireAmr` / `maxAuthAge` key by key): for the routes that need MFA or a recent login.
     */
    requireAuthdWith: (requirements: AuthRequirements) => AuthdHook
    /** The plugin's verifier, for tokens that arrive other than in the Authorization header. */
    verifyAuthdToken: (token: string, requirements?: AuthRequirements) => Promise<AuthdClaims>
  }
  interface FastifyRequest {
    /** Claims of the verified access token; set by app.requireAuthd (null on routes without it). */
    authd: AuthdClaims
  }
}

export interface AuthdVerifierOptions extends VerifierOptions {
  /** The realm named in WWW-Authenticate (default 'authd'). */
  realm?: string
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

type ProblemCode = 'authentication_required' | 'token_invalid' | 'token_expired' | 'insufficient_user_authentication' | 'service_unavailable'

const PROBLEMS: Record<ProblemCode, { status: number, title: string }> = {
  authentication_required: { status: 401, title: 'Authentication required' },
  token_invalid: { status: 401, title: 'Token is invalid' },
  token_expired: { status: 401, title: 'Token has expired' },
  insufficient_user_authentication: { status: 401, title: 'Stronger or more recent authentication required' },
  service_unavailable: { status: 503, title: 'Service unavailable' }
}

// The same grammar authd accepts: one b64token after "Bearer".
const BEARER = /^Bearer +([A-Za-z0-9\-_.]+=*) *$/i

// RFC 6750 §3: error_description may hold only %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash),
// and the message can carry amr values from the service's configuration.
const headerText = (text: string): string => text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')

async function authdVerifierPlugin (app: FastifyInstance, options: AuthdVerifierOptions): Promise<void> {
  const { realm = 'authd', ...verifierOptions } = options
  const verifier = createVerifier(verifierOptions)

  function sendProblem (request: FastifyRequest, reply: FastifyReply, code: ProblemCode, detail: string, requirements?: AuthRequirements): FastifyReply {
    const { status, title } = PROBLEMS[code]
    if (status === 401) {
      let error: string
      if (code === 'authentication_required') {
        // RFC 6750 §3: no error attribute when the request carried no token at all.
        error = ''
      } else if (code === 'insufficient_user_authentication') {
        // RFC 9470 §3: the client steps up (authenticates again) instead of discarding the token;
        // max_age tells it how recent the new authentication must be.
        const maxAge = requirements?.maxAuthAge === undefined ? '' : `, max_age="${Math.floor(requirements.maxAuthAge)}"`
        error = `, error="insufficient_user_authentication", error_description="${headerText(detail)}"${maxAge}`
      } else {
        error = ', error="invalid_token"'
      }
      reply.header('www-authenticate', `Bearer realm="${realm}"${error}`)
    }
    return reply.code(status).header('cache-control', 'no-store').type(PROBLEM_CONTENT_TYPE).send({
      type: `https://authd.dev/errors/${code}`,
      title,
      status,
      detail,
      code,
      requestId: request.id
    })
  }

  app.decorateRequest('authd', null as unknown as AuthdClaims)
  app.decorate('verifyAuthdToken', (token: string, requirements?: AuthRequirements) => verifier.verify(token, requirements))

  async function authenticate (request: FastifyRequest, reply: FastifyReply, requirements?: AuthRequirements): Promise<FastifyReply | undefined> {
    const header = request.headers.authorization
    if (header === undefined || header === '') {
      return sendProblem(request, reply, 'authentication_required', 'Send an access token as "Authorization: Bearer <token>"')
    }
    const match = BEARER.exec(header)
    if (match === null) return sendProblem(request, reply, 'token_invalid', 'The Authorization header must be "Bearer <token>"')
    try {
      request.authd = await verifier.verify(match[1] as string, requirements)
    } catch (error) {
      if (error instanceof AuthdTokenError) {
        if (error.code === 'insufficient_user_authentication') {
          return sendProblem(request, reply, error.code, error.message, error.requirements)
        }
        return sendProblem(request, reply, error.code, error.code === 'token_expired' ? 'The access token has expired; refresh it' : 'The access token is not valid')
      }
      if (error instanceof AuthdJwksUnavailableError) {
        request.log.error({ err: error }, 'authd JWKS unavailable')
        return sendProblem(request, reply, 'service_unavailable', "authd's signing keys cannot be fetched; try again shortly")
      }
      throw error
    }
  }

  app.decorate('requireAuthd', async (request: FastifyRequest, reply: FastifyReply) => await authenticate(request, reply))
  app.decorate('requireAuthdWith', (requirements: AuthRequirements): AuthdHook => {
    // Checked here, when the route is declared, so that a mistyped requirement stops the service at
    // start-up instead of answering every request with a 500.
    checkRequirements(requirements, 'requireAuthdWith')
    return async (request, reply) => await authenticate(request, reply, requirements)
  })
}

// What fastify-plugin's fp() would set, written out so that jose stays the package's only
// dependency: skip-override puts the decorators (app.requireAuthd, request.authd) on the instance
// that registers the plugin instead of an encapsulated child, and plugin-meta has Fastify refuse a
// major version the plugin was not written for.
export const authdVerifier: FastifyPluginAsync<AuthdVerifierOptions> = Object.assign(authdVerifierPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'authd-verifier',
  [Symbol.for('plugin-meta')]: { name: 'authd-verifier', fastify: '5.x' }
})
export default authdVerifier

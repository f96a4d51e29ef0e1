// A local stand-in for GitHub's OAuth app endpoints and the two REST API calls authd makes,
// answering as GitHub documents them:
// - GET  /login/oauth/authorize   → 302 to redirect_uri?code=…&state=… (the user has approved)
// - POST /login/oauth/access_token → 200 { access_token, token_type: "bearer", scope } with
//   Accept: application/json; a bad code is 200 { error: "bad_verification_code", … } (GitHub
//   answers OAuth errors with status 200)
// - GET  /user        → the authenticated user ({ login, id, … , email: public address or null})
// - GET  /user/emails → [{ email, primary, verified, visibility }]
// - a bad token → 401 { message: "Bad credentials", documentation_url, status: "401" }
// Codes are single-use, bound to the client, redirect_uri and PKCE challenge (S256).
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { freePort } from './processes.js'

export interface GitHubUser { id: number, login: string, emails: Array<{ email: string, primary: boolean, verified: boolean }> }

export interface GitHubStandIn {
  baseUrl: string
  /** The user who approves the next authorization. */
  signIn: (user: GitHubUser) => void
  /** What authd's provider entry needs to point here. */
  endpoints: { authorizationEndpoint: string, tokenEndpoint: string, apiBaseUrl: string }
  close: () => Promise<void>
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body))
}

async function readBody (req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

export async function startGitHubStandIn (client: { clientId: string, clientSecret: string }): Promise<GitHubStandIn> {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  let current: GitHubUser | null = null
  const codes = new Map<string, { user: GitHubUser, redirectUri: string, challenge: string }>()
  const tokens = new Map<string, GitHubUser>()

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', baseUrl)
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        const redirectUri = url.searchParams.get('redirect_uri') ?? ''
        if (url.searchParams.get('client_id') !== client.clientId || current === null || url.searchParams.get('code_challenge_method') !== 'S256') {
          res.writeHead(404).end('Not Found')
          return
        }
        const code = randomBytes(10).toString('hex')
        codes.set(code, { user: current, redirectUri, challenge: url.searchParams.get('code_challenge') ?? '' })
        const back = new URL(redirectUri)
        back.searchParams.set('code', code)
        back.searchParams.set('state', url.searchParams.get('state') ?? '')
        res.writeHead(302, { location: back.href }).end()
        return
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const form = await readBody(req)
        const auth = req.headers.authorization?.startsWith('Basic ') === true
          ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent)
          : [form.get('client_id'), form.get('client_secret')]
        if (auth[0] !== client.clientId || auth[1] !== client.clientSecret) {
          json(res, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials' })
          return
        }
        const code = form.get('code') ?? ''
        const grant = codes.get(code)
        codes.delete(code)
        const verifier = form.get('code_verifier') ?? ''
        const challenge = createHash('sha256').update(verifier).digest('base64url')
        if (grant === undefined || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge) {
          json(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code' })
          return
        }
        const token = `gho_${randomBytes(18).toString('hex')}`
        tokens.set(token, grant.user)
        json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' })
        return
      }
      const user = tokens.get((req.headers.authorization ?? '').replace(/^(Bearer|token) /, ''))
      if (req.method === 'GET' && (url.pathname === '/user' || url.pathname === '/user/emails')) {
        if (user === undefined) {
          json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' })
          return
        }
        if (url.pathname === '/user') {
          json(res, 200, {
            login: user.login,
            id: user.id,
            node_id: `MDQ6VXNlcj${user.id}`,
            avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
            type: 'User',
            site_admin: false,
            name: user.login,
            email: null,
            created_at: '2011-01-25T18:44:36Z',
            updated_at: '2026-11-01T12:00:00Z'
          })
          return
        }
        json(res, 200, user.emails.map((item) => ({ ...item, visibility: item.primary ? 'private' : null })))
        return
      }
      json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' })
    })()
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => { resolve() }))

  return {
    baseUrl,
    signIn (user) { current = user },
    endpoints: { authorizationEndpoint: `${baseUrl}/login/oauth/authorize`, tokenEndpoint: `${baseUrl}/login/oauth/access_token`, apiBaseUrl: baseUrl },
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

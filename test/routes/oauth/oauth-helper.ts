// Shared by the /oauth tests: form bodies, HTTP Basic for a client, and a client made through
// the client service (the admin API and the CLI have tests of their own).
import type { Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

export interface TestClient { clientId: string, secret: string }

/** RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic. */
export const basic = (clientId: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`

export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()

export async function newClient (app: FastifyInstance, input: { name?: string, scopes?: string[], audience?: string[] } = {}): Promise<TestClient> {
  const { client, secret } = await app.oauthClients.create({ name: input.name ?? 'test service', scopes: input.scopes ?? [], audience: input.audience ?? [] }, null)
  return { clientId: client.clientId, secret }
}

/** POST a form to an /oauth endpoint, the client authenticating with Basic (default) or in the body. */
export async function oauthPost (app: FastifyInstance, path: 'token' | 'introspect' | 'revoke', client: TestClient | null, fields: Record<string, string>, how: 'basic' | 'post' = 'basic'): Promise<LightMyRequestResponse> {
  const auth = client === null ? {} : how === 'basic' ? { authorization: basic(client.clientId, client.secret) } : {}
  const body = client !== null && how === 'post' ? { ...fields, client_id: client.clientId, client_secret: client.secret } : fields
  return await app.inject({ method: 'POST', url: `/oauth/${path}`, headers: { ...FORM, ...auth }, payload: form(body) })
}

/** An RFC 6749 §5.2 error reply: JSON `{ error, error_description }`, not cached, not problem JSON. */
export function assertOAuthError (t: Test, res: LightMyRequestResponse, status: number, error: string): void {
  t.equal(res.statusCode, status, `status ${status}: ${res.body}`)
  t.match(res.headers['content-type'], /^application\/json/, 'JSON, not problem JSON')
  t.equal(res.headers['cache-control'], 'no-store', 'not cached')
  t.match(res.json(), { error, error_description: String }, `error ${error}`)
  t.same(Object.keys(res.json()).sort(), ['error', 'error_description'], 'those two members only')
}

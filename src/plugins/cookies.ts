// Cookie parsing and Set-Cookie serialisation (@fastify/cookie) for the browser client. Cookies
// are not signed: the only secret one, the refresh token, is a signed JWT already.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import fastifyCookie from '@fastify/cookie'

async function cookiesPlugin (app: FastifyInstance): Promise<void> {
  await app.register(fastifyCookie)
}

export default fp(cookiesPlugin, { name: 'cookies' })

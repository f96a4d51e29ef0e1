// Plain HTTP servers on 127.0.0.1 for the browser tests (the built example, an attacker page).
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A server on a free port. */
export async function listen (handler: RequestListener): Promise<{ server: Server, port: number }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

/** Stops it at once, keep-alive connections included. */
export const close = async (server: Server) => await new Promise<void>((resolve) => {
  server.closeAllConnections()
  server.close(() => resolve())
})

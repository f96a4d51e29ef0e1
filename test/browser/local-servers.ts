// Plain HTTP servers on 127.0.0.1 for the browser tests (the built example, an attacker page).
import { readFile } from 'node:fs/promises'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

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

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json'
}

/** Serves a built SPA: files of `dir()`, index.html for every other path. */
export function staticSite (dir: () => string): RequestListener {
  return (req, res) => {
    void (async () => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
      const file = path.join(dir(), path.normalize(pathname).replace(/^(\.\.[/\\])+/, ''))
      let body: Buffer
      let type = CONTENT_TYPES[path.extname(file)]
      try {
        body = await readFile(file)
      } catch {
        body = await readFile(path.join(dir(), 'index.html'))
        type = CONTENT_TYPES['.html']
      }
      res.writeHead(200, { 'content-type': type ?? 'application/octet-stream', 'cache-control': 'no-store' })
      res.end(body)
    })().catch(() => { res.writeHead(500); res.end() })
  }
}

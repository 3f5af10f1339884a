/** A loopback HTTP server on an OS-chosen port that serves in-memory files, for browser tests. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StaticServer {
  readonly url: string
  close(): Promise<void>
}

const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' }

export const serveFiles = async (files: Record<string, string>): Promise<StaticServer> => {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const body = files[path === '/' ? '/index.html' : path]
    if (body === undefined) {
      res.writeHead(404).end()
      return
    }
    const ext = path.slice(path.lastIndexOf('.'))
    res.writeHead(200, { 'content-type': types[ext] ?? 'text/html', 'cache-control': 'no-store' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
}

/**
 * Maps a URL path onto a file under `root`, or `null` when the path is not acceptable: undecodable, containing a
 * NUL byte, or resolving outside `root` (`..`, encoded `%2e%2e`, backslashes). Directories map to `index.html`
 * later, in {@link serveStatic}.
 */
export const resolveStaticPath = (root: string, pathname: string): string | null => {
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  const base = resolve(root)
  const target = resolve(join(base, decoded))
  if (target !== base && !target.startsWith(base + sep)) return null
  return target
}

/**
 * Serves a GET or HEAD request from the files under `root`; responds 404 for anything missing or outside `root`
 * (symbolic links that leave `root` included) and 405 for other methods.
 */
export const serveStatic = async (
  root: string,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end()
    return
  }
  const notFound = (): void =>
    void res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  let file = resolveStaticPath(root, pathname)
  if (!file) return notFound()
  try {
    let info = await stat(file)
    if (info.isDirectory()) {
      file = join(file, 'index.html')
      info = await stat(file)
    }
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)])
    if (!info.isFile() || (realFile !== realRoot && !realFile.startsWith(realRoot + sep))) return notFound()
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    })
    if (req.method === 'HEAD') return void res.end()
    const stream = createReadStream(realFile)
    stream.on('error', () => res.destroy())
    stream.pipe(res)
  } catch {
    return notFound()
  }
}

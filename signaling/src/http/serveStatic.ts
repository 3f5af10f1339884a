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
 * The Content-Security-Policy of static pages (the demo): scripts only from this origin (no inline script, no
 * `eval`), connections to this origin, over HTTP or WebSocket (`ws:`/`wss:` to the same host are named
 * explicitly, for browsers whose `'self'` does not cover them), no plugins, no framing, no `<base>` rewriting.
 * Inline styles are allowed: editors (CodeMirror) and the whiteboard set them.
 */
const csp = (host: string | undefined): string => {
  const sameHostWs =
    host !== undefined && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)
  return [
    "default-src 'self'",
    "script-src 'self'",
    `connect-src 'self'${sameHostWs ? ` ws://${host} wss://${host}` : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/**
 * Headers of every static response, 404s included (HTTP-5): no MIME sniffing, the demo's CSP, no framing (also for
 * browsers without `frame-ancestors`), no referrer leaving the origin.
 */
export const staticSecurityHeaders = (host: string | undefined): Readonly<Record<string, string>> => ({
  'x-content-type-options': 'nosniff',
  'content-security-policy': csp(host),
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
})

/** A path segment that names a dotfile or dot-directory (`.git`, `.env`); `.well-known` (RFC 8615) is public. */
const isHidden = (segment: string, index: number): boolean =>
  segment.startsWith('.') && !(index === 0 && segment === '.well-known')

/** Whether `target` (inside `base`) goes through a dotfile or dot-directory. */
const hidden = (base: string, target: string): boolean =>
  target !== base &&
  target
    .slice(base.length + 1)
    .split(sep)
    .some(isHidden)

/**
 * Maps a URL path onto a file under `root`, or `null` when the path is not acceptable: undecodable, containing a
 * NUL byte, resolving outside `root` (`..`, encoded `%2e%2e`, backslashes), or naming a dotfile or dot-directory
 * anywhere on the way (`/.git/config`, `/.env`, `/assets/.DS_Store`; HTTP-4.1). Directories map to `index.html`
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
  if (hidden(base, target)) return null
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
  const security = staticSecurityHeaders(req.headers.host)
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...security, allow: 'GET, HEAD' }).end()
    return
  }
  const notFound = (): void =>
    void res.writeHead(404, { ...security, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  let file = resolveStaticPath(root, pathname)
  if (!file) return notFound()
  try {
    let info = await stat(file)
    if (info.isDirectory()) {
      file = join(file, 'index.html')
      info = await stat(file)
    }
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)])
    const inside = realFile === realRoot || realFile.startsWith(realRoot + sep)
    // The real path too: a link inside the directory must not lead into a dot-directory (`public -> .git`).
    if (!info.isFile() || !inside || hidden(realRoot, realFile)) return notFound()
    res.writeHead(200, {
      ...security,
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
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

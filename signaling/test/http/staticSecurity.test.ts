import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveStaticPath } from '../../src/http/serveStatic.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

let srv: TestServer
let base = ''

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'weft-static-sec-'))
  const root = join(base, 'site')
  await mkdir(join(root, '.git'), { recursive: true })
  await mkdir(join(root, 'assets', '.cache'), { recursive: true })
  await mkdir(join(root, '.well-known'), { recursive: true })
  await writeFile(join(root, 'index.html'), '<h1>demo</h1>')
  await writeFile(join(root, '.git', 'config'), '[remote "origin"] url = secret')
  await writeFile(join(root, '.env'), 'TOKEN=secret')
  await writeFile(join(root, 'assets', '.DS_Store'), 'secret')
  await writeFile(join(root, 'assets', '.cache', 'x.js'), 'secret')
  await writeFile(join(root, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com')
  await symlink(join(root, '.git'), join(root, 'public')) // a link inside the site into a dot-directory
  srv = await startTestServer({ staticDir: root, relay: false })
})
afterAll(async () => {
  await srv.close()
  await rm(base, { recursive: true, force: true })
})

/** A raw GET that does not normalise the path the way fetch() does. */
const rawGet = (path: string) =>
  new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })

describe('static files: what is never served, and the headers of what is', () => {
  it.each([
    '/.git/config',
    '/.git/',
    '/.env',
    '/%2eenv',
    '/%2Egit/config',
    '/assets/.DS_Store',
    '/assets/.cache/x.js',
    '/assets/../.env',
    '/public/config',
  ])('HTTP-4.1: the dotfile path %s is 404', async (path) => {
    const res = await rawGet(path)
    expect(res.status).toBe(404)
    expect(res.body).not.toContain('secret')
  })

  it('HTTP-4.1: /.well-known/ (RFC 8615) is served; resolveStaticPath refuses dot segments', async () => {
    const res = await rawGet('/.well-known/security.txt')
    expect(res.status).toBe(200)
    expect(res.body).toContain('Contact:')
    expect(resolveStaticPath('/srv/site', '/.git/config')).toBeNull()
    expect(resolveStaticPath('/srv/site', '/a/.well-known/x')).toBeNull()
    expect(resolveStaticPath('/srv/site', '/a/b.js')).toBe('/srv/site/a/b.js')
  })

  it.each(['/', '/index.html', '/missing.js', '/.env'])(
    'HTTP-5: %s carries nosniff, a CSP and X-Frame-Options',
    async (path) => {
      const res = await rawGet(path)
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBe('DENY')
      const policy = String(res.headers['content-security-policy'])
      const directives = new Map(
        policy.split(';').map((d) => {
          const [name, ...values] = d.trim().split(/\s+/)
          return [name, values] as const
        }),
      )
      expect(directives.get('script-src')).toEqual(["'self'"])
      expect(directives.get('object-src')).toEqual(["'none'"])
      expect(directives.get('frame-ancestors')).toEqual(["'none'"])
      expect(directives.get('base-uri')).toEqual(["'none'"])
      // The relay and signaling sockets of the page's own host, and nothing else.
      expect(directives.get('connect-src')).toEqual([
        "'self'",
        `ws://127.0.0.1:${srv.port}`,
        `wss://127.0.0.1:${srv.port}`,
      ])
    },
  )
})

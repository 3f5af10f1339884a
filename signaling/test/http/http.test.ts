import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { resolveStaticPath } from '../../src/http/serveStatic.js'
import { stockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { parsePrometheusText } from '../metrics/parsePrometheusText.js'

let srv: TestServer | null = null
let root = ''
let outside = ''

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'weft-static-'))
  root = join(base, 'site')
  outside = join(base, 'secret.txt')
  await mkdir(join(root, 'sub'), { recursive: true })
  await writeFile(join(root, 'index.html'), '<h1>demo</h1>')
  await writeFile(join(root, 'app.js'), 'console.log(1)')
  await writeFile(join(root, 'sub', 'index.html'), 'sub')
  await writeFile(outside, 'top secret')
  await symlink(outside, join(root, 'link.txt'))
})
afterAll(async () => {
  await rm(join(root, '..'), { recursive: true, force: true })
})
afterEach(async () => {
  await srv?.close()
  srv = null
})

/** A raw GET that does not normalise the path the way fetch() does. */
const rawGet = (port: number, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })

describe('HTTP routes', () => {
  it('HTTP-1: /healthz answers 200 JSON', async () => {
    srv = await startTestServer()
    const res = await fetch(`${srv.http}/healthz`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    expect(await res.json()).toMatchObject({ status: 'ok', relay: true, auth: 'open' })
  })

  it('HTTP-2: /metrics is Prometheus text with connection, document and persistence metrics', async () => {
    srv = await startTestServer()
    const c = stockClient(`${srv.ws}/relay`, 'm')
    await c.synced()
    const text = await (await fetch(`${srv.http}/metrics`)).text()
    c.destroy()
    expect(text).toMatch(/^# HELP weft_connections_total /m)
    expect(text).toMatch(/^weft_connections\{endpoint="relay"\} 1$/m)
    expect(text).toMatch(/^weft_relay_docs_loaded 1$/m)
    expect(text).toMatch(/^weft_persist_seconds_bucket\{le="\+Inf"\} \d+$/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m)
    expect(parsePrometheusText(text).get('weft_connections_total')?.type).toBe('counter')
  })

  it('HTTP-3: static files are served from the configured directory', async () => {
    srv = await startTestServer({ staticDir: root })
    const index = await fetch(`${srv.http}/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toMatch(/text\/html/)
    expect(await index.text()).toBe('<h1>demo</h1>')
    expect((await fetch(`${srv.http}/app.js`)).headers.get('content-type')).toMatch(/javascript/)
    expect(await (await fetch(`${srv.http}/sub/`)).text()).toBe('sub')
    expect((await fetch(`${srv.http}/missing.js`)).status).toBe(404)
  })

  it.each([
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/sub/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/link.txt',
    '/%00',
  ])('HTTP-4: %s never leaves the static directory', async (path) => {
    srv = await startTestServer({ staticDir: root })
    const res = await rawGet(srv.port, path)
    expect(res.status).toBe(404)
    expect(res.body).not.toContain('top secret')
  })

  it('HTTP-4: resolveStaticPath refuses traversal', () => {
    expect(resolveStaticPath('/srv/site', '/a/b.js')).toBe('/srv/site/a/b.js')
    expect(resolveStaticPath('/srv/site', '/../x')).toBeNull()
    expect(resolveStaticPath('/srv/site', '/%2e%2e/x')).toBeNull()
    expect(resolveStaticPath('/srv/site', '/%E0%A4%A')).toBeNull()
  })

  it('HTTP-1: without a static directory / is 404', async () => {
    srv = await startTestServer()
    expect((await fetch(`${srv.http}/`)).status).toBe(404)
  })
})

import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

let srv: TestServer | null = null

afterEach(async () => {
  await srv?.close()
  srv = null
})

/** A plain HTTP GET (no upgrade) with node:http: its status and `upgrade` header. */
const get = (port: number, path: string): Promise<{ status: number; upgrade: string | undefined }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, upgrade: res.headers.upgrade }))
    })
    req.on('error', reject)
    req.end()
  })

describe('workspace endpoint over plain HTTP', () => {
  it('WS-RELAY-10: GET /workspace/<W> without an upgrade is answered 426 Upgrade Required, as /relay/<room> is', async () => {
    srv = await startTestServer()
    for (const path of ['/workspace/team', '/workspace/team?token=x', '/workspace/', '/workspace']) {
      expect(await get(srv.port, path), path).toEqual({ status: 426, upgrade: 'websocket' })
    }
    expect(await get(srv.port, '/relay/team/notes')).toEqual({ status: 426, upgrade: 'websocket' })
    // Not under the endpoint: still 404.
    expect((await get(srv.port, '/workspaces/team')).status).toBe(404)
  })

  it("WS-RELAY-10: the answer follows workspacePath; with workspacePath false the path is not the relay's (404)", async () => {
    srv = await startTestServer({ workspacePath: '/ws' })
    expect((await get(srv.port, '/ws/team')).status).toBe(426)
    expect((await get(srv.port, '/workspace/team')).status).toBe(404)
    await srv.close()
    srv = await startTestServer({ workspacePath: false })
    expect((await get(srv.port, '/workspace/team')).status).toBe(404)
  })
})

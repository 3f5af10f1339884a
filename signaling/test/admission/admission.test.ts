import { connect } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import { CloseCode } from '@weft/core'
import { RawWsClient } from '../helpers/RawWsClient.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import type { WeftServerOptions } from '../../src/index.js'

// Issue 17 item 5: unauthenticated clients must not keep the server full; per-address caps.

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const OPCODE_CLOSE = 0x8
/** Far longer than any test: a refused socket that waited for it would time the test out. */
const LONG_GRACE_MS = 120_000

const token = (rooms: Record<string, string>) =>
  new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(SECRET))

let srv: TestServer | null = null
const raws: RawWsClient[] = []
const clients: TestClient[] = []
const stock: StockClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  for (const r of raws.splice(0)) r.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const start = async (options: WeftServerOptions = {}) => {
  srv = await startTestServer(options)
  return srv
}

/** A raw upgrade of `path` with extra header lines; the client never answers anything. */
const rawUpgrade = async (path: string, headers: readonly string[] = []) => {
  const raw = await RawWsClient.connect(srv?.port ?? 0, RawWsClient.request(path, headers))
  raws.push(raw)
  return raw
}

const closeCodeOf = (frame: { payload: Buffer } | null): number | null =>
  frame && frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null

const healthz = async () =>
  (await (await fetch(`${srv?.http}/healthz`)).json()) as { connections: { signal: number; relay: number } }

describe('admission (CONN-5, CONN-10)', () => {
  it('CONN-5: 200 token-less upgrades do not lock out a valid client under maxConnections 200', async () => {
    await start({
      auth: { secret: SECRET },
      limits: { maxConnections: 200, closeGraceMs: LONG_GRACE_MS },
    })
    const refused = await Promise.all(Array.from({ length: 200 }, () => rawUpgrade('/relay/doc')))
    for (const raw of refused) {
      expect((await raw.response()).status).toBe(101)
      expect(closeCodeOf(await raw.frameOf(OPCODE_CLOSE))).toBe(CloseCode.Unauthorized)
    }
    // None of them holds a slot, although none answered the close.
    const valid = stockClient(`${srv?.ws}/relay`, 'doc', { params: { token: await token({ doc: 'write' }) } })
    stock.push(valid)
    await valid.synced()
    expect((await healthz()).connections).toEqual({ signal: 0, relay: 1 })
    // And they are cut without the close grace.
    await Promise.all(refused.map((raw) => raw.ended))
  })

  it('CONN-5: ServerFull sockets are not counted and are cut at once', async () => {
    await start({ limits: { maxConnections: 1, closeGraceMs: LONG_GRACE_MS } })
    const first = await TestClient.open(`${srv?.ws}/signal`)
    clients.push(first)
    const full = await rawUpgrade('/signal')
    expect((await full.response()).status).toBe(101)
    expect(closeCodeOf(await full.frameOf(OPCODE_CLOSE))).toBe(CloseCode.ServerFull)
    // Cut although it never answered the close, and it never held a slot.
    await full.ended
    expect((await healthz()).connections).toEqual({ signal: 1, relay: 0 })
    first.sendJson({ type: 'ping' })
    expect(await first.nextJson()).toEqual({ type: 'pong' })
  })

  it('CONN-10: past its upgrade burst an address gets 429; other addresses behind the proxy are served', async () => {
    await start({
      relay: false,
      trustedProxies: ['127.0.0.1'],
      limits: { upgradeBurstPerIp: 5, upgradesPerIpPerSecond: 0.001 },
    })
    const attacker = ['X-Forwarded-For: 203.0.113.9']
    for (let i = 0; i < 5; i++) {
      const raw = await rawUpgrade('/signal', attacker)
      expect((await raw.response()).status).toBe(101)
    }
    const limited = await rawUpgrade('/signal', attacker)
    const response = await limited.response()
    expect(response.status).toBe(429)
    expect(response.headers['retry-after']).toBe('1')
    const other = await rawUpgrade('/signal', ['X-Forwarded-For: 198.51.100.7'])
    expect((await other.response()).status).toBe(101)
  })

  it('CONN-10.1, CONN-10.2: loopback clients are not limited; behind a loopback proxy each client is', async () => {
    await start({ relay: false, limits: { upgradeBurstPerIp: 2, upgradesPerIpPerSecond: 0.001 } })
    for (let i = 0; i < 4; i++) expect((await (await rawUpgrade('/signal')).response()).status).toBe(101)
    const proxied = ['X-Forwarded-For: 198.51.100.7']
    for (let i = 0; i < 2; i++)
      expect((await (await rawUpgrade('/signal', proxied)).response()).status).toBe(101)
    expect((await (await rawUpgrade('/signal', proxied)).response()).status).toBe(429)
  })

  it('CONN-10: an address holds at most maxConnectionsPerIp connections', async () => {
    await start({ relay: false, trustedProxies: ['127.0.0.0/8'], limits: { maxConnectionsPerIp: 2 } })
    const a = ['X-Forwarded-For: 203.0.113.9']
    for (let i = 0; i < 2; i++) {
      const raw = await rawUpgrade('/signal', a)
      expect((await raw.response()).status).toBe(101)
    }
    expect((await (await rawUpgrade('/signal', a)).response()).status).toBe(429)
    expect((await (await rawUpgrade('/signal', ['X-Forwarded-For: 203.0.113.10'])).response()).status).toBe(
      101,
    )
    expect((await healthz()).connections.signal).toBe(3)
  })

  it('CONN-12: a socket that never finishes its request headers is cut after headersTimeoutMs', async () => {
    await start({ limits: { headersTimeoutMs: 300 } })
    const socket = connect(srv?.port ?? 0, '127.0.0.1')
    await once(socket, 'connect')
    // Slowloris: a request line and one header, then nothing more.
    socket.write('GET /relay/doc HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    const started = performance.now()
    socket.resume()
    await once(socket, 'close')
    // Cut by the server (Node's default would wait 60 s, checked every 30 s); the test only awaits the close.
    expect(performance.now() - started).toBeLessThan(30_000)
  })
})

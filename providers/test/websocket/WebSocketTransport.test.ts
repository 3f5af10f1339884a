import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { CloseCode, type WeftError } from '@weft/core'
import { openDoc, type WeftDocConnectionError } from '../../src/index.js'
import {
  WebSocketTransport,
  type ConnectionError,
  type TokenRequest,
  type WebSocketConstructor,
} from '../../src/websocket/index.js'

const WS: WebSocketConstructor = WebSocket

/** A loopback ws server on port 0 that records connections and lets the test act as the relay. */
const startServer = async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const { port } = wss.address() as AddressInfo
  const connections: Array<{ url: string; socket: WebSocket }> = []
  const waiters: Array<() => void> = []
  wss.on('connection', (socket, req) => {
    connections.push({ url: req.url ?? '', socket })
    waiters.splice(0).forEach((w) => w())
  })
  const nthConnection = async (n: number) => {
    while (connections.length < n) await new Promise<void>((r) => waiters.push(r))
    return connections[n - 1]!
  }
  return {
    url: `ws://127.0.0.1:${port}/relay`,
    nthConnection,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => r())
      }),
  }
}

const event = <T>(
  t: WebSocketTransport,
  name: 'peer-joined' | 'peer-left' | 'message' | 'status',
  match: (p: T) => boolean = () => true,
) =>
  new Promise<T>((resolve) => {
    const h = (p: T) => {
      if (!match(p)) return
      t.off(name, h as never)
      resolve(p)
    }
    t.on(name, h as never)
  })

const HOUR = 3_600_000

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

describe('WebSocketTransport', () => {
  it('PROV-2.1 connects to <url>/<room> with the token, and carries bytes both ways', async () => {
    const server = await startServer()
    const t = new WebSocketTransport({
      url: server.url,
      room: 'my room',
      token: 'abc',
      WebSocketPolyfill: WS,
    })
    cleanups.push(() => t.destroy(), server.close)
    const joined = event(t, 'peer-joined')
    t.connect()
    await joined
    const conn = await server.nthConnection(1)
    expect(conn.url).toBe('/relay/my%20room?token=abc')
    const got = new Promise<Buffer>((r) => conn.socket.once('message', (d) => r(d as Buffer)))
    t.send(Uint8Array.of(1, 2, 3))
    expect([...(await got)]).toEqual([1, 2, 3])
    const msg = event<{ data: Uint8Array }>(t, 'message')
    conn.socket.send(Uint8Array.of(9, 8))
    expect([...(await msg).data]).toEqual([9, 8])
    expect(t.status).toBe('connected')
    expect(t.peers.size).toBe(1)
  })

  it('PROV-2.2 reconnects after a transient close, with backoff, and fetches a fresh token each time', async () => {
    const server = await startServer()
    let n = 0
    const t = new WebSocketTransport({
      url: server.url,
      room: 'r',
      token: () => `t${++n}`,
      WebSocketPolyfill: WS,
      minReconnectMs: 1,
      random: () => 0.5,
    })
    cleanups.push(() => t.destroy(), server.close)
    t.connect()
    await server.nthConnection(1)
    const left = event<{ reason: string }>(t, 'peer-left')
    ;(await server.nthConnection(1)).socket.close(CloseCode.ServerShutdown, 'bye')
    expect((await left).reason).toContain('ServerShutdown')
    const second = await server.nthConnection(2)
    expect(second.url).toBe('/relay/r?token=t2')
    if (t.status !== 'connected') await event(t, 'peer-joined')
    expect(t.status).toBe('connected')
  })

  it('PROV-2.3 a final close (Unauthorized) stops reconnecting when the token cannot be refreshed', async () => {
    const server = await startServer()
    const t = new WebSocketTransport({
      url: server.url,
      room: 'r',
      token: 'bad',
      WebSocketPolyfill: WS,
      minReconnectMs: 1,
    })
    cleanups.push(() => t.destroy(), server.close)
    t.connect()
    const conn = await server.nthConnection(1)
    const down = event<{ status: string }>(t, 'status', ({ status }) => status === 'disconnected')
    conn.socket.close(CloseCode.Unauthorized, 'no')
    await down
    expect(t.lastClose?.name).toBe('Unauthorized')
    // Nothing scheduled: the transport stays down. A new connect() is the app's decision.
    expect(t.status).toBe('disconnected')
    t.connect()
    await server.nthConnection(2)
  })

  it('PROV-2.4 an expired token is refreshed once, immediately', async () => {
    const server = await startServer()
    let n = 0
    const t = new WebSocketTransport({
      url: server.url,
      room: 'r',
      token: () => `t${++n}`,
      WebSocketPolyfill: WS,
    })
    cleanups.push(() => t.destroy(), server.close)
    t.connect()
    ;(await server.nthConnection(1)).socket.close(CloseCode.TokenExpired, 'expired')
    expect((await server.nthConnection(2)).url).toBe('/relay/r?token=t2')
  })

  it('PROV-2.5 disconnect() closes and stays closed; send while down is a no-op', async () => {
    const server = await startServer()
    const t = new WebSocketTransport({ url: server.url, room: 'r', WebSocketPolyfill: WS, minReconnectMs: 1 })
    cleanups.push(() => t.destroy(), server.close)
    const joined = event(t, 'peer-joined')
    t.connect()
    await joined
    const conn = await server.nthConnection(1)
    const closed = new Promise((r) => conn.socket.once('close', r))
    t.disconnect()
    await closed
    expect(t.status).toBe('disconnected')
    expect(() => t.send(Uint8Array.of(1))).not.toThrow()
    expect(server.connections.length).toBe(1)
  })

  /** A transport whose first connection the server closes (retryable), leaving a backoff wait of an hour pending. */
  const inLongBackoff = async (extra: { onlineEvents?: EventTarget | null } = {}) => {
    const server = await startServer()
    const t = new WebSocketTransport({
      url: server.url,
      room: 'r',
      WebSocketPolyfill: WS,
      minReconnectMs: HOUR,
      maxReconnectMs: HOUR,
      random: () => 0.99, // the wait is 0.99 h: without the fix these tests time out
      ...extra,
    })
    cleanups.push(() => t.destroy(), server.close)
    const joined = event(t, 'peer-joined')
    t.connect()
    await joined
    const left = event(t, 'peer-left')
    ;(await server.nthConnection(1)).socket.close(CloseCode.ServerShutdown, 'restart')
    await left
    expect(t.status).toBe('connecting') // waiting out the backoff
    return { server, t }
  }

  it('PROV-2.6 WeftDoc.connect() during a long backoff wait reconnects at once', async () => {
    const { server, t } = await inLongBackoff({ onlineEvents: null })
    const handle = await openDoc({ docId: 'r', relay: t, connect: false })
    cleanups.unshift(() => handle.destroy())
    const joined = event(t, 'peer-joined')
    handle.connect()
    await server.nthConnection(2) // without the fix: only after 0.99 h (the test times out)
    await joined
    expect(t.status).toBe('connected')
  })

  it('PROV-2.6 connect() during a backoff wait retries once and resets the backoff', async () => {
    const { server, t } = await inLongBackoff({ onlineEvents: null })
    t.connect()
    t.connect() // a second call while the attempt is under way opens nothing more
    await server.nthConnection(2)
    if (t.status !== 'connected') await event(t, 'peer-joined')
    expect(server.connections.length).toBe(2)
  })

  it("PROV-2.7 the browser's online event retries at once; none is listened to after disconnect()", async () => {
    const network = new EventTarget()
    const { server, t } = await inLongBackoff({ onlineEvents: network })
    network.dispatchEvent(new Event('online'))
    await server.nthConnection(2)
    if (t.status !== 'connected') await event(t, 'peer-joined')
    t.disconnect()
    network.dispatchEvent(new Event('online'))
    expect(t.status).toBe('disconnected')
    expect(server.connections.length).toBe(2)
  })

  it('PROV-2.7 by default the online event is taken from globalThis (the window)', async () => {
    const network = new EventTarget()
    vi.stubGlobal('addEventListener', network.addEventListener.bind(network))
    vi.stubGlobal('removeEventListener', network.removeEventListener.bind(network))
    const { server } = await inLongBackoff()
    cleanups.push(() => void vi.unstubAllGlobals()) // after the transport's destroy (which removes its listener)
    network.dispatchEvent(new Event('online'))
    await server.nthConnection(2)
  })

  it('PROV-2.8 a refused or expired token: connection-error with the close code and reason; the token function is told, and retried once', async () => {
    const server = await startServer()
    const requests: Array<TokenRequest['refused']> = []
    const t = new WebSocketTransport({
      url: server.url,
      room: 'r',
      token: ({ refused }) => {
        requests.push(refused)
        return `t${requests.length}`
      },
      WebSocketPolyfill: WS,
    })
    cleanups.push(() => t.destroy(), server.close)
    const errors: ConnectionError[] = []
    t.on('connection-error', (e) => errors.push(e))
    t.connect()
    ;(await server.nthConnection(1)).socket.close(CloseCode.TokenExpired, 'token expired')
    const second = await server.nthConnection(2)
    expect(second.url).toBe('/relay/r?token=t2')
    expect(errors).toEqual([{ code: 4401, reason: 'expired', name: 'TokenExpired', willRetry: true }])
    // The fresh token is refused too: reported, and the transport stays down (no loop of refused tokens).
    const down = event<{ status: string }>(t, 'status', ({ status }) => status === 'disconnected')
    second.socket.close(CloseCode.Forbidden, 'not this room')
    await down
    expect(errors[1]).toEqual({ code: 4005, reason: 'forbidden', name: 'Forbidden', willRetry: false })
    expect(requests).toEqual([null, 'expired'])
    // The app reconnects (e.g. after a new sign-in): the token function learns the last token was refused.
    t.connect()
    expect((await server.nthConnection(3)).url).toBe('/relay/r?token=t3')
    expect(requests).toEqual([null, 'expired', 'forbidden'])
  })

  it('PROV-2.8 a transient close is no connection-error', async () => {
    const { t } = await inLongBackoff({ onlineEvents: null })
    const errors: ConnectionError[] = []
    t.on('connection-error', (e) => errors.push(e))
    expect(t.lastClose?.name).toBe('ServerShutdown')
    expect(errors).toEqual([])
  })

  it('PROV-5.13 WeftDoc reports a refused token as connection-error (code, reason) and as an auth-denied error', async () => {
    const server = await startServer()
    const relay = new WebSocketTransport({ url: server.url, room: 'r', token: 'bad', WebSocketPolyfill: WS })
    const handle = await openDoc({ docId: 'r', relay })
    cleanups.push(() => handle.destroy(), server.close)
    const refused = new Promise<WeftDocConnectionError>((r) => handle.once('connection-error', r))
    const failed = new Promise<WeftError>((r) => handle.once('error', ({ error }) => r(error)))
    ;(await server.nthConnection(1)).socket.close(CloseCode.Unauthorized, 'bad token')
    const e = await refused
    expect(e).toMatchObject({ code: 4004, reason: 'unauthorized', kind: 'relay', willRetry: false })
    expect(e.transport).toBe(relay)
    const error = await failed
    expect(error.code).toBe('auth-denied')
    expect(error.message).toMatch(/unauthorized.*4004/)
    expect(handle.status).toBe('offline')
  })
})

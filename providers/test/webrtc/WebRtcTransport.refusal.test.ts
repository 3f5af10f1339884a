import { createHmac } from 'node:crypto'
import type { WeftError } from '@weft/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { openDoc, type WeftDocConnectionError } from '../../src/index.js'
import {
  WebRtcTransport,
  type SignalingConnectionError,
  type WebRtcTransportOptions,
} from '../../src/webrtc/index.js'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { startTestSignalingServer } from './support/testSignalingServer.js'

// Signaling refusals (final close codes) against a real `weft serve --auth-secret` (the CLI, which runs
// createWeftServer on port 0: providers never import signaling), and the backoff cut short by connect() and the
// online event. No WebRTC connection is made: only the signaling connections are under test.

const SECRET = 'a test secret that is at least 32 bytes long'

/** An HS256 JWT as `weft serve --auth-secret` verifies it. */
const jwt = (claims: Record<string, unknown>): string => {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}
const now = () => Math.floor(Date.now() / 1000)

class NoRtc {
  constructor() {
    throw new Error('no WebRTC in this test')
  }
}
const wrtc = { RTCPeerConnection: NoRtc as unknown as typeof RTCPeerConnection }

/** `ws`'s WebSocket, counting the sockets dialled. */
const countingWebSocket = () => {
  const dials: string[] = []
  class Counting extends WebSocket {
    constructor(url: string) {
      super(url)
      dials.push(url)
    }
  }
  return { dials, WebSocketPolyfill: Counting }
}

const HOUR = 3_600_000
/** Reconnects after 1 ms: without the fix a refused connection is dialled again at once. */
const fast = { minBackoff: 1, maxBackoff: 1 }

const transports: WebRtcTransport[] = []
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const t of transports.splice(0)) t.destroy()
  for (const c of cleanups.splice(0).reverse()) await c()
})
const make = (
  options: Partial<WebRtcTransportOptions> & Pick<WebRtcTransportOptions, 'room' | 'signaling'>,
) => {
  const t = new WebRtcTransport({ wrtc, WebSocketPolyfill: WebSocket, onlineEvents: null, ...options })
  transports.push(t)
  return t
}
const once = <T>(t: WebRtcTransport, name: 'connection-error'): Promise<T> =>
  new Promise((resolve) => t.once(name, (e) => resolve(e as T)))
const status = (t: WebRtcTransport, wanted: string): Promise<void> =>
  new Promise((resolve) => {
    if (t.status === wanted) return resolve()
    const on = ({ status }: { status: string }) => {
      if (status !== wanted) return
      t.off('status', on)
      resolve()
    }
    t.on('status', on)
  })

describe(
  'WebRtcTransport: a signaling server that refuses (real weft serve with auth)',
  { timeout: 30_000 },
  () => {
    let server: WeftServer
    beforeAll(async () => {
      server = await startWeftServer({ authSecret: SECRET, relay: false })
    })
    afterAll(async () => {
      await server?.stop()
    })
    const signalUrl = (token: string) => `ws://127.0.0.1:${server.port}/signal?token=${token}`

    it('PROV-4.1 PROV-4.2 a read-only token (closed 4006 ReadOnly) is reported once and not retried; connect() tries again', async () => {
      const { dials, WebSocketPolyfill } = countingWebSocket()
      const url = signalUrl(jwt({ rooms: { ro: 'read' }, exp: now() + 600 }))
      const t = make({ room: 'ro', signaling: [url], WebSocketPolyfill, signalingTiming: fast })
      const errors: SignalingConnectionError[] = []
      t.on('connection-error', (e) => errors.push(e))
      const refused = once<SignalingConnectionError>(t, 'connection-error')
      await t.connect()
      // Without the fix: no connection-error, the socket is dialled again every millisecond (the test times out).
      expect(await refused).toEqual({
        code: 4006,
        reason: 'refused',
        name: 'ReadOnly',
        willRetry: false,
        url,
      })
      await status(t, 'disconnected') // every signaling server refused: nothing is scheduled
      expect(dials).toEqual([url])
      expect(t.signalingConnected).toEqual([])

      // The app decides to try again: the refused server is dialled once more (and refuses again).
      const again = once<SignalingConnectionError>(t, 'connection-error')
      await t.connect()
      expect(t.status).toBe('connecting')
      expect((await again).code).toBe(4006)
      await status(t, 'disconnected')
      expect(dials).toEqual([url, url])
      expect(errors).toHaveLength(2)
    })

    it('PROV-4.1 PROV-5.13 an expired token (4401) is reported by the transport and by the WeftDoc handle (auth-denied)', async () => {
      const { dials, WebSocketPolyfill } = countingWebSocket()
      const url = signalUrl(jwt({ rooms: { ex: 'write' }, exp: now() - 60 }))
      const webrtc = make({ room: 'ex', signaling: [url], WebSocketPolyfill, signalingTiming: fast })
      const handle = await openDoc({ docId: 'ex', transports: [webrtc], connect: false })
      cleanups.push(() => handle.destroy())
      const refused = new Promise<WeftDocConnectionError>((r) => handle.once('connection-error', r))
      const failed = new Promise<WeftError>((r) => handle.once('error', ({ error }) => r(error)))
      handle.connect()
      expect(await refused).toMatchObject({
        code: 4401,
        reason: 'expired',
        name: 'TokenExpired',
        willRetry: false,
        url,
        kind: 'webrtc',
      })
      const error = await failed
      expect(error.code).toBe('auth-denied')
      await status(webrtc, 'disconnected')
      expect(handle.status).toBe('offline')
      expect(dials).toEqual([url])
    })

    it('PROV-4.2 a refused server does not stop the others: the transport stays connected through a server that accepts', async () => {
      const write = signalUrl(jwt({ rooms: { mix: 'write' }, exp: now() + 600 }))
      const other = signalUrl(jwt({ rooms: { mix: 'read' }, exp: now() + 600 })) // the same server, read-only
      const t = make({ room: 'mix', signaling: [write, other], signalingTiming: fast })
      const refused = once<SignalingConnectionError>(t, 'connection-error')
      await t.connect()
      expect((await refused).url).toBe(other)
      await status(t, 'connected')
      expect(t.signalingConnected).toEqual([write])
    })
  },
)

describe('WebRtcTransport: the signaling backoff cut short', () => {
  const inLongBackoff = async (onlineEvents: EventTarget | null) => {
    const server = await startTestSignalingServer()
    cleanups.push(() => server.close())
    const t = make({
      room: 'back',
      signaling: [server.url],
      onlineEvents,
      signalingTiming: { minBackoff: HOUR, maxBackoff: HOUR },
    })
    await t.connect()
    await server.subscribers('back', 1)
    const lost = new Promise<void>((resolve) => t.once('error', () => resolve()))
    server.dropClients()
    await lost
    expect(t.status).toBe('connecting') // waiting out at least half an hour
    return { server, t }
  }

  it('PROV-4.3 connect() while a signaling connection waits out its backoff dials it at once', async () => {
    const { server, t } = await inLongBackoff(null)
    await t.connect() // without the fix: nothing for half an hour (the test times out)
    await server.subscribers('back', 1)
    await status(t, 'connected')
  })

  it("PROV-4.4 the browser's online event dials at once; none is listened to after disconnect()", async () => {
    const network = new EventTarget()
    const { server, t } = await inLongBackoff(network)
    network.dispatchEvent(new Event('online'))
    await server.subscribers('back', 1)
    await status(t, 'connected')
    t.disconnect()
    await server.until(() => server.subscriberCount('back') === 0)
    network.dispatchEvent(new Event('online'))
    expect(t.status).toBe('disconnected')
    expect(t.signalingConnected).toEqual([])
  })
})

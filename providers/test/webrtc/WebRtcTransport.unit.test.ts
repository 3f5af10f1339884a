import type { TransportStatus } from '@weft/core'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebRtcTransport, type WebRtcTransportOptions } from '../../src/webrtc/index.js'
import { startTestSignalingServer, type TestSignalingServer } from './support/testSignalingServer.js'

// In-process checks without any WebRTC connection: options, status and signaling behaviour. (Peers are tested
// across processes in the other files.)
class NoRtc {
  constructor() {
    throw new Error('no WebRTC in this test')
  }
}
const wrtc = { RTCPeerConnection: NoRtc as unknown as typeof RTCPeerConnection }
const base = { room: 'unit', signaling: ['ws://127.0.0.1:1'], wrtc, WebSocketPolyfill: WebSocket }

const servers: TestSignalingServer[] = []
const transports: WebRtcTransport[] = []
afterEach(async () => {
  for (const t of transports.splice(0)) t.destroy()
  for (const s of servers.splice(0)) await s.close()
})
const make = (options: Partial<WebRtcTransportOptions>): WebRtcTransport => {
  const t = new WebRtcTransport({ ...base, ...options })
  transports.push(t)
  return t
}

describe('WebRtcTransport options', () => {
  it('is a webrtc transport with a 16 KiB message size, so the session chunks for Weft peers', () => {
    const t = make({})
    expect(t.kind).toBe('webrtc')
    expect(t.maxMessageSize).toBe(16 * 1024)
    expect(t.status).toBe('disconnected')
    expect(t.peers.size).toBe(0)
  })

  it('refuses options that cannot work, with invalid-argument', () => {
    const bad: Array<Partial<WebRtcTransportOptions>> = [
      { room: '' },
      { signaling: [] },
      { signaling: ['http://example.com'] },
      { signaling: ['not a url'] },
      { maxConns: 0 },
      { wrtc: undefined },
      { WebSocketPolyfill: undefined },
    ]
    for (const options of bad) {
      expect(() => new WebRtcTransport({ ...base, ...options })).toThrow(
        expect.objectContaining({ code: 'invalid-argument' }),
      )
    }
  })
})

describe('WebRtcTransport signaling', () => {
  it('goes connecting → connected once a signaling server is reached, announces, and disconnects cleanly', async () => {
    const server = await startTestSignalingServer()
    servers.push(server)
    const t = make({ room: 'unit-1', signaling: [server.url], peerId: 'me' })
    const statuses: TransportStatus[] = []
    t.on('status', ({ status }) => statuses.push(status))
    const connected = new Promise<void>((resolve) =>
      t.on('status', ({ status }) => (status === 'connected' ? resolve() : undefined)),
    )
    await t.connect()
    await connected
    await server.until(() => server.published.some((m) => m['topic'] === 'unit-1'))
    expect(server.published.find((m) => m['topic'] === 'unit-1')?.['data']).toEqual({
      type: 'announce',
      from: 'me',
    })
    expect(t.signalingConnected).toEqual([server.url])
    t.disconnect()
    await server.until(() => server.subscriberCount('unit-1') === 0)
    expect(statuses).toEqual(['connecting', 'connected', 'disconnected'])
  })

  it('an unreachable server is an error event, never a throw, and status stays connecting', async () => {
    const dead = await startTestSignalingServer()
    await dead.close()
    const t = make({ signaling: [dead.url] })
    const failed = new Promise<string>((resolve) => t.on('error', ({ error }) => resolve(error.code)))
    await t.connect()
    expect(await failed).toBe('transport-failed')
    expect(t.status).toBe('connecting')
  })

  it('malformed or foreign room messages are ignored; a peer that cannot be created is an error event', async () => {
    const server = await startTestSignalingServer()
    servers.push(server)
    const t = make({ room: 'unit-2', signaling: [server.url] })
    const errors: string[] = []
    t.on('error', ({ error }) => errors.push(error.message))
    await t.connect()
    await server.subscribers('unit-2', 1)
    const raw = new WebSocket(server.url)
    await new Promise((resolve) => raw.once('open', resolve))
    for (const data of [
      null,
      'x',
      { type: 'signal', from: 'p', to: 'someone-else', signal: {} },
      { from: 5 },
    ]) {
      raw.send(JSON.stringify({ type: 'publish', topic: 'unit-2', data }))
    }
    raw.send('not json')
    // Last, a real announce: the transport tries to connect to it (and fails here, with no WebRTC). Messages arrive
    // in order, so once that error is out, every message before it was handled.
    const attempted = new Promise<void>((resolve) => t.on('error', () => resolve()))
    raw.send(JSON.stringify({ type: 'publish', topic: 'unit-2', data: { type: 'announce', from: 'p' } }))
    await attempted
    raw.close()
    expect(errors).toEqual(['cannot create an RTCPeerConnection'])
    expect(t.peers.size).toBe(0)
  })
})

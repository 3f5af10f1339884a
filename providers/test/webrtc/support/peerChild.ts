/**
 * A WebRTC peer in its own process (native WebRTC allows one peer stack per process in tests, and never inside
 * worker threads). Started by PeerProcess: `node --conditions=source --import tsx peerChild.ts <weft|stock>`.
 * - `weft`: hosts a WebRtcTransport; the test drives it through RemoteTransport (a SyncSession may run in the test).
 * - `stock`: hosts a stock y-webrtc 10.3 WebrtcProvider with its own Y.Doc (text type `t`).
 */
import wrtc from '@roamhq/wrtc'
import { WebSocket } from 'ws'
import type { WebrtcProvider } from 'y-webrtc'
import * as Y from 'yjs'
import { WebRtcTransport } from '../../../src/webrtc/index.js'
import type { ChildMessage, ChildPeerOptions, Request } from './ipc.js'

const mode = process.argv[2]
const post = (m: ChildMessage): void => {
  process.send?.(m)
}
process.on('uncaughtException', (err) => post({ kind: 'fault', error: String(err?.stack ?? err) }))
process.on('unhandledRejection', (err) => post({ kind: 'fault', error: String(err) }))
process.on('disconnect', () => process.exit(0))

let gen = 0
let transport: WebRtcTransport | null = null
let provider: WebrtcProvider | null = null
let doc: Y.Doc | null = null

const event = (name: string, payload: Record<string, unknown>, g: number): void =>
  post({ kind: 'event', gen: g, event: name, payload })

const createWeft = (options: ChildPeerOptions): unknown => {
  transport?.destroy()
  const g = ++gen
  const t = new WebRtcTransport({
    ...options,
    iceServers: [],
    wrtc,
    WebSocketPolyfill: WebSocket,
    signalingTiming: { minBackoff: 20, maxBackoff: 200 },
    peerTimeout: 5000,
    connectTimeout: 5000,
  })
  transport = t
  t.on('status', (e) => event('status', e, g))
  t.on('peer-joined', (e) => event('peer-joined', e, g))
  t.on('peer-left', (e) => event('peer-left', e, g))
  t.on('message', (e) => event('message', e, g))
  t.on('error', (e) => event('error', { code: e.error.code, message: e.error.message }, g))
  return { localPeer: t.localPeer, gen: g }
}

const createStock = async (options: ChildPeerOptions): Promise<unknown> => {
  const { WebrtcProvider } = await import('y-webrtc')
  ;(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket
  const g = ++gen
  doc = new Y.Doc()
  const p = new WebrtcProvider(options.room, doc, {
    signaling: [...options.signaling],
    ...(options.password === undefined ? {} : { password: options.password }),
    filterBcConns: false,
    peerOpts: { wrtc, config: { iceServers: [] } },
  })
  provider = p
  p.on('peers', (e: { webrtcPeers: string[] }) => event('peers', { webrtcPeers: e.webrtcPeers }, g))
  p.on('synced', (e: { synced: boolean }) => event('synced', e, g))
  return { gen: g }
}

const text = (): Y.Text => {
  if (!doc) throw new Error('no doc')
  return doc.getText('t')
}

const run = async (r: Request): Promise<unknown> => {
  switch (r.cmd) {
    case 'create':
      return mode === 'stock' ? await createStock(r.options) : createWeft(r.options)
    case 'connect':
      if (transport) await transport.connect()
      else provider?.connect()
      return null
    case 'disconnect':
      if (transport) transport.disconnect(r.peer as Parameters<WebRtcTransport['disconnect']>[0])
      else provider?.disconnect()
      return null
    case 'send':
      transport?.send(r.data, r.to as Parameters<WebRtcTransport['send']>[1])
      return null
    case 'destroy':
      transport?.destroy()
      transport = null
      provider?.disconnect()
      provider?.destroy()
      provider = null
      return null
    case 'insert':
      text().insert(text().length, r.text)
      return null
    case 'text':
      return text().toString()
    case 'wait-text': {
      const t = text()
      if (t.toString() === r.text) return null
      await new Promise<void>((resolve) => {
        const check = () => {
          if (t.toString() !== r.text) return
          t.unobserve(check)
          resolve()
        }
        t.observe(check)
      })
      return null
    }
  }
}

process.on('message', (message) => {
  const r = message as Request
  run(r).then(
    (value) => post({ kind: 'reply', id: r.id, ok: true, value }),
    (err: unknown) => post({ kind: 'reply', id: r.id, ok: false, error: String(err) }),
  )
})
post({ kind: 'ready' })

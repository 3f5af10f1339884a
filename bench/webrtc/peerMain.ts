/**
 * One peer of the WebRTC latency benchmark, in its own process (native WebRTC allows one peer stack per process):
 * `node --conditions=source --import tsx bench/webrtc/peerMain.ts <weft|y-webrtc>`, driven over IPC (protocol.ts).
 * - `weft`: `openDoc()` with a {@link WebRtcTransport} as its only transport (a SyncSession bound to it, no store).
 * - `y-webrtc`: a stock y-webrtc 10.3 `WebrtcProvider` with its default options.
 * Both use @roamhq/wrtc, `iceServers: []` and the same signaling server. Times are `process.hrtime.bigint()`, the
 * system-wide monotonic clock (CLOCK_MONOTONIC on Linux), so readings from two processes on one machine compare.
 */
import wrtc from '@roamhq/wrtc'
import { WebSocket } from 'ws'
import type { WebrtcProvider } from 'y-webrtc'
import * as Y from 'yjs'
import { openDoc, type WeftDoc } from '@weft/providers'
import { WebRtcTransport } from '@weft/providers/webrtc'
import type { PeerCommand, PeerMessage, PeerSystem } from './protocol.js'

const system = process.argv[2] as PeerSystem
const post = (m: PeerMessage): void => {
  process.send?.(m)
}
process.on('uncaughtException', (err) => post({ kind: 'fault', error: String(err?.stack ?? err) }))
process.on('unhandledRejection', (err) => post({ kind: 'fault', error: String(err) }))
process.on('disconnect', () => process.exit(0))

/**
 * Where the time goes: the last moment a message was handed to a data channel (`send`) and the last moment one
 * arrived from native code (before the implementation's `nextTick` dispatch to `onmessage`). Both systems send and
 * receive through the same @roamhq/wrtc RTCDataChannel, so the same hooks time both alike.
 */
let lastSend = 0n
let lastArrival = 0n
const channel = wrtc.RTCDataChannel.prototype as unknown as {
  send(data: unknown): void
  dispatchEvent(event: { type: string }): void
}
const send = channel.send
channel.send = function (this: unknown, data: unknown) {
  lastSend = process.hrtime.bigint()
  send.call(this, data)
}
const dispatch = channel.dispatchEvent
channel.dispatchEvent = function (this: unknown, event: { type: string }) {
  if (event.type === 'message') lastArrival = process.hrtime.bigint()
  dispatch.call(this, event)
}

/** Origin of this side's own edits, so the observer reports only remote ones. */
const LOCAL = Symbol('bench-local')
const doc = new Y.Doc()
const text = doc.getText('t')
/** The provider or document handle, kept for the process's life. */
const live: Array<WeftDoc | WebrtcProvider> = []

text.observe((_event, transaction) => {
  if (transaction.origin === LOCAL) return
  const at = process.hrtime.bigint()
  post({ kind: 'seen', at: at.toString(), arrived: lastArrival.toString(), length: text.length })
})

/** Resolves once this peer has a synced connection to another peer. */
const join = async (room: string, signaling: string): Promise<void> => {
  if (system === 'weft') {
    const transport = new WebRtcTransport({
      room,
      signaling: [signaling],
      wrtc,
      WebSocketPolyfill: WebSocket,
      iceServers: [],
    })
    const handle = await openDoc({ docId: room, doc, transports: [transport] })
    live.push(handle)
    if (handle.session.paths.some((p) => handle.session.pathInfo(p.transport, p.peer)?.synced)) return
    await new Promise((resolve) => handle.session.once('peer-synced', resolve))
    return
  }
  const { WebrtcProvider } = await import('y-webrtc')
  ;(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket
  const provider = new WebrtcProvider(room, doc, {
    signaling: [signaling],
    peerOpts: { wrtc, config: { iceServers: [] } },
  })
  live.push(provider)
  await new Promise<void>((resolve) => {
    const check = ({ synced }: { synced: boolean }) => {
      if (!synced || provider.room === null || provider.room.webrtcConns.size === 0) return
      provider.off('synced', check)
      resolve()
    }
    provider.on('synced', check)
  })
}

const run = async (c: PeerCommand): Promise<unknown> => {
  switch (c.cmd) {
    case 'join':
      await join(c.room, c.signaling)
      return null
    case 'edit': {
      const at = process.hrtime.bigint()
      doc.transact(() => text.insert(text.length, c.text), LOCAL)
      return { at: at.toString(), sent: lastSend.toString(), length: text.length }
    }
  }
}

process.on('message', (raw) => {
  const { id, ...command } = raw as PeerCommand & { id: number }
  run(command as PeerCommand).then(
    (value) => post({ kind: 'reply', id, value }),
    (err: unknown) => post({ kind: 'failed', id, error: String(err) }),
  )
})
post({ kind: 'ready' })

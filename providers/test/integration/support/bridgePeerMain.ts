/**
 * A peer of the bridge test in its own process: `openDoc()` with a WebRtcTransport (when `signaling` is given)
 * and/or a WebSocketTransport to the relay (when `relayUrl` is given), presence `{ name }`. Started by BridgePeer:
 * `node --conditions=source --import tsx bridgePeerMain.ts`, driven over IPC (bridgeIpc.ts). Every wait is on an
 * event (text observer, awareness change, session event), never a sleep.
 */
import wrtc from '@roamhq/wrtc'
import { WebSocket } from 'ws'
import { openDoc, WebSocketTransport, type WeftDoc } from '../../../src/index.js'
import { WebRtcTransport } from '../../../src/webrtc/index.js'
import type { BridgeCommand, BridgeMessage, BridgePeerOptions } from './bridgeIpc.js'

const post = (m: BridgeMessage): void => {
  process.send?.(m)
}
process.on('uncaughtException', (err) => post({ kind: 'fault', error: String(err?.stack ?? err) }))
process.on('unhandledRejection', (err) => post({ kind: 'fault', error: String(err) }))
process.on('disconnect', () => process.exit(0))

let handle: WeftDoc | null = null
const doc = (): WeftDoc => {
  if (!handle) throw new Error('not open')
  return handle
}

/** Names in the presence states this peer sees, its own excluded, sorted. */
const othersPresent = (h: WeftDoc): string[] => {
  const names: string[] = []
  for (const [client, state] of h.awareness.getStates()) {
    const name = (state['user'] as { name?: unknown } | undefined)?.name
    if (client !== h.awareness.clientID && typeof name === 'string') names.push(name)
  }
  return names.sort()
}

/** Resolves once `check` holds, re-checked on every `subscribe` notification. */
const until = (check: () => boolean, subscribe: (notify: () => void) => () => void): Promise<void> =>
  new Promise((resolve) => {
    if (check()) return resolve()
    const off = subscribe(() => {
      if (!check()) return
      off()
      resolve()
    })
  })

const open = async (o: BridgePeerOptions): Promise<void> => {
  const transports = o.signaling
    ? [
        new WebRtcTransport({
          room: o.room,
          signaling: [o.signaling],
          wrtc,
          WebSocketPolyfill: WebSocket,
          iceServers: [],
          ...(o.peerTimeout === undefined ? {} : { peerTimeout: o.peerTimeout }),
        }),
      ]
    : []
  const relay = o.relayUrl
    ? new WebSocketTransport({
        url: o.relayUrl,
        room: o.room,
        WebSocketPolyfill: WebSocket,
        minReconnectMs: 20,
      })
    : undefined
  handle = await openDoc({ docId: o.room, transports, ...(relay ? { relay } : {}) })
  handle.awareness.setLocalStateField('user', { name: o.name })
  handle.on('error', ({ error }) =>
    post({ kind: 'event', event: 'error', detail: `${error.code}: ${error.message}` }),
  )
}

const run = async (c: BridgeCommand): Promise<unknown> => {
  switch (c.cmd) {
    case 'open':
      await open(c.options)
      return null
    case 'insert': {
      const t = doc().doc.getText('t')
      t.insert(t.length, c.text)
      return null
    }
    case 'wait-text': {
      const t = doc().doc.getText('t')
      await until(
        () => t.toString().includes(c.includes),
        (notify) => {
          t.observe(notify)
          return () => t.unobserve(notify)
        },
      )
      return t.toString()
    }
    case 'wait-presence': {
      const h = doc()
      const { present, absent } = c
      await until(
        () => {
          const names = othersPresent(h)
          return present.every((n) => names.includes(n)) && absent.every((n) => !names.includes(n))
        },
        (notify) => {
          h.awareness.on('change', notify)
          return () => h.awareness.off('change', notify)
        },
      )
      return othersPresent(h)
    }
    case 'wait-paths': {
      const h = doc()
      await until(
        () => h.paths.filter((p) => p.synced).length >= c.count,
        (notify) => {
          h.session.on('peer-synced', notify)
          return () => h.session.off('peer-synced', notify)
        },
      )
      return h.paths.map((p) => p.kind).sort()
    }
    case 'destroy':
      await handle?.destroy()
      handle = null
      return null
  }
}

process.on('message', (raw) => {
  const { id, ...command } = raw as BridgeCommand & { id: number }
  run(command as BridgeCommand).then(
    (value) => post({ kind: 'reply', id, ok: true, value }),
    (err: unknown) => post({ kind: 'reply', id, ok: false, error: String(err) }),
  )
})
post({ kind: 'ready' })

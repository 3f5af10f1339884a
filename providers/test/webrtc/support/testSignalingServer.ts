import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

/** A test-only y-webrtc signaling server (subscribe, unsubscribe, publish, ping) on 127.0.0.1, port 0. */
export interface TestSignalingServer {
  readonly url: string
  /** Every `publish` body received, in order (to check what crosses the server). */
  readonly published: Array<Record<string, unknown>>
  /** Current subscribers of `topic`. */
  subscriberCount(topic: string): number
  /** Cuts every client connection (clients reconnect) without stopping the server. */
  dropClients(): void
  /** Resolves once `topic` has `n` subscribers. */
  subscribers(topic: string, n: number): Promise<void>
  /** Resolves once `check` holds (checked after every message the server handles). */
  until(check: () => boolean): Promise<void>
  /** While held, publishes are recorded but delivered only at {@link release} (to make peers cross). */
  hold(): void
  release(): void
  close(): Promise<void>
}

/** Starts a {@link TestSignalingServer}. */
export const startTestSignalingServer = async (): Promise<TestSignalingServer> => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  const topics = new Map<string, Set<WebSocket>>()
  const published: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  const changed = () => {
    for (const w of [...waiters]) w()
  }
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      const w = () => {
        if (!check()) return
        waiters.delete(w)
        resolve()
      }
      waiters.add(w)
      w()
    })
  let held: Array<() => void> | null = null
  wss.on('connection', (socket) => {
    const mine = new Set<string>()
    socket.on('message', (raw) => {
      let m: Record<string, unknown>
      try {
        m = JSON.parse(String(raw)) as Record<string, unknown>
      } catch {
        return
      }
      const names = Array.isArray(m['topics'])
        ? (m['topics'] as unknown[]).filter((t) => typeof t === 'string')
        : []
      if (m['type'] === 'subscribe') {
        for (const t of names) {
          mine.add(t)
          const set = topics.get(t) ?? new Set()
          topics.set(t, set.add(socket))
        }
      } else if (m['type'] === 'unsubscribe') {
        for (const t of names) {
          mine.delete(t)
          topics.get(t)?.delete(socket)
        }
      } else if (m['type'] === 'publish' && typeof m['topic'] === 'string') {
        published.push(m)
        const receivers = topics.get(m['topic']) ?? new Set()
        const out = JSON.stringify({ ...m, clients: receivers.size })
        const deliver = () => {
          for (const r of receivers) r.send(out)
        }
        if (held) held.push(deliver)
        else deliver()
      } else if (m['type'] === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }))
      }
      changed()
    })
    socket.on('close', () => {
      for (const t of mine) topics.get(t)?.delete(socket)
      changed()
    })
  })
  const { port } = wss.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}`,
    published,
    subscriberCount: (topic) => topics.get(topic)?.size ?? 0,
    dropClients: () => {
      for (const c of wss.clients) c.terminate()
    },
    subscribers: (topic, n) => until(() => (topics.get(topic)?.size ?? 0) >= n),
    until,
    hold: () => {
      held ??= []
    },
    release: () => {
      const queued = held ?? []
      held = null
      for (const deliver of queued) deliver()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => resolve())
      }),
  }
}

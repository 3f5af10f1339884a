import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeWorkspaceFrame, type WorkspaceFrame } from '@weft/core/protocol'

/** One client connection to the {@link startFakeWorkspaceRelay}: its URL, the frames it sent, and its socket. */
export interface FakeConnection {
  readonly url: string
  readonly socket: WebSocket
  readonly frames: WorkspaceFrame[]
  /** Resolves with the first frame not yet taken that matches (now or when it arrives), and takes it. */
  next<K extends WorkspaceFrame['kind']>(
    kind: K,
    match?: (f: Extract<WorkspaceFrame, { kind: K }>) => boolean,
  ): Promise<Extract<WorkspaceFrame, { kind: K }>>
  send(bytes: Uint8Array): void
  closed: Promise<{ code: number }>
}

/**
 * A loopback `ws` server on port 0 that plays the relay's workspace endpoint in tests: it decodes every frame a
 * client sends (the table in docs/spec/workspaces.md, WS-WIRE-1) and lets the test answer.
 */
export const startFakeWorkspaceRelay = async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const { port } = wss.address() as AddressInfo
  const connections: FakeConnection[] = []
  const waiters: Array<() => void> = []
  wss.on('connection', (socket, req) => {
    const frames: WorkspaceFrame[] = []
    const seen: Array<() => void> = []
    const taken = new Set<number>()
    socket.on('message', (data) => {
      const r = decodeWorkspaceFrame(new Uint8Array(data as Buffer))
      if (!r.ok) throw new Error(`client sent a malformed frame: ${r.reason}`)
      // The DOC message is a view into a buffer ws may reuse: keep a copy.
      frames.push(r.frame.kind === 'doc' ? { ...r.frame, message: r.frame.message.slice() } : r.frame)
      seen.splice(0).forEach((w) => w())
    })
    const conn: FakeConnection = {
      url: req.url ?? '',
      socket,
      frames,
      async next(kind, match = () => true) {
        for (;;) {
          const i = frames.findIndex((f, j) => !taken.has(j) && f.kind === kind && match(f as never))
          if (i >= 0) {
            taken.add(i)
            return frames[i] as never
          }
          await new Promise<void>((r) => seen.push(r))
        }
      },
      send: (bytes) => socket.send(bytes),
      closed: new Promise((r) => socket.once('close', (code) => r({ code }))),
    }
    connections.push(conn)
    waiters.splice(0).forEach((w) => w())
  })
  return {
    url: `ws://127.0.0.1:${port}`,
    connections,
    async nthConnection(n: number): Promise<FakeConnection> {
      while (connections.length < n) await new Promise<void>((r) => waiters.push(r))
      return connections[n - 1]!
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => r())
      }),
  }
}

/** Waits for the first event `name` of an emitter whose payload matches. */
export const once = <T>(
  emitter: { on(name: never, h: never): void; off(name: never, h: never): void },
  name: string,
  match: (p: T) => boolean = () => true,
): Promise<T> =>
  new Promise<T>((resolve) => {
    const h = (p: T) => {
      if (!match(p)) return
      emitter.off(name as never, h as never)
      resolve(p)
    }
    emitter.on(name as never, h as never)
  })

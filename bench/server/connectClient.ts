/**
 * One benchmark client: a stock y-websocket 3.1 `WebsocketProvider` (Weft at `ws://host:port/relay` + room, and
 * @y/websocket-server at `ws://host:port` + room) or a `HocuspocusProvider` (Hocuspocus), each on its own
 * WebSocket from `ws`, counting the bytes the server sends it.
 */
import { WebSocket, type RawData } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { loadHocuspocusProvider } from './hocuspocus.js'
import type { ServerKind } from './ServerProcess.js'

/** Where the clients connect. */
export interface Target {
  readonly kind: ServerKind
  readonly port: number
}

/** A connected (or connecting) client. */
export interface BenchClient {
  readonly doc: Y.Doc
  /** Resolves at the provider's first synced event (its sync step 2 from the server was applied). */
  readonly synced: Promise<void>
  /** Payload bytes received from the server so far. */
  bytesReceived(): number
  /** Close codes of the connection closes the client did not ask for (server closes, errors). */
  unexpectedCloses(): readonly number[]
  destroy(): void
}

const sizeOf = (data: RawData): number =>
  Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength

/** A `ws` WebSocket class that adds the size of every message it receives to `counter.bytes`. */
const countingWebSocket = (counter: { bytes: number }) =>
  class CountingWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols)
      this.on('message', (data: RawData) => {
        counter.bytes += sizeOf(data)
      })
    }
  }

let hocuspocus: Awaited<ReturnType<typeof loadHocuspocusProvider>> | null = null

/** Unexpected closes of `clients` by close code, e.g. `{ "4010": 16 }`. */
export const tallyCloses = (clients: ReadonlyArray<BenchClient | undefined>): Record<string, number> => {
  const tally: Record<string, number> = {}
  for (const client of clients) {
    for (const code of client?.unexpectedCloses() ?? []) tally[code] = (tally[code] ?? 0) + 1
  }
  return tally
}

/** Loads the client libraries a target needs (call once before {@link connectClient}). */
export const prepareClients = async (target: Target): Promise<void> => {
  if (target.kind === 'hocuspocus' && !hocuspocus) hocuspocus = await loadHocuspocusProvider()
}

/** Connects a client to `room` of `target`. */
export const connectClient = (target: Target, room: string, doc: Y.Doc = new Y.Doc()): BenchClient => {
  const counter = { bytes: 0 }
  const closes: number[] = []
  let destroyed = false
  const WS = countingWebSocket(counter)
  let resolveSynced!: () => void
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve))
  let destroy: () => void
  if (target.kind === 'hocuspocus') {
    if (!hocuspocus) throw new Error('call prepareClients() first')
    const provider = new hocuspocus.HocuspocusProvider({
      url: `ws://127.0.0.1:${target.port}`,
      name: room,
      document: doc,
      WebSocketPolyfill: WS,
    })
    provider.on('synced', ({ state }) => {
      if (state) resolveSynced()
    })
    provider.on('close', ({ event }) => {
      if (!destroyed) closes.push(event.code)
    })
    destroy = () => provider.destroy()
  } else {
    const base =
      target.kind === 'weft' ? `ws://127.0.0.1:${target.port}/relay` : `ws://127.0.0.1:${target.port}`
    const provider = new WebsocketProvider(base, room, doc, {
      WebSocketPolyfill: WS as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    })
    provider.on('sync', (state: boolean) => {
      if (state) resolveSynced()
    })
    provider.on('connection-close', (event: CloseEvent | null) => {
      if (!destroyed) closes.push(event?.code ?? 0)
    })
    destroy = () => provider.destroy()
  }
  return {
    doc,
    synced,
    bytesReceived: () => counter.bytes,
    unexpectedCloses: () => closes,
    destroy: () => {
      if (destroyed) return
      destroyed = true
      destroy()
      doc.destroy()
    },
  }
}

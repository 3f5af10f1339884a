import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

/** A stock y-websocket 3.1 client on its own Y.Doc. */
export interface StockClient {
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  /** Resolves once the provider reports `synced`. */
  synced(): Promise<void>
  destroy(): void
}

/** Connects a stock WebsocketProvider to `<serverUrl>/<room>` (serverUrl like `ws://host:port/relay`). */
export const stockClient = (
  serverUrl: string,
  room: string,
  options: { params?: Record<string, string>; doc?: Y.Doc } = {},
): StockClient => {
  const doc = options.doc ?? new Y.Doc()
  const provider = new WebsocketProvider(serverUrl, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    params: options.params ?? {},
    maxBackoffTime: 100,
  })
  return {
    doc,
    provider,
    synced: () =>
      provider.synced
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const on = (isSynced: boolean) => {
              if (!isSynced) return
              provider.off('sync', on)
              resolve()
            }
            provider.on('sync', on)
          }),
    destroy: () => {
      provider.destroy()
      doc.destroy()
    },
  }
}

/** Resolves once `doc`'s text `name` equals `expected`. */
export const textEquals = (doc: Y.Doc, expected: string, name = 't'): Promise<void> => {
  const text = doc.getText(name)
  if (text.toString() === expected) return Promise.resolve()
  return new Promise((resolve) => {
    const check = () => {
      if (text.toString() !== expected) return
      text.unobserve(check)
      resolve()
    }
    text.observe(check)
  })
}

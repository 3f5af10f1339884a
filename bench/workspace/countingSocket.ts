/**
 * Bytes at the socket: a `ws` WebSocket that counts the payload bytes of every message it sends and receives
 * (WebSocket framing, 2-14 bytes a message, is not counted, alike for every client). Given to each client as its
 * `WebSocketPolyfill`, so Weft, y-websocket and Hocuspocus are counted the same way.
 */
import { WebSocket } from 'ws'

/** Bytes and messages counted since the last {@link resetCounts}. */
export const counts = { sent: 0, received: 0, messagesSent: 0, messagesReceived: 0 }

/** Zeroes {@link counts}. */
export const resetCounts = (): void => {
  counts.sent = 0
  counts.received = 0
  counts.messagesSent = 0
  counts.messagesReceived = 0
}

const byteLength = (data: unknown): number => {
  if (typeof data === 'string') return Buffer.byteLength(data)
  if (data instanceof ArrayBuffer) return data.byteLength
  if (ArrayBuffer.isView(data)) return data.byteLength
  if (Array.isArray(data)) return data.reduce((n: number, d: unknown) => n + byteLength(d), 0)
  return 0
}

/** A `ws` WebSocket counting into {@link counts}. */
export class CountingWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    this.on('message', (data: unknown) => {
      counts.received += byteLength(data)
      counts.messagesReceived++
    })
  }

  override send(data: unknown, ...rest: unknown[]): void {
    counts.sent += byteLength(data)
    counts.messagesSent++
    ;(WebSocket.prototype.send as (this: WebSocket, ...a: unknown[]) => void).call(this, data, ...rest)
  }
}

/**
 * Bytes at the socket: a `ws` WebSocket that counts the payload bytes of every message it sends and receives
 * (WebSocket framing, 2-14 bytes a message, is not counted, alike for every client). Given to each client as its
 * `WebSocketPolyfill`, so Weft, y-websocket and Hocuspocus are counted the same way.
 */
import { WebSocket } from 'ws'
import { performance } from 'node:perf_hooks'
import * as decoding from 'lib0/decoding'

/** Bytes and messages counted since the last {@link resetCounts}. */
export const counts = { sent: 0, received: 0, messagesSent: 0, messagesReceived: 0 }

/**
 * Bytes by Weft workspace frame (docs/spec/workspaces.md wire): `DOC <docId>` for a document's frames, else the
 * frame kind (`SUBSCRIBE`, `CHANGES`...), both directions; frames of other protocols count under `other`.
 */
export const byFrame = new Map<string, number>()

const KINDS = ['DOC', 'SUBSCRIBE', 'UNSUBSCRIBE', 'CATCH_UP', 'CHANGES', 'CHANGED', 'REFUSED']

/** One frame at the socket, for a timeline (bench/workspace.bench.ts breaks a reconnect round down with it). */
export interface TracedFrame {
  /** `performance.now()` when it was sent or received. */
  readonly t: number
  readonly dir: 'sent' | 'received'
  /** As in {@link byFrame}: `DOC <docId>` or the frame kind. */
  readonly key: string
  /** A DOC frame's message type (`0.1`: sync step 2...), a SUBSCRIBE's or UNSUBSCRIBE's document. */
  readonly detail: string
  readonly size: number
}

/** Every frame since the last {@link resetCounts}, with its time, while `trace.on` (off by default). */
export const frameTrace: TracedFrame[] = []
export const trace = { on: false }

const tally = (data: unknown, size: number, dir: 'sent' | 'received'): void => {
  let key = 'other'
  let detail = ''
  if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) {
    try {
      const bytes =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      const dec = decoding.createDecoder(bytes)
      const kind = decoding.readVarUint(dec)
      key = kind === 0 ? `DOC ${decoding.readVarString(dec)}` : (KINDS[kind] ?? 'other')
      if (trace.on) {
        if (kind === 0) {
          // The per-document message's type and sub-type (docs/spec/sync-protocol.md): `0.0` step 1, `0.1` step 2,
          // `0.2` update, `1` awareness, `87.0` ack...
          const type = decoding.readVarUint(dec)
          detail = type === 0 || type === 87 ? `${type}.${decoding.readVarUint(dec)}` : String(type)
        } else if (kind === 1 || kind === 2) detail = decoding.readVarString(dec)
      }
    } catch {
      key = 'other'
    }
  }
  byFrame.set(key, (byFrame.get(key) ?? 0) + size)
  if (trace.on) frameTrace.push({ t: performance.now(), dir, key, detail, size })
}

/** The `n` largest entries of {@link byFrame}, as text. */
export const topFrames = (n = 6): string =>
  [...byFrame.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k}: ${v} B`)
    .join(', ')

/** Zeroes {@link counts}. */
export const resetCounts = (): void => {
  counts.sent = 0
  counts.received = 0
  counts.messagesSent = 0
  counts.messagesReceived = 0
  byFrame.clear()
  frameTrace.length = 0
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
      const size = byteLength(data)
      counts.received += size
      counts.messagesReceived++
      tally(data, size, 'received')
    })
  }

  override send(data: unknown, ...rest: unknown[]): void {
    const size = byteLength(data)
    counts.sent += size
    counts.messagesSent++
    tally(data, size, 'sent')
    ;(WebSocket.prototype.send as (this: WebSocket, ...a: unknown[]) => void).call(this, data, ...rest)
  }
}

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

const spanOf = (xs: readonly number[]): string => {
  if (xs.length === 0) return '-'
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
  return `${at(0).toFixed(0)}/${at(0.5).toFixed(0)}/${at(1).toFixed(0)}`
}

/**
 * A reconnect round's {@link frameTrace} summed up (times in ms after `t0`, min/median/max over the documents):
 * when the socket's first frame went out and CHANGES came, then per changed document (not the catalogue) how long
 * its SUBSCRIBE waited after CHANGES (the client loading it, or a free slot), the relay's answer (SUBSCRIBE to the
 * step 2, a round trip plus the relay's work) and the client's end (the step 2 to UNSUBSCRIBE: applied, stored,
 * unloaded), and the last UNSUBSCRIBE.
 */
export const roundTimeline = (t0: number): string => {
  const first = frameTrace[0]?.t
  const changes = frameTrace.find((f) => f.key === 'CHANGES')?.t
  const docs = new Map<string, { sub?: number; step2?: number; unsub?: number }>()
  for (const f of frameTrace) {
    if (f.key === 'SUBSCRIBE' && f.detail !== '.catalogue')
      docs.set(f.detail, { ...docs.get(f.detail), sub: f.t })
    else if (f.key === 'UNSUBSCRIBE') docs.set(f.detail, { ...docs.get(f.detail), unsub: f.t })
    else if (f.key.startsWith('DOC ') && f.dir === 'received' && f.detail === '0.1') {
      const d = f.key.slice(4)
      const entry = docs.get(d)
      if (entry && entry.step2 === undefined) entry.step2 = f.t
    }
  }
  const waits: number[] = []
  const relay: number[] = []
  const client: number[] = []
  let last = 0
  for (const { sub, step2, unsub } of docs.values()) {
    if (sub !== undefined && changes !== undefined) waits.push(sub - changes)
    if (sub !== undefined && step2 !== undefined) relay.push(step2 - sub)
    if (step2 !== undefined && unsub !== undefined) client.push(unsub - step2)
    if (unsub !== undefined) last = Math.max(last, unsub - t0)
  }
  const at = (t: number | undefined): string => (t === undefined ? '-' : (t - t0).toFixed(0))
  return (
    `first frame ${at(first)} ms, CHANGES ${at(changes)} ms; ${docs.size} documents: SUBSCRIBE after CHANGES ` +
    `${spanOf(waits)} ms, relay's answer ${spanOf(relay)} ms, applied+stored+unloaded ${spanOf(client)} ms; ` +
    `last UNSUBSCRIBE ${last.toFixed(0)} ms`
  )
}

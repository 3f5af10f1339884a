import { CloseCode } from '@weft/core'
import type { SharedMessage } from '../relay/SharedMessage.js'

/** What a {@link FairSender} writes to: the workspace's WebSocket. */
export interface FairSenderSocket {
  readonly open: boolean
  /** Bytes written to the socket that the peer has not taken yet. */
  readonly bufferedAmount: number
  send(message: Uint8Array | SharedMessage): boolean
  close(code: number, reason: string): void
}

/** Options of {@link FairSender}. */
export interface FairSenderOptions {
  /**
   * Calls `fn` once the socket's buffer drained (or soon, if it holds nothing the socket waits to write). Called only
   * while `bufferedAmount` is at least `lowWaterBytes`.
   */
  readonly whenDrained: (fn: () => void) => void
  /** The slow-consumer allowance, as for a room's socket: `ServerLimits.maxBufferedBytes`. */
  readonly maxBufferedBytes: number
  /** Writes wait while the socket buffers this much (default 64 KiB; at least Node's write high-water mark). */
  readonly lowWaterBytes?: number | undefined
}

interface Queue {
  readonly items: Array<Uint8Array | SharedMessage>
  /** Resolvers of {@link FairSender.whenSent} for this key. */
  waiting: Array<() => void> | null
}

/** Default {@link FairSenderOptions.lowWaterBytes}. */
export const FAIR_SENDER_LOW_WATER = 64 * 1024

/**
 * The outgoing side of a workspace socket (WS-RELAY-5): one queue per document (and one for the workspace's own
 * frames, key `''`), drained round-robin, one message per turn, while the socket buffers less than a low-water mark.
 * A large document's catch-up (chunked by the per-document protocol) therefore delays another document's small update
 * by at most one chunk plus the low-water mark, not by the whole catch-up.
 *
 * Bytes held (queued here plus buffered by the socket) follow the rule of a room's socket (CONN-4): a message pushed
 * while more than `maxBufferedBytes`, or twice the largest message queued since everything was last sent, is held
 * closes the socket with `SlowConsumer`.
 */
export class FairSender {
  readonly #socket: FairSenderSocket
  readonly #opts: FairSenderOptions
  readonly #lowWater: number
  readonly #queues = new Map<string, Queue>()
  /** Keys with queued messages, in turn order. */
  readonly #ring: string[] = []
  #queuedBytes = 0
  #largest = 0
  #waitingForDrain = false

  constructor(socket: FairSenderSocket, opts: FairSenderOptions) {
    this.#socket = socket
    this.#opts = opts
    this.#lowWater = opts.lowWaterBytes ?? FAIR_SENDER_LOW_WATER
  }

  /** Bytes queued here (not yet written to the socket). */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /**
   * Queues `message` under `key` and writes what may be written now. Returns false when nothing was queued: the
   * socket is closing, or it was closed with `SlowConsumer` now.
   */
  push(key: string, message: Uint8Array | SharedMessage): boolean {
    const socket = this.#socket
    if (!socket.open) return false
    const held = this.#queuedBytes + socket.bufferedAmount
    if (held === 0) this.#largest = 0
    else if (held > Math.max(this.#opts.maxBufferedBytes, 2 * this.#largest)) {
      socket.close(CloseCode.SlowConsumer, 'send buffer full')
      return false
    }
    const size = message.byteLength
    if (size > this.#largest) this.#largest = size
    let queue = this.#queues.get(key)
    if (!queue) {
      queue = { items: [], waiting: null }
      this.#queues.set(key, queue)
    }
    if (queue.items.length === 0) this.#ring.push(key)
    queue.items.push(message)
    this.#queuedBytes += size
    this.#pump()
    return true
  }

  /** Forgets what is queued under `key` (a document left). */
  drop(key: string): void {
    const queue = this.#queues.get(key)
    if (!queue) return
    this.#queues.delete(key)
    for (const item of queue.items) this.#queuedBytes -= item.byteLength
    if (queue.items.length > 0) this.#ring.splice(this.#ring.indexOf(key), 1)
    for (const resolve of queue.waiting ?? []) resolve()
  }

  /** Resolves once nothing is queued under `key` (written to the socket, dropped, or the socket closed). */
  whenSent(key: string): Promise<void> {
    const queue = this.#queues.get(key)
    if (!queue || queue.items.length === 0 || !this.#socket.open) return Promise.resolve()
    return new Promise((resolve) => (queue.waiting ??= []).push(resolve))
  }

  /** Writes queued messages, one per key in turn, until the socket buffers the low-water mark. */
  #pump(): void {
    const socket = this.#socket
    while (this.#ring.length > 0) {
      if (!socket.open) return this.clear()
      if (socket.bufferedAmount >= this.#lowWater) {
        if (this.#waitingForDrain) return
        this.#waitingForDrain = true
        return this.#opts.whenDrained(() => {
          this.#waitingForDrain = false
          this.#pump()
        })
      }
      const key = this.#ring.shift() as string
      const queue = this.#queues.get(key) as Queue
      const message = queue.items.shift() as Uint8Array | SharedMessage
      this.#queuedBytes -= message.byteLength
      if (queue.items.length > 0) this.#ring.push(key)
      else {
        this.#queues.delete(key)
        for (const resolve of queue.waiting ?? []) resolve()
      }
      socket.send(message)
    }
  }

  /** Drops everything queued (the socket closed). */
  clear(): void {
    for (const key of [...this.#queues.keys()]) this.drop(key)
  }
}

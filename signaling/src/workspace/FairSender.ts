import { CloseCode } from '@weft/core'
import { RoundRobinSender } from '@weft/core/sync-engine'
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

/** Default {@link FairSenderOptions.lowWaterBytes}. */
export const FAIR_SENDER_LOW_WATER = 64 * 1024

/**
 * The outgoing side of a workspace socket (WS-RELAY-5): the shared round-robin sender of `@weft/core/sync-engine`
 * (one queue per document, and one for the workspace's own frames, key `''`), plus the relay's slow-consumer rule.
 *
 * Bytes held (queued here plus buffered by the socket) follow the rule of a room's socket (CONN-4): a message pushed
 * while more than `maxBufferedBytes`, or twice the largest message queued since everything was last sent, is held
 * closes the socket with `SlowConsumer`.
 */
export class FairSender {
  readonly #socket: FairSenderSocket
  readonly #maxBufferedBytes: number
  readonly #sender: RoundRobinSender<Uint8Array | SharedMessage>
  #largest = 0

  constructor(socket: FairSenderSocket, opts: FairSenderOptions) {
    this.#socket = socket
    this.#maxBufferedBytes = opts.maxBufferedBytes
    this.#sender = new RoundRobinSender(
      {
        get open() {
          return socket.open
        },
        get bufferedAmount() {
          return socket.bufferedAmount
        },
        send: (m) => void socket.send(m),
      },
      { lowWaterBytes: opts.lowWaterBytes ?? FAIR_SENDER_LOW_WATER, whenDrained: opts.whenDrained },
    )
  }

  /** Bytes queued here (not yet written to the socket). */
  get queuedBytes(): number {
    return this.#sender.queuedBytes
  }

  /**
   * Queues `message` under `key` and writes what may be written now. Returns false when nothing was queued: the
   * socket is closing, or it was closed with `SlowConsumer` now.
   */
  push(key: string, message: Uint8Array | SharedMessage): boolean {
    const socket = this.#socket
    if (!socket.open) return false
    const held = this.#sender.queuedBytes + socket.bufferedAmount
    if (held === 0) this.#largest = 0
    else if (held > Math.max(this.#maxBufferedBytes, 2 * this.#largest)) {
      socket.close(CloseCode.SlowConsumer, 'send buffer full')
      return false
    }
    if (message.byteLength > this.#largest) this.#largest = message.byteLength
    this.#sender.push(key, message)
    return true
  }

  /** Forgets what is queued under `key` (a document left). */
  drop(key: string): void {
    this.#sender.drop(key)
  }

  /** Resolves once nothing is queued under `key` (written to the socket, dropped, or the socket closed). */
  whenSent(key: string): Promise<void> {
    return this.#sender.whenSent(key)
  }

  /** Drops everything queued (the socket closed). */
  clear(): void {
    this.#sender.clear()
  }
}

import type { Logger } from 'pino'
import type { WebSocket, RawData } from 'ws'
import { CloseCode, closeCodeName } from '@weft/core'
import type { ServerLimits } from '../ServerLimits.js'
import type { Endpoint, ServerMetrics } from '../metrics/ServerMetrics.js'
import { TokenBucket } from './TokenBucket.js'

/** What a route does with a connection's messages. */
export interface SocketHandler {
  /** One message that passed the size and rate checks. May close the socket. May be async. */
  onMessage(data: Buffer, isBinary: boolean): void | Promise<void>
  /** The socket closed (for whatever reason); called exactly once. */
  onClose(): void
}

/** Options of {@link GuardedSocket}. */
export interface GuardedSocketOptions {
  readonly id: number
  readonly endpoint: Endpoint
  readonly limits: ServerLimits
  readonly maxMessageBytes: number
  readonly metrics: ServerMetrics
  readonly logger: Logger
}

const toBuffer = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)

/**
 * One WebSocket with every protection of the server applied: maximum message size, token-bucket rate limits
 * (messages and bytes), heartbeat bookkeeping, a bounded send buffer, and a single `close(code, reason)` that logs,
 * counts and cuts the socket if the peer does not complete the close handshake. Exceptions thrown by the handler
 * close this connection with `InternalError`; they never reach the process.
 */
export class GuardedSocket {
  readonly id: number
  readonly endpoint: Endpoint
  readonly logger: Logger
  readonly #ws: WebSocket
  readonly #opts: GuardedSocketOptions
  readonly #messages: TokenBucket
  readonly #bytes: TokenBucket
  #handler: SocketHandler | null = null
  #alive = true
  #closing = false
  #closed = false
  #timers: NodeJS.Timeout[] = []
  #onClosedCallbacks: Array<() => void> = []

  constructor(ws: WebSocket, opts: GuardedSocketOptions) {
    this.id = opts.id
    this.endpoint = opts.endpoint
    this.logger = opts.logger
    this.#ws = ws
    this.#opts = opts
    this.#messages = new TokenBucket(opts.limits.messagesPerSecond, opts.limits.messageBurst)
    this.#bytes = new TokenBucket(
      opts.limits.bytesPerSecond,
      Math.max(opts.limits.byteBurst, opts.maxMessageBytes),
    )
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary))
    ws.on('pong', () => {
      this.#alive = true
    })
    ws.on('error', (err) => {
      // ws reports protocol errors (bad frames, payload over the hard cap) here and closes the socket itself.
      this.logger.info({ conn: this.id, err: err.message }, 'websocket protocol error')
    })
    ws.on('close', () => this.#onClosed())
  }

  /** Whether the socket is open and not closing. */
  get open(): boolean {
    return !this.#closing && !this.#closed
  }

  /** Largest message queued since the send queue was last seen empty. */
  #largestQueued = 0

  /** Bytes queued for this client and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount
  }

  /** The negotiated WebSocket subprotocol ('' when none). */
  get protocol(): string {
    return this.#ws.protocol
  }

  /** Starts delivering messages to `handler`. */
  attach(handler: SocketHandler): void {
    this.#handler = handler
    if (this.#closed) handler.onClose()
  }

  /**
   * Sends one message unless the client is too far behind: if more than the allowance is still queued the
   * connection is closed with `SlowConsumer` and `false` is returned. The allowance is `maxBufferedBytes`, or twice
   * the largest message queued since the queue was last empty if that is more: a client that is still receiving a
   * large sync answer (a 20 MB document) is not slow, and must not be dropped for the presence message that follows.
   */
  send(data: Uint8Array | string): boolean {
    if (!this.open) return false
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    const queued = this.#ws.bufferedAmount
    if (queued === 0) this.#largestQueued = 0
    if (queued > Math.max(this.#opts.limits.maxBufferedBytes, 2 * this.#largestQueued)) {
      this.close(CloseCode.SlowConsumer, 'send buffer full')
      return false
    }
    this.#largestQueued = Math.max(this.#largestQueued, size)
    this.#opts.metrics.messagesOut.inc({ endpoint: this.endpoint })
    this.#opts.metrics.bytesOut.inc({ endpoint: this.endpoint }, size)
    this.#ws.send(data)
    return true
  }

  /** Heartbeat tick: drops the peer if it missed the previous ping, otherwise pings it. */
  heartbeat(): void {
    if (!this.open) return
    if (!this.#alive) {
      this.close(CloseCode.HeartbeatTimeout, 'no pong', { terminate: true })
      return
    }
    this.#alive = false
    this.#ws.ping()
  }

  /**
   * Closes the connection with a Weft close code, logs one line and counts it. `terminate` cuts the socket right
   * after sending the close frame (dead peers); otherwise the peer gets `closeGraceMs` to answer.
   */
  close(code: number, reason: string, options: { terminate?: boolean } = {}): void {
    if (!this.open) return
    this.#closing = true
    const name = closeCodeName(code) ?? String(code)
    const level = code === CloseCode.ServerShutdown ? 'debug' : 'info'
    this.logger[level](
      { conn: this.id, endpoint: this.endpoint, code, codeName: name, reason },
      'closing connection',
    )
    this.#opts.metrics.countClose(code)
    try {
      this.#ws.close(code, reason.slice(0, 120))
    } catch {
      // The socket is already unusable: cut it below.
      this.#ws.terminate()
      return
    }
    if (options.terminate) {
      setImmediate(() => this.#ws.terminate())
      return
    }
    const timer = setTimeout(() => this.#ws.terminate(), this.#opts.limits.closeGraceMs)
    timer.unref()
    this.#timers.push(timer)
  }

  /** Calls `fn` once the socket is closed (right away if it already is). */
  onceClosed(fn: () => void): void {
    if (this.#closed) fn()
    else this.#onClosedCallbacks.push(fn)
  }

  /** Runs `fn` at `atMs` (epoch milliseconds) unless the socket closed before; for token expiry. */
  at(atMs: number, fn: () => void): void {
    const delay = Math.max(0, Math.min(atMs - Date.now(), 2 ** 31 - 1))
    const timer = setTimeout(() => {
      if (this.open) fn()
    }, delay)
    timer.unref()
    this.#timers.push(timer)
  }

  #onMessage(raw: RawData, isBinary: boolean): void {
    if (!this.open) return
    this.#alive = true
    const data = toBuffer(raw)
    this.#opts.metrics.messagesIn.inc({ endpoint: this.endpoint })
    this.#opts.metrics.bytesIn.inc({ endpoint: this.endpoint }, data.byteLength)
    if (data.byteLength > this.#opts.maxMessageBytes) {
      this.close(CloseCode.MessageTooLarge, `message of ${data.byteLength} bytes`)
      return
    }
    if (!this.#messages.take(1) || !this.#bytes.take(data.byteLength)) {
      this.close(CloseCode.RateLimited, 'rate limit exceeded')
      return
    }
    const handler = this.#handler
    if (!handler) return
    try {
      const result = handler.onMessage(data, isBinary)
      if (result) result.catch((err: unknown) => this.#internalError(err))
    } catch (err) {
      this.#internalError(err)
    }
  }

  #internalError(err: unknown): void {
    this.logger.error({ conn: this.id, endpoint: this.endpoint, err }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }

  #onClosed(): void {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers = []
    try {
      this.#handler?.onClose()
    } catch (err) {
      this.logger.error({ conn: this.id, err }, 'close handler failed')
    }
    for (const fn of this.#onClosedCallbacks.splice(0)) fn()
  }
}

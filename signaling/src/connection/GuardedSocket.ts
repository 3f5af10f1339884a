import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import type { ServerLimits } from '../ServerLimits.js'
import type { Endpoint, EndpointCounters, ServerMetrics } from '../metrics/ServerMetrics.js'
import { WsCloseCode, type TextFrame } from '../ws/frames.js'
import { WebSocketConnection } from '../ws/WebSocketConnection.js'
import { monotonicMs } from './TokenBucket.js'

/** What a route does with a connection's messages. */
export interface SocketHandler {
  /** One message that passed the size and rate checks. May close the socket. May be async. */
  onMessage(data: Buffer, isBinary: boolean): void | Promise<void>
  /** The socket closed (for whatever reason); called exactly once. */
  onClose(): void
}

/**
 * What every connection of one endpoint shares (one object per endpoint, not per connection): limits, counters,
 * the parent logger and the server's bookkeeping of closed connections.
 */
export interface GuardedSocketContext {
  readonly endpoint: Endpoint
  readonly limits: ServerLimits
  readonly maxMessageBytes: number
  /** Byte bucket size: the configured burst, or the largest message if that is more. */
  readonly byteBurst: number
  readonly metrics: ServerMetrics
  readonly counters: EndpointCounters
  /** Parent of each connection's child logger (created only when a connection logs). */
  readonly logger: Logger
  /** Called once when a connection's socket is gone. */
  readonly onClosed: (socket: GuardedSocket) => void
}

/** Creates the shared {@link GuardedSocketContext} of one endpoint. */
export const guardedSocketContext = (
  endpoint: Endpoint,
  limits: ServerLimits,
  metrics: ServerMetrics,
  logger: Logger,
  onClosed: (socket: GuardedSocket) => void,
): GuardedSocketContext => {
  const maxMessageBytes = endpoint === 'signal' ? limits.maxSignalMessageBytes : limits.maxRelayMessageBytes
  return {
    endpoint,
    limits,
    maxMessageBytes,
    byteBurst: Math.max(limits.byteBurst, maxMessageBytes),
    metrics,
    counters: metrics.endpoint(endpoint),
    logger,
    onClosed,
  }
}

/**
 * One WebSocket with every protection of the server applied: maximum message size (enforced by the frame parser
 * from the frame header, before buffering), token-bucket rate limits (messages and bytes), heartbeat bookkeeping,
 * a bounded send buffer, and a single `close(code, reason)` that logs, counts and cuts the socket if the peer does
 * not complete the close handshake. WebSocket protocol violations close with a named code too. Exceptions thrown by
 * the handler close this connection with `InternalError`; they never reach the process.
 *
 * Kept small on purpose (it exists once per connection): the rate buckets are two numbers each, the logger, timers
 * and close callbacks are created only when used, and everything constant lives in the shared context.
 */
export class GuardedSocket extends WebSocketConnection {
  readonly id: number
  readonly #ctx: GuardedSocketContext
  #handler: SocketHandler | null = null
  #logger: Logger | null = null
  #alive = true
  /** Token buckets (CONN-2): tokens left and the time of the last refill (shared by both). */
  #messageTokens: number
  #byteTokens: number
  #refilledAt: number
  /** Largest message queued since the send queue was last seen empty. */
  #largestQueued = 0
  #timers: NodeJS.Timeout[] | null = null
  #onClosedCallbacks: Array<() => void> | null = null

  constructor(socket: Duplex, head: Buffer, protocol: string, id: number, ctx: GuardedSocketContext) {
    super(socket, protocol, ctx.maxMessageBytes)
    this.id = id
    this.#ctx = ctx
    this.#messageTokens = ctx.limits.messageBurst
    this.#byteTokens = this.#ctx.byteBurst
    this.#refilledAt = monotonicMs()
    this.begin(head)
  }

  /** Which route this connection belongs to. */
  get endpoint(): Endpoint {
    return this.#ctx.endpoint
  }

  /** This connection's logger (a child with `conn`), created on first use. */
  get logger(): Logger {
    return (this.#logger ??= this.#ctx.logger.child({ conn: this.id }))
  }

  /** Whether the socket is open and not closing. */
  get open(): boolean {
    return !this.closing
  }

  /** Starts delivering messages to `handler`. */
  attach(handler: SocketHandler): void {
    this.#handler = handler
    if (this.closed) handler.onClose()
  }

  /**
   * Sends one message unless the client is too far behind: if more than the allowance is still queued the
   * connection is closed with `SlowConsumer` and `false` is returned. The allowance is `maxBufferedBytes`, or twice
   * the largest message queued since the queue was last empty if that is more: a client that is still receiving a
   * large sync answer (a 20 MB document) is not slow, and must not be dropped for the presence message that follows.
   * A message made with `preframe`, or a {@link TextFrame}, is written as its shared frame.
   */
  send(data: Uint8Array | string | TextFrame): boolean {
    if (!this.open) return false
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
    const queued = this.bufferedAmount
    if (queued === 0) this.#largestQueued = 0
    else if (queued > Math.max(this.#ctx.limits.maxBufferedBytes, 2 * this.#largestQueued)) {
      this.close(CloseCode.SlowConsumer, 'send buffer full')
      return false
    }
    if (size > this.#largestQueued) this.#largestQueued = size
    const counters = this.#ctx.counters
    counters.messagesOut.value++
    counters.bytesOut.value += size
    return this.sendMessage(data)
  }

  /** Heartbeat tick (one sweep over all connections): drops the peer if it missed the previous ping, else pings. */
  heartbeat(): void {
    if (!this.open) return
    if (!this.#alive) {
      this.close(CloseCode.HeartbeatTimeout, 'no pong', { terminate: true })
      return
    }
    this.#alive = false
    this.sendPing()
  }

  /**
   * Closes the connection with a Weft close code, logs one line and counts it. `terminate` cuts the socket right
   * after sending the close frame (dead peers); otherwise the peer gets `closeGraceMs` to answer.
   */
  close(code: number, reason: string, options: { terminate?: boolean } = {}): void {
    if (!this.open) return
    const name = closeCodeName(code) ?? String(code)
    const level = code === CloseCode.ServerShutdown ? 'debug' : 'info'
    this.logger[level](
      { conn: this.id, endpoint: this.endpoint, code, codeName: name, reason },
      'closing connection',
    )
    this.#ctx.metrics.countClose(code)
    this.sendClose(code, reason.slice(0, 120))
    if (options.terminate) {
      setImmediate(() => this.terminate())
      return
    }
    this.#addTimer(setTimeout(() => this.terminate(), this.#ctx.limits.closeGraceMs))
  }

  /** Calls `fn` once the socket is closed (right away if it already is). */
  onceClosed(fn: () => void): void {
    if (this.closed) fn()
    else (this.#onClosedCallbacks ??= []).push(fn)
  }

  /** Runs `fn` at `atMs` (epoch milliseconds) unless the socket closed before; for token expiry. */
  at(atMs: number, fn: () => void): void {
    const delay = Math.max(0, Math.min(atMs - Date.now(), 2 ** 31 - 1))
    this.#addTimer(
      setTimeout(() => {
        if (this.open) fn()
      }, delay),
    )
  }

  #addTimer(timer: NodeJS.Timeout): void {
    timer.unref()
    if (this.closed) clearTimeout(timer)
    else (this.#timers ??= []).push(timer)
  }

  /** CONN-2: takes one message and `bytes` bytes from the buckets, refilled for the time since the last take. */
  #takeTokens(bytes: number): boolean {
    const limits = this.#ctx.limits
    const now = monotonicMs()
    const elapsed = now - this.#refilledAt
    this.#refilledAt = now
    const messages = Math.min(
      limits.messageBurst,
      this.#messageTokens + (elapsed * limits.messagesPerSecond) / 1000,
    )
    const byteTokens = Math.min(
      this.#ctx.byteBurst,
      this.#byteTokens + (elapsed * limits.bytesPerSecond) / 1000,
    )
    if (messages < 1 || byteTokens < bytes) {
      this.#messageTokens = messages
      this.#byteTokens = byteTokens
      return false
    }
    this.#messageTokens = messages - 1
    this.#byteTokens = byteTokens - bytes
    return true
  }

  protected override onWebSocketMessage(data: Buffer, isBinary: boolean): void {
    if (!this.open) return
    this.#alive = true
    const counters = this.#ctx.counters
    counters.messagesIn.value++
    counters.bytesIn.value += data.byteLength
    if (!this.#takeTokens(data.byteLength)) {
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

  protected override onActivity(): void {
    this.#alive = true
  }

  protected override onPeerClose(): void {
    // Nothing to do: the close frame was answered, and `open` is false from now on (`closing`).
  }

  protected override onWebSocketError(code: number, reason: string): void {
    // CONN-1: over the maximum size (from the frame header); anything else the parser refuses is malformed.
    this.close(code === WsCloseCode.TooBig ? CloseCode.MessageTooLarge : CloseCode.MalformedMessage, reason)
  }

  #internalError(err: unknown): void {
    this.logger.error({ conn: this.id, endpoint: this.endpoint, err }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }

  protected override onClosed(): void {
    if (this.#timers) for (const timer of this.#timers) clearTimeout(timer)
    this.#timers = null
    this.#ctx.onClosed(this)
    try {
      this.#handler?.onClose()
    } catch (err) {
      this.logger.error({ conn: this.id, err }, 'close handler failed')
    }
    const callbacks = this.#onClosedCallbacks
    this.#onClosedCallbacks = null
    if (callbacks) for (const fn of callbacks) fn()
  }
}

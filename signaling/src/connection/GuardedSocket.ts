import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import type { ServerLimits } from '../ServerLimits.js'
import type { Endpoint, EndpointCounters, ServerMetrics } from '../metrics/ServerMetrics.js'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'
import type { SharedMessage } from '../relay/SharedMessage.js'
import { WsCloseCode, type TextFrame } from '../ws/frames.js'
import { WebSocketConnection } from '../ws/WebSocketConnection.js'
import type { InputBudget, InputHolder } from './InputBudget.js'
import { PendingInput } from './PendingInput.js'
import { monotonicMs } from './TokenBucket.js'

/** Shortest pause of a throttled connection: fewer pause/resume cycles for a client just over its rate. */
const MIN_PAUSE_MS = 20

/**
 * What a route does with a connection's messages: the relay's {@link RelaySocketHandler}, for the signaling route
 * too. `onMessage` gets messages that passed the size and rate checks.
 */
export type SocketHandler = RelaySocketHandler

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
  /** The server-wide budget for unfinished incoming messages (CONN-11.2), shared by both endpoints. */
  readonly budget: InputBudget
  /** The heartbeat's schedule ({@link heartbeatSweeps} of the limits), worked out once for every connection. */
  readonly sweeps: HeartbeatSweeps
  /** Parent of each connection's child logger (created only when a connection logs). */
  readonly logger: Logger
  /** Called once when a connection's socket is gone. */
  readonly onClosed: (socket: GuardedSocket) => void
}

/** The heartbeat's schedule (CONN-3, {@link heartbeatSweeps}). */
export interface HeartbeatSweeps {
  /** Time between two sweeps: half the heartbeat interval. */
  readonly sweepMs: number
  /** Silent sweeps in a row after which a connection is cut. */
  readonly dropAfter: number
  /** Silent sweeps in a row after which a connection is pinged (0: at every sweep). */
  readonly pingAt: number
}

/**
 * The heartbeat's schedule in sweeps (CONN-3): the server sweeps twice per heartbeat interval (`sweepMs`); a
 * connection silent for `dropAfter` sweeps in a row is cut, which happens less than `heartbeatTimeoutMs` after the
 * last thing it sent (its last activity fell within the sweep before the first silent one); it is pinged once,
 * after `pingAt` silent sweeps, which leaves its pong `dropAfter - pingAt` sweeps to arrive: a Node client answers
 * pings from its event loop, which may be busy. At the default 1 s interval and 5 s timeout: pinged once silent for
 * more than 1.5 s (3 sweeps of 500 ms), cut once silent for more than 4.5 s (9 sweeps), 3 s for the pong.
 *
 * Why half-interval sweeps (CONN-3.1): with whole-interval sweeps a connection was pinged once silent for more than
 * one interval, so a client that sends about once a second (cursor moves, presence renewals at a jittered pace) was
 * pinged whenever one gap between its messages spanned a sweep, and its pong was one more message to read and one
 * more wakeup (issue 12.11: about 180 pings and pongs per 15 s round of 200 presence clients). Pinging only after
 * 1.5 s of silence with whole-interval sweeps would have left 2-3 s for the pong depending on the phase; half-interval
 * sweeps keep exactly the same 3 s, the same cut within 5 s, and the same ping every 2 s for an idle connection that
 * answers. The sweeps run on the relay's shared ticks (RELAY-6.8), with the presence windows' sends.
 *
 * The pong's allowance is what an idle connection's pings cost: within a 5 s timeout, 3 s for the pong means a ping
 * every 2 s while the connection answers (2 s for the pong would mean one every 3 s, a third fewer; measured in
 * docs/guides/server.md, "Heartbeat", and not taken: a client process busy for 2-3 s would be cut). With a timeout
 * under three intervals every sweep pings (`pingAt` 0).
 */
export const heartbeatSweeps = (
  limits: Pick<ServerLimits, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs'>,
): HeartbeatSweeps => {
  const interval = heartbeatIntervalOf(limits)
  // In whole intervals: cut after `drop` silent ones, pinged after `ping`.
  const drop = Math.max(1, Math.floor(limits.heartbeatTimeoutMs / interval) - 1)
  const ping = drop === 1 ? 0 : Math.max(1, Math.floor((drop - 1) / 2))
  // In half intervals: silent for more than drop + 1/2 intervals (the next sweep would come after drop + 1), pinged
  // once silent for more than ping + 1/2, so the pong still has drop - ping intervals.
  return { sweepMs: interval / 2, dropAfter: 2 * drop + 1, pingAt: ping === 0 ? 0 : 2 * ping + 1 }
}

/**
 * The interval the heartbeat sweeps at: `heartbeatIntervalMs`, or a fifth of `heartbeatTimeoutMs` if that is
 * shorter (so that a short timeout is still met), never under 10 ms.
 */
export const heartbeatIntervalOf = (
  limits: Pick<ServerLimits, 'heartbeatIntervalMs' | 'heartbeatTimeoutMs'>,
): number => Math.max(10, Math.min(limits.heartbeatIntervalMs, limits.heartbeatTimeoutMs / 5))

/** Creates the shared {@link GuardedSocketContext} of one endpoint; `budget` is the server's, shared by its endpoints. */
export const guardedSocketContext = (
  endpoint: Endpoint,
  limits: ServerLimits,
  metrics: ServerMetrics,
  budget: InputBudget,
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
    budget,
    sweeps: Object.freeze(heartbeatSweeps(limits)),
    logger,
    onClosed,
  }
}

/**
 * One WebSocket with every protection of the server applied: maximum message size (enforced by the frame parser
 * from the frame header, before buffering), token-bucket rate limits (messages and bytes) enforced by backpressure,
 * heartbeat bookkeeping, a bounded send buffer, a share of the server's budget for unfinished incoming messages,
 * and a single `close(code, reason)` that logs, counts and cuts the socket if the peer does not complete the close
 * handshake. WebSocket protocol violations close with a named code too. Exceptions thrown by the handler close this
 * connection with `InternalError`; they never reach the process.
 *
 * Rate limits (CONN-2): bytes are charged as they arrive from the socket (a partial frame or an unfinished
 * fragmented message too), messages (and pings) as they are parsed. A connection over either bucket is not closed:
 * the server stops reading its socket until the buckets refill, so TCP slows the client down. Only a connection
 * held back without a break for `maxThrottleMs` (the abuse bound) is closed with `RateLimited`.
 *
 * Kept small on purpose (it exists once per connection): the rate buckets are two numbers each, the logger, timers
 * and close callbacks are created only when used, and everything constant lives in the shared context.
 */
export class GuardedSocket extends WebSocketConnection implements InputHolder, RelaySocket {
  readonly id: number
  readonly #ctx: GuardedSocketContext
  #handler: SocketHandler | null = null
  #logger: Logger | null = null
  #alive = true
  /** Heartbeat sweeps in a row that found the connection silent (CONN-3). */
  #silentSweeps = 0
  /** Token buckets (CONN-2): tokens left and the time of the last refill (shared by both). */
  #messageTokens: number
  #byteTokens: number
  #refilledAt: number
  /** Largest message queued since the send queue was last seen empty. */
  #largestQueued = 0
  /** When the current throttling began (monotonic ms), -1 when not throttled; the resume timer while paused. */
  #throttledSince = -1
  #resumeTimer: NodeJS.Timeout | null = null
  /** What this connection holds for unfinished incoming messages (CONN-11); created when it first holds any. */
  #input: PendingInput | null = null
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
   * A {@link SharedMessage} or a {@link TextFrame} is written as its frame, built once for every socket it goes to.
   */
  send(data: Uint8Array | string | TextFrame | SharedMessage): boolean {
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

  /**
   * Heartbeat tick (CONN-3, one sweep over all connections twice every `heartbeatIntervalMs`). A connection that sent
   * anything since the previous sweep (a message, a pong, any bytes) is alive; one silent for a while (1.5-2 s at the
   * default 5 s timeout, see {@link heartbeatSweeps}) gets a ping; one still silent when the next sweep could come
   * too late is cut, so a peer that vanished without a FIN is dropped within `heartbeatTimeoutMs` of the last thing
   * it sent, and its presence with it (RELAY-6.6). Busy connections are never pinged; a connection whose reading is
   * paused by its rate limit is not silent.
   */
  heartbeat(): void {
    if (!this.open) return
    const { dropAfter, pingAt } = this.#ctx.sweeps
    if (this.#alive || this.#throttledSince >= 0) {
      this.#alive = false
      this.#silentSweeps = 0
    } else this.#silentSweeps++
    if (this.#silentSweeps >= dropAfter) {
      this.close(CloseCode.HeartbeatTimeout, 'no pong', { terminate: true })
      return
    }
    if (this.#silentSweeps === pingAt) this.sendPing()
  }

  /**
   * Closes the connection with a Weft close code, logs one line and counts it. `terminate` cuts the socket right
   * after sending the close frame (dead peers); otherwise the peer gets `closeGraceMs` to answer.
   */
  close(code: number, reason: string, options: { terminate?: boolean } = {}): void {
    if (!this.open) return
    const name = closeCodeName(code) ?? String(code)
    const level = code === CloseCode.ServerShutdown ? 'debug' : 'info'
    this.logger[level]({ endpoint: this.endpoint, code, codeName: name, reason }, 'closing connection')
    this.#ctx.metrics.countClose(code)
    this.sendClose(code, reason.slice(0, 120))
    // Stop throttling: the peer's close frame must be read (nothing it sends is handled any more).
    this.#clearResumeTimer()
    this.resumeReading()
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

  /** Bytes held for this connection's unfinished incoming messages (CONN-11). */
  get pendingInputBytes(): number {
    return this.#input?.bytes ?? 0
  }

  /**
   * CONN-11: bytes held for an unfinished incoming message of this connection changed by `delta` (a route's own
   * reassembly, e.g. relay chunks; the WebSocket layer reports its own). Every call also counts as progress of that
   * message (stall detection). Charged to the server-wide budget at once.
   */
  trackInput(delta: number): void {
    this.#hold(delta, true)
  }

  /** The server-wide budget is exceeded and this connection holds the most: close it and release everything. */
  shedInput(): void {
    this.close(CloseCode.MemoryLimit, 'server buffer budget exceeded')
    this.#input?.release()
  }

  #hold(delta: number, progressed: boolean): void {
    if (this.closed || (delta === 0 && this.#input === null)) return
    this.#input ??= new PendingInput(
      this,
      this.#ctx.budget,
      this.#ctx.limits.pendingInputTimeoutMs,
      () => this.partialProgress,
      () => {
        if (this.closing) return
        this.close(CloseCode.MemoryLimit, 'unfinished message stalled')
        this.#input?.release()
      },
    )
    this.#input.add(delta, progressed)
  }

  /** CONN-2: refills both buckets for the time since the last refill. */
  #refill(): void {
    const limits = this.#ctx.limits
    const now = monotonicMs()
    const elapsed = now - this.#refilledAt
    if (elapsed <= 0) return
    this.#refilledAt = now
    this.#messageTokens = Math.min(
      limits.messageBurst,
      this.#messageTokens + (elapsed * limits.messagesPerSecond) / 1000,
    )
    this.#byteTokens = Math.min(
      this.#ctx.byteBurst,
      this.#byteTokens + (elapsed * limits.bytesPerSecond) / 1000,
    )
    // The client let both buckets refill halfway: it slowed down; a new throttling (if any) counts from zero.
    if (
      this.#throttledSince >= 0 &&
      this.#messageTokens * 2 >= limits.messageBurst &&
      this.#byteTokens * 2 >= this.#ctx.byteBurst
    ) {
      this.#throttledSince = -1
    }
  }

  /** Milliseconds until both buckets allow the next message (one message token, no byte debt). */
  #deficitMs(): number {
    const limits = this.#ctx.limits
    const messages =
      this.#messageTokens < 1 ? ((1 - this.#messageTokens) * 1000) / limits.messagesPerSecond : 0
    const bytes = this.#byteTokens < 0 ? (-this.#byteTokens * 1000) / limits.bytesPerSecond : 0
    return Math.max(messages, bytes)
  }

  /**
   * CONN-2.1: if a bucket is empty, stops reading until it refills (backpressure). CONN-2.2: a connection that has
   * been held back without a break for `maxThrottleMs`, or whose debt alone would take longer, is closed instead.
   */
  #throttle(): void {
    if (this.closing) return
    const deficit = this.#deficitMs()
    if (deficit <= 0) return
    const now = monotonicMs()
    if (this.#throttledSince < 0) this.#throttledSince = now
    if (now + deficit - this.#throttledSince > this.#ctx.limits.maxThrottleMs) {
      this.close(CloseCode.RateLimited, 'rate limit exceeded')
      return
    }
    this.pauseReading()
    if (this.#resumeTimer !== null) return
    const timer = setTimeout(
      () => {
        this.#resumeTimer = null
        this.#refill()
        if (this.#deficitMs() > 0) return this.#throttle()
        this.#alive = true // its pong may be waiting behind what it sent
        this.resumeReading()
      },
      Math.max(deficit, MIN_PAUSE_MS),
    )
    timer.unref()
    this.#resumeTimer = timer
  }

  #clearResumeTimer(): void {
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer)
    this.#resumeTimer = null
  }

  protected override onReceived(bytes: number): void {
    // Bytes are charged as they arrive, before parsing: partial frames and fragments count at once (CONN-2).
    this.#alive = true
    this.#refill()
    this.#byteTokens -= bytes
    if (this.#byteTokens < 0) this.#throttle()
  }

  protected override onHeldBytesChanged(delta: number): void {
    this.#hold(delta, false)
  }

  override onPing(data: Buffer): void {
    // A ping costs a pong: it counts as a message (a ping flood is throttled like any other).
    this.#refill()
    this.#messageTokens--
    super.onPing(data)
    if (this.#messageTokens < 1) this.#throttle()
  }

  protected override onWebSocketMessage(data: Buffer, isBinary: boolean): void {
    if (!this.open) return
    this.#alive = true
    const counters = this.#ctx.counters
    counters.messagesIn.value++
    counters.bytesIn.value += data.byteLength
    this.#refill()
    this.#messageTokens--
    const handler = this.#handler
    if (handler) {
      try {
        const result = handler.onMessage(data, isBinary)
        if (result) result.catch((err: unknown) => this.#internalError(err))
      } catch (err) {
        this.#internalError(err)
      }
    }
    if (this.#messageTokens < 1) this.#throttle()
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
    this.logger.error({ endpoint: this.endpoint, err }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }

  protected override onClosed(): void {
    if (this.#timers) for (const timer of this.#timers) clearTimeout(timer)
    this.#timers = null
    this.#clearResumeTimer()
    this.#input?.release()
    this.#ctx.onClosed(this)
    try {
      this.#handler?.onClose()
    } catch (err) {
      this.logger.error({ err }, 'close handler failed')
    }
    const callbacks = this.#onClosedCallbacks
    this.#onClosedCallbacks = null
    if (callbacks) for (const fn of callbacks) fn()
  }
}

import { pino, type Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'
import type { RelaySocket, RelaySocketHandler } from '../relay/RelaySocket.js'
import { DEFAULT_LIMITS } from '../ServerLimits.js'
import { bytesOf, type SharedMessage } from '../relay/SharedMessage.js'

/**
 * What {@link WsRelaySocket} uses of a WebSocket of the `ws` package (its `WebSocket` class, as a `WebSocketServer`
 * hands it out). Typed by shape, so `@weft/signaling` neither loads `ws` nor needs its types.
 */
export interface WsWebSocket {
  /** 1 while open (the WebSocket `OPEN` state). */
  readonly readyState: number
  /** Bytes queued by `send` that the socket has not written yet. */
  readonly bufferedAmount: number
  send(data: Uint8Array, options: { binary: boolean }): void
  close(code?: number, reason?: string): void
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): this
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this
  on(event: 'error', listener: (err: Error) => void): this
}

/** Settings of a {@link WsRelaySocket}. */
export interface WsRelaySocketOptions {
  /** Where the relay logs about this connection (default: nothing is logged). */
  readonly logger?: Logger | undefined
  /**
   * A connection with more than this many bytes still queued when the relay sends is closed with `SlowConsumer`
   * (default: the server's `DEFAULT_LIMITS.maxBufferedBytes`), so one client that does not read cannot hold the relay's
   * memory.
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * Bytes of messages kept while the relay has not attached yet (a socket handed over while the store opens, or
   * before the app calls `accept`); a peer that sends more meanwhile is closed with `RateLimited` (default: the
   * server's `DEFAULT_LIMITS.maxRelayMessageBytes`).
   */
  readonly maxEarlyBytes?: number | undefined
}

const OPEN = 1
let silent: Logger | null = null

/** `reason` cut to the 123 bytes a close frame can carry, on a character boundary (`ws` throws on longer ones). */
const closeReason = (reason: string): string => {
  let out = reason.slice(0, 123)
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}

const toBuffer = (data: Buffer | ArrayBuffer | Buffer[]): Buffer =>
  Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)

/**
 * The relay over a WebSocket of the `ws` package: hand each socket of a `WebSocketServer` (attached to an app's own
 * HTTP server, or `noServer` with `handleUpgrade`) to `WeftRelay.accept` (docs/guides/server.md, "Bring your own
 * WebSocket server"). Messages that arrive before the relay attaches are kept in order (up to `maxEarlyBytes`). A {@link SharedMessage} is sent as its joined payload (built once for all sockets;
 * `ws` frames each send itself).
 *
 * The project's own WebSocket layer (`GuardedSocket`) adds the server's protections (rate limits by backpressure,
 * heartbeats, the memory budget for unfinished messages); with `ws`, bound message sizes with its `maxPayload`
 * option and ping with its API. `trackInput` is not charged anywhere here: the relay's own per-connection bound on
 * reassembled chunks (`maxRelayMessageBytes`) still holds.
 */
export class WsRelaySocket implements RelaySocket {
  readonly #ws: WsWebSocket
  readonly #maxBuffered: number
  readonly #logger: Logger | undefined
  #handler: RelaySocketHandler | null = null
  #early: Array<{ data: Buffer; isBinary: boolean }> | null = []
  #earlyBytes = 0
  readonly #maxEarly: number
  #closing = false
  #closed = false

  constructor(ws: WsWebSocket, options: WsRelaySocketOptions = {}) {
    this.#ws = ws
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_LIMITS.maxBufferedBytes
    this.#logger = options.logger
    this.#maxEarly = options.maxEarlyBytes ?? DEFAULT_LIMITS.maxRelayMessageBytes
    ws.on('message', (data, isBinary) => this.#message(toBuffer(data), isBinary))
    ws.on('close', () => this.#gone())
    // `ws` emits `close` after `error`; without a listener the error would reach the process.
    ws.on('error', (err) => this.logger.debug({ err }, 'websocket error'))
  }

  get logger(): Logger {
    return this.#logger ?? (silent ??= pino({ level: 'silent' }))
  }

  get open(): boolean {
    return !this.#closing && !this.#closed && this.#ws.readyState === OPEN
  }

  /** Bytes `send` queued that the WebSocket has not written yet (a workspace socket's flow control, EMBED-5). */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount
  }

  attach(handler: RelaySocketHandler): void {
    this.#handler = handler
    if (this.#closed) return this.#closeHandler(handler)
    const early = this.#early ?? []
    this.#early = null
    this.#earlyBytes = 0
    for (const { data, isBinary } of early) this.#message(data, isBinary)
  }

  send(message: Uint8Array | SharedMessage): boolean {
    if (!this.open) return false
    if (this.#ws.bufferedAmount > this.#maxBuffered) {
      this.close(CloseCode.SlowConsumer, 'send buffer full')
      return false
    }
    this.#ws.send(bytesOf(message), { binary: true })
    return true
  }

  close(code: number, reason: string): void {
    if (this.#closing || this.#closed) return
    this.#closing = true
    this.logger.info({ code, codeName: closeCodeName(code) ?? String(code), reason }, 'closing connection')
    this.#ws.close(code, closeReason(reason))
  }

  trackInput(): void {
    // No server-wide budget with `ws` (see the class comment).
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (this.#closing || this.#closed) return
    if (this.#early) {
      this.#earlyBytes += data.byteLength
      if (this.#earlyBytes > this.#maxEarly) {
        this.#early = []
        return this.close(CloseCode.RateLimited, 'too much sent before the relay attached')
      }
      this.#early.push({ data, isBinary })
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
    this.logger.error({ err }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }

  #gone(): void {
    if (this.#closed) return
    this.#closed = true
    this.#early = null
    if (this.#handler) this.#closeHandler(this.#handler)
  }

  #closeHandler(handler: RelaySocketHandler): void {
    try {
      handler.onClose()
    } catch (err) {
      this.logger.error({ err }, 'close handler failed')
    }
  }
}

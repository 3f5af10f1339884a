import { doublingDelay } from '@weft/core'
import { connectionErrorReason, type ConnectionErrorReason } from '../websocket/connectionError.js'

/**
 * The smallest WebSocket shape the WebRTC transport needs. The browser's `WebSocket` and the `ws` package's
 * `WebSocket` (Node) both fit.
 */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: unknown) => void): void
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** What a {@link SignalingConnection} reports to its owner. */
export interface SignalingHandlers {
  /** The socket opened (again). */
  readonly onOpen: (conn: SignalingConnection) => void
  /** One JSON object arrived. */
  readonly onMessage: (conn: SignalingConnection, message: Record<string, unknown>) => void
  /** The socket closed or failed; the connection retries by itself. */
  readonly onClose: (conn: SignalingConnection, reason: string) => void
  /**
   * The server closed the socket with a final close code (`isRetryableClose` in `@weft/core`: a token refused or
   * expired, a read-only grant, ...): the connection does not retry until {@link SignalingConnection.retryNow} is
   * called with `refused` set. Called instead of `onClose`.
   */
  readonly onRefused: (conn: SignalingConnection, refusal: SignalingRefusal) => void
}

/** A final close of a signaling socket (see {@link SignalingHandlers.onRefused}). */
export interface SignalingRefusal {
  /** The WebSocket close code. */
  readonly code: number
  readonly reason: ConnectionErrorReason
}

/** Timing of the signaling connection (reconnects, keep-alive), in milliseconds. */
export interface SignalingTiming {
  /** A ping is sent after this much silence; the socket is recycled after twice as much. Default 15,000. */
  readonly keepAlive?: number
  /** First reconnect delay; doubles per failed attempt, with jitter. Default 250. */
  readonly minBackoff?: number
  /** Longest reconnect delay. Default 10,000. */
  readonly maxBackoff?: number
}

const OPEN = 1

const closeCodeOf = (event: unknown): number | undefined =>
  typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number'
    ? event.code
    : undefined

const textOf = (data: unknown): string | null => {
  if (typeof data === 'string') return data
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data)
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data)
  return null
}

/**
 * One connection to one signaling server (the y-webrtc signaling protocol: JSON `subscribe`, `unsubscribe`,
 * `publish`, `ping`/`pong`). It keeps itself alive: a ping after `keepAlive` ms of silence, a new socket when the
 * server stays silent, and reconnects with exponential backoff and jitter until {@link close} is called, or until
 * the server closes it with a final close code (PROV-4.1).
 */
export class SignalingConnection {
  readonly url: string
  readonly #WebSocket: WebSocketConstructor
  readonly #handlers: SignalingHandlers
  readonly #keepAlive: number
  readonly #minBackoff: number
  readonly #maxBackoff: number
  #socket: WebSocketLike | null = null
  #open = false
  #closed = false
  /** The server closed the socket with a final code: no retry until `retryNow(true)`. */
  #refused = false
  #attempt = 0
  #lastReceived = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #keepAliveTimer: ReturnType<typeof setInterval> | undefined

  constructor(
    url: string,
    WebSocket: WebSocketConstructor,
    handlers: SignalingHandlers,
    timing: SignalingTiming = {},
  ) {
    this.url = url
    this.#WebSocket = WebSocket
    this.#handlers = handlers
    this.#keepAlive = timing.keepAlive ?? 15_000
    this.#minBackoff = timing.minBackoff ?? 250
    this.#maxBackoff = timing.maxBackoff ?? 10_000
    this.#dial()
  }

  /** The socket is open: messages can be sent. */
  get open(): boolean {
    return this.#open
  }

  /** The server refused this connection with a final close code; it stays down until `retryNow(true)`. */
  get refused(): boolean {
    return this.#refused
  }

  /**
   * Dials at once, with the backoff reset, if the connection is waiting out its backoff (or, with `refused`, if the
   * server refused it). Does nothing while a socket is open or connecting, or after {@link close} (PROV-4.3).
   */
  retryNow(refused = false): void {
    if (this.#closed || this.#socket !== null || (this.#refused && !refused)) return
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#refused = false
    this.#attempt = 0
    this.#dial()
  }

  /** Sends one JSON message; returns false when the socket is not open. */
  send(message: Readonly<Record<string, unknown>>): boolean {
    const socket = this.#socket
    if (!this.#open || socket === null || socket.readyState !== OPEN) return false
    try {
      socket.send(JSON.stringify(message))
      return true
    } catch {
      return false
    }
  }

  /** Closes the socket for good (no reconnect). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#retryTimer)
    clearInterval(this.#keepAliveTimer)
    const socket = this.#socket
    this.#socket = null
    this.#open = false
    try {
      socket?.close()
    } catch {
      // already closing
    }
  }

  #dial(): void {
    let socket: WebSocketLike
    try {
      socket = new this.#WebSocket(this.url)
    } catch (err) {
      this.#lost(null, err instanceof Error ? err.message : String(err))
      return
    }
    this.#socket = socket
    socket.addEventListener('open', () => {
      if (this.#socket !== socket) return
      this.#open = true
      this.#attempt = 0
      this.#lastReceived = Date.now()
      clearInterval(this.#keepAliveTimer)
      this.#keepAliveTimer = setInterval(() => this.#checkAlive(), this.#keepAlive / 2)
      this.#handlers.onOpen(this)
    })
    socket.addEventListener('message', (event) => {
      if (this.#socket !== socket) return
      this.#lastReceived = Date.now()
      const text = textOf(
        typeof event === 'object' && event !== null && 'data' in event ? event.data : undefined,
      )
      if (text === null) return
      let message: unknown
      try {
        message = JSON.parse(text)
      } catch {
        return
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) return
      const body = message as Record<string, unknown>
      if (body['type'] === 'ping') this.send({ type: 'pong' })
      else if (body['type'] !== 'pong') this.#handlers.onMessage(this, body)
    })
    socket.addEventListener('close', (event) => this.#lost(socket, 'socket closed', closeCodeOf(event)))
    socket.addEventListener('error', () => this.#lost(socket, 'socket error'))
  }

  #checkAlive(): void {
    const silent = Date.now() - this.#lastReceived
    if (silent >= 2 * this.#keepAlive) {
      const socket = this.#socket
      this.#lost(socket, 'no answer to ping')
      try {
        socket?.close()
      } catch {
        // already closing
      }
    } else if (silent >= this.#keepAlive) {
      this.send({ type: 'ping' })
    }
  }

  /**
   * The current socket ended: report it once and schedule the next attempt, unless the server closed it with a
   * final code (`code`), which is reported as a refusal and not retried.
   */
  #lost(socket: WebSocketLike | null, reason: string, code?: number): void {
    if (this.#closed || this.#socket !== socket) return
    this.#socket = null
    const wasOpen = this.#open
    this.#open = false
    clearInterval(this.#keepAliveTimer)
    const refusal = code === undefined ? null : connectionErrorReason(code)
    if (code !== undefined && refusal !== null) {
      this.#refused = true
      this.#handlers.onRefused(this, { code, reason: refusal })
      return
    }
    const delay = doublingDelay(this.#minBackoff, this.#maxBackoff, this.#attempt++)
    this.#retryTimer = setTimeout(() => this.#dial(), delay * (0.5 + Math.random() / 2))
    this.#handlers.onClose(this, wasOpen ? reason : `${reason} (while connecting)`)
  }
}

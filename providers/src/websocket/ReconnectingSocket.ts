import { ObservableV2 } from 'lib0/observable'
import { closeCodeName, doublingDelay, type TransportStatus } from '@weft/core'
import { OnlineListener, type OnlineEvents } from '../OnlineListener.js'
import { connectionErrorReason, type ConnectionError, type TokenRequest } from './connectionError.js'

/**
 * The subset of the WebSocket API this transport uses (browsers' WebSocket, or `ws` in Node). Handler parameters
 * are typed `never` so that both implementations' own event types are accepted; the transport reads only `code`,
 * `reason` and `data` from them.
 */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  onopen: ((ev: never) => void) | null
  onclose: ((ev: never) => void) | null
  onerror: ((ev: never) => void) | null
  onmessage: ((ev: never) => void) | null
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
}

/** A WebSocket constructor (`globalThis.WebSocket`, or `WebSocket` from the `ws` package in Node 20). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** Why the last connection closed. */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
  /** The Weft close-code name (`"ReadOnly"`), if the code is one of Weft's. */
  readonly name: string | undefined
}

/** The connection settings shared by every client WebSocket of Weft (a room's, a workspace's). */
export interface ReconnectOptions {
  /**
   * A token (JWT) for servers with auth, or a function that returns a fresh one (the token-refresh hook): it is
   * called before every connection attempt, so an expired token is replaced on reconnect. After the relay refused or
   * expired a token it is called with `refused` set (`unauthorized`, `forbidden`, `expired`): return a new token,
   * not a cached one (PROV-2.8).
   */
  readonly token?: string | ((request: TokenRequest) => string | Promise<string>)
  /** Extra query parameters. */
  readonly params?: Readonly<Record<string, string>>
  /** WebSocket implementation; default `globalThis.WebSocket`. Pass `ws`'s WebSocket in Node 20. */
  readonly WebSocketPolyfill?: WebSocketConstructor
  /** First reconnect delay in ms (default 500); doubles per failed attempt, with full jitter. */
  readonly minReconnectMs?: number
  /** Longest reconnect delay in ms (default 30 s). */
  readonly maxReconnectMs?: number
  /** Random source in [0, 1) for jitter (tests pass a deterministic one). */
  readonly random?: () => number
  /**
   * Where the browser's `online` event comes from (default: `globalThis` when it has `addEventListener`, i.e. the
   * window or a worker; nothing in Node). While a reconnect is waiting out its backoff, an `online` event retries at
   * once. `null` ignores the event.
   */
  readonly onlineEvents?: OnlineEvents | null
}

/** Events of a {@link ReconnectingSocket}. */
export type ReconnectingSocketEvents = {
  /** The connection's status changed (`connecting` also while a reconnect waits out its backoff). */
  status: (event: { status: TransportStatus }) => void
  /** A connection opened (after `status` `connected`). */
  open: (event: { socket: WebSocketLike }) => void
  /** A binary message arrived (text frames are not part of the protocol and are ignored). */
  message: (event: { data: Uint8Array }) => void
  /** The connection closed or was given up (after `status` `disconnected`); `wasOpen` if it had opened. */
  close: (event: { info: CloseInfo; wasOpen: boolean }) => void
  /** The server closed with a final close code (see `WebSocketTransportEvents['connection-error']`). */
  'connection-error': (event: ConnectionError) => void
}

const OPEN = 1

/**
 * One client WebSocket to a Weft server that keeps itself connected: the connection conventions every Weft client
 * socket follows, written once (`WebSocketTransport` for one room, `WorkspaceSocket` for a workspace). A token is
 * fetched before every attempt; a transient close reconnects with exponential backoff and full jitter; a final
 * close (auth refused, read-only violation, the 4400-4499 band) stops, unless a token function can supply a new
 * token, in which case it retries once at once with the fresh token (PROV-2.8). A reconnect that is waiting out its
 * backoff is cut short by {@link connect} and by the browser's `online` event (PROV-2.6, PROV-2.7).
 */
export class ReconnectingSocket extends ObservableV2<ReconnectingSocketEvents> {
  readonly #url: string
  readonly #options: ReconnectOptions
  readonly #WS: WebSocketConstructor
  #status: TransportStatus = 'disconnected'
  #socket: WebSocketLike | null = null
  #wanted = false
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #lastClose: CloseInfo | null = null
  #refreshOnce = false
  /** The relay refused the last token (told to the token function), until a connection opens. */
  #refused: TokenRequest['refused'] = null
  /** An attempt is fetching its token or URL (no socket yet): a second one must not start. */
  #opening = false
  readonly #online: OnlineListener

  /** `url` is the whole address without the token and `params` (e.g. `ws://host/relay/my%20room`). */
  constructor(url: string, options: ReconnectOptions) {
    super()
    this.#url = url
    this.#options = options
    const WS = options.WebSocketPolyfill ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!WS)
      throw new TypeError('No WebSocket implementation: pass WebSocketPolyfill (e.g. from "ws") in Node')
    this.#WS = WS
    this.#online = new OnlineListener(options.onlineEvents, () => this.#retryNow())
  }

  /** `connected` while a connection is open, `connecting` while one is opened or awaited, else `disconnected`. */
  get status(): TransportStatus {
    return this.#status
  }

  /** Why the last connection closed, or null. */
  get lastClose(): CloseInfo | null {
    return this.#lastClose
  }

  /** The open WebSocket, or null (e.g. to read its `bufferedAmount`). */
  get socket(): WebSocketLike | null {
    return this.#socket && this.#socket.readyState === OPEN && this.#status === 'connected'
      ? this.#socket
      : null
  }

  /**
   * Connects, and keeps reconnecting after transient closes. Called while a reconnect waits out its backoff, it
   * retries at once with the backoff reset; while a connection is open or being opened, it does nothing.
   */
  connect(): void {
    this.#wanted = true
    this.#online.listen(true)
    this.#retryNow()
  }

  /** Closes the connection (code 1000) and stays closed until {@link connect}. */
  disconnect(): void {
    this.#wanted = false
    this.#online.listen(false)
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    const socket = this.#socket
    this.#socket = null
    if (socket) {
      detach(socket)
      socket.close(1000, 'client disconnect')
    }
    this.#closed({ code: 1000, reason: 'client disconnect', name: undefined })
  }

  /** Closes the open connection (e.g. after bad input from the server); it reconnects as after any close. */
  drop(reason: string, code = 1000): void {
    this.#socket?.close(code, reason)
  }

  /** Sends on the open connection; returns false (and sends nothing) while there is none. */
  send(data: Uint8Array): boolean {
    const socket = this.socket
    if (!socket) return false
    socket.send(data)
    return true
  }

  override destroy(): void {
    this.disconnect()
    super.destroy()
  }

  async #fullUrl(): Promise<string> {
    const url = new URL(this.#url)
    for (const [k, v] of Object.entries(this.#options.params ?? {})) url.searchParams.set(k, v)
    const token = this.#options.token
    if (token !== undefined)
      url.searchParams.set(
        'token',
        typeof token === 'function' ? await token({ refused: this.#refused }) : token,
      )
    return url.toString()
  }

  /** Opens a connection now unless one is open or being opened; a pending backoff wait is cancelled. */
  #retryNow(): void {
    if (!this.#wanted || this.#socket || this.#opening) return
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = null
      this.#attempt = 0
    }
    void this.#open()
  }

  async #open(): Promise<void> {
    this.#setStatus('connecting')
    let url: string
    this.#opening = true
    try {
      url = await this.#fullUrl()
    } catch {
      this.#scheduleReconnect()
      return
    } finally {
      this.#opening = false
    }
    if (!this.#wanted) return
    let socket: WebSocketLike
    try {
      socket = new this.#WS(url)
    } catch {
      this.#scheduleReconnect()
      return
    }
    socket.binaryType = 'arraybuffer'
    this.#socket = socket
    socket.onopen = () => {
      this.#attempt = 0
      this.#setStatus('connected')
      this.emit('open', [{ socket }])
    }
    socket.onmessage = (ev: { data: unknown }) => {
      // The relay refuses a token after the upgrade (open, then close): only a message proves it was accepted, so
      // only then may a later refusal be retried with a fresh token again (no loop of refused tokens, PROV-2.8).
      this.#refreshOnce = false
      this.#refused = null
      const data = toBytes(ev.data)
      if (data) this.emit('message', [{ data }])
    }
    socket.onerror = () => {
      // A close event always follows.
    }
    socket.onclose = (ev: { code: number; reason: string }) => {
      if (this.#socket !== socket) return
      detach(socket)
      this.#socket = null
      const info = { code: ev.code, reason: ev.reason, name: closeCodeName(ev.code) }
      this.#closed(info)
      if (!this.#wanted) return
      const reason = connectionErrorReason(ev.code)
      if (reason === null) {
        this.#scheduleReconnect()
        return
      }
      // Auth refused or token expired: one immediate attempt with a fresh token, if a function can supply one.
      const refresh = reason !== 'refused' && typeof this.#options.token === 'function' && !this.#refreshOnce
      if (reason !== 'refused') this.#refused = reason
      this.emit('connection-error', [{ code: ev.code, reason, name: info.name, willRetry: refresh }])
      if (!this.#wanted || this.#socket || this.#opening) return // the app reconnected from the event
      if (refresh) {
        this.#refreshOnce = true
        void this.#open()
      } else {
        this.#wanted = false
        this.#online.listen(false)
      }
    }
  }

  #closed(info: CloseInfo): void {
    this.#lastClose = info
    const wasOpen = this.#status === 'connected'
    this.#setStatus('disconnected')
    this.emit('close', [{ info, wasOpen }])
  }

  #scheduleReconnect(): void {
    if (!this.#wanted || this.#timer) return
    const min = this.#options.minReconnectMs ?? 500
    const max = this.#options.maxReconnectMs ?? 30_000
    const ceiling = doublingDelay(min, max, this.#attempt++)
    const delay = Math.floor((this.#options.random ?? Math.random)() * ceiling)
    this.#setStatus('connecting')
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (this.#wanted) void this.#open()
    }, delay)
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.emit('status', [{ status }])
  }
}

const detach = (s: WebSocketLike): void => {
  s.onopen = null
  s.onclose = null
  // Keep an error handler: closing a socket that is still connecting makes `ws` emit an error.
  s.onerror = () => {}
  s.onmessage = null
}

const toBytes = (data: unknown): Uint8Array | null => {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return null // text frames are not part of the protocol
}

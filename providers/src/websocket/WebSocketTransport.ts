import { ObservableV2 } from 'lib0/observable'
import { peerId, type PeerId, type Transport, type TransportEvents, type TransportStatus } from '@weft/core'
import type { ConnectionError } from './connectionError.js'
import { ReconnectingSocket, type CloseInfo, type ReconnectOptions } from './ReconnectingSocket.js'

export type { WebSocketLike, WebSocketConstructor, CloseInfo } from './ReconnectingSocket.js'

/** Options of {@link WebSocketTransport}. */
export interface WebSocketTransportOptions extends ReconnectOptions {
  /** The relay's base URL, e.g. `ws://localhost:4444/relay`; the room is appended as a path segment. */
  readonly url: string
  /** The room (document id). */
  readonly room: string
}

/** Events of {@link WebSocketTransport}: the {@link Transport} events and `connection-error`. */
export type WebSocketTransportEvents = TransportEvents & {
  /**
   * The relay closed the connection with a final close code: a token refused or expired (`reason` `unauthorized`,
   * `forbidden`, `expired`) or another refusal (`refused`, see `name`). Emitted before the transport retries with a
   * fresh token (`willRetry`) or stays down (PROV-2.8).
   */
  'connection-error': (event: ConnectionError) => void
}

/**
 * A {@link Transport} to a relay over WebSocket (the y-websocket protocol; Weft's extensions are negotiated by the
 * sync session). Its one peer is the relay. Reconnects with exponential backoff and full jitter after a transient
 * close; stops after a final one (auth refused, read-only violation) unless a token function can supply a new
 * token, in which case it reconnects with the fresh token. A reconnect that is waiting out its backoff is cut
 * short by {@link connect} (`WeftDoc.connect()`) and by the browser's `online` event (PROV-2.6, PROV-2.7).
 */
export class WebSocketTransport extends ObservableV2<WebSocketTransportEvents> implements Transport {
  readonly kind = 'relay'
  /** The relay reassembles nothing: Weft chunks at 16 KiB anyway, which every WebSocket server accepts. */
  readonly maxMessageSize = undefined
  readonly #options: WebSocketTransportOptions
  readonly #peer: PeerId
  readonly #socket: ReconnectingSocket

  constructor(options: WebSocketTransportOptions) {
    super()
    this.#options = options
    this.#peer = peerId(`relay:${options.url}`)
    const base = options.url.replace(/\/+$/, '')
    this.#socket = new ReconnectingSocket(`${base}/${encodeURIComponent(options.room)}`, options)
    this.#socket.on('status', (e) => this.emit('status', [e]))
    this.#socket.on('open', () => this.emit('peer-joined', [{ peer: this.#peer }]))
    this.#socket.on('message', ({ data }) => this.emit('message', [{ from: this.#peer, data }]))
    this.#socket.on('close', ({ info, wasOpen }) => {
      if (wasOpen)
        this.emit('peer-left', [
          { peer: this.#peer, reason: `closed ${info.code} ${info.name ?? info.reason}` },
        ])
    })
    this.#socket.on('connection-error', (e) => this.emit('connection-error', [e]))
  }

  get status(): TransportStatus {
    return this.#socket.status
  }

  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#socket.status === 'connected' ? [this.#peer] : [])
  }

  /** The room (document id) this transport connects to. */
  get room(): string {
    return this.#options.room
  }

  /** Why the last connection closed, or null. */
  get lastClose(): CloseInfo | null {
    return this.#socket.lastClose
  }

  /**
   * Connects, and keeps reconnecting after transient closes. Called while a reconnect waits out its backoff, it
   * retries at once with the backoff reset (the app or the user says the network is back); while a connection is
   * open or being opened, it does nothing.
   */
  connect(): void {
    this.#socket.connect()
  }

  disconnect(peer?: PeerId): void {
    if (peer !== undefined && peer !== this.#peer) return
    // The session dropped the relay after bad input: close this connection; reconnect as after any close.
    if (peer !== undefined) this.#socket.drop('dropped by client')
    else this.#socket.disconnect()
  }

  send(data: Uint8Array, to?: PeerId): void {
    if (to !== undefined && to !== this.#peer) return
    this.#socket.send(data)
  }

  override destroy(): void {
    this.#socket.destroy()
    super.destroy()
  }
}

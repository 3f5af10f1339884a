import {
  WeftError,
  WeftErrorCode,
  closeCodeName,
  peerId as toPeerId,
  type PeerId,
  type Transport,
  type TransportEvents,
  type TransportStatus,
} from '@weft/core'
import { ObservableV2 } from 'lib0/observable'
import * as random from 'lib0/random'
import { OnlineListener } from '../OnlineListener.js'
import type { ConnectionError } from '../websocket/connectionError.js'
import { RtcPeer, SILENT_PEER, type Signal } from './RtcPeer.js'
import type { SignalingConnection, SignalingTiming, WebSocketConstructor } from './SignalingConnection.js'
import { SignalingRoom } from './SignalingRoom.js'
import { deriveRoomKey } from './signalingCrypto.js'
import {
  DEFAULT_ICE_SERVERS,
  WEBRTC_MAX_MESSAGE_SIZE,
  checkOptions,
  type WebRtcTransportOptions,
} from './WebRtcTransportOptions.js'

/**
 * A signaling server refused its connection with a final close code (the same {@link ConnectionError} as the relay
 * connection's, plus the server's `url`). `willRetry` is always false: that server is not dialled again until
 * `connect()` is called.
 */
export interface SignalingConnectionError extends ConnectionError {
  /** The signaling server's URL, as given in `signaling`. */
  readonly url: string
}

/** Events of {@link WebRtcTransport}: the {@link Transport} events plus `error` and `connection-error`. */
export type WebRtcTransportEvents = TransportEvents & {
  /** An asynchronous fault (a signaling server unreachable, a message too large for a stock peer). Never thrown. */
  error: (event: { readonly error: WeftError; readonly peer?: PeerId }) => void
  /**
   * A signaling server closed the connection with a final close code: a token refused or expired (`reason`
   * `unauthorized`, `forbidden`, `expired`), or another refusal (`refused`, see `name`; e.g. `ReadOnly`: signaling
   * needs write access). That server is not retried until `connect()` (PROV-4.1, PROV-4.2).
   */
  'connection-error': (event: SignalingConnectionError) => void
}

const CONNECT_TIMEOUT = 'connect timeout'
/** Fresh offers to one peer after connect timeouts, before falling back to announcing. */
const MAX_RETRIES = 2

/** How long a peer dropped on purpose (too large a message, `disconnect(peer)`) is ignored. */
const REFUSE_MS = 30_000

interface Conn {
  readonly remote: PeerId
  readonly peer: RtcPeer
  /** The signaling connection this peer was found on; its signals go there (as y-webrtc does). */
  readonly via: SignalingConnection
  /** Glare token of our current offer round (y-webrtc's rule: the larger token's offer wins). */
  token: number | undefined
  /** We offer (or are about to) and no answer came yet. */
  offered: boolean
  /** Our ICE candidates, held back until the offer is answered. */
  readonly held: Signal[]
  /** When the data channel opened (null before). */
  joinedAt: number | null
  joined: boolean
  /** Closed on purpose by this side: no announce afterwards. */
  quiet: boolean
  readonly timer: ReturnType<typeof setTimeout>
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * A {@link Transport} over WebRTC data channels, one per peer, found through y-webrtc signaling servers. It speaks
 * y-webrtc 10.x's room protocol (announce, signal, glare tokens, optional encryption), so Weft peers and stock
 * y-webrtc peers in the same room connect to each other. `maxMessageSize` is 16 KiB: a {@link @weft/core!SyncSession} chunks
 * larger messages towards Weft peers. See docs/guides/webrtc.md.
 */
export class WebRtcTransport extends ObservableV2<WebRtcTransportEvents> implements Transport {
  /** Always `"webrtc"`. */
  readonly kind = 'webrtc'
  /** 16 KiB ({@link WEBRTC_MAX_MESSAGE_SIZE}). */
  readonly maxMessageSize = WEBRTC_MAX_MESSAGE_SIZE
  /** The room name. */
  readonly room: string
  /** This side's id in the room, as other peers see it. */
  readonly localPeer: PeerId
  /** Most peers at once. */
  readonly maxConns: number
  readonly #urls: readonly string[]
  readonly #password: string | undefined
  readonly #RTCPeerConnection: typeof RTCPeerConnection
  readonly #WebSocket: WebSocketConstructor
  readonly #rtcConfig: RTCConfiguration
  readonly #connectTimeout: number
  readonly #peerTimeout: number
  readonly #timing: SignalingTiming
  #signaling: SignalingRoom | null = null
  readonly #conns = new Map<PeerId, Conn>()
  readonly #peers = new Set<PeerId>()
  /** Peers dropped on purpose (too large a message, `disconnect(peer)`): ignored until the time given. */
  readonly #refused = new Map<PeerId, number>()
  /** Fresh offers made to a peer after a stalled or young connection (reset when a connection lasts). */
  readonly #retries = new Map<PeerId, number>()
  #status: TransportStatus = 'disconnected'
  #want = false
  #destroyed = false
  /** Incremented by every connect and disconnect, so a late key derivation cannot revive an old connect. */
  #generation = 0
  #keyPromise: Promise<CryptoKey | null> | null = null
  /** While connected: the browser's `online` event dials the signaling connections waiting out their backoff. */
  readonly #online: OnlineListener

  /** Throws a `WeftError` (`invalid-argument`) for invalid options or a missing WebRTC/WebSocket implementation. */
  constructor(options: WebRtcTransportOptions) {
    super()
    checkOptions(options)
    const RTC = options.wrtc?.RTCPeerConnection ?? globalThis.RTCPeerConnection
    const WS = options.WebSocketPolyfill ?? (globalThis.WebSocket as WebSocketConstructor | undefined)
    if (typeof RTC !== 'function') {
      throw new WeftError(
        WeftErrorCode.InvalidArgument,
        'WebRtcTransport: no RTCPeerConnection (in Node pass `wrtc`)',
      )
    }
    if (typeof WS !== 'function') {
      throw new WeftError(
        WeftErrorCode.InvalidArgument,
        'WebRtcTransport: no WebSocket (in Node pass `WebSocketPolyfill`)',
      )
    }
    this.room = options.room
    this.localPeer = toPeerId(options.peerId ?? random.uuidv4())
    this.maxConns = options.maxConns ?? 20 + Math.floor(Math.random() * 15)
    this.#urls = [...new Set(options.signaling)]
    this.#password = options.password
    this.#RTCPeerConnection = RTC
    this.#WebSocket = WS
    this.#rtcConfig = {
      ...options.rtcConfiguration,
      iceServers: [...(options.iceServers ?? DEFAULT_ICE_SERVERS)],
    }
    this.#connectTimeout = options.connectTimeout ?? 20_000
    this.#peerTimeout = options.peerTimeout ?? 10_000
    this.#timing = options.signalingTiming ?? {}
    this.#online = new OnlineListener(options.onlineEvents, () => this.#signaling?.retryNow())
  }

  get status(): TransportStatus {
    return this.#status
  }

  /** Peers whose data channel is open. */
  get peers(): ReadonlySet<PeerId> {
    return this.#peers
  }

  /** Signaling servers currently connected (URLs). */
  get signalingConnected(): string[] {
    return this.#signaling?.connected ?? []
  }

  /**
   * Starts looking for peers: derives the room key (with a password), then connects to every signaling server.
   * Resolves once the connections are started; `status` and `peer-joined` tell the rest. Never rejects. Called
   * again while connected, it dials at once every signaling server that is waiting out its reconnect backoff or
   * that refused the connection (PROV-4.3).
   */
  connect(): Promise<void> {
    if (this.#destroyed) throw new WeftError(WeftErrorCode.Destroyed, 'WebRtcTransport was destroyed')
    if (this.#want) {
      this.#signaling?.retryNow(true)
      this.#updateStatus()
      return Promise.resolve()
    }
    this.#want = true
    this.#online.listen(true)
    const generation = ++this.#generation
    this.#updateStatus()
    this.#keyPromise ??=
      this.#password === undefined ? Promise.resolve(null) : deriveRoomKey(this.#password, this.room)
    return this.#keyPromise.then(
      (key) => {
        if (generation !== this.#generation) return
        this.#signaling = new SignalingRoom({
          room: this.room,
          urls: this.#urls,
          WebSocket: this.#WebSocket,
          timing: this.#timing,
          key,
          handlers: {
            onOpen: (via) => {
              this.#announce(via)
              this.#updateStatus()
            },
            onClose: (via, reason) => {
              this.#error(new WeftError(WeftErrorCode.TransportFailed, `signaling ${via.url}: ${reason}`))
              this.#updateStatus()
            },
            onRefused: (via, { code, reason }) => {
              this.#updateStatus()
              const name = closeCodeName(code)
              this.emit('connection-error', [{ code, reason, name, willRetry: false, url: via.url }])
            },
            onMessage: (via, data) => this.#onRoomMessage(via, data),
          },
        })
      },
      (err: unknown) => {
        this.#keyPromise = null
        this.#error(
          new WeftError(WeftErrorCode.TransportFailed, 'cannot derive the room key', { cause: err }),
        )
        if (generation === this.#generation) this.disconnect()
      },
    )
  }

  /**
   * Closes every peer and signaling connection, or just the connection to `peer`. A peer dropped this way is
   * ignored for 30 s (its announces and offers), so it does not come straight back.
   */
  disconnect(peer?: PeerId): void {
    if (peer !== undefined) {
      this.#refused.set(peer, Date.now() + REFUSE_MS)
      const conn = this.#conns.get(peer)
      if (conn) this.#drop(conn, 'disconnected by this side')
      return
    }
    this.#generation++
    this.#want = false
    this.#online.listen(false)
    this.#retries.clear()
    this.#refused.clear()
    this.#signaling?.close()
    this.#signaling = null
    this.#updateStatus()
    for (const conn of [...this.#conns.values()]) this.#drop(conn, 'disconnected')
  }

  /** Sends to one peer, or to every connected peer. Never throws; a message to an unknown peer is dropped. */
  send(data: Uint8Array, to?: PeerId): void {
    if (to !== undefined) {
      const conn = this.#conns.get(to)
      if (conn?.joined) this.#sendTo(conn, data)
      return
    }
    for (const conn of this.#conns.values()) if (conn.joined) this.#sendTo(conn, data)
  }

  override destroy(): void {
    if (this.#destroyed) return
    this.disconnect()
    this.#destroyed = true
    super.destroy()
  }

  #sendTo(conn: Conn, data: Uint8Array): void {
    if (conn.peer.send(data)) return
    // Only a stock peer gets unchunked messages: past its channel's limit the channel would break anyway.
    this.#error(
      new WeftError(
        WeftErrorCode.MessageTooLarge,
        `message of ${data.length} bytes exceeds the ${conn.peer.maxMessageSize} bytes peer ${conn.remote} accepts`,
      ),
      conn.remote,
    )
    this.#refused.set(conn.remote, Date.now() + REFUSE_MS)
    queueMicrotask(() => this.#drop(conn, 'message-too-large'))
  }

  #updateStatus(): void {
    // Every signaling server refused and no peer is left: nothing will happen until `connect()` (PROV-4.2).
    const next: TransportStatus =
      !this.#want || (this.#peers.size === 0 && this.#signaling?.allRefused === true)
        ? 'disconnected'
        : this.#peers.size > 0 || (this.#signaling?.connected.length ?? 0) > 0
          ? 'connected'
          : 'connecting'
    if (next === this.#status) return
    this.#status = next
    this.emit('status', [{ status: next }])
  }

  #error(error: WeftError, peer?: PeerId): void {
    this.emit('error', [peer === undefined ? { error } : { error, peer }])
  }

  /** One (decrypted) room message: an announce, or a signal addressed to us. */
  #onRoomMessage(via: SignalingConnection, data: Record<string, unknown>): void {
    if (!this.#want) return
    const from = data['from']
    const to = data['to']
    if (typeof from !== 'string' || from === this.localPeer || (to !== undefined && to !== this.localPeer))
      return
    const remote = toPeerId(from)
    const refused = this.#refused.get(remote)
    if (refused !== undefined) {
      if (refused > Date.now()) return
      this.#refused.delete(remote)
    }
    if (data['type'] === 'announce') {
      const conn = this.#conns.get(remote)
      // A peer that announces while our offer to it is unanswered has no connection to us (its attempt failed):
      // start over rather than wait for the connect timeout.
      if (conn?.offered && !conn.joined) this.#drop(conn, 'peer announced again')
      if (!this.#conns.has(remote) && this.#conns.size < this.maxConns) this.#open(remote, via, true)
    } else if (data['type'] === 'signal' && to === this.localPeer && isRecord(data['signal'])) {
      this.#onSignal(via, remote, data['signal'], data['token'])
    }
  }

  #onSignal(via: SignalingConnection, remote: PeerId, signal: Record<string, unknown>, token: unknown): void {
    let conn = this.#conns.get(remote)
    if (signal['type'] === 'offer') {
      if (conn?.offered) {
        // Glare: both sides offered. As in y-webrtc, the larger token wins; no token yet means ours is not out.
        if (conn.token !== undefined && typeof token === 'number' && conn.token > token) return
        this.#drop(conn, 'glare lost')
        conn = undefined
      } else if (conn && typeof signal['sdp'] === 'string' && !conn.peer.sameSession(signal['sdp'])) {
        // An offer from another RTCPeerConnection of that peer: it restarted. (Same session: renegotiation.)
        this.#drop(conn, 'peer restarted the connection')
        conn = undefined
      }
      if (conn === undefined) {
        if (this.#conns.size >= this.maxConns) return
        conn = this.#open(remote, via, false)
      }
    } else if (signal['type'] === 'answer' && conn?.offered) {
      conn.token = undefined
      conn.offered = false
      conn.peer.signal(signal)
      const token = Math.random()
      for (const held of conn.held.splice(0)) {
        this.#signaling?.publish(
          { to: remote, from: this.localPeer, type: 'signal', token, signal: held },
          conn.via,
        )
      }
      return
    }
    conn?.peer.signal(signal)
  }

  #open(remote: PeerId, via: SignalingConnection, initiator: boolean): Conn | undefined {
    let peer: RtcPeer
    try {
      peer = new RtcPeer({
        RTCPeerConnection: this.#RTCPeerConnection,
        config: this.#rtcConfig,
        initiator,
        peerTimeout: this.#peerTimeout,
        silenceTimeout: this.#connectTimeout,
      })
    } catch (err) {
      this.#error(
        new WeftError(WeftErrorCode.TransportFailed, 'cannot create an RTCPeerConnection', { cause: err }),
      )
      return undefined
    }
    const conn: Conn = {
      remote,
      peer,
      via,
      token: undefined,
      offered: initiator,
      held: [],
      joinedAt: null,
      joined: false,
      quiet: false,
      timer: setTimeout(() => peer.close(CONNECT_TIMEOUT), this.#connectTimeout),
    }
    this.#conns.set(remote, conn)
    peer.on('signal', (signal) => {
      // Our candidates wait until the offer is answered: a peer that rejects our offer (glare) must not receive
      // candidates of a connection that will never exist (simple-peer drops its own connection on such a candidate).
      if (signal.type === 'candidate' && conn.offered) {
        conn.held.push(signal)
        return
      }
      // y-webrtc's tokens are `Date.now() + Math.random()`; ours are below 1, so in a glare with a stock peer the
      // stock offer always wins and the stock side never has to roll back its own offer (which node-webrtc and
      // some browsers cannot do). Between Weft peers the random part decides.
      conn.token ??= Math.random()
      this.#signaling?.publish(
        { to: remote, from: this.localPeer, type: 'signal', token: conn.token, signal },
        conn.via,
      )
    })
    peer.on('open', () => {
      clearTimeout(conn.timer)
      if (this.#conns.get(remote) !== conn) return
      conn.joined = true
      conn.joinedAt = Date.now()
      this.#peers.add(remote)
      this.#updateStatus()
      this.emit('peer-joined', [{ peer: remote }])
    })
    peer.on('switched', () => {
      if (!conn.joined) return
      // Start the path over on the new channel: the session repeats its handshake there.
      this.emit('peer-left', [{ peer: remote, reason: 'data channel replaced' }])
      this.emit('peer-joined', [{ peer: remote }])
    })
    peer.on('message', (data) => {
      if (conn.joined) this.emit('message', [{ from: remote, data }])
    })
    peer.on('close', (reason) => this.#onClosed(conn, reason))
    return conn
  }

  /** Closes a connection on purpose (no announce follows). */
  #drop(conn: Conn, reason: string): void {
    conn.quiet = true
    conn.peer.close(reason)
  }

  #onClosed(conn: Conn, reason: string): void {
    clearTimeout(conn.timer)
    if (this.#conns.get(conn.remote) === conn) this.#conns.delete(conn.remote)
    if (conn.joined) {
      conn.joined = false
      this.#peers.delete(conn.remote)
      this.emit('peer-left', [{ peer: conn.remote, reason }])
      this.#updateStatus()
    }
    if (conn.quiet || !this.#want) return
    // A connection that stalled or died young (typically a glare the other side got wrong) is retried with a fresh
    // offer: a stock peer still holding its broken connection fails on it, drops it and announces, and the next try
    // works. A connection that lived is simply announced again, like y-webrtc does, so a peer that comes back finds
    // us; so is a peer that keeps failing.
    const young =
      reason === CONNECT_TIMEOUT ||
      reason === SILENT_PEER ||
      (conn.joinedAt !== null && Date.now() - conn.joinedAt < this.#connectTimeout)
    if (!young) this.#retries.delete(conn.remote)
    const retries = this.#retries.get(conn.remote) ?? 0
    if (young && retries < MAX_RETRIES && this.#conns.size < this.maxConns && !this.#conns.has(conn.remote)) {
      this.#retries.set(conn.remote, retries + 1)
      this.#open(conn.remote, conn.via, true)
      return
    }
    this.#announce()
  }

  /** Announces this peer on one signaling connection, or on every open one. */
  #announce(socket?: SignalingConnection): void {
    if (this.#conns.size >= this.maxConns) return
    this.#signaling?.publish({ type: 'announce', from: this.localPeer }, socket, true)
  }
}

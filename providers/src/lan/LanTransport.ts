import { randomBytes } from 'node:crypto'
import { isIP, isIPv4, type AddressInfo } from 'node:net'
import {
  CloseCode,
  DEFAULT_MAX_MESSAGE_SIZE,
  WeftError,
  WeftErrorCode,
  peerId as toPeerId,
  type PeerId,
  type Transport,
  type TransportEvents,
  type TransportStatus,
} from '@weft/core'
import { ObservableV2 } from 'lib0/observable'
import { WebSocket, WebSocketServer } from 'ws'
import type { IncomingMessage } from 'node:http'
import { BonjourDiscovery } from './BonjourDiscovery.js'
import { LanConnection, type LanCloseInfo, type LanConnectionConfig } from './LanConnection.js'
import type { LanDiscovery, LanPeerInfo } from './LanDiscovery.js'
import {
  LAN_PEER_ID,
  LAN_PROTOCOL_VERSION,
  deriveLanKey,
  newSalt,
  roomMatcher,
  roomTag,
  weakSecretReason,
} from './lanHandshake.js'
import { LanDialer } from './LanDialer.js'

/** Options of {@link LanTransport}. */
export interface LanTransportOptions {
  /** The room (usually the document id). Only peers of the same room connect. */
  readonly room: string
  /** This peer's id: 1 to 48 characters of `A-Z a-z 0-9 _ -`, unique in the room (default: random). */
  readonly peerId?: string
  /**
   * Address to listen on, and (for the default discovery) the interface to use for mDNS, e.g. `192.168.1.20`.
   * Default: listen on every interface and run mDNS on every interface.
   */
  readonly host?: string
  /** TCP port to listen on (default 0: any free port; the port is advertised). */
  readonly port?: number
  /** How peers are found. Default: mDNS ({@link BonjourDiscovery}) on `host`'s interface. */
  readonly discovery?: LanDiscovery
  /**
   * Shared secret. Peers without it are refused (each side proves it holds it with an HMAC over fresh nonces, the
   * dialer first), and every frame is encrypted and authenticated (AES-256-GCM, keys fresh per connection). At least
   * 20 characters (a peer that gets dialed can test guesses offline): use `createLanSecret()`.
   */
  readonly secret?: string
  /** A connected peer silent (no message, no heartbeat) for this many ms is dropped (default 15,000). */
  readonly peerTimeout?: number
  /** A connection that has not completed its handshake after this many ms is abandoned (default 5,000). */
  readonly handshakeTimeout?: number
  /** First redial delay in ms (default 250); doubles per failed attempt, with full jitter. */
  readonly minReconnectMs?: number
  /** Longest redial delay in ms (default 30,000). */
  readonly maxReconnectMs?: number
}

/** Events of {@link LanTransport}: the {@link Transport} events plus `error`. */
export type LanTransportEvents = TransportEvents & {
  /**
   * An asynchronous fault: the server or discovery failed, a peer was refused (wrong secret: `auth-denied`), or an
   * incoming connection sent a malformed handshake (`malformed-message`). Never thrown.
   */
  error: (event: { readonly error: WeftError; readonly peer?: PeerId }) => void
}

/** After `disconnect(peer)`, that peer is neither dialed nor accepted for this long (ms). */
const DROP_HOLD_MS = 5_000
/** Most incoming connections in their handshake at once; a new one then replaces the oldest (PROV-6.11). */
const MAX_PENDING = 32
/** Most incoming connections in their handshake at once from one address; more are refused. */
const MAX_PENDING_PER_ADDRESS = 4
const ANY_HOST = new Set(['0.0.0.0', '::'])

const closeServer = (server: WebSocketServer): Promise<void> =>
  new Promise((resolve) => server.close(() => resolve()))

/** One connect()…disconnect() period: what it started, so a late step of connect() can undo itself. */
interface Run {
  stopped: boolean
  server: WebSocketServer | null
  discovery: boolean
}

/**
 * A {@link Transport} between Node peers on one local network, with no server: each peer listens on a WebSocket
 * server, advertises it over mDNS (room tag, peer id, version), browses for peers of the same room, and the peer with
 * the lower id dials, so there is one connection per pair. A hello frame exchanges peer ids (and, with a secret,
 * proofs of it); then frames are the sync protocol's bytes. Heartbeats (WebSocket ping) drop a vanished peer within
 * `peerTimeout`; a peer that is still advertised is redialed with backoff. See docs/guides/lan.md.
 */
export class LanTransport extends ObservableV2<LanTransportEvents> implements Transport {
  /** Always `"lan"`. */
  readonly kind = 'lan'
  /** WebSocket carries any size; the session's default chunking applies. */
  readonly maxMessageSize = undefined
  /** The room name. */
  readonly room: string
  /** This side's id, as other peers see it. */
  readonly localPeer: PeerId
  readonly #isRoom: (salt: string, tag: string) => boolean
  readonly #options: LanTransportOptions
  readonly #discovery: LanDiscovery
  readonly #dialer: LanDialer
  readonly #conns = new Set<LanConnection>()
  readonly #joined = new Map<PeerId, LanConnection>()
  /** Peers found by discovery in this room. */
  readonly #adverts = new Map<PeerId, LanPeerInfo>()
  /** Peers dropped by `disconnect(peer)`: not dialed or accepted again before the time given. */
  readonly #held = new Map<PeerId, number>()
  #status: TransportStatus = 'disconnected'
  #run: Run | null = null
  #starting: Promise<void> | null = null
  #stopping: Promise<void> = Promise.resolve()
  #keyPromise: Promise<Buffer | null> | null = null
  #config: LanConnectionConfig | null = null
  #port: number | null = null
  #destroyed = false

  /** Throws a `WeftError` (`invalid-argument`) for invalid options. */
  constructor(options: LanTransportOptions) {
    super()
    const bad = (detail: string): never => {
      throw new WeftError(WeftErrorCode.InvalidArgument, `LanTransport: ${detail}`)
    }
    if (typeof options.room !== 'string' || options.room === '') bad('`room` must be a non-empty string')
    const id = options.peerId ?? randomBytes(8).toString('hex')
    if (!LAN_PEER_ID.test(id)) bad('`peerId` must be 1 to 48 characters of A-Z a-z 0-9 _ -')
    if (options.secret !== undefined) {
      const weak = typeof options.secret === 'string' ? weakSecretReason(options.secret) : 'not a string'
      if (weak !== null) bad(`\`secret\`: ${weak}`)
    }
    this.room = options.room
    this.localPeer = toPeerId(id)
    this.#isRoom = roomMatcher(options.room)
    this.#options = options
    const host = options.host
    // mDNS here is IPv4 multicast: an IPv4 listen address also picks the multicast interface.
    this.#discovery =
      options.discovery ??
      new BonjourDiscovery(
        host !== undefined && isIPv4(host) && !ANY_HOST.has(host) ? { interface: host } : {},
      )
    this.#dialer = new LanDialer({
      minMs: options.minReconnectMs ?? 250,
      maxMs: options.maxReconnectMs ?? 30_000,
      dial: (peer) => this.#dial(peer),
    })
  }

  get status(): TransportStatus {
    return this.#status
  }

  /** Peers whose handshake completed. */
  get peers(): ReadonlySet<PeerId> {
    return new Set(this.#joined.keys())
  }

  /** The port the server listens on while connected, else null. */
  get port(): number | null {
    return this.#port
  }

  /**
   * Starts listening and discovery. Resolves once both run (`status` is then `connected`); failures are reported
   * as an `error` event and leave the transport disconnected. Never rejects.
   */
  connect(): Promise<void> {
    if (this.#destroyed) throw new WeftError(WeftErrorCode.Destroyed, 'LanTransport was destroyed')
    if (this.#run) return this.#starting ?? Promise.resolve()
    const run: Run = { stopped: false, server: null, discovery: false }
    this.#run = run
    this.#setStatus('connecting')
    this.#starting = this.#start(run).catch((err: unknown) => {
      this.#error(
        new WeftError(WeftErrorCode.TransportFailed, `LanTransport cannot start: ${String(err)}`, {
          cause: err,
        }),
      )
      if (this.#run === run) this.disconnect()
    })
    return this.#starting
  }

  /** Closes every connection, the server and the discovery; or just the connection to `peer`. */
  disconnect(peer?: PeerId): void {
    if (peer !== undefined) {
      this.#held.set(peer, Date.now() + DROP_HOLD_MS)
      this.#dialer.cancel(peer)
      const conn = this.#joined.get(peer)
      if (conn) conn.close(1000, 'dropped')
      return
    }
    const run = this.#run
    if (!run) return
    this.#run = null
    run.stopped = true
    this.#dialer.cancelAll()
    this.#adverts.clear()
    this.#held.clear()
    const conns = [...this.#conns]
    for (const conn of conns) conn.close(1001, 'peer disconnecting')
    this.#port = null
    this.#config = null
    const starting = this.#starting ?? Promise.resolve()
    this.#starting = null
    this.#stopping = Promise.all([
      this.#teardown(
        run,
        conns.map((c) => c.done),
      ),
      starting,
    ]).then(() => undefined)
    this.#setStatus('disconnected')
  }

  /** Resolves once the last {@link disconnect} finished: sockets closed, advertisement withdrawn. */
  whenStopped(): Promise<void> {
    return this.#stopping
  }

  /** Sends to one peer, or to every connected peer. Never throws; a message to an unknown peer is dropped. */
  send(data: Uint8Array, to?: PeerId): void {
    if (to !== undefined) {
      this.#joined.get(to)?.send(data)
      return
    }
    for (const conn of this.#joined.values()) conn.send(data)
  }

  override destroy(): void {
    if (this.#destroyed) return
    this.disconnect()
    this.#destroyed = true
    super.destroy()
  }

  async #start(run: Run): Promise<void> {
    await this.#stopping
    const secret = this.#options.secret
    this.#keyPromise ??= secret === undefined ? Promise.resolve(null) : deriveLanKey(secret, this.room)
    const key = await this.#keyPromise
    if (run.stopped) return
    // A fresh salt per run: this run's advertised tag matches none of this peer's earlier ones (PROV-6.12).
    const salt = newSalt()
    const config: LanConnectionConfig = {
      local: this.localPeer,
      tag: roomTag(this.room, salt),
      salt,
      isRoom: this.#isRoom,
      key,
      handshakeTimeout: this.#options.handshakeTimeout ?? 5_000,
      peerTimeout: this.#options.peerTimeout ?? 15_000,
    }
    const host = this.#options.host ?? '0.0.0.0'
    const server = new WebSocketServer({
      host,
      port: this.#options.port ?? 0,
      maxPayload: DEFAULT_MAX_MESSAGE_SIZE + 1024,
    })
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve)
        server.once('error', reject)
      })
    } catch (err) {
      server.close()
      throw err
    }
    if (run.stopped) return closeServer(server)
    run.server = server
    this.#config = config
    server.on('error', (err) =>
      this.#error(new WeftError(WeftErrorCode.TransportFailed, `LAN server: ${err.message}`)),
    )
    server.on('connection', (socket, request) => this.#accept(socket, request))
    const port = (server.address() as AddressInfo).port
    this.#port = port
    // Set first: a teardown during start stops the discovery too (stop is idempotent; see the check below).
    run.discovery = true
    await this.#discovery.start(
      {
        peer: this.localPeer,
        room: config.tag,
        salt: config.salt,
        version: LAN_PROTOCOL_VERSION,
        port,
        // Advertise the listen address when it is one address (a host name would mean another machine to peers).
        address: isIP(host) !== 0 && !ANY_HOST.has(host) ? host : undefined,
      },
      {
        up: (info) => {
          if (!run.stopped) this.#onUp(info)
        },
        down: (peer) => {
          if (!run.stopped) this.#onDown(toPeerId(peer))
        },
        error: (err) => {
          if (!run.stopped)
            this.#error(new WeftError(WeftErrorCode.TransportFailed, `LAN discovery: ${err.message}`))
        },
      },
    )
    if (run.stopped) return this.#discovery.stop().catch(() => undefined)
    this.#setStatus('connected')
    for (const peer of this.#adverts.keys()) this.#dialer.request(peer)
  }

  /** Releases what a run set up completely; `#start` releases what it was still setting up itself. */
  async #teardown(run: Run, closing: Promise<void>[]): Promise<void> {
    const server = run.server
    run.server = null
    const discovery = run.discovery
    run.discovery = false
    await Promise.all([
      discovery ? this.#discovery.stop().catch(() => undefined) : undefined,
      server ? closeServer(server) : undefined,
      ...closing,
    ])
  }

  #onUp(info: LanPeerInfo): void {
    if (info.version !== LAN_PROTOCOL_VERSION || info.peer === this.localPeer) return
    if (typeof info.salt !== 'string' || !this.#isRoom(info.salt, info.room)) return
    if (!LAN_PEER_ID.test(info.peer)) return
    const peer = toPeerId(info.peer)
    this.#adverts.set(peer, info)
    // A (re)appearing peer: forget earlier failures and dial at once.
    this.#dialer.reset(peer)
    if (this.#status === 'connected') this.#dialer.request(peer)
  }

  #onDown(peer: PeerId): void {
    this.#adverts.delete(peer)
    this.#dialer.cancel(peer)
  }

  /** Whether this side may connect to `peer` now (not dropped recently). */
  #allowed(peer: PeerId): boolean {
    const until = this.#held.get(peer)
    if (until === undefined) return true
    if (until > Date.now()) return false
    this.#held.delete(peer)
    return true
  }

  /**
   * One dial attempt, from {@link LanDialer}: resolves `true` when a connection opened (its outcome is then handled
   * like any connection), `false` when no address could be reached, `null` when there is nothing to dial.
   */
  async #dial(peer: PeerId): Promise<boolean | null> {
    const info = this.#adverts.get(peer)
    const config = this.#config
    if (!info || !config || this.#status !== 'connected' || this.#joined.has(peer)) return null
    // One connection per pair: the peer with the lower id dials.
    if (!(this.localPeer < peer)) return null
    if (!this.#allowed(peer)) return false
    for (const address of info.addresses) {
      const host = address.includes(':') ? `[${address}]` : address
      const socket = new WebSocket(`ws://${host}:${info.port}/`, {
        handshakeTimeout: config.handshakeTimeout,
        maxPayload: DEFAULT_MAX_MESSAGE_SIZE + 1024,
        perMessageDeflate: false,
      })
      // The connection takes the socket at once, so that no frame arriving right after the upgrade is missed.
      const conn = new LanConnection(socket, { dialer: true, expected: peer }, config, this.#handlers)
      this.#conns.add(conn)
      if (await conn.opened) return true
      if (this.#config !== config || this.#status !== 'connected') return null
    }
    return false
  }

  /**
   * An incoming connection. Unproven ones (handshake under way) are limited: {@link MAX_PENDING_PER_ADDRESS} per
   * remote address (more are refused), {@link MAX_PENDING} in all, where a new one replaces the oldest, so that a
   * peer that opens connections and never proves anything cannot keep honest peers out; each is cut after
   * `handshakeTimeout` anyway (PROV-6.11).
   */
  #accept(socket: WebSocket, request: IncomingMessage): void {
    const config = this.#config
    if (!config || !this.#run) {
      socket.close(CloseCode.ServerFull, 'busy')
      return
    }
    const address = request.socket.remoteAddress ?? ''
    const pending: LanConnection[] = []
    let fromAddress = 0
    for (const c of this.#conns) {
      if (c.dialer || !c.pending) continue
      pending.push(c) // oldest first: a Set iterates in insertion order
      if (c.address === address) fromAddress++
    }
    if (fromAddress >= MAX_PENDING_PER_ADDRESS) {
      socket.close(CloseCode.ServerFull, 'too many unfinished handshakes from this address')
      return
    }
    if (pending.length >= MAX_PENDING)
      pending[0]?.close(CloseCode.ServerFull, 'unfinished handshake replaced by a newer one')
    this.#conns.add(new LanConnection(socket, { dialer: false, address }, config, this.#handlers))
  }

  readonly #handlers = {
    ready: (conn: LanConnection): void => {
      const peer = conn.remote
      if (peer === undefined) return
      if (!this.#allowed(peer)) {
        conn.close(1013, 'dropped recently, try again later')
        return
      }
      this.#dialer.succeeded(peer)
      const old = this.#joined.get(peer)
      if (old) {
        // The peer dialed again (it restarted, or its old connection is half-open): the newest connection wins, and
        // the session sees the peer leave and rejoin, so the two sides sync again.
        this.#joined.delete(peer)
        this.emit('peer-left', [{ peer, reason: 'replaced by a new connection' }])
        old.close(1000, 'replaced by a new connection')
      }
      this.#joined.set(peer, conn)
      this.emit('peer-joined', [{ peer }])
    },
    message: (conn: LanConnection, data: Uint8Array): void => {
      const peer = conn.remote
      if (peer !== undefined && this.#joined.get(peer) === conn) this.emit('message', [{ from: peer, data }])
    },
    closed: (conn: LanConnection, info: LanCloseInfo): void => {
      this.#conns.delete(conn)
      if (!info.opened) return // a dial that failed: the dial loop tries the next address
      const peer = conn.remote ?? conn.claimed
      if (conn.remote !== undefined && this.#joined.get(conn.remote) === conn) {
        this.#joined.delete(conn.remote)
        this.emit('peer-left', [{ peer: conn.remote, reason: info.reason || `closed ${info.code}` }])
      }
      if (info.code === CloseCode.Unauthorized) {
        const detail = info.local
          ? `refused peer${peer ? ` ${peer}` : ''}`
          : `refused by peer${peer ? ` ${peer}` : ''}`
        this.#error(new WeftError(WeftErrorCode.AuthDenied, `${detail}: ${info.reason}`), peer)
        if (peer !== undefined) this.#dialer.cancel(peer) // until its advertisement changes
        return
      }
      if (info.local && info.code === CloseCode.MalformedMessage) {
        this.#error(
          new WeftError(WeftErrorCode.MalformedMessage, `LAN connection closed: ${info.reason}`),
          peer,
        )
      }
      if (
        conn.dialer &&
        peer !== undefined &&
        this.#run &&
        this.#adverts.has(peer) &&
        !this.#joined.has(peer)
      ) {
        this.#dialer.failed(peer)
      }
    },
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.emit('status', [{ status }])
  }

  #error(error: WeftError, peer?: PeerId): void {
    this.emit('error', [peer === undefined ? { error } : { error, peer }])
  }
}

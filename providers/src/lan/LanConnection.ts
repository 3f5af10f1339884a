import { CloseCode, peerId as toPeerId, type PeerId } from '@weft/core'
import type { RawData, WebSocket } from 'ws'
import { FrameCipher } from './FrameCipher.js'
import {
  LAN_PROTOCOL_VERSION,
  encodeHello,
  encodeProof,
  helloVersion,
  newNonce,
  parseHello,
  parseProof,
  proofFor,
  verifyProof,
  type HandshakeTranscript,
  type LanHello,
} from './lanHandshake.js'

/** What both sides of every connection of one transport share. */
export interface LanConnectionConfig {
  readonly local: PeerId
  /** This run's room tag and its salt (as advertised). */
  readonly tag: string
  readonly salt: string
  /** Whether a peer's tag (under its salt) names this room. */
  readonly isRoom: (salt: string, tag: string) => boolean
  /** The room key when a shared secret is configured. */
  readonly key: Buffer | null
  readonly handshakeTimeout: number
  readonly peerTimeout: number
}

/** How a connection ended. */
export interface LanCloseInfo {
  readonly code: number
  readonly reason: string
  /** Whether this side closed it. */
  readonly local: boolean
  /** Whether the WebSocket ever opened (false: the dial itself failed, e.g. refused or unreachable). */
  readonly opened: boolean
}

/** Callbacks of one {@link LanConnection}. */
export interface LanConnectionHandlers {
  /** The handshake completed: `conn.remote` is the authenticated peer. */
  ready(conn: LanConnection): void
  message(conn: LanConnection, data: Uint8Array): void
  /** Called exactly once, at once when this side closes, else when the socket closes. */
  closed(conn: LanConnection, info: LanCloseInfo): void
}

const OPEN = 1
const CONNECTING = 0
/** How long a closing socket may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 1000

const toBytes = (data: RawData): Uint8Array => {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

/**
 * One WebSocket to one LAN peer: the hello exchange (peer ids, salted room tags, nonces), the optional proof of the
 * shared secret, then raw protocol bytes as binary frames (sealed with {@link FrameCipher} when a secret is set), and
 * heartbeats (WebSocket ping) that cut a peer silent for longer than `peerTimeout`.
 *
 * With a secret the dialer proves first and the acceptor answers with its own proof only once the dialer's checked
 * out: whoever merely connects to a peer's advertised port learns nothing that tests a guess at the secret
 * (docs/guides/lan.md, Security, for what a peer that gets dialed can still learn).
 */
export class LanConnection {
  /** Whether this side dialed. */
  readonly dialer: boolean
  /** For a dial, the peer the advertisement named: a hello from anyone else is refused. */
  readonly expected: PeerId | undefined
  /** For an accepted connection, the remote IP address (pending handshakes are limited per address). */
  readonly address: string | undefined
  readonly #socket: WebSocket
  readonly #config: LanConnectionConfig
  readonly #handlers: LanConnectionHandlers
  readonly #hello: LanHello
  /** Resolves once the socket is fully closed. */
  readonly done: Promise<void>
  /** Resolves `true` once the WebSocket opens, `false` if it closes first (a dial that failed). */
  readonly opened: Promise<boolean>
  #remoteHello: LanHello | null = null
  #remote: PeerId | undefined
  #state: 'handshake' | 'proving' | 'open' | 'closed' = 'handshake'
  #opened = false
  #cipher: FrameCipher | null = null
  #lastHeard = Date.now()
  #timer: ReturnType<typeof setTimeout> | ReturnType<typeof setInterval>

  constructor(
    socket: WebSocket,
    role: { readonly dialer: boolean; readonly expected?: PeerId; readonly address?: string },
    config: LanConnectionConfig,
    handlers: LanConnectionHandlers,
  ) {
    this.#socket = socket
    this.dialer = role.dialer
    this.expected = role.expected
    this.address = role.address
    this.#config = config
    this.#handlers = handlers
    this.#hello = {
      version: LAN_PROTOCOL_VERSION,
      peer: config.local,
      room: config.tag,
      salt: config.salt,
      nonce: newNonce(),
      auth: config.key !== null,
    }
    this.done = new Promise((resolve) => socket.once('close', () => resolve()))
    this.opened =
      socket.readyState === OPEN
        ? Promise.resolve(true)
        : new Promise((resolve) => {
            socket.once('open', () => resolve(true))
            socket.once('close', () => resolve(false))
          })
    this.#timer = setTimeout(
      () => this.close(CloseCode.HeartbeatTimeout, 'handshake timeout'),
      config.handshakeTimeout,
    )
    socket.on('error', () => {
      // A close event always follows.
    })
    socket.on('close', (code: number, reason: Buffer) => this.#onSocketClose(code, reason.toString()))
    socket.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary))
    socket.on('pong', this.#heard)
    socket.on('ping', this.#heard)
    if (socket.readyState === OPEN) this.#onOpen()
    else socket.once('open', () => this.#onOpen())
  }

  /** The authenticated peer, once {@link LanConnectionHandlers.ready} was called. */
  get remote(): PeerId | undefined {
    return this.#remote
  }

  /** The peer id the other side's hello claimed (authenticated only once {@link remote} is set). */
  get claimed(): PeerId | undefined {
    return this.#remoteHello ? toPeerId(this.#remoteHello.peer) : this.expected
  }

  /** Whether the handshake is still under way (the peer has proved nothing yet). */
  get pending(): boolean {
    return this.#state === 'handshake' || this.#state === 'proving'
  }

  /** Whether the handshake completed and the connection is not closed. */
  get open(): boolean {
    return this.#state === 'open'
  }

  /** Sends one message (a binary frame). Dropped silently unless open. */
  send(data: Uint8Array): void {
    if (this.#state !== 'open' || this.#socket.readyState !== OPEN) return
    const frame = this.#cipher ? this.#cipher.seal(data) : data
    this.#socket.send(frame, { binary: true }, () => {
      // A failed send is followed by a close event.
    })
  }

  /** Closes the connection (reported to {@link LanConnectionHandlers.closed} at once). */
  close(code: number, reason: string): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#stopTimer()
    const socket = this.#socket
    if (socket.readyState === CONNECTING) socket.terminate()
    else if (socket.readyState === OPEN) {
      socket.close(code, reason)
      const cut = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS)
      cut.unref()
      socket.once('close', () => clearTimeout(cut))
    }
    this.#handlers.closed(this, { code, reason, local: true, opened: this.#opened })
  }

  readonly #heard = (): void => {
    this.#lastHeard = Date.now()
  }

  #stopTimer(): void {
    clearTimeout(this.#timer)
    clearInterval(this.#timer)
  }

  #onOpen(): void {
    if (this.#state === 'closed') return
    this.#opened = true
    this.#lastHeard = Date.now()
    this.#socket.send(encodeHello(this.#hello))
  }

  #onSocketClose(code: number, reason: string): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#stopTimer()
    this.#handlers.closed(this, { code, reason, local: false, opened: this.#opened })
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return
    this.#heard()
    if (this.#state === 'open') {
      if (!isBinary) return this.close(CloseCode.MalformedMessage, 'text frame after the handshake')
      const bytes = toBytes(data)
      const plain = this.#cipher ? this.#cipher.open(bytes) : bytes
      if (plain === null) return this.close(CloseCode.MalformedMessage, 'frame does not authenticate')
      this.#handlers.message(this, plain)
      return
    }
    if (isBinary) return this.close(CloseCode.MalformedMessage, 'binary frame before the handshake')
    const text = toBytes(data)
    if (text.length > 1024) return this.close(CloseCode.MalformedMessage, 'handshake frame too large')
    const frame = Buffer.from(text).toString('utf8')
    if (this.#state === 'handshake') this.#onHello(frame)
    else this.#onProof(frame)
  }

  #onHello(frame: string): void {
    const hello = parseHello(frame)
    if (!hello) {
      const version = helloVersion(frame)
      return this.close(
        CloseCode.MalformedMessage,
        version !== null && version !== LAN_PROTOCOL_VERSION
          ? `unsupported LAN protocol version ${version}`
          : 'malformed hello',
      )
    }
    if (!this.#config.isRoom(hello.salt, hello.room)) return this.close(CloseCode.Forbidden, 'another room')
    if (hello.peer === this.#config.local) return this.close(CloseCode.Forbidden, 'connected to itself')
    if (this.expected !== undefined && hello.peer !== this.expected) {
      return this.close(CloseCode.Forbidden, 'not the advertised peer')
    }
    this.#remoteHello = hello
    if (hello.auth !== (this.#config.key !== null)) {
      return this.close(CloseCode.Unauthorized, 'one side has a shared secret, the other has none')
    }
    const key = this.#config.key
    if (key === null) return this.#ready()
    this.#state = 'proving'
    // The dialer proves first; the acceptor waits for that proof before it sends anything derived from the key.
    if (this.dialer) this.#socket.send(encodeProof(proofFor(key, 'dialer', this.#transcript(hello))))
  }

  #onProof(frame: string): void {
    const proof = parseProof(frame)
    const key = this.#config.key
    const remote = this.#remoteHello
    if (!proof || !key || !remote) return this.close(CloseCode.MalformedMessage, 'malformed proof')
    const transcript = this.#transcript(remote)
    if (!verifyProof(key, this.dialer ? 'acceptor' : 'dialer', transcript, proof))
      return this.close(CloseCode.Unauthorized, 'wrong shared secret')
    if (!this.dialer) this.#socket.send(encodeProof(proofFor(key, 'acceptor', transcript)))
    this.#cipher = new FrameCipher(key, this.#hello, remote, this.dialer)
    this.#ready()
  }

  #transcript(remote: LanHello): HandshakeTranscript {
    return this.dialer ? { dialer: this.#hello, acceptor: remote } : { dialer: remote, acceptor: this.#hello }
  }

  #ready(): void {
    const remote = this.#remoteHello
    if (!remote) return
    this.#state = 'open'
    this.#remote = toPeerId(remote.peer)
    this.#stopTimer()
    const timeout = this.#config.peerTimeout
    this.#timer = setInterval(
      () => {
        if (Date.now() - this.#lastHeard > timeout) {
          this.#socket.terminate()
          this.close(CloseCode.HeartbeatTimeout, `no heartbeat for ${timeout} ms`)
          return
        }
        this.#socket.ping()
      },
      Math.max(20, Math.floor(timeout / 3)),
    )
    this.#handlers.ready(this)
  }
}

import {
  SignalingConnection,
  type SignalingHandlers,
  type SignalingRefusal,
  type SignalingTiming,
  type WebSocketConstructor,
} from './SignalingConnection.js'
import { decryptSignal, encryptSignal, type AnyValue } from './signalingCrypto.js'

/** What a {@link SignalingRoom} reports to its owner. */
export interface SignalingRoomHandlers {
  /** A signaling connection opened and subscribed to the room. */
  readonly onOpen: (via: SignalingConnection) => void
  /** A signaling connection closed or failed (it retries by itself). */
  readonly onClose: (via: SignalingConnection, reason: string) => void
  /** A signaling server refused its connection with a final close code (it does not retry by itself). */
  readonly onRefused: (via: SignalingConnection, refusal: SignalingRefusal) => void
  /** One room message (decrypted), as published by a peer (ourselves included: servers echo). */
  readonly onMessage: (via: SignalingConnection, data: Record<string, unknown>) => void
}

/** Options of {@link SignalingRoom}. */
export interface SignalingRoomOptions {
  readonly room: string
  readonly urls: readonly string[]
  readonly WebSocket: WebSocketConstructor
  readonly timing: SignalingTiming
  /** The room key of a password-protected room, else null (messages travel in clear). */
  readonly key: CryptoKey | null
  readonly handlers: SignalingRoomHandlers
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * One room on every signaling server at once (like y-webrtc, which connects to all): subscribes on every
 * connection that opens, publishes room messages (encrypted in a password-protected room, in order), and hands the
 * (decrypted) messages of the room to its owner, in the order each server delivered them.
 */
export class SignalingRoom {
  readonly #room: string
  readonly #key: CryptoKey | null
  readonly #handlers: SignalingRoomHandlers
  readonly #sockets: SignalingConnection[]
  #closed = false
  /** Encryption and decryption are asynchronous: messages wait in line so they keep their order. */
  #outbox: Promise<void> = Promise.resolve()
  #inbox: Promise<void> = Promise.resolve()

  constructor(options: SignalingRoomOptions) {
    this.#room = options.room
    this.#key = options.key
    this.#handlers = options.handlers
    const handlers: SignalingHandlers = {
      onOpen: (s) => {
        s.send({ type: 'subscribe', topics: [this.#room] })
        this.#handlers.onOpen(s)
      },
      onClose: (s, reason) => this.#handlers.onClose(s, reason),
      onRefused: (s, refusal) => this.#handlers.onRefused(s, refusal),
      onMessage: (s, m) => this.#receive(s, m),
    }
    this.#sockets = options.urls.map(
      (url) => new SignalingConnection(url, options.WebSocket, handlers, options.timing),
    )
  }

  /** URLs of the signaling servers currently connected. */
  get connected(): string[] {
    return this.#sockets.filter((s) => s.open).map((s) => s.url)
  }

  /** Every signaling server refused its connection with a final close code: none will be retried by itself. */
  get allRefused(): boolean {
    return this.#sockets.every((s) => s.refused)
  }

  /**
   * Dials at once every connection waiting out its backoff, and with `refused` every connection a server refused
   * (see {@link SignalingConnection.retryNow}).
   */
  retryNow(refused = false): void {
    if (this.#closed) return
    for (const s of this.#sockets) s.retryNow(refused)
  }

  /**
   * Publishes a room message on `via` when it is open, else on the first open connection; with `everywhere` (and no
   * `via`), on every open connection.
   */
  publish(data: Record<string, AnyValue>, via?: SignalingConnection, everywhere = false): void {
    const targets = (): SignalingConnection[] => {
      if (via?.open) return [via]
      const open = this.#sockets.filter((s) => s.open)
      return everywhere && via === undefined ? open : open.slice(0, 1)
    }
    const key = this.#key
    if (key === null) {
      for (const s of targets()) s.send({ type: 'publish', topic: this.#room, data })
      return
    }
    this.#outbox = this.#outbox.then(async () => {
      const sealed = await encryptSignal(data, key).catch(() => null)
      if (sealed === null || this.#closed) return
      for (const s of targets()) s.send({ type: 'publish', topic: this.#room, data: sealed })
    })
  }

  /** Unsubscribes and closes every connection; nothing is reported afterwards. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const s of this.#sockets) {
      s.send({ type: 'unsubscribe', topics: [this.#room] })
      s.close()
    }
  }

  #receive(via: SignalingConnection, message: Record<string, unknown>): void {
    if (this.#closed || message['type'] !== 'publish' || message['topic'] !== this.#room) return
    const data = message['data']
    const key = this.#key
    if (key === null) {
      if (isRecord(data)) this.#handlers.onMessage(via, data)
      return
    }
    if (typeof data !== 'string') return
    this.#inbox = this.#inbox.then(async () => {
      const plain = await decryptSignal(data, key)
      if (!this.#closed && isRecord(plain)) this.#handlers.onMessage(via, plain)
    })
  }
}

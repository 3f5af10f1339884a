import { pino, type Logger } from 'pino'
import { CloseCode } from '@weft/core'
import type { RelaySocket, RelaySocketHandler } from './RelaySocket.js'
import { bytesOf, SharedMessage } from './SharedMessage.js'

/** How a {@link MemoryRelaySocket} pair was closed. */
export interface MemoryClose {
  readonly code: number
  readonly reason: string
  /** Which end started the close. */
  readonly by: 'relay' | 'client'
}

/**
 * The relay's end of an in-memory socket pair ({@link memoryRelaySocketPair}), for relay tests without a server:
 * what the relay sends arrives at the {@link MemoryRelayClient} at once, what the client sends is handed to the
 * relay's handler at once (kept in order until the relay attaches one). No size or rate limits; `trackInput` is
 * counted in {@link MemoryRelaySocket.heldInputBytes}.
 */
export class MemoryRelaySocket implements RelaySocket {
  readonly logger: Logger
  /** The other end. */
  readonly client: MemoryRelayClient
  /** Bytes the relay holds for an unfinished incoming message of this connection (its `trackInput` calls). */
  heldInputBytes = 0
  #handler: RelaySocketHandler | null = null
  #early: Array<{ data: Buffer; isBinary: boolean }> = []
  #state: 'open' | 'closing' | 'closed' = 'open'

  constructor(logger: Logger = pino({ level: 'silent' })) {
    this.logger = logger
    this.client = new MemoryRelayClient(this)
  }

  get open(): boolean {
    return this.#state === 'open'
  }

  attach(handler: RelaySocketHandler): void {
    this.#handler = handler
    if (this.#state === 'closed') return this.#closed(handler)
    const early = this.#early
    this.#early = []
    for (const { data, isBinary } of early) this.deliver(data, isBinary)
  }

  send(message: Uint8Array | SharedMessage): boolean {
    if (!this.open) return false
    this.client.receive(message)
    return true
  }

  /** Closes like a WebSocket: the client learns the code at once, the relay's `onClose` follows in a microtask. */
  close(code: number, reason: string): void {
    if (!this.open) return
    this.#state = 'closing'
    this.client.closedBy({ code, reason, by: 'relay' })
    queueMicrotask(() => this.gone())
  }

  trackInput(delta: number): void {
    this.heldInputBytes += delta
  }

  /** @internal One message from the client. */
  deliver(data: Buffer, isBinary: boolean): void {
    if (!this.open) return
    const handler = this.#handler
    if (!handler) {
      this.#early.push({ data, isBinary })
      return
    }
    // As every RelaySocket: a handler's fault closes this connection, never the caller.
    try {
      const result = handler.onMessage(data, isBinary)
      if (result) result.catch((err: unknown) => this.#internalError(err))
    } catch (err) {
      this.#internalError(err)
    }
  }

  /** @internal The socket is gone (after a close from either end). */
  gone(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#handler) this.#closed(this.#handler)
  }

  #closed(handler: RelaySocketHandler): void {
    try {
      handler.onClose()
    } catch (err) {
      this.logger.error({ err }, 'close handler failed')
    }
  }

  #internalError(err: unknown): void {
    this.logger.error({ err }, 'handler failed')
    this.close(CloseCode.InternalError, 'internal error')
  }
}

/**
 * The client's end of an in-memory socket pair: sends bytes to the relay and keeps what the relay sent, in order,
 * until a test takes it with {@link MemoryRelayClient.next}.
 */
export class MemoryRelayClient {
  /** The relay's end (for what a test checks on it, e.g. {@link MemoryRelaySocket.heldInputBytes}). */
  readonly relay: MemoryRelaySocket
  /** Every message the relay sent, in order, as bytes. */
  readonly received: Uint8Array[] = []
  /** For each of {@link MemoryRelayClient.received}: the {@link SharedMessage} it was sent as, if it was one. */
  readonly shared: Array<SharedMessage | null> = []
  /** Resolves once the pair is closed, by either end. */
  readonly closed: Promise<MemoryClose>
  #resolveClosed!: (close: MemoryClose) => void
  #close: MemoryClose | null = null
  /** Indexes into `received` that `next` returned. */
  readonly #taken = new Set<number>()
  #waiters: Array<{ match: (m: Uint8Array) => boolean; resolve: (m: Uint8Array) => void }> = []

  constructor(relay: MemoryRelaySocket) {
    this.relay = relay
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
  }

  /** How the pair was closed, or null while open. */
  get closeInfo(): MemoryClose | null {
    return this.#close
  }

  /** Sends one message to the relay (binary unless `isBinary` is false); ignored once the pair is closing. */
  send(data: Uint8Array | string, isBinary = typeof data !== 'string'): void {
    if (this.#close) return
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)
    this.relay.deliver(bytes, isBinary)
  }

  /** Closes from the client's side: the relay's `onClose` runs at once. */
  close(code: number = 1000, reason = ''): void {
    if (this.#close) return
    this.closedBy({ code, reason, by: 'client' })
    this.relay.gone()
  }

  /**
   * The next message the relay sent that `match` accepts (any by default) and that no earlier call took, waiting for
   * it if needed. Messages it skips stay for later calls; {@link MemoryRelayClient.received} keeps them all.
   */
  next(match: (message: Uint8Array) => boolean = () => true): Promise<Uint8Array> {
    for (let i = 0; i < this.received.length; i++) {
      const message = this.received[i] as Uint8Array
      if (this.#taken.has(i) || !match(message)) continue
      this.#taken.add(i)
      return Promise.resolve(message)
    }
    return new Promise((resolve) => this.#waiters.push({ match, resolve }))
  }

  /** @internal A message from the relay. */
  receive(message: Uint8Array | SharedMessage): void {
    const bytes = bytesOf(message)
    const index = this.received.push(bytes) - 1
    this.shared.push(message instanceof SharedMessage ? message : null)
    const i = this.#waiters.findIndex((w) => w.match(bytes))
    if (i < 0) return
    this.#taken.add(index)
    this.#waiters.splice(i, 1)[0]?.resolve(bytes)
  }

  /** @internal */
  closedBy(close: MemoryClose): void {
    if (this.#close) return
    this.#close = close
    this.#resolveClosed(close)
  }
}

/**
 * An in-memory socket pair for relay tests without a server: hand `relay` to `RelayHub.accept`, drive the
 * connection from `client`.
 */
export const memoryRelaySocketPair = (
  logger?: Logger,
): { relay: MemoryRelaySocket; client: MemoryRelayClient } => {
  const relay = new MemoryRelaySocket(logger)
  return { relay, client: relay.client }
}

import { monotonicMs, TokenBucket } from '../connection/TokenBucket.js'

/**
 * SUBSCRIBEs a workspace socket may join at once (WS-RELAY-12): a workspace opening with its preloaded documents
 * (100 by default) joins at once, twice over.
 */
export const SUBSCRIBE_BURST = 200

/**
 * SUBSCRIBEs per second a workspace socket joins once its burst is spent (WS-RELAY-12): the rate at which one address
 * may open `/relay` connections (`upgradesPerIpPerSecond`), each of which may load a room too.
 */
export const SUBSCRIBES_PER_SECOND = 20

/**
 * The pace of workspace SUBSCRIBEs (WS-RELAY-12, `RelayOptions.workspaceSubscribes`, `weft serve
 * --subscribe-burst`, `--subscribes-per-second`): per socket, or shared by the sockets of one client address.
 */
export interface SubscribeRate {
  /** SUBSCRIBEs that join at once (default {@link SUBSCRIBE_BURST}; at least 1). */
  readonly burst?: number | undefined
  /** SUBSCRIBEs per second once the burst is spent (default {@link SUBSCRIBES_PER_SECOND}; more than 0). */
  readonly perSecond?: number | undefined
}

/** Options of {@link SubscribeQueue}. */
export interface SubscribeQueueOptions {
  /** Joins `doc` now (its turn came), then hands it the messages the client sent for it meanwhile, in order. */
  readonly join: (doc: string, deletions: Uint8Array | null, held: readonly Buffer[]) => void
  /** Charges held input bytes to the socket (CONN-11), negative to give them back. */
  readonly trackInput: (delta: number) => void
  /**
   * The bucket the tokens come from: one shared by every socket of an address (WS-RELAY-12). Default: the socket's
   * own, of `burst` and `perSecond`.
   */
  readonly bucket?: TokenBucket | undefined
  /** Default {@link SUBSCRIBE_BURST}. */
  readonly burst?: number | undefined
  /** Default {@link SUBSCRIBES_PER_SECOND} (also the refill a shared `bucket` is made with). */
  readonly perSecond?: number | undefined
  /** Monotonic clock (ms), for tests. */
  readonly now?: () => number
}

interface Waiting {
  readonly deletions: Uint8Array | null
  readonly held: Buffer[]
  bytes: number
}

/**
 * The pace at which one workspace socket's SUBSCRIBEs join their rooms (WS-RELAY-12): a token bucket, and past it a
 * queue, in arrival order, of the documents that wait for their turn, each with the DOC messages the client sent
 * for it meanwhile (charged to the socket's input budget). A client is slowed down, never refused; a document
 * unsubscribed while it waits never loads its room.
 */
export class SubscribeQueue {
  readonly #opts: SubscribeQueueOptions
  readonly #bucket: TokenBucket
  readonly #interval: number
  readonly #waiting = new Map<string, Waiting>()
  #timer: NodeJS.Timeout | null = null

  constructor(opts: SubscribeQueueOptions) {
    this.#opts = opts
    const perSecond = opts.perSecond ?? SUBSCRIBES_PER_SECOND
    this.#bucket =
      opts.bucket ?? new TokenBucket(perSecond, opts.burst ?? SUBSCRIBE_BURST, opts.now ?? monotonicMs)
    // One token's refill, rounded up (a timer that fires a hair early finds no token and waits again).
    this.#interval = Math.ceil(1000 / perSecond) + 1
  }

  /** Documents waiting for their turn. */
  get size(): number {
    return this.#waiting.size
  }

  /** Whether `doc` waits for its turn. */
  has(doc: string): boolean {
    return this.#waiting.has(doc)
  }

  /**
   * A SUBSCRIBE of `doc` that would join its room: true when it may join now (a token taken), false when it waits
   * behind the documents already waiting (`join` is called at its turn).
   */
  request(doc: string, deletions: Uint8Array | null): boolean {
    if (this.#waiting.size === 0 && this.#bucket.take()) return true
    this.#waiting.set(doc, { deletions, held: [], bytes: 0 })
    this.#arm()
    return false
  }

  /** Keeps a DOC message of a waiting `doc` for its turn; false when `doc` does not wait. */
  hold(doc: string, message: Buffer): boolean {
    const waiting = this.#waiting.get(doc)
    if (!waiting) return false
    waiting.held.push(message)
    waiting.bytes += message.byteLength
    this.#opts.trackInput(message.byteLength)
    return true
  }

  /** UNSUBSCRIBE of a waiting `doc`: it leaves the queue, its messages dropped; false when it did not wait. */
  cancel(doc: string): boolean {
    const waiting = this.#waiting.get(doc)
    if (!waiting) return false
    this.#waiting.delete(doc)
    if (waiting.bytes !== 0) this.#opts.trackInput(-waiting.bytes)
    return true
  }

  /** Forgets every waiting document (the socket closed: its budget gives back what it held itself). */
  clear(): void {
    this.#waiting.clear()
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  #arm(): void {
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#release()
    }, this.#interval)
  }

  /** Joins waiting documents, oldest first, while tokens last. */
  #release(): void {
    for (const [doc, waiting] of this.#waiting) {
      if (!this.#bucket.take()) break
      this.#waiting.delete(doc)
      if (waiting.bytes !== 0) this.#opts.trackInput(-waiting.bytes)
      this.#opts.join(doc, waiting.deletions, waiting.held)
    }
    if (this.#waiting.size > 0) this.#arm()
  }
}

/** What a {@link RoundRobinSender} writes to: one connection carrying many streams (a workspace's WebSocket). */
export interface RoundRobinSink<M extends { readonly byteLength: number }> {
  /** Whether the connection still takes messages; a closed one makes the sender drop what it holds. */
  readonly open: boolean
  /** Bytes the connection accepted but has not written to the network yet (a WebSocket's `bufferedAmount`). */
  readonly bufferedAmount: number
  send(message: M): void
}

/** Options of {@link RoundRobinSender}. */
export interface RoundRobinSenderOptions {
  /** Messages wait in their stream's queue while the connection buffers this many bytes or more. */
  readonly lowWaterBytes: number
  /**
   * Calls `fn` once the connection's buffer may have drained: on its `drain` event (Node), or after a delay (a
   * browser WebSocket tells nothing). Called at most once at a time, only while messages wait. May return a function
   * that cancels the wait (called when the sender is cleared).
   */
  readonly whenDrained: (fn: () => void) => (() => void) | void
}

interface Queue<M> {
  readonly items: M[]
  /** Resolvers of {@link RoundRobinSender.whenSent} for this stream. */
  waiting: Array<() => void> | null
}

/**
 * Sends the messages of many streams (a workspace's documents, and its own control frames) over one connection so
 * that no stream holds back the others (WS-WIRE-5, WS-RELAY-5, WS-CLIENT-LINK-6), written once for the relay and the
 * client. While the connection buffers less than `lowWaterBytes` a message is written at once; above it, messages
 * wait in one queue per stream, and the queues are drained in turn, one message each, whenever the buffer falls below
 * the mark again. A large document's catch-up (chunked by its protocol path) therefore delays another document's
 * small update by at most one chunk plus the low-water mark. Order within one stream is kept.
 */
export class RoundRobinSender<M extends { readonly byteLength: number }> {
  readonly #sink: RoundRobinSink<M>
  readonly #options: RoundRobinSenderOptions
  readonly #queues = new Map<string, Queue<M>>()
  /** Streams with waiting messages, in turn order. */
  readonly #ring: string[] = []
  #queuedBytes = 0
  #cancelWait: (() => void) | null = null
  #waitingForDrain = false

  constructor(sink: RoundRobinSink<M>, options: RoundRobinSenderOptions) {
    this.#sink = sink
    this.#options = options
  }

  /** Bytes waiting here (not yet handed to the connection). */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /** Messages waiting here, over every stream. */
  get waiting(): number {
    let n = 0
    for (const queue of this.#queues.values()) n += queue.items.length
    return n
  }

  /** Queues `message` of stream `key` behind the stream's waiting messages and writes what may be written now. */
  push(key: string, message: M): void {
    let queue = this.#queues.get(key)
    if (!queue) {
      queue = { items: [], waiting: null }
      this.#queues.set(key, queue)
    }
    if (queue.items.length === 0) this.#ring.push(key)
    queue.items.push(message)
    this.#queuedBytes += message.byteLength
    this.pump()
  }

  /** Forgets what waits under `key` (its stream ended) and returns it. */
  drop(key: string): M[] {
    const queue = this.#queues.get(key)
    if (!queue) return []
    this.#queues.delete(key)
    for (const item of queue.items) this.#queuedBytes -= item.byteLength
    if (queue.items.length > 0) this.#ring.splice(this.#ring.indexOf(key), 1)
    for (const resolve of queue.waiting ?? []) resolve()
    if (this.#ring.length === 0) this.#stopWaiting()
    return queue.items
  }

  /** Resolves once nothing waits under `key` (written to the connection, dropped, or the sender cleared). */
  whenSent(key: string): Promise<void> {
    const queue = this.#queues.get(key)
    if (!queue || queue.items.length === 0 || !this.#sink.open) return Promise.resolve()
    return new Promise((resolve) => (queue.waiting ??= []).push(resolve))
  }

  /** Writes waiting messages, one per stream in turn, until the connection buffers the low-water mark. */
  pump(): void {
    const sink = this.#sink
    while (this.#ring.length > 0) {
      if (!sink.open) return this.clear()
      if (sink.bufferedAmount >= this.#options.lowWaterBytes) {
        if (this.#waitingForDrain) return
        this.#waitingForDrain = true
        this.#cancelWait =
          this.#options.whenDrained(() => {
            this.#waitingForDrain = false
            this.#cancelWait = null
            this.pump()
          }) ?? null
        return
      }
      const key = this.#ring.shift()!
      const queue = this.#queues.get(key)!
      const message = queue.items.shift()!
      this.#queuedBytes -= message.byteLength
      if (queue.items.length > 0) this.#ring.push(key)
      else {
        this.#queues.delete(key)
        for (const resolve of queue.waiting ?? []) resolve()
      }
      sink.send(message)
    }
  }

  /** Drops everything waiting (the connection closed: what waited belongs to streams that ended with it). */
  clear(): void {
    for (const key of [...this.#queues.keys()]) this.drop(key)
    this.#stopWaiting()
  }

  #stopWaiting(): void {
    this.#cancelWait?.()
    this.#cancelWait = null
    this.#waitingForDrain = false
  }
}

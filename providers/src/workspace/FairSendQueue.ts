/** What a {@link FairSendQueue} sends through. */
export interface FairSendSink {
  /** Sends one frame now. */
  send(frame: Uint8Array): void
  /** Bytes accepted by `send` but not yet written to the network (a WebSocket's `bufferedAmount`). */
  buffered(): number
}

/** Options of {@link FairSendQueue}. */
export interface FairSendQueueOptions {
  /** Frames wait in their queue while the sink holds this many bytes or more. */
  readonly highWaterMark: number
  /** How long to wait before looking at the sink again while frames wait, in ms. */
  readonly drainIntervalMs: number
}

/**
 * Sends frames of many streams (a workspace's documents) over one connection so that no stream holds back the
 * others (WS-WIRE-5, WS-CLIENT-LINK-6). While the connection's buffer is below the high-water mark, a frame goes out
 * at once (when nothing waits); above it, frames wait in one queue per stream, and the queues are drained in turn,
 * one frame each, whenever the buffer falls below the mark again. A browser WebSocket tells nothing when its buffer
 * drains, so the queue looks again every `drainIntervalMs` while frames wait. Order within one stream is kept.
 */
export class FairSendQueue {
  readonly #sink: FairSendSink
  readonly #options: FairSendQueueOptions
  /** Streams with waiting frames, in turn order: the first is served next, then moved to the end. */
  readonly #queues = new Map<string, Uint8Array[]>()
  #timer: ReturnType<typeof setTimeout> | null = null

  constructor(sink: FairSendSink, options: FairSendQueueOptions) {
    this.#sink = sink
    this.#options = options
  }

  /** Frames waiting, over every stream. */
  get waiting(): number {
    let n = 0
    for (const q of this.#queues.values()) n += q.length
    return n
  }

  /** Sends `frame` of stream `key` now, or queues it behind the stream's waiting frames. */
  push(key: string, frame: Uint8Array): void {
    if (this.#queues.size === 0 && this.#sink.buffered() < this.#options.highWaterMark) {
      this.#sink.send(frame)
      return
    }
    const queue = this.#queues.get(key)
    if (queue) queue.push(frame)
    else this.#queues.set(key, [frame])
    this.drain()
  }

  /** Forgets the frames of stream `key` that still wait, and returns them. */
  drop(key: string): Uint8Array[] {
    const queue = this.#queues.get(key) ?? []
    this.#queues.delete(key)
    if (this.#queues.size === 0) this.#stopTimer()
    return queue
  }

  /** Forgets every waiting frame (the connection closed: what waited belongs to paths that closed with it). */
  clear(): void {
    this.#queues.clear()
    this.#stopTimer()
  }

  /** Sends waiting frames, one per stream in turn, while the sink is below the high-water mark. */
  drain(): void {
    while (this.#queues.size > 0 && this.#sink.buffered() < this.#options.highWaterMark) {
      const [key, queue] = this.#queues.entries().next().value as [string, Uint8Array[]]
      this.#queues.delete(key)
      const frame = queue.shift()!
      if (queue.length > 0) this.#queues.set(key, queue) // to the end of the turn order
      this.#sink.send(frame)
    }
    if (this.#queues.size === 0) this.#stopTimer()
    else if (!this.#timer)
      this.#timer = setTimeout(() => {
        this.#timer = null
        this.drain()
      }, this.#options.drainIntervalMs)
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }
}

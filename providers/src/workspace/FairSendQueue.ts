import { RoundRobinSender } from '@weft/core/sync-engine'

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
 * others (WS-WIRE-5, WS-CLIENT-LINK-6): the shared round-robin sender of `@weft/core/sync-engine`, over a browser
 * WebSocket, which tells nothing when its buffer drains: while frames wait, it looks again every `drainIntervalMs`.
 */
export class FairSendQueue {
  readonly #sender: RoundRobinSender<Uint8Array>

  constructor(sink: FairSendSink, options: FairSendQueueOptions) {
    this.#sender = new RoundRobinSender(
      {
        open: true,
        get bufferedAmount() {
          return sink.buffered()
        },
        send: (frame) => sink.send(frame),
      },
      {
        lowWaterBytes: options.highWaterMark,
        whenDrained: (fn) => {
          const timer = setTimeout(fn, options.drainIntervalMs)
          return () => clearTimeout(timer)
        },
      },
    )
  }

  /** Frames waiting, over every stream. */
  get waiting(): number {
    return this.#sender.waiting
  }

  /** Sends `frame` of stream `key` now, or queues it behind the stream's waiting frames. */
  push(key: string, frame: Uint8Array): void {
    this.#sender.push(key, frame)
  }

  /** Forgets the frames of stream `key` that still wait, and returns them. */
  drop(key: string): Uint8Array[] {
    return this.#sender.drop(key)
  }

  /** Forgets every waiting frame (the connection closed: what waited belongs to paths that closed with it). */
  clear(): void {
    this.#sender.clear()
  }

  /** Sends waiting frames, one per stream in turn, while the sink is below the high-water mark. */
  drain(): void {
    this.#sender.pump()
  }
}

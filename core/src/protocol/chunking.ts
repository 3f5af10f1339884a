import { WeftError, WeftErrorCode } from '../WeftError.js'
import { CHUNK_OVERHEAD, encodeChunk } from './messages.js'

/**
 * Splits `message` into chunk messages none of which is larger than `limit` bytes (SYNC-5.1). A message that
 * already fits is returned as it is, unwrapped.
 */
export const splitMessage = (message: Uint8Array, limit: number, id: number): Uint8Array[] => {
  if (message.length <= limit) return [message]
  const payload = limit - CHUNK_OVERHEAD
  if (payload < 64) throw new WeftError(WeftErrorCode.InvalidArgument, `chunk limit ${limit} is too small`)
  const out: Uint8Array[] = []
  for (let offset = 0; offset < message.length; offset += payload) {
    out.push(encodeChunk(id, message.length, offset, message.subarray(offset, offset + payload)))
  }
  return out
}

/** Limits that protect a {@link Reassembler} from hostile or broken senders. */
export interface ReassemblerOptions {
  /** Largest reassembled message accepted, in bytes. */
  readonly maxMessageSize: number
  /** Most messages being reassembled at once; the oldest is dropped past this (lost chunks). Default 4. */
  readonly maxPending?: number
  /**
   * Pieces must arrive in order, each where the previous one ended (one WebSocket: TCP keeps the order); any other
   * offset is malformed. Then the memory held for a message never exceeds about twice the bytes received of it
   * (SYNC-5.6). Default `false`: any order (SYNC-5.2).
   */
  readonly ordered?: boolean
}

interface Pending {
  readonly total: number
  /** Grows as pieces arrive (SYNC-5.6), up to `total`. */
  buffer: Uint8Array
  /** offset -> length of every distinct piece received (`null` when ordered: pieces are contiguous). */
  readonly pieces: Map<number, number> | null
  received: number
}

const EMPTY = new Uint8Array(0)

/** First allocation of a message being reassembled (unless it is smaller); doubles from there. */
const MIN_CAPACITY = 16 * 1024

/**
 * Reassembles chunked messages from one peer path. Tolerates duplicated and reordered chunks (SYNC-5.2, unless
 * `ordered`); rejects chunks that disagree with their message's declared size or overlap inconsistently (SYNC-5.3),
 * and messages larger than `maxMessageSize` before buffering them (SYNC-5.4). A message's buffer is never allocated
 * at its declared size up front: it grows (doubling) to cover the pieces received (SYNC-5.6).
 */
export class Reassembler {
  readonly #max: number
  readonly #maxPending: number
  readonly #ordered: boolean
  readonly #pending = new Map<number, Pending>()

  constructor(options: ReassemblerOptions) {
    this.#max = options.maxMessageSize
    this.#maxPending = options.maxPending ?? 4
    this.#ordered = options.ordered ?? false
  }

  /** Bytes currently buffered (allocated for partial messages). */
  get bufferedBytes(): number {
    let n = 0
    for (const p of this.#pending.values()) n += p.buffer.length
    return n
  }

  /**
   * Adds one chunk. Returns the complete message when this chunk completes it, else `null`. Throws a
   * `message-too-large` or `malformed-message` {@link WeftError} for a hostile chunk.
   */
  add(id: number, total: number, offset: number, data: Uint8Array): Uint8Array | null {
    if (total > this.#max) {
      throw new WeftError(
        WeftErrorCode.MessageTooLarge,
        `chunked message of ${total} bytes exceeds ${this.#max}`,
      )
    }
    let p = this.#pending.get(id)
    if (p === undefined) {
      if (this.#pending.size >= this.#maxPending) {
        const oldest = this.#pending.keys().next().value
        if (oldest !== undefined) this.#pending.delete(oldest)
      }
      p = { total, buffer: EMPTY, pieces: this.#ordered ? null : new Map(), received: 0 }
      this.#pending.set(id, p)
    } else if (p.total !== total) {
      this.#pending.delete(id)
      throw new WeftError(
        WeftErrorCode.MalformedMessage,
        `chunk ${id} declares ${total} bytes, earlier ${p.total}`,
      )
    }
    const end = offset + data.length
    if (end > total) {
      this.#pending.delete(id)
      throw new WeftError(WeftErrorCode.MalformedMessage, `chunk ${id} piece ends past its total`)
    }
    if (p.pieces === null) {
      if (offset !== p.received) {
        this.#pending.delete(id)
        throw new WeftError(
          WeftErrorCode.MalformedMessage,
          `chunk ${id} piece at ${offset}, expected ${p.received}`,
        )
      }
    } else {
      const seen = p.pieces.get(offset)
      if (seen !== undefined) {
        if (seen !== data.length)
          throw new WeftError(WeftErrorCode.MalformedMessage, `chunk ${id} piece size differs`)
        return null // duplicate
      }
      p.pieces.set(offset, data.length)
    }
    if (end > p.buffer.length) {
      const grown = new Uint8Array(Math.min(total, Math.max(end, p.buffer.length * 2, MIN_CAPACITY)))
      grown.set(p.buffer)
      p.buffer = grown
    }
    p.buffer.set(data, offset)
    p.received += data.length
    if (p.received < p.total) return null
    this.#pending.delete(id)
    if (
      p.received > p.total ||
      p.buffer.length !== p.total ||
      (p.pieces !== null && !covers(p.pieces, total))
    ) {
      throw new WeftError(WeftErrorCode.MalformedMessage, `chunk ${id} pieces overlap`)
    }
    return p.buffer
  }

  /** Bytes received so far of the message being reassembled under `id` (0 if none). */
  progress(id: number): number {
    return this.#pending.get(id)?.received ?? 0
  }

  /** Drops every partial message. */
  clear(): void {
    this.#pending.clear()
  }
}

const covers = (pieces: Map<number, number>, total: number): boolean => {
  const offsets = [...pieces.keys()].sort((a, b) => a - b)
  let next = 0
  for (const o of offsets) {
    if (o !== next) return false
    next = o + (pieces.get(o) ?? 0)
  }
  return next === total
}

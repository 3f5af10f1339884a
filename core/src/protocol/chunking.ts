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
  /** Most messages being reassembled at once; the oldest is dropped past this (lost chunks). */
  readonly maxPending?: number
}

interface Pending {
  readonly total: number
  readonly buffer: Uint8Array
  /** offset -> length of every distinct piece received. */
  readonly pieces: Map<number, number>
  received: number
}

/**
 * Reassembles chunked messages from one peer path. Tolerates duplicated and reordered chunks (SYNC-5.2); rejects
 * chunks that disagree with their message's declared size or overlap inconsistently (SYNC-5.3), and messages larger
 * than `maxMessageSize` before buffering them (SYNC-5.4).
 */
export class Reassembler {
  readonly #max: number
  readonly #maxPending: number
  readonly #pending = new Map<number, Pending>()

  constructor(options: ReassemblerOptions) {
    this.#max = options.maxMessageSize
    this.#maxPending = options.maxPending ?? 4
  }

  /** Bytes currently buffered. */
  get bufferedBytes(): number {
    let n = 0
    for (const p of this.#pending.values()) n += p.total
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
      p = { total, buffer: new Uint8Array(total), pieces: new Map(), received: 0 }
      this.#pending.set(id, p)
    } else if (p.total !== total) {
      this.#pending.delete(id)
      throw new WeftError(
        WeftErrorCode.MalformedMessage,
        `chunk ${id} declares ${total} bytes, earlier ${p.total}`,
      )
    }
    const seen = p.pieces.get(offset)
    if (seen !== undefined) {
      if (seen !== data.length)
        throw new WeftError(WeftErrorCode.MalformedMessage, `chunk ${id} piece size differs`)
      return null // duplicate
    }
    p.buffer.set(data, offset)
    p.pieces.set(offset, data.length)
    p.received += data.length
    if (p.received < p.total) return null
    this.#pending.delete(id)
    if (p.received > p.total || !covers(p)) {
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

const covers = (p: Pending): boolean => {
  const offsets = [...p.pieces.keys()].sort((a, b) => a - b)
  let next = 0
  for (const o of offsets) {
    if (o !== next) return false
    next = o + (p.pieces.get(o) ?? 0)
  }
  return next === p.total
}

import * as Y from 'yjs'
import { EMPTY_UPDATE, mergeUpdatesBatched } from './mergeUpdatesBatched.js'

/** How many answers to distinct state vectors are kept per document state. */
const DIFF_CACHE_SIZE = 8
/** Unmerged parts past which the log merges itself even without a reader. */
const MAX_PARTS = 256

/**
 * A document's state held as encoded Yjs updates instead of a live Y.Doc: the relay forwards and stores updates
 * without applying them. The merged state, its state vector and the answers to recent state vectors (a join storm
 * of fresh clients all ask with the same empty one) are cached until the next update.
 */
export class UpdateLog {
  #parts: Uint8Array[]
  #stateVector: Uint8Array | null = null
  readonly #answers = new Map<string, Uint8Array>()
  /** Updates appended since {@link UpdateLog.mark}, or `null` without a mark. */
  #sinceMark: Uint8Array[] | null = null

  constructor(parts: readonly Uint8Array[]) {
    this.#parts = [...parts]
  }

  /** Bytes held (sum of the unmerged parts). */
  get byteLength(): number {
    let n = 0
    for (const p of this.#parts) n += p.byteLength
    return n
  }

  /** Adds an update that was validated (it decodes). */
  append(update: Uint8Array): void {
    this.#parts.push(update)
    this.#sinceMark?.push(update)
    this.#stateVector = null
    this.#answers.clear()
    // Bound the number of parts without re-merging the (large) base on every burst of small updates.
    if (this.#parts.length > MAX_PARTS) {
      const [base, ...tail] = this.#parts
      this.#parts = [base as Uint8Array, mergeUpdatesBatched(tail)]
    }
  }

  /**
   * The whole state as one update (merged on demand, then cached). Should Yjs refuse to merge the parts (a crafted
   * update that decodes but is inconsistent), the parts are merged one by one and those it refuses are dropped and
   * counted in {@link UpdateLog.dropped}, instead of making the document unusable.
   */
  state(): Uint8Array {
    if (this.#parts.length !== 1) {
      try {
        this.#parts = [mergeUpdatesBatched(this.#parts)]
      } catch {
        this.#parts = [this.#salvage()]
      }
    }
    return this.#parts[0] as Uint8Array
  }

  /**
   * Starts recording appends, so that the state can later be replaced by an equivalent one computed from what the
   * log held at this point (a garbage-collected snapshot, or the store's compacted state) without losing what
   * arrived meanwhile. One mark at a time; marking again restarts the recording.
   */
  mark(): void {
    this.#sinceMark = []
  }

  /** Stops recording (the replacement was abandoned). */
  unmark(): void {
    this.#sinceMark = null
  }

  /**
   * Replaces everything held up to the {@link UpdateLog.mark} by `base` (which must contain at least that state),
   * keeping the updates appended since. Without a mark, replaces the whole state.
   */
  rebase(base: readonly Uint8Array[]): void {
    this.#parts = [...base, ...(this.#sinceMark ?? [])]
    this.#sinceMark = null
    this.#stateVector = null
    this.#answers.clear()
  }

  /** Parts dropped because Yjs could not merge them. */
  dropped = 0

  #salvage(): Uint8Array {
    let acc = EMPTY_UPDATE
    for (const part of this.#parts) {
      try {
        const next = Y.mergeUpdates([acc, part])
        Y.encodeStateVectorFromUpdate(next)
        acc = next
      } catch {
        this.dropped++
      }
    }
    return acc
  }

  /** The state vector of {@link UpdateLog.state}. */
  stateVector(): Uint8Array {
    if (this.#stateVector) return this.#stateVector
    try {
      this.#stateVector = Y.encodeStateVectorFromUpdate(this.state())
    } catch {
      this.#parts = [this.#salvage()]
      this.#stateVector = Y.encodeStateVectorFromUpdate(this.state())
    }
    return this.#stateVector
  }

  /**
   * What a peer with state vector `sv` lacks, passed through `encode` (e.g. into a sync step 2 message) and cached
   * per state vector until the next append. `sv` must already be validated.
   */
  answer(sv: Uint8Array, encode: (diff: Uint8Array) => Uint8Array): Uint8Array {
    const key = Buffer.from(sv.buffer, sv.byteOffset, sv.byteLength).toString('base64')
    const cached = this.#answers.get(key)
    if (cached) return cached
    const diffOf = (state: Uint8Array) =>
      Y.decodeStateVector(sv).size === 0 ? state : Y.diffUpdate(state, sv)
    let diff: Uint8Array
    try {
      diff = diffOf(this.state())
    } catch {
      this.#parts = [this.#salvage()]
      this.#stateVector = null
      diff = diffOf(this.state())
    }
    const message = encode(diff)
    if (this.#answers.size >= DIFF_CACHE_SIZE) {
      const oldest = this.#answers.keys().next().value
      if (oldest !== undefined) this.#answers.delete(oldest)
    }
    this.#answers.set(key, message)
    return message
  }
}

import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { AppendOptions } from './DocStore.js'

/** One queued {@link @weft/core!DocStore.append}: the store's own copy of the bytes, its options and its promise's settlers. */
export interface PendingAppend<B extends Uint8Array = Uint8Array> {
  readonly docId: DocId
  /** The store's copy (STORE-1.4: the caller may reuse its buffer once `append` returned). */
  readonly bytes: B
  /** STORE-2.5: the epoch the stored document must be in, checked inside the write. */
  readonly epoch: string | undefined
  /** STORE-2.6: meta entries written in the same atomic step as the update. */
  readonly meta: Readonly<Record<string, string | null>> | undefined
  readonly resolve: (clock: number) => void
  readonly reject: (err: unknown) => void
}

/**
 * The queue behind group commit (STORE-2.4), one per {@link @weft/core!DocStore}: appends wait here until the store writes
 * them as one batch, in call order. The store decides when that is: `onQueued` runs whenever an append lands in an
 * empty queue (the store then schedules a write for the next tick, or lets the write in flight pick the queue up),
 * and the store takes the whole queue with {@link AppendQueue.take} before a load, compaction or removal that must
 * come after the queued appends. Written once for SQLite, PostgreSQL and IndexedDB; only their writes differ.
 */
export class AppendQueue<B extends Uint8Array = Uint8Array> {
  #queue: PendingAppend<B>[] = []
  readonly #onQueued: () => void

  /** @param onQueued called when an append lands in an empty queue: the store schedules its next write. */
  constructor(onQueued: () => void) {
    this.#onQueued = onQueued
  }

  /** How many appends wait. */
  get size(): number {
    return this.#queue.length
  }

  /** Queues one append of `bytes` (already the store's own copy); resolves with its clock once the batch committed. */
  push(docId: DocId, bytes: B, options: AppendOptions | undefined): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ docId, bytes, epoch: options?.epoch, meta: options?.meta, resolve, reject })
      if (this.#queue.length === 1) this.#onQueued()
    })
  }

  /** Takes every queued append: the next batch, in call order. */
  take(): PendingAppend<B>[] {
    const batch = this.#queue
    this.#queue = []
    return batch
  }

  /** Rejects every queued append with `err` (the store could not open, or closed). */
  fail(err: unknown): void {
    rejectAppends(this.take(), err)
  }
}

/**
 * Settles a written batch: each append resolves with its clock, or rejects with the error that refused it alone
 * (STORE-2.5: an epoch mismatch writes nothing and uses no clock). `results` holds one entry per append, in order.
 */
export const settleAppends = (
  batch: readonly PendingAppend<Uint8Array>[],
  results: readonly (number | Error)[],
): void => {
  batch.forEach((p, i) => {
    const result = results[i]
    if (result === undefined)
      p.reject(
        new WeftError(WeftErrorCode.StoreFailed, `the store reported no clock for append ${i} of its batch`),
      )
    else if (result instanceof Error) p.reject(result)
    else p.resolve(result)
  })
}

/** Rejects every append of a batch whose write failed as a whole. */
export const rejectAppends = (batch: readonly PendingAppend<Uint8Array>[], err: unknown): void => {
  for (const p of batch) p.reject(err)
}

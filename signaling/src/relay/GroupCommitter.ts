import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { DocId, DocStore } from '@weft/core'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'

/** Receives the outcome of one document's commit. */
export interface CommitTarget {
  readonly docId: DocId
  /** `bytes` bytes in `appends` store appends are durable, the last under store clock `clock`. */
  onCommitted(clock: number, bytes: number, appends: number): void
}

interface Batch {
  readonly target: CommitTarget
  readonly updates: Uint8Array[]
  /** When the oldest update of the batch was accepted (monotonic ms). */
  readonly since: number
  /** Not written before this time (monotonic ms): a retry waits {@link RETRY_MS}. */
  readonly notBefore: number
  readonly durable: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

const newBatch = (target: CommitTarget, since: number, updates: Uint8Array[] = [], notBefore = 0): Batch => {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const durable = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Nobody may be waiting (a stock client gets no acks): never an unhandled rejection.
  durable.catch(() => undefined)
  return { target, updates, since, notBefore, durable, resolve, reject }
}

/**
 * Batches larger than this are stored one update at a time instead of merged: merging saves nothing on large
 * updates (a paste, an upload) and decodes and re-encodes all of them, garbage the process keeps as RSS.
 */
const MERGE_MAX_BYTES = 256 * 1024

/** The batch merged into one update, or `null` if it is too large or Yjs refuses to merge it. */
const mergeOrNull = (updates: readonly Uint8Array[]): Uint8Array | null => {
  if (updates.length === 1) return updates[0] as Uint8Array
  let bytes = 0
  for (const u of updates) bytes += u.byteLength
  if (bytes > MERGE_MAX_BYTES) return null
  try {
    return Y.mergeUpdates([...updates])
  } catch {
    return null
  }
}

/** Called for every durable append, before the target hears of it (scale-out publishes it to the other nodes). */
export type AppendedHook = (target: CommitTarget, clock: number, update: Uint8Array) => void

/** Delay before retrying a failed store write. */
const RETRY_MS = 500

/**
 * Group commit: updates accepted within one window are merged per document and written with one `append` each,
 * at most `windowMs` after the oldest of them arrived (plus, for a document, the time of its own write already in
 * progress: one write per document at a time, so they are stored in order). A slow write of one document (a large
 * update, a locked row) never holds back the next windows of the others (SCALE-1.5). Each update's promise resolves
 * once it is durable; a failed write is retried after {@link RETRY_MS}, never dropped silently.
 */
export class GroupCommitter {
  readonly #store: DocStore
  readonly #windowMs: number
  readonly #metrics: ServerMetrics
  readonly #logger: Logger
  #queue = new Map<CommitTarget, Batch>()
  #timer: NodeJS.Timeout | null = null
  /** The writes in progress (one per document). */
  readonly #active = new Set<Promise<void>>()
  #failures = 0
  /** When the current run of failed writes began (ms), or null: one error line per outage (RELAY-3.5). */
  #failingSince: number | null = null
  /** Failed writes since then. */
  #failedWrites = 0
  readonly #onAppended: AppendedHook | undefined

  constructor(
    store: DocStore,
    windowMs: number,
    metrics: ServerMetrics,
    logger: Logger,
    onAppended?: AppendedHook,
  ) {
    this.#store = store
    this.#windowMs = windowMs
    this.#metrics = metrics
    this.#logger = logger
    this.#onAppended = onAppended
  }

  /** Whether `target` has updates not yet durable. */
  pending(target: CommitTarget): boolean {
    return this.#queue.has(target) || this.#inFlight.has(target)
  }

  readonly #inFlight = new Set<CommitTarget>()

  /** Queues one update; the promise resolves once it is durable. */
  add(target: CommitTarget, update: Uint8Array): Promise<void> {
    let batch = this.#queue.get(target)
    if (!batch) {
      batch = newBatch(target, performance.now())
      this.#queue.set(target, batch)
    }
    batch.updates.push(update)
    this.#schedule()
    return batch.durable
  }

  /** A promise that resolves once everything queued so far for `target` is durable. */
  whenDurable(target: CommitTarget): Promise<void> {
    return this.#queue.get(target)?.durable ?? this.#lastDurable.get(target) ?? Promise.resolve()
  }

  readonly #lastDurable = new Map<CommitTarget, Promise<void>>()

  /** Writes everything queued now and waits for it (shutdown, unload). Gives up after `attempts` failed rounds. */
  async flush(attempts = 3): Promise<void> {
    for (let i = 0; i < attempts && (this.#queue.size > 0 || this.#active.size > 0);) {
      if (this.#active.size > 0) {
        await Promise.all([...this.#active])
        continue
      }
      const failuresBefore = this.#failures
      await this.#run(true)
      if (this.#failures > failuresBefore) i++
    }
    if (this.#queue.size > 0) {
      this.#logger.error({ docs: this.#queue.size }, 'could not write queued updates; they are lost')
      for (const batch of this.#queue.values()) batch.reject(new Error('store unavailable'))
      this.#queue.clear()
    }
  }

  /** Stops the timer (after {@link GroupCommitter.flush}). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Arms the timer for the earliest batch due whose document has no write in progress. */
  #schedule(): void {
    if (this.#timer) return
    let due = Infinity
    for (const b of this.#queue.values())
      if (!this.#inFlight.has(b.target)) due = Math.min(due, Math.max(b.since + this.#windowMs, b.notBefore))
    if (due === Infinity) return
    this.#timer = setTimeout(
      () => {
        this.#timer = null
        void this.#run()
      },
      Math.max(0, due - performance.now()),
    )
  }

  /**
   * Writes every queued batch whose document has no write in progress (and, unless `now`, whose retry delay is
   * over); each document's write settles on its own and lets that document's next batch be scheduled.
   */
  #run(now = false): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    const t = performance.now()
    const ready = [...this.#queue.values()].filter(
      (b) => !this.#inFlight.has(b.target) && (now || b.notBefore <= t),
    )
    for (const b of ready) this.#queue.delete(b.target)
    const writes = ready.map((b) => {
      // One continuation for both outcomes (a failure is already counted, logged and requeued by #commit): a
      // `.catch().finally()` pair made four promises per write where this makes one (issue 13).
      const settled = (): void => {
        this.#active.delete(write)
        this.#schedule()
      }
      const write: Promise<void> = this.#commit(b).then(settled, settled)
      this.#active.add(write)
      return write
    })
    this.#schedule()
    return Promise.all(writes).then(() => undefined)
  }

  async #commit(batch: Batch): Promise<void> {
    const { target } = batch
    this.#inFlight.add(target)
    this.#lastDurable.set(target, batch.durable)
    try {
      const merged = mergeOrNull(batch.updates)
      let clock = 0
      if (merged) {
        clock = await this.#store.append(target.docId, merged)
        this.#onAppended?.(target, clock, merged)
      } else {
        // Large batches, and updates Yjs cannot merge together, are stored one by one (in order) rather than
        // merged or blocking the document.
        for (const u of batch.updates) {
          clock = await this.#store.append(target.docId, u)
          this.#onAppended?.(target, clock, u)
        }
      }
      this.#inFlight.delete(target)
      this.#metrics.commits.inc()
      this.#metrics.persistSeconds.observe((performance.now() - batch.since) / 1000)
      const bytes = merged?.byteLength ?? batch.updates.reduce((n, u) => n + u.byteLength, 0)
      if (this.#failingSince !== null) {
        this.#logger.info(
          { downMs: Date.now() - this.#failingSince, failedWrites: this.#failedWrites },
          'store writes succeed again',
        )
        this.#failingSince = null
      }
      target.onCommitted(clock, bytes, merged ? 1 : batch.updates.length)
      batch.resolve()
      if (this.#lastDurable.get(target) === batch.durable) this.#lastDurable.delete(target)
    } catch (err) {
      this.#failures++
      this.#metrics.persistFailures.inc()
      // RELAY-3.5: one line when writes begin to fail (PostgreSQL down: every document, every 500 ms), one when
      // a write succeeds again.
      this.#failedWrites++
      if (this.#failingSince === null) {
        this.#failingSince = Date.now()
        this.#failedWrites = 1
        this.#logger.error(
          { err, doc: target.docId, updates: batch.updates.length },
          'store write failed; retrying quietly until a write succeeds',
        )
      }
      // Put the batch back in front of anything that arrived meanwhile; both complete together.
      const later = this.#queue.get(target)
      const retry = newBatch(
        target,
        batch.since,
        [...batch.updates, ...(later?.updates ?? [])],
        performance.now() + RETRY_MS,
      )
      retry.durable.then(batch.resolve, batch.reject)
      if (later) retry.durable.then(later.resolve, later.reject)
      const rest = [...this.#queue].filter(([t]) => t !== target)
      this.#queue = new Map([[target, retry], ...rest])
      throw err
    } finally {
      this.#inFlight.delete(target)
    }
  }
}

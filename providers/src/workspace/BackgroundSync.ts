import { doublingDelay } from '@weft/core'
import type { WeftDoc } from '../WeftDoc.js'

/** Progress of the workspace's current round of background syncs (WS-CLIENT-6.2). */
export interface WorkspaceProgress {
  /** Documents in this round: queued for preloading or for pushing pending changes. */
  readonly docs: number
  /** Of them, synced (or refused for good). */
  readonly docsDone: number
  /** Their bytes, as the catalogue records them (`size`). */
  readonly bytes: number
  /** The bytes of the done ones. */
  readonly bytesDone: number
}

/** How a brief sync ended. */
export type BriefSyncOutcome = 'synced' | 'aborted' | 'refused'

/** What {@link BackgroundSync} needs from its workspace. */
export interface BackgroundSyncPort {
  /** At most this many brief syncs at once. */
  readonly concurrency: number
  /** Whether brief syncs may run now (online, the catalogue synced once, not destroyed). */
  runnable(): boolean
  /** Loads `d` for a brief sync (shared with the app's holds). */
  acquire(d: string): Promise<WeftDoc>
  /** Releases the brief sync's hold on `d`. */
  release(d: string): Promise<void>
  /** Whether the relay refused the loaded `d` for good. */
  refused(d: string): boolean
  /** The catalogue's `size` of `d`, for progress. */
  sizeOf(d: string): number
  /** A brief sync of `d` ended (`seqs`: the link's change numbers it was to report handled). */
  settled(d: string, outcome: BriefSyncOutcome, seqs: readonly number[]): void
  /** A brief sync failed (the store, the document). */
  failed(d: string, err: unknown): void
  /** The queue changed (for the status). */
  changed(): void
  /** The progress changed. */
  progressed(): void
}

/** A timer source (tests inject one): `set` runs `fn` once after `ms`, `clear` cancels what `set` returned. */
export interface BriefSyncTimer {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

/** Options of {@link BackgroundSync} (WS-PEER-7). */
export interface BackgroundSyncOptions {
  /**
   * A brief sync that makes no progress (no change to its document, no status change) for this long is given up
   * and its document queued again after a backoff. Default {@link BRIEF_SYNC_STALL_MS}.
   */
  readonly stallMs?: number
  /** The first backoff after a stalled brief sync; doubled at each stall in a row. Default 1 s. */
  readonly retryMs?: number
  /** The longest backoff. Default 5 min. */
  readonly maxRetryMs?: number
  /** At most this many documents a peer named that the catalogue does not (yet) hold are remembered. Default 10,000. */
  readonly maxUncatalogued?: number
  /** Default `setTimeout` / `clearTimeout` (unref'd). */
  readonly timer?: BriefSyncTimer
}

/** How long a brief sync may go without progress before it is given up (WS-PEER-7): 30 s. */
export const BRIEF_SYNC_STALL_MS = 30_000

const defaultTimer: BriefSyncTimer = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms)
    ;(t as { unref?: () => void }).unref?.()
    return t
  },
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/**
 * The workspace's background syncs (WS-CLIENT-4.2, 4.4, 4.5, 6.2): a queue of documents to sync briefly (open,
 * wait until `synced` and stored, close), run `concurrency` at a time while the workspace is online, aborted (and
 * queued again) when it goes offline, and the progress of the current round. A brief sync that stalls (no peer
 * holds or answers its document) is given up and retried later with a backoff, so it never holds a slot for ever;
 * documents a peer names that the catalogue does not hold wait until a record of them arrives (WS-PEER-6, 7).
 */
export class BackgroundSync {
  readonly #port: BackgroundSyncPort
  /** Documents to sync, with the link's change numbers to report handled once they are. */
  readonly #queue = new Map<string, number[]>()
  /** Running syncs: how to abort each (set once it started), and its end (once it released its document). */
  readonly #runs = new Map<string, { abort: () => void; end: Promise<unknown> }>()
  /** Running syncs dropped (WS-PURGE-12): not queued again; the change numbers to report handled at their end. */
  readonly #dropped = new Map<string, number[]>()
  /** Stalled documents waiting for their backoff: their timer, change numbers and stalls in a row. */
  readonly #waiting = new Map<string, { timer: unknown; seqs: number[] }>()
  readonly #stalls = new Map<string, number>()
  /** Documents a peer named that the catalogue holds no record of (oldest first). */
  readonly #uncatalogued = new Set<string>()
  readonly #stallMs: number
  readonly #retryMs: number
  readonly #maxRetryMs: number
  readonly #maxUncatalogued: number
  readonly #timer: BriefSyncTimer
  #round = { docs: new Set<string>(), done: new Set<string>(), bytes: 0, bytesDone: 0 }
  #closed = false

  constructor(port: BackgroundSyncPort, options: BackgroundSyncOptions = {}) {
    this.#port = port
    this.#stallMs = options.stallMs ?? BRIEF_SYNC_STALL_MS
    this.#retryMs = options.retryMs ?? 1000
    this.#maxRetryMs = options.maxRetryMs ?? 5 * 60_000
    this.#maxUncatalogued = options.maxUncatalogued ?? 10_000
    this.#timer = options.timer ?? defaultTimer
  }

  /** The current round's progress. */
  get progress(): WorkspaceProgress {
    const r = this.#round
    return { docs: r.docs.size, docsDone: r.done.size, bytes: r.bytes, bytesDone: r.bytesDone }
  }

  /** Whether any document is queued or being synced. */
  get busy(): boolean {
    return this.#queue.size > 0 || this.#runs.size > 0
  }

  /** Whether `d` is queued, being synced or waiting to be retried. */
  has(d: string): boolean {
    return this.#queue.has(d) || this.#runs.has(d) || this.#waiting.has(d)
  }

  /**
   * Documents a peer found to differ (WS-PEER-2, 6): those `catalogued` says the catalogue holds a record of are
   * queued; the others are only remembered (at most `maxUncatalogued`, the oldest forgotten first) until
   * {@link catalogued} names them. So a peer cannot make this replica load, store or wait for documents outside the
   * catalogue.
   */
  offer(ids: readonly string[], catalogued: (d: string) => boolean): void {
    if (this.#closed) return
    for (const d of ids) {
      if (catalogued(d)) {
        this.#uncatalogued.delete(d)
        this.enqueue(d)
        continue
      }
      this.#uncatalogued.delete(d)
      this.#uncatalogued.add(d)
      if (this.#uncatalogued.size > this.#maxUncatalogued)
        for (const old of this.#uncatalogued) {
          this.#uncatalogued.delete(old)
          break
        }
    }
  }

  /** Records of `ids` arrived in the catalogue (or changed): those a peer offered before are queued now. */
  catalogued(ids: readonly string[]): void {
    for (const d of ids) if (this.#uncatalogued.delete(d)) this.enqueue(d)
  }

  /**
   * Queues `d` (once; `seq` is added to the numbers reported handled after its sync) and runs what may run. A
   * document waiting for its backoff after a stall is queued at once (a peer that holds it may have come).
   */
  enqueue(d: string, seq?: number): void {
    if (this.#closed) return
    const waiting = this.#waiting.get(d)
    if (waiting) {
      this.#timer.clear(waiting.timer)
      this.#waiting.delete(d)
    }
    const seqs = [...(waiting?.seqs ?? []), ...(this.#queue.get(d) ?? [])]
    if (seq !== undefined) seqs.push(seq)
    this.#queue.set(d, seqs)
    const r = this.#round
    if (!r.docs.has(d)) {
      if (r.docs.size === r.done.size)
        this.#round = { docs: new Set(), done: new Set(), bytes: 0, bytesDone: 0 }
      this.#round.docs.add(d)
      this.#round.bytes += this.#port.sizeOf(d)
      this.#port.progressed()
    }
    this.pump()
  }

  /** Starts queued syncs while the port says they may run. */
  pump(): void {
    const port = this.#port
    while (!this.#closed && port.runnable() && this.#runs.size < port.concurrency) {
      let next: string | undefined
      for (const d of this.#queue.keys())
        if (!this.#runs.has(d)) {
          next = d
          break
        }
      if (next === undefined) break
      const d = next
      const seqs = this.#queue.get(d) ?? []
      this.#queue.delete(d)
      const run = { abort: () => {}, end: Promise.resolve() as Promise<unknown> }
      this.#runs.set(d, run)
      run.end = this.#syncOnce(d, run).then(
        (result) => {
          this.#runs.delete(d)
          const dropped = this.#dropped.get(d)
          if (dropped) {
            // WS-PURGE-12: dropped while it ran: done, never queued again (what its release queued goes too).
            this.#dropped.delete(d)
            const all = [...seqs, ...dropped, ...(this.#queue.get(d) ?? [])]
            this.#queue.delete(d)
            this.#stalls.delete(d)
            this.#done(d)
            port.settled(d, 'aborted', all)
            this.pump()
            return
          }
          const outcome = result === 'stalled' || result === 'epoch' ? 'aborted' : result
          if (result === 'stalled') this.#retryLater(d, seqs)
          else if (result === 'epoch') this.#requeueLast(d, seqs)
          else if (outcome !== 'aborted') {
            this.#stalls.delete(d)
            this.#done(d)
          } else if (!this.#closed) this.#queue.set(d, [...seqs, ...(this.#queue.get(d) ?? [])])
          port.settled(d, outcome, outcome === 'aborted' ? [] : seqs)
          this.pump()
        },
        (err: unknown) => {
          this.#runs.delete(d)
          this.#dropped.delete(d)
          port.failed(d, err)
          this.pump()
        },
      )
    }
    port.changed()
  }

  /**
   * Drops `d` (WS-PURGE-12: the workspace purges it): it leaves the queue, the backoff and the documents a peer
   * offered, and its running brief sync is aborted without being queued again. Resolves once that sync released the
   * document. The change numbers it was to report handled are reported (`settled`): nothing is left to sync.
   */
  async drop(d: string): Promise<void> {
    const seqs = [...(this.#waiting.get(d)?.seqs ?? []), ...(this.#queue.get(d) ?? [])]
    const waiting = this.#waiting.get(d)
    if (waiting) this.#timer.clear(waiting.timer)
    this.#waiting.delete(d)
    this.#queue.delete(d)
    this.#stalls.delete(d)
    this.#uncatalogued.delete(d)
    const run = this.#runs.get(d)
    if (!run) {
      if (this.#round.docs.has(d)) this.#done(d)
      if (seqs.length > 0 || waiting) this.#port.settled(d, 'aborted', seqs)
      this.#port.changed()
      return
    }
    this.#dropped.set(d, [...(this.#dropped.get(d) ?? []), ...seqs])
    run.abort()
    await run.end
  }

  /** Aborts every running sync (their documents are released and queued again). */
  abortAll(): void {
    for (const run of [...this.#runs.values()]) run.abort()
  }

  /** Aborts everything and forgets the queue (the workspace closes). */
  close(): void {
    this.#closed = true
    this.#queue.clear()
    for (const { timer } of this.#waiting.values()) this.#timer.clear(timer)
    this.#waiting.clear()
    this.#uncatalogued.clear()
    this.abortAll()
  }

  /**
   * A brief sync of `d` stalled (WS-PEER-7): it waits `retryMs`, doubled at each stall in a row up to `maxRetryMs`,
   * then goes to the end of the queue. Meanwhile the other documents get its slot.
   */
  #retryLater(d: string, seqs: number[]): void {
    if (this.#closed) return
    const stalls = (this.#stalls.get(d) ?? 0) + 1
    this.#stalls.set(d, stalls)
    const delay = doublingDelay(this.#retryMs, this.#maxRetryMs, stalls - 1)
    const pending = [...seqs, ...(this.#queue.get(d) ?? [])]
    this.#queue.delete(d)
    const timer = this.#timer.set(() => {
      if (this.#waiting.get(d)?.timer !== timer) return
      this.#waiting.delete(d)
      if (this.#closed) return
      this.#queue.set(d, [...pending, ...(this.#queue.get(d) ?? [])])
      this.pump()
    }, delay)
    this.#waiting.set(d, { timer, seqs: pending })
  }

  /**
   * A newer epoch waits for `d` (WS-CLIENT-4.7): released, `d` goes to the end of the queue, and its next brief sync
   * opens it anew, which takes the epoch (COMPACT-8.2) and then pushes what it holds.
   */
  #requeueLast(d: string, seqs: number[]): void {
    if (this.#closed) return
    const pending = [...seqs, ...(this.#queue.get(d) ?? [])]
    this.#queue.delete(d)
    this.#queue.set(d, pending)
  }

  #done(d: string): void {
    const r = this.#round
    if (!r.docs.has(d) || r.done.has(d)) return
    r.done.add(d)
    r.bytesDone += this.#port.sizeOf(d)
    this.#port.progressed()
  }

  /**
   * Loads `d`, waits until it is `synced` (nothing pending) and stored, releases it. `aborted` when aborted
   * meanwhile; `refused` when the relay refused the document for good (a final `connection-error`: no access),
   * which no retry would change (WS-CLIENT-4.5). `epoch` when a newer epoch waits for the document (COMPACT-8.1: an
   * open document never gets to `synced` then) and this brief sync opened it, so the next open takes the epoch;
   * `stalled` when the epoch was already waiting at the start (the app holds the document open: the app's next open
   * takes it), so the document is retried after a backoff instead of at once (WS-CLIENT-4.7).
   */
  async #syncOnce(d: string, run: { abort: () => void }): Promise<BriefSyncOutcome | 'stalled' | 'epoch'> {
    let outcome: 'aborted' | 'refused' | 'stalled' | 'epoch' | null = null
    let wake = (): void => {}
    const abort = () => {
      outcome ??= 'aborted'
      wake()
    }
    run.abort = abort
    const doc = await this.#port.acquire(d)
    const epochWaits = (): boolean => Boolean(doc.waitingEpoch)
    const heldWaiting = epochWaits()
    try {
      const synced = await new Promise<boolean>((resolve) => {
        // WS-PEER-7: given up when nothing happens to the document for stallMs (no peer holds or answers it).
        let stall: unknown = null
        const arm = () => {
          if (stall !== null) this.#timer.clear(stall)
          stall = this.#timer.set(() => {
            outcome ??= 'stalled'
            finish()
          }, this.#stallMs)
        }
        const onStatus = () => {
          if (this.#port.refused(d)) outcome ??= 'refused'
          // WS-CLIENT-4.7: a waiting epoch keeps an open document from `synced`; only a new open takes it.
          if (epochWaits()) outcome ??= heldWaiting ? 'stalled' : 'epoch'
          if (outcome !== null || doc.status === 'synced') finish()
          else arm()
        }
        const onRefused = ({ willRetry }: { willRetry: boolean }) => {
          if (willRetry) return
          outcome ??= 'refused'
          finish()
        }
        const finish = () => {
          if (stall !== null) this.#timer.clear(stall)
          stall = null
          doc.off('status', onStatus)
          doc.off('connection-error', onRefused)
          doc.off('epoch-available', onStatus)
          doc.doc.off('update', arm)
          resolve(outcome === null)
        }
        wake = finish
        doc.on('status', onStatus)
        doc.on('connection-error', onRefused)
        doc.on('epoch-available', onStatus)
        doc.doc.on('update', arm)
        onStatus()
      })
      if (synced) await doc.handle.flushed()
      return outcome ?? 'synced'
    } finally {
      await this.#port.release(d)
    }
  }
}

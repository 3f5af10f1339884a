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

/**
 * The workspace's background syncs (WS-CLIENT-4.2, 4.4, 4.5, 6.2): a queue of documents to sync briefly (open,
 * wait until `synced` and stored, close), run `concurrency` at a time while the workspace is online, aborted (and
 * queued again) when it goes offline, and the progress of the current round.
 */
export class BackgroundSync {
  readonly #port: BackgroundSyncPort
  /** Documents to sync, with the link's change numbers to report handled once they are. */
  readonly #queue = new Map<string, number[]>()
  readonly #running = new Set<string>()
  readonly #aborts = new Set<() => void>()
  #round = { docs: new Set<string>(), done: new Set<string>(), bytes: 0, bytesDone: 0 }
  #closed = false

  constructor(port: BackgroundSyncPort) {
    this.#port = port
  }

  /** The current round's progress. */
  get progress(): WorkspaceProgress {
    const r = this.#round
    return { docs: r.docs.size, docsDone: r.done.size, bytes: r.bytes, bytesDone: r.bytesDone }
  }

  /** Whether any document is queued or being synced. */
  get busy(): boolean {
    return this.#queue.size > 0 || this.#running.size > 0
  }

  /** Whether `d` is queued or being synced. */
  has(d: string): boolean {
    return this.#queue.has(d) || this.#running.has(d)
  }

  /** Queues `d` (once; `seq` is added to the numbers reported handled after its sync) and runs what may run. */
  enqueue(d: string, seq?: number): void {
    if (this.#closed) return
    const seqs = this.#queue.get(d) ?? []
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
    while (!this.#closed && port.runnable() && this.#running.size < port.concurrency) {
      let next: string | undefined
      for (const d of this.#queue.keys())
        if (!this.#running.has(d)) {
          next = d
          break
        }
      if (next === undefined) break
      const d = next
      const seqs = this.#queue.get(d) ?? []
      this.#queue.delete(d)
      this.#running.add(d)
      void this.#syncOnce(d).then(
        (outcome) => {
          this.#running.delete(d)
          if (outcome !== 'aborted') this.#done(d)
          else if (!this.#closed) this.#queue.set(d, [...seqs, ...(this.#queue.get(d) ?? [])])
          port.settled(d, outcome, outcome === 'aborted' ? [] : seqs)
          this.pump()
        },
        (err: unknown) => {
          this.#running.delete(d)
          port.failed(d, err)
          this.pump()
        },
      )
    }
    port.changed()
  }

  /** Aborts every running sync (their documents are released and queued again). */
  abortAll(): void {
    for (const abort of [...this.#aborts]) abort()
  }

  /** Aborts everything and forgets the queue (the workspace closes). */
  close(): void {
    this.#closed = true
    this.#queue.clear()
    this.abortAll()
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
   * which no retry would change (WS-CLIENT-4.5).
   */
  async #syncOnce(d: string): Promise<BriefSyncOutcome> {
    let outcome: 'aborted' | 'refused' | null = null
    let wake = (): void => {}
    const abort = () => {
      outcome ??= 'aborted'
      wake()
    }
    this.#aborts.add(abort)
    try {
      const doc = await this.#port.acquire(d)
      try {
        const synced = await new Promise<boolean>((resolve) => {
          const onStatus = () => {
            if (this.#port.refused(d)) outcome ??= 'refused'
            if (outcome !== null || doc.status === 'synced') finish()
          }
          const onRefused = ({ willRetry }: { willRetry: boolean }) => {
            if (willRetry) return
            outcome ??= 'refused'
            finish()
          }
          const finish = () => {
            doc.off('status', onStatus)
            doc.off('connection-error', onRefused)
            resolve(outcome === null)
          }
          wake = finish
          doc.on('status', onStatus)
          doc.on('connection-error', onRefused)
          onStatus()
        })
        if (synced) await doc.handle.flushed()
        return outcome ?? 'synced'
      } finally {
        await this.#port.release(d)
      }
    } finally {
      this.#aborts.delete(abort)
    }
  }
}

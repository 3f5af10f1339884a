import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  defaultCompactionPolicy,
  doublingDelay,
  shouldCompact,
  type CompactionPolicy,
  type DocStore,
  type StoredDoc,
} from '@weft/core'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { ScaleOutRelay } from '../scaleout/ScaleOutRelay.js'
import { CompactionWorker, type Ran } from './CompactionWorker.js'
import type { Collected } from './compactionTasks.js'
import { collectGarbage } from './mergeUpdatesBatched.js'
import type { ScreenVerdict } from './quarantine.js'
import type { RelayRoom, RoomCounters } from './RelayRoom.js'

/** Resolves in the event loop's next turn (after the I/O callbacks of this one). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Metadata key set by a garbage-collecting compaction (its `throughClock`). */
export const GC_META_KEY = 'weft.relay.gc'
/** Stored documents at least this large are checked for deleted content when loaded (RELAY-3.6). */
const GC_ON_LOAD_MIN_BYTES = 64 * 1024
/** A rebuilt state smaller than this fraction of the merged one replaces it at load. */
const GC_ON_LOAD_GAIN = 0.75
/**
 * The in-memory state is rebuilt (and compacted) when it grew to this multiple of its size after the last rebuild,
 * and by at least {@link GC_ON_LOAD_MIN_BYTES}: merged single-keystroke updates keep deleted content, and the tail
 * of such a document may stay under the compaction policy's thresholds (it counts commits, not keystrokes).
 */
const GC_GROWTH = 4
/**
 * RELAY-3.7: a state at most this large that grew by {@link ANSWER_GC_GROWTH} of its size after the last rebuild
 * and may hold deleted content is rebuilt before a joiner is answered from it (a few milliseconds at this size):
 * merged updates keep deleted content and one item per keystroke, so joiners would receive up to twice the bytes.
 */
const ANSWER_GC_MAX_BYTES = 1024 * 1024
const ANSWER_GC_GROWTH = 0.1

/** RELAY-3.10: the first pause after a failed compaction of a room; it doubles per consecutive failure. */
const RETRY_MIN_MS = 1000
/** RELAY-3.10: the longest pause after failed compactions of a room. */
const RETRY_MAX_MS = 5 * 60 * 1000

/** RELAY-3.8: default of `workerMinBytes` (a rebuild of this much takes a few milliseconds). */
export const DEFAULT_WORKER_MIN_BYTES = 128 * 1024

/** The thresholds of the compaction policies: the log compaction policy, and its variant for insert-only tails. */
export interface CompactionRules {
  readonly policy: CompactionPolicy
  /** The policy for a tail without deleted content: no byte threshold. */
  readonly insertOnly: CompactionPolicy
  /** RELAY-3.8: states at least this large are rebuilt in the worker thread. */
  readonly workerMinBytes: number
}

/**
 * RELAY-3.6 at load, on a room just loaded from `stored` whose state has `size` bytes: `'keep'` it as it is,
 * `'try'` a rebuild here (kept if it gains {@link GC_ON_LOAD_GAIN}), or `'compact'` it at once (a state too large to
 * rebuild here: the compaction rebuilds it in the worker).
 */
export const loadCollection = (
  stored: StoredDoc | null,
  room: RoomCounters,
  size: number,
  workerMinBytes: number,
): 'keep' | 'try' | 'compact' => {
  if (!stored || stored.byteLength < GC_ON_LOAD_MIN_BYTES) return 'keep'
  if (stored.meta[GC_META_KEY] !== undefined && room.tailBytes <= room.snapshotBytes) return 'keep'
  return size >= workerMinBytes ? 'compact' : 'try'
}

/** RELAY-3.7: whether a joiner is answered only after a rebuild of a state of `size` bytes. */
export const collectBeforeAnswer = (room: RoomCounters, size: number): boolean =>
  room.deletedSinceGc !== 0 && size <= ANSWER_GC_MAX_BYTES && size >= room.baseline * (1 + ANSWER_GC_GROWTH)

/**
 * RELAY-3.4, RELAY-3.6: whether a room whose state has `size` bytes is due for log compaction: its state grew by
 * {@link GC_GROWTH} since its last rebuild and may hold deleted content, or its stored tail passed the policy's
 * thresholds (only the count thresholds without deleted content: a rebuild would drop nothing).
 */
export const compactionDue = (room: RoomCounters, size: number, rules: CompactionRules): boolean => {
  const deletes = room.deletedSinceGc > 0
  const baseline = room.baseline
  if (deletes && size >= baseline * GC_GROWTH && size >= baseline + GC_ON_LOAD_MIN_BYTES) return true
  return shouldCompact(
    { updateCount: room.tailCount, updateBytes: room.tailBytes, snapshotBytes: room.snapshotBytes },
    deletes ? rules.policy : rules.insertOnly,
  )
}

/** Options of {@link RelayCompaction}: the log compaction policy, and where rebuilds run (RELAY-3.8). */
export type RelayCompactionOptions = Partial<CompactionPolicy> & {
  /** States at least this large are rebuilt in the compaction worker thread (default 128 KiB). */
  readonly workerMinBytes?: number | undefined
  /** The worker (default: the process-wide `CompactionWorker.shared()`). */
  readonly worker?: CompactionWorker | undefined
  /** The clock of the retry pause after a failed compaction, in milliseconds (default `Date.now`; for tests). */
  readonly now?: (() => number) | undefined
}

/** What {@link RelayCompaction} works with (the same for every room; no callbacks). */
export interface RelayCompactionContext {
  readonly store: DocStore
  readonly logger: Logger
  readonly metrics: ServerMetrics
  /** Scale-out mode (null on a single node). */
  readonly scale: ScaleOutRelay | null
}

/**
 * Log compaction of the relay's rooms (RELAY-3.4, RELAY-3.6, RELAY-3.7, SCALE-4): when to rebuild a room's state
 * through a garbage-collecting `Y.Doc` and store it as the new snapshot, and the bookkeeping of the running
 * compactions. At most one compaction per room runs at a time (`RelayRoom.compacting`). It reads the room's counters
 * and tells the room what happened (`rebuilt`, `compacted`, `reloaded`, ...): the room writes its own log and
 * counters, and asks its epoch's policy after a stored compaction.
 */
export class RelayCompaction {
  readonly #host: RelayCompactionContext
  readonly #rules: CompactionRules
  readonly #running = new Set<Promise<void>>()
  #stopped = false

  readonly #worker: CompactionWorker
  readonly #now: () => number
  /** RELAY-3.10: rooms whose last compaction failed: consecutive failures, and no new attempt before `until`. */
  readonly #backoff = new WeakMap<RelayRoom, { failures: number; until: number }>()

  constructor(host: RelayCompactionContext, options: RelayCompactionOptions | undefined) {
    this.#host = host
    const { workerMinBytes, worker, now, ...policy } = options ?? {}
    this.#worker = worker ?? CompactionWorker.shared()
    this.#now = now ?? Date.now
    const full = { ...defaultCompactionPolicy, ...policy }
    this.#rules = {
      policy: full,
      insertOnly: { ...full, maxUpdateBytes: Infinity },
      workerMinBytes: workerMinBytes ?? DEFAULT_WORKER_MIN_BYTES,
    }
  }

  /** Starts no more compactions (the relay closes). */
  stop(): void {
    this.#stopped = true
  }

  /** Resolves once every running compaction ended. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#running)
  }

  /**
   * `doc` was just loaded from `stored` (RELAY-3.6): a stored document much larger than its content (merged updates
   * keep deleted content; snapshots of older versions did too) is rebuilt through a garbage-collecting Y.Doc.
   * Returns whether it was: the caller then compacts it (`maybeCompact(doc, true)`) once the document is attached.
   */
  loaded(doc: RelayRoom, stored: StoredDoc | null): boolean {
    const collected = this.#collectOnLoad(doc, stored)
    doc.loaded()
    return collected
  }

  #collectOnLoad(doc: RelayRoom, stored: StoredDoc | null): boolean {
    const decision = loadCollection(stored, doc, doc.log.byteLength, this.#rules.workerMinBytes)
    // RELAY-3.8: a large state is not rebuilt here; the compaction the caller starts rebuilds it in the worker.
    if (decision !== 'try') return decision === 'compact'
    const state = doc.log.state()
    const { v1 } = collectGarbage(state)
    if (v1.byteLength >= state.byteLength * GC_ON_LOAD_GAIN) return false
    // Nothing was accepted since the load: nothing deleted is collected (the counters stay as loaded).
    doc.rebuilt(v1, 0)
    this.#host.logger.debug(
      { doc: doc.docId, from: state.byteLength, to: v1.byteLength },
      'collected on load',
    )
    return true
  }

  /**
   * RELAY-9.3, RELAY-3.11: screens a stored document being loaded (`screenStoredParts`: each part validated, the
   * servable parts merged, the merged state checked and its state vector computed): in the compaction worker when it
   * stores at least `workerMinBytes`, so that loading a large room never blocks the event loop every other room is
   * served from; here, at once, when smaller (a thread hop costs more). Rejects if the worker fails (the load fails,
   * its connections are closed and retry).
   */
  async screenLoad(stored: StoredDoc): Promise<Ran<ScreenVerdict>> {
    const request = { op: 'screen', snapshot: stored.snapshot, updates: stored.updates } as const
    return this.#worker.run<ScreenVerdict>(request, stored.byteLength < this.#rules.workerMinBytes)
  }

  /**
   * RELAY-3.7: a joiner whose state vector is `sv` is about to be answered from `doc`'s state. One that lacks only the
   * log's small tail (a replica catching up on a few updates) is answered at once: a rebuild would not make its answer
   * smaller by more than the tail's deleted content.
   */
  beforeAnswer(doc: RelayRoom, sv: Uint8Array): void {
    if (collectBeforeAnswer(doc, doc.log.byteLength) && !doc.log.lacksOnlyTail(sv))
      this.maybeCompact(doc, true)
  }

  /**
   * Log compaction (RELAY-3.4, RELAY-3.6): once the stored log grew past the thresholds, its state is rebuilt
   * through a garbage-collecting Y.Doc, replaces the in-memory log at once and is stored as the new snapshot. Without
   * deleted content since the last rebuild, only the count thresholds apply: a rebuild would drop nothing, and each
   * compaction of a growing document merges its whole state (a 20 MB upload compacted every megabyte churns through
   * gigabytes). In scale-out mode the snapshot covers the clock through which this node has applied every stored
   * update (SCALE-4.1), and the store's lock and stale check keep two nodes from both compacting (SCALE-4.2).
   */
  maybeCompact(doc: RelayRoom, force = false): void {
    const host = this.#host
    const size = doc.log.byteLength
    const due = force || compactionDue(doc, size, this.#rules)
    // No log compaction during an epoch switch (it would store old-epoch state after the switch).
    if (!due || doc.compacting || this.#stopped || doc.epochBusy) return
    // RELAY-3.10: after a failed compaction the room is not tried again before its pause ended (the policy stays due:
    // without the pause every update would pay a worker start and a copy of the whole state).
    const backoff = this.#backoff.get(doc)
    if (backoff && this.#now() < backoff.until) return
    // The log holds every stored update through `through` (and perhaps accepted ones not yet durable: a snapshot
    // may hold more than its clock says, never less). A busy document therefore compacts while writes continue.
    const through = host.scale ? host.scale.appliedClock(doc) : doc.lastClock
    const [count, bytes] = [doc.tailCount, doc.tailBytes]
    // RELAY-3.8: a large state is rebuilt in the worker thread from a copy of its parts; what is appended meanwhile
    // is kept on top of the rebuilt state (the mark). A small one is rebuilt here, at once (RELAY-3.7 needs that).
    const deletedBefore = doc.deletedSinceGc
    const failed = (err: unknown) => {
      // Not retried before the next growth step (and what was recorded since the mark is no longer needed), nor
      // before a pause that doubles per consecutive failure (RELAY-3.10): one attempt, and one log line, per step.
      doc.rebuildFailed(size)
      const failures = (this.#backoff.get(doc)?.failures ?? 0) + 1
      const pause = doublingDelay(RETRY_MIN_MS, RETRY_MAX_MS, failures - 1)
      this.#backoff.set(doc, { failures, until: this.#now() + pause })
      host.logger.error({ err, doc: doc.docId, failures, retryInMs: pause }, 'compaction failed')
    }
    const rebuilt = (collected: Collected): Promise<void> => {
      const { v1, v2, counts } = collected
      this.#backoff.delete(doc)
      // The rebuilt state holds exactly what the log held at the mark (or now, inline): it replaces that part of the
      // in-memory state at once, whatever becomes of the store's compaction.
      doc.rebuilt(v1, deletedBefore)
      return this.#store(doc, v2, through, count, bytes, counts)
    }
    if (size < this.#rules.workerMinBytes) {
      let collected: Collected
      try {
        collected = this.#worker.runInline<Collected>({ op: 'collect', parts: doc.log.parts() }).result
      } catch (err) {
        return failed(err)
      }
      doc.compactionStarts(false)
      return this.#track(doc, rebuilt(collected))
    }
    // What is appended while the worker rebuilds is kept on top of the rebuilt state (the log's mark).
    doc.compactionStarts(true)
    const work = this.#worker.run<Collected>({ op: 'collect', parts: doc.log.parts() }, false)
    this.#track(
      doc,
      work.then(({ result }) => rebuilt(result), failed),
    )
  }

  async #store(
    doc: RelayRoom,
    snapshot: Uint8Array,
    through: number,
    count: number,
    bytes: number,
    counts: Collected['counts'],
  ): Promise<void> {
    const host = this.#host
    // RELAY-3.12: the write waits for the end of this turn of the event loop, so that a compaction started right before
    // an answer (RELAY-3.7) or by a load (RELAY-3.6) never holds that answer, nor what other sockets sent in the same
    // turn, behind a store that writes synchronously (SQLite's commit and fsync run on this thread).
    await nextTurn()
    try {
      const result = await host.store.compact(doc.docId, snapshot, through, {
        meta: { [GC_META_KEY]: String(through) },
      })
      if (!result.ok) return void host.logger.debug({ doc: doc.docId }, 'compaction was stale')
      host.scale?.compacted(doc, through, snapshot.byteLength)
      host.metrics.compactions.inc()
      host.logger.debug({ doc: doc.docId, updates: count, bytes: snapshot.byteLength }, 'compacted')
      // RELAY-EPOCH-5: the room asks its epoch-start policy on what the rebuild counted.
      doc.compacted(count, bytes, snapshot.byteLength, counts)
    } catch (err) {
      host.logger.error({ err, doc: doc.docId }, 'compaction failed')
    }
  }

  /**
   * Another node compacted `doc` (SCALE-4.3; the room reset its counters): when nothing of the room is waiting to be
   * written, its in-memory log is replaced by the stored state (so this node too serves joiners without deleted
   * content).
   */
  reload(doc: RelayRoom): void {
    const host = this.#host
    if (doc.compacting || doc.pending || this.#stopped) return
    doc.compactionStarts(true)
    const deletedBefore = doc.deletedSinceGc
    this.#track(
      doc,
      host.store.load(doc.docId).then(
        (stored) => {
          if (!stored?.snapshot) return void doc.compactionAbandoned()
          doc.reloaded(Y.convertUpdateFormatV2ToV1(stored.snapshot), stored.updates, deletedBefore)
        },
        (err: unknown) => {
          doc.compactionAbandoned()
          host.logger.warn({ err, doc: doc.docId }, 'reload after a remote compaction failed')
        },
      ),
    )
  }

  #track(doc: RelayRoom, work: Promise<void>): void {
    const run = doc.compactionRuns(work).finally(() => this.#running.delete(run))
    this.#running.add(run)
  }
}

import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { applyStoredDoc } from './applyStoredDoc.js'
import type { CompactOptions, DocStore } from './DocStore.js'

/** Sizes the compaction policy decides on (STORE-8.1). */
export interface CompactionStats {
  /** Updates in the tail (appended since the last compaction). */
  readonly updateCount: number
  /** Bytes of those updates. */
  readonly updateBytes: number
  /** Bytes of the stored snapshot (0 if none). */
  readonly snapshotBytes: number
}

/** Thresholds of {@link shouldCompact}; see docs/guides/compaction.md for the trade-offs. */
export interface CompactionPolicy {
  /** Compact once the tail holds this many updates... (default 500) */
  readonly maxUpdates: number
  /** ...or this many bytes (default 1 MiB)... */
  readonly maxUpdateBytes: number
  /**
   * ...provided the tail is at least this fraction of the snapshot's size (default 0.1): a huge snapshot is not
   * rewritten for a small tail, which bounds write amplification to about `1 + 1 / minTailRatio` times.
   */
  readonly minTailRatio: number
  /** Compact at this many tail updates whatever the sizes (default 10,000): bounds the per-update cost of a load. */
  readonly hardMaxUpdates: number
}

/** The default {@link CompactionPolicy}. */
export const defaultCompactionPolicy: CompactionPolicy = {
  maxUpdates: 500,
  maxUpdateBytes: 1024 * 1024,
  minTailRatio: 0.1,
  hardMaxUpdates: 10_000,
}

/** Pure compaction policy (STORE-8.1): whether a document with these sizes should be compacted now. */
export const shouldCompact = (
  stats: CompactionStats,
  policy: CompactionPolicy = defaultCompactionPolicy,
): boolean => {
  if (stats.updateCount <= 0) return false
  if (stats.updateCount >= policy.hardMaxUpdates) return true
  const over = stats.updateCount >= policy.maxUpdates || stats.updateBytes >= policy.maxUpdateBytes
  return over && stats.updateBytes >= stats.snapshotBytes * policy.minTailRatio
}

/** Outcome of {@link Compactor.compact}. */
export type CompactionOutcome =
  | {
      readonly ok: true
      /** Clock through which updates were folded into the snapshot. */
      readonly throughClock: number
      /** Tail updates folded in. */
      readonly compactedUpdates: number
      /** Bytes before (snapshot + folded tail) and after (new snapshot). */
      readonly bytesBefore: number
      readonly snapshotBytes: number
    }
  /** `empty`: nothing stored or nothing to fold; `stale`: another compaction went further (STORE-8.4). */
  | { readonly ok: false; readonly reason: 'empty' | 'stale' }

/** Options of {@link Compactor}. */
export interface CompactorOptions {
  /** Overrides of {@link defaultCompactionPolicy}. */
  readonly policy?: Partial<CompactionPolicy>
  /**
   * Garbage-collect deleted content while compacting (default true). Set false for documents created with
   * `gc: false` whose deleted content must survive (version snapshots).
   */
  readonly gc?: boolean
}

/**
 * Meta entries to remove in the same atomic step as a compaction, decided from the metadata as that compaction
 * loaded it (STORE-9.8); the compaction is then exact (STORE-3.7), so an append stored since that load makes it
 * `stale` and removes nothing.
 */
export type CollectMeta = (
  meta: Readonly<Record<string, string>>,
) => Readonly<Record<string, null>> | undefined

/**
 * Log compaction: folds a document's snapshot and tail into a new snapshot (STORE-8.2), at most one per
 * (store, document) at a time (STORE-8.3). One instance may serve any number of stores and documents.
 */
export class Compactor {
  /** The effective thresholds. */
  readonly policy: CompactionPolicy
  readonly #gc: boolean
  readonly #running = new WeakMap<DocStore, Map<DocId, Promise<CompactionOutcome>>>()

  constructor(options: CompactorOptions = {}) {
    this.policy = { ...defaultCompactionPolicy, ...options.policy }
    this.#gc = options.gc ?? true
  }

  /** {@link shouldCompact} with this compactor's policy. */
  shouldCompact(stats: CompactionStats): boolean {
    return shouldCompact(stats, this.policy)
  }

  /** Whether a compaction of this document is running. */
  isRunning(store: DocStore, docId: DocId): boolean {
    return this.#running.get(store)?.has(docId) ?? false
  }

  /**
   * Compacts one document now. A call while a compaction of the same document in the same store runs joins it
   * (gets the same outcome) instead of starting a second one. Rejects with a WeftError from the store
   * (`store-failed`, `store-corrupted`).
   */
  compact(
    store: DocStore,
    docId: DocId,
    options?: CompactOptions,
    collect?: CollectMeta,
  ): Promise<CompactionOutcome> {
    return this.#guard(store, docId, () => this.#run(store, docId, options, collect))
  }

  /**
   * Compacts from a live document instead of loading the store: `doc` must contain every stored update with clock
   * `<= throughClock` (true when its persistence is the document's only writer). Encodes instead of decoding, so
   * it costs a fraction of {@link Compactor.compact} on large histories. Same guard as `compact`.
   */
  compactFrom(
    store: DocStore,
    docId: DocId,
    doc: Y.Doc,
    throughClock: number,
    tail: { readonly count: number; readonly bytes: number },
    options?: CompactOptions,
  ): Promise<CompactionOutcome> {
    return this.#guard(store, docId, async () => {
      if (tail.count === 0 && !options?.meta) return { ok: false, reason: 'empty' }
      const snapshot = Y.encodeStateAsUpdateV2(doc)
      const result = await store.compact(docId, snapshot, throughClock, options)
      if (!result.ok) return { ok: false, reason: 'stale' }
      return {
        ok: true,
        throughClock,
        compactedUpdates: tail.count,
        bytesBefore: tail.bytes,
        snapshotBytes: snapshot.byteLength,
      }
    })
  }

  #guard(store: DocStore, docId: DocId, start: () => Promise<CompactionOutcome>): Promise<CompactionOutcome> {
    let perStore = this.#running.get(store)
    if (!perStore) this.#running.set(store, (perStore = new Map()))
    const running = perStore.get(docId)
    if (running) return running
    const map = perStore
    const run = start().finally(() => map.delete(docId))
    map.set(docId, run)
    return run
  }

  async #run(
    store: DocStore,
    docId: DocId,
    options?: CompactOptions,
    collect?: CollectMeta,
  ): Promise<CompactionOutcome> {
    const stored = await store.load(docId)
    if (!stored || (stored.updates.length === 0 && !options?.meta)) return { ok: false, reason: 'empty' }
    // STORE-9.8: entries `collect` removes are decided on this load, so the compaction is exact (STORE-3.7).
    const collected = collect?.(stored.meta)
    const asked = options
    if (collected && Object.keys(collected).length > 0)
      options = { ...options, exact: true, meta: { ...collected, ...options?.meta } }
    const doc = new Y.Doc({ gc: this.#gc })
    try {
      applyStoredDoc(doc, stored, null)
      const snapshot = Y.encodeStateAsUpdateV2(doc)
      let result = await store.compact(docId, snapshot, stored.clock, options)
      // An append since the load: the log is still compacted as asked, without the collection (tried next time).
      if (!result.ok && options !== asked && !asked?.exact)
        result = await store.compact(docId, snapshot, stored.clock, asked)
      if (!result.ok) return { ok: false, reason: 'stale' }
      return {
        ok: true,
        throughClock: stored.clock,
        compactedUpdates: stored.updates.length,
        bytesBefore: stored.byteLength,
        snapshotBytes: snapshot.byteLength,
      }
    } finally {
      doc.destroy()
    }
  }
}

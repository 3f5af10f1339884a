import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'

/** What {@link DocStore.load} returns for one document. */
export interface StoredDoc {
  /**
   * The compacted state, or `null` if never compacted. A Yjs update in **V2** encoding
   * (`Y.encodeStateAsUpdateV2`): V2 run-length encodes the deleted items that edit-heavy documents accumulate, so a
   * snapshot is often 10–50× smaller than the same state in V1 (docs/spec/storage.md, STORE-3.6).
   */
  readonly snapshot: Uint8Array | null
  /** Updates appended after the snapshot, oldest first (Yjs updates, V1 encoding, as `Y.Doc` emits them). */
  readonly updates: readonly Uint8Array[]
  /**
   * Position of the last update in `updates` (or of the snapshot, if there are no updates; `0` for a document that
   * has neither). Pass it to {@link DocStore.compact} to replace exactly what was loaded: later appends survive.
   */
  readonly clock: number
  /** Total bytes of snapshot + updates, as stored. */
  readonly byteLength: number
  /** Small per-document metadata (epoch id, schema version, acknowledgement marks...). */
  readonly meta: Readonly<Record<string, string>>
}

/** Options of {@link DocStore.append}. */
export interface AppendOptions {
  /**
   * Epoch-checked append (docs/spec/storage.md, STORE-2.5): the append is refused, rejecting with an
   * `epoch-mismatch` WeftError and writing nothing, when the stored meta `epoch` (absent = `"0"`) differs. The
   * check is made in the same transaction as the write, so an epoch switch stored by another writer of the same
   * store (a browser tab sharing IndexedDB) either precedes the append and refuses it, or follows it and sees it.
   */
  readonly epoch?: string
  /**
   * Metadata entries to set (or, with `null`, delete) in the same atomic step as the update (STORE-2.6): a crash
   * leaves both or neither. A refused append (STORE-2.5) writes none of them. The pending-change count of a client
   * document is written this way, with the change it counts.
   */
  readonly meta?: Readonly<Record<string, string | null>>
}

/** Options of {@link DocStore.compact}. */
export interface CompactOptions {
  /** Metadata entries to set (or, with `null`, delete) in the same atomic step (an epoch change needs that). */
  readonly meta?: Readonly<Record<string, string | null>>
  /**
   * Exact compaction (STORE-3.7): also `stale` (nothing changed) when any update with a clock above `throughClock`
   * exists, checked in the same atomic step. An epoch switch needs it: an update appended after the caller's view
   * would otherwise survive the compaction (STORE-3.1) and be replayed onto the new epoch.
   */
  readonly exact?: boolean
  /**
   * Epoch-checked compaction (STORE-3.8): also `stale` when the stored meta `epoch` (absent = `"0"`), as it is
   * before `meta` is applied, differs. A writer compacting what it loaded in one epoch never overwrites a snapshot
   * another writer stored for a newer epoch at the same clock.
   */
  readonly epoch?: string
}

/** Options of {@link DocStore.remove}. */
export interface RemoveOptions {
  /**
   * Conditional removal (STORE-5.3): remove only if the document's clock ({@link StoredDoc.clock}, `0` for a document
   * the store holds nothing for) is still `ifClock`, checked in the same atomic step as the removal; otherwise
   * resolve `stale` and change nothing. Pass the clock of the `load` whose content you checked (e.g. that it holds no
   * pending changes): an append stored since (by another tab or process sharing the store) makes the removal stale.
   */
  readonly ifClock?: number
}

/**
 * Outcome of {@link DocStore.remove}: `ok` when the document is gone (also when there was nothing to remove), or
 * `stale` when a conditional removal (`ifClock`, STORE-5.3) found the document changed and removed nothing.
 */
export type RemoveResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'stale' }

/**
 * Outcome of {@link DocStore.compact}. `stale` is an expected failure, not an error: the caller's view of the
 * document is out of date (another compaction went further, or the document was removed), nothing was changed, and
 * the caller may load again and retry.
 */
export type CompactResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'stale' }

/**
 * Binary persistence contract for Yjs documents. The same contract serves IndexedDB in browsers, SQLite in Node
 * and the relay's store; `runDocStoreContract` (from `@weft/core/testing`) checks an implementation. The rules are
 * in docs/spec/storage.md (`STORE-*`).
 *
 * Clocks: every append gets a clock, strictly increasing per document (1, 2, ...), never reused while the
 * document exists, also across compactions.
 *
 * Durability: a promise that resolves means the data is durable (as durable as the medium allows) and will be
 * returned by every later `load`, also after a crash or restart. Implementations may commit many appends in one
 * transaction (group commit), but each promise resolves only after the commit that contains it.
 *
 * Failures of the medium reject with a `store-failed` WeftError; data that cannot be decoded rejects with
 * `store-corrupted`.
 */
export interface DocStore {
  /** Loads a document; `null` when the store holds nothing for it. Loading writes nothing. */
  load(docId: DocId): Promise<StoredDoc | null>
  /**
   * Appends one update (the store keeps its own copy of the bytes). Resolves once durable, with the update's clock.
   * Concurrent appends are stored, and get clocks, in call order. With `options.epoch`, the append is refused
   * (`epoch-mismatch`, nothing written, no clock used) when the stored epoch differs (STORE-2.5).
   */
  append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number>
  /**
   * Atomically replaces the snapshot and every update with clock `<= throughClock` by `snapshot` (V2 encoding).
   * Updates appended later are kept. A crash during compaction leaves either the old rows or the new snapshot.
   * `options.meta` entries are written in the same atomic step.
   *
   * Resolves `{ ok: false, reason: 'stale' }` and changes nothing when `throughClock` is below the clock of the
   * stored snapshot (a later compaction already happened) or above the document's last clock (the caller never
   * loaded that state, e.g. the document was removed meanwhile); with `options.exact`, also when an update follows
   * `throughClock` (STORE-3.7); with `options.epoch`, also when the stored epoch differs (STORE-3.8).
   */
  compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult>
  /** Sets (or, with `null`, deletes) a metadata entry. A document with only metadata exists (`load`, `list`). */
  setMeta(docId: DocId, key: string, value: string | null): Promise<void>
  /**
   * Removes a document and everything stored for it (STORE-5.1). Removing an unknown document does nothing. With
   * `options.ifClock`, only if the document's clock is still that one, in the same atomic step (STORE-5.3): else it
   * resolves `{ ok: false, reason: 'stale' }` and removes nothing. Companions (`${docId}~...`) are separate documents.
   */
  remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult>
  /** Every document id in the store (any order). */
  list(): Promise<DocId[]>
  /**
   * Waits for pending writes, then releases the store's resources. Further calls reject with a `destroyed`
   * WeftError; closing again resolves.
   */
  close(): Promise<void>
}

/**
 * The error a store rejects an epoch-checked append with (STORE-2.5): `docId` is stored in epoch `stored`, the
 * writer expected `expected`. One wording for every implementation.
 */
export const epochMismatchError = (
  store: string,
  docId: DocId,
  stored: string,
  expected: string,
): WeftError =>
  new WeftError(
    WeftErrorCode.EpochMismatch,
    `${store}: document ${JSON.stringify(docId)} is stored in epoch ${stored}, not ${expected}`,
  )

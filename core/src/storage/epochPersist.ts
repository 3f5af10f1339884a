import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import type { CompactResult, DocStore } from './DocStore.js'
import { keepRecordInArchive, shareRecordWithArchive } from './epochArchive.js'
import { EPOCH_META_KEY, EPOCH_RECORD_META_KEY, storedRecordValue } from './epochMeta.js'
import type { EpochRecord } from './epochRecord.js'

export { EPOCH_META_KEY, EPOCH_RECORD_META_KEY, readEpochRecord } from './epochMeta.js'

/** Options of {@link persistEpoch}. */
export interface PersistEpochOptions {
  /**
   * Exact compaction (STORE-3.7, default true): `stale` when any update follows `throughClock`, instead of keeping
   * it; such an update belongs to the old epoch and would be replayed onto the new one (COMPACT-5.7).
   */
  readonly exact?: boolean
  /**
   * The epoch the caller believes is stored (STORE-3.8): `stale` when the store holds another one, e.g. because
   * another writer of the store switched it already. Omitted: not checked.
   */
  readonly from?: string
}

/**
 * Switches a stored document to a new epoch in one atomic store step (docs/spec/compaction.md, COMPACT-3.4): the
 * snapshot becomes `doc` (the new epoch's document: `record.initial`, plus whatever was re-applied or edited in it
 * since) and the meta entries `epoch` and `epoch-record` (the record's stored form) are written with it. A crash
 * before leaves the old epoch with every edit; after, the new one. Around that step the record is kept stored once
 * (COMPACT-6.2c): before it, the record being replaced is written into its archive if that archive only named it;
 * after it, the archive of the epoch left names the new record instead of holding a copy.
 *
 * `throughClock` is the `clock` of the `load` (or last append) that gave the old epoch's state. The compaction is
 * exact (STORE-3.7): when any update follows `throughClock` (another writer of the store appended to the old epoch
 * meanwhile, COMPACT-6.6) it resolves `{ ok: false, reason: 'stale' }` and changes nothing, as it does when the
 * store moved on otherwise (STORE-3.3) or, with `options.from`, holds another epoch (STORE-3.8); the caller loads
 * again, re-applies what it finds, and retries.
 */
export const persistEpoch = (
  store: DocStore,
  docId: DocId,
  record: EpochRecord,
  doc: Y.Doc,
  throughClock: number,
  options: PersistEpochOptions = {},
): Promise<CompactResult> =>
  persistEpochSnapshot(store, docId, record, Y.encodeStateAsUpdateV2(doc), throughClock, options)

/**
 * {@link persistEpoch} from the new epoch's state already encoded (`snapshot`, V2): for a caller that built the
 * epoch elsewhere, e.g. the relay's compaction worker thread (RELAY-3.8).
 */
export const persistEpochSnapshot = async (
  store: DocStore,
  docId: DocId,
  record: EpochRecord,
  snapshot: Uint8Array,
  throughClock: number,
  options: PersistEpochOptions = {},
): Promise<CompactResult> => {
  await keepRecordInArchive(store, docId)
  const result = await store.compact(docId, snapshot, throughClock, {
    meta: { [EPOCH_META_KEY]: record.id, [EPOCH_RECORD_META_KEY]: storedRecordValue(record) },
    exact: options.exact ?? true,
    ...(options.from === undefined ? {} : { epoch: options.from }),
  })
  // The switch is stored: an archive left holding its copy of the record (a store failure here) is only larger.
  if (result.ok) await shareRecordWithArchive(store, docId, record).catch(() => undefined)
  return result
}

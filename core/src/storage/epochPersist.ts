import * as Y from 'yjs'
import { fromBase64, toBase64 } from 'lib0/buffer'
import type { DocId } from '../ids.js'
import type { CompactResult, DocStore } from './DocStore.js'
import {
  decodeEpochRecord,
  encodeEpochRecord,
  type DecodeEpochRecordResult,
  type EpochRecord,
} from './epochRecord.js'

/** Meta key holding the document's epoch id (COMPACT-3.4; absent means the initial epoch `"0"`). */
export const EPOCH_META_KEY = 'epoch'
/** Meta key holding the current epoch's record, base64 of {@link encodeEpochRecord} (COMPACT-3.4). */
export const EPOCH_RECORD_META_KEY = 'epoch-record'

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
 * since) and the meta entries `epoch` and `epoch-record` are written with it. A crash before leaves the old epoch
 * with every edit; after, the new one.
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
export const persistEpochSnapshot = (
  store: DocStore,
  docId: DocId,
  record: EpochRecord,
  snapshot: Uint8Array,
  throughClock: number,
  options: PersistEpochOptions = {},
): Promise<CompactResult> =>
  store.compact(docId, snapshot, throughClock, {
    meta: { [EPOCH_META_KEY]: record.id, [EPOCH_RECORD_META_KEY]: toBase64(encodeEpochRecord(record)) },
    exact: options.exact ?? true,
    ...(options.from === undefined ? {} : { epoch: options.from }),
  })

/**
 * The epoch record stored with a document (COMPACT-3.4), from its loaded meta: `null` when the document is still
 * in its initial epoch; a failed result when the entry does not decode, fails verification, or does not match the
 * `epoch` entry (`'malformed'`).
 */
export const readEpochRecord = (meta: Readonly<Record<string, string>>): DecodeEpochRecordResult | null => {
  const encoded = meta[EPOCH_RECORD_META_KEY]
  if (encoded === undefined) return null
  let bytes: Uint8Array
  try {
    bytes = fromBase64(encoded)
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  const result = decodeEpochRecord(bytes)
  if (result.ok && result.record.id !== meta[EPOCH_META_KEY]) return { ok: false, reason: 'malformed' }
  return result
}

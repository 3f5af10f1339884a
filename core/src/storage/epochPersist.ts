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

/**
 * Switches a stored document to a new epoch in one atomic store step (docs/spec/compaction.md, COMPACT-3.4): the
 * snapshot becomes `doc` (the new epoch's document: `record.initial`, plus whatever was re-applied or edited in it
 * since) and the meta entries `epoch` and `epoch-record` are written with it. A crash before leaves the old epoch
 * with every edit; after, the new one.
 *
 * `throughClock` is the `clock` of the `load` that gave the old epoch's state: every stored update must be at or
 * below it, and no old-epoch update may be appended until this resolves (stop the document's persistence first),
 * because updates appended later survive a compaction and would then be replayed onto the new epoch (COMPACT-5.7).
 * Resolves `{ ok: false, reason: 'stale' }` and changes nothing when the store moved on (STORE-3.5).
 */
export const persistEpoch = (
  store: DocStore,
  docId: DocId,
  record: EpochRecord,
  doc: Y.Doc,
  throughClock: number,
): Promise<CompactResult> =>
  store.compact(docId, Y.encodeStateAsUpdateV2(doc), throughClock, {
    meta: { [EPOCH_META_KEY]: record.id, [EPOCH_RECORD_META_KEY]: toBase64(encodeEpochRecord(record)) },
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

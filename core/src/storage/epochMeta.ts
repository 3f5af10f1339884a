import { fromBase64, toBase64 } from 'lib0/buffer'
import {
  decodeEpochRecord,
  encodeStoredEpochRecord,
  type DecodeEpochRecordResult,
  type EpochRecord,
} from './epochRecord.js'

/** Meta key holding the document's epoch id (COMPACT-3.4; absent means the initial epoch `"0"`). */
export const EPOCH_META_KEY = 'epoch'
/**
 * Meta key holding the current epoch's record (COMPACT-3.4): base64 of {@link encodeStoredEpochRecord} (older
 * versions wrote base64 of the wire form, `encodeEpochRecord`; both are read). A store may keep its bytes
 * (STORE-4.3).
 */
export const EPOCH_RECORD_META_KEY = 'epoch-record'
/**
 * Meta key of an epoch archive holding the record of the epoch that replaced the archived one, in full (COMPACT-6.2):
 * base64 like {@link EPOCH_RECORD_META_KEY}. Written while the document itself does not hold that record
 * (COMPACT-6.2c).
 */
export const EPOCH_CHILD_META_KEY = 'epoch-child'
/**
 * Meta key of an epoch archive naming the record that replaced the archived epoch, when the document holds that
 * record as its current `epoch-record` (COMPACT-6.2c): the record is stored once, with the document.
 */
export const EPOCH_CHILD_ID_META_KEY = 'epoch-child-id'

/**
 * Meta entries whose value is base64 of binary data (the epoch records). A store whose medium holds bytes may keep
 * their bytes (even compressed) instead of the text and give back the same base64 text on `load`
 * (docs/spec/storage.md, STORE-4.3):
 * `SqliteDocStore` does, so a record takes its binary size on disk.
 */
export const BASE64_META_KEYS: ReadonlySet<string> = new Set([EPOCH_RECORD_META_KEY, EPOCH_CHILD_META_KEY])

/** The meta value a record is stored as (COMPACT-3.4, COMPACT-6.2c): base64 of its stored form. */
export const storedRecordValue = (record: EpochRecord): string => toBase64(encodeStoredEpochRecord(record))

/** Decodes a stored meta value of a record (either form); `malformed` when it is not base64. */
export const decodeStoredRecord = (value: string): DecodeEpochRecordResult => {
  let bytes: Uint8Array
  try {
    bytes = fromBase64(value)
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  return decodeEpochRecord(bytes)
}

/**
 * The epoch record stored with a document (COMPACT-3.4), from its loaded meta: `null` when the document is still
 * in its initial epoch; a failed result when the entry does not decode, fails verification, or does not match the
 * `epoch` entry (`'malformed'`).
 */
export const readEpochRecord = (meta: Readonly<Record<string, string>>): DecodeEpochRecordResult | null => {
  const encoded = meta[EPOCH_RECORD_META_KEY]
  if (encoded === undefined) return null
  const result = decodeStoredRecord(encoded)
  if (result.ok && result.record.id !== meta[EPOCH_META_KEY]) return { ok: false, reason: 'malformed' }
  return result
}

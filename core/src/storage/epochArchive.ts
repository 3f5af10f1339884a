import { fromBase64, toBase64 } from 'lib0/buffer'
import type { DocId } from '../ids.js'
import type { DocStore, StoredDoc } from './DocStore.js'
import { decodeEpochRecord, encodeEpochRecord, type EpochRecord } from './epochRecord.js'

/** Meta key of an epoch archive: the record of the epoch that replaced the archived one (COMPACT-6.2). */
export const EPOCH_CHILD_META_KEY = 'epoch-child'

const ARCHIVE_INFIX = '~epoch~'

/** The document id under which the last state of `docId`'s epoch `epoch` is kept (COMPACT-6.2). */
export const epochArchiveId = (docId: DocId, epoch: string): DocId =>
  `${docId}${ARCHIVE_INFIX}${epoch}` as DocId

/** Whether a document id (or a relay room) is an epoch archive's (never served as a document of its own). */
export const isEpochArchiveId = (id: string): boolean => id.includes(ARCHIVE_INFIX)

/**
 * Stores (part of) the last state of `docId`'s epoch `epoch` and the record that replaced it (COMPACT-6.2). Appends:
 * calling it again with more of the old epoch's state completes the archive.
 */
export const writeEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
  update: Uint8Array,
  child: EpochRecord,
): Promise<void> => {
  const id = epochArchiveId(docId, epoch)
  await store.append(id, update)
  await store.setMeta(id, EPOCH_CHILD_META_KEY, toBase64(encodeEpochRecord(child)))
}

/**
 * Reads the archive of `docId`'s epoch `epoch`: the stored state and the record that replaced the epoch; `null`
 * when there is none, or when its record does not decode or does not descend from `epoch` (an archive nobody can
 * vouch for is not served).
 */
export const readEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
): Promise<{ readonly child: EpochRecord; readonly stored: StoredDoc } | null> => {
  const stored = await store.load(epochArchiveId(docId, epoch))
  const encoded = stored?.meta[EPOCH_CHILD_META_KEY]
  if (!stored || encoded === undefined) return null
  let bytes: Uint8Array
  try {
    bytes = fromBase64(encoded)
  } catch {
    return null
  }
  const child = decodeEpochRecord(bytes)
  if (!child.ok || child.record.parent !== epoch) return null
  return { child: child.record, stored }
}

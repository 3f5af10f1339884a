import * as Y from 'yjs'
import { fromBase64, toBase64 } from 'lib0/buffer'
import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { DocStore, StoredDoc } from './DocStore.js'
import { decodeEpochRecord, encodeEpochRecord, type EpochRecord } from './epochRecord.js'

/** Meta key of an epoch archive: the record of the epoch that replaced the archived one (COMPACT-6.2). */
export const EPOCH_CHILD_META_KEY = 'epoch-child'

const ARCHIVE_INFIX = '~epoch~'
/** Attempts of {@link writeEpochArchive} when another writer of the archive gets in between (STORE-3.3). */
const MAX_ATTEMPTS = 5

/** The document id under which the last state of `docId`'s epoch `epoch` is kept (COMPACT-6.2). */
export const epochArchiveId = (docId: DocId, epoch: string): DocId =>
  `${docId}${ARCHIVE_INFIX}${epoch}` as DocId

/** Whether a document id (or a relay room) is an epoch archive's (never served as a document of its own). */
export const isEpochArchiveId = (id: string): boolean => id.includes(ARCHIVE_INFIX)

/** Options of {@link writeEpochArchive}. */
export interface WriteEpochArchiveOptions {
  /**
   * Encoding of the state passed in: `'v1'` (default, `Y.encodeStateAsUpdate`) or `'v2'`
   * (`Y.encodeStateAsUpdateV2`, cheaper: it is what is stored).
   */
  readonly format?: 'v1' | 'v2'
}

/**
 * Stores (part of) the last state of `docId`'s epoch `epoch` and the record that replaced it (COMPACT-6.2), as one
 * **V2 snapshot** with the record, in one atomic store step (COMPACT-6.2b): an edit-heavy epoch's state is mostly
 * deleted items, which V2 run-length encodes (a whiteboard's 8.7 MB V1 state is 55 KB in V2). Calling it again with
 * more of the old epoch's state completes the archive: what is stored already (a V2 snapshot, or the V1 updates an
 * older version appended) is merged with `state` into a new snapshot.
 */
export const writeEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
  state: Uint8Array,
  child: EpochRecord,
  options: WriteEpochArchiveOptions = {},
): Promise<void> => {
  const id = epochArchiveId(docId, epoch)
  const meta = { [EPOCH_CHILD_META_KEY]: toBase64(encodeEpochRecord(child)) }
  const v2 = options.format === 'v2' ? state : Y.convertUpdateFormatV1ToV2(state)
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const stored = await store.load(id)
    const parts = stored ? storedPartsV2(stored) : []
    const snapshot = parts.length === 0 ? v2 : Y.mergeUpdatesV2([...parts, v2])
    const result = await store.compact(id, snapshot, stored?.clock ?? 0, { meta })
    if (result.ok) return
  }
  throw new WeftError(WeftErrorCode.StoreFailed, `epoch archive ${JSON.stringify(id)} kept going stale`)
}

/** A stored document's state as V2 updates (its snapshot, and its V1 tail converted). */
const storedPartsV2 = (stored: StoredDoc): Uint8Array[] => [
  ...(stored.snapshot ? [stored.snapshot] : []),
  ...stored.updates.map((u) => Y.convertUpdateFormatV1ToV2(u)),
]

/**
 * The archived state as one V2 update: the snapshot as stored, or (an archive written by an older version as V1
 * appends, COMPACT-6.2b) the snapshot and updates merged.
 */
export const epochArchiveStateV2 = (stored: StoredDoc): Uint8Array => {
  if (stored.snapshot && stored.updates.length === 0) return stored.snapshot
  const parts = storedPartsV2(stored)
  return parts.length === 1 ? (parts[0] as Uint8Array) : Y.mergeUpdatesV2(parts)
}

/**
 * Reads the archive of `docId`'s epoch `epoch`: the stored state and the record that replaced the epoch; `null`
 * when there is none, or when its record does not decode or does not descend from `epoch` (an archive nobody can
 * vouch for is not served). Archives of both forms load: a V2 snapshot, and the V1 appends of older versions.
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

import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { DocStore, StoredDoc } from './DocStore.js'
import {
  EPOCH_CHILD_ID_META_KEY,
  EPOCH_CHILD_META_KEY,
  decodeStoredRecord,
  readEpochRecord,
  storedRecordValue,
} from './epochMeta.js'
import type { DecodeEpochRecordResult, EpochRecord } from './epochRecord.js'

export { EPOCH_CHILD_META_KEY, EPOCH_CHILD_ID_META_KEY } from './epochMeta.js'

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
 * older version appended) is merged with `state` into a new snapshot. The record is written in full unless the
 * archive already names it as the document's own record (COMPACT-6.2c), which a completed switch arranges.
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
  const v2 = options.format === 'v2' ? state : Y.convertUpdateFormatV1ToV2(state)
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const stored = await store.load(id)
    // COMPACT-6.2c: an archive that names `child` as the document's record keeps naming it (stored once).
    const named =
      stored?.meta[EPOCH_CHILD_ID_META_KEY] === child.id && stored.meta[EPOCH_CHILD_META_KEY] === undefined
    const meta: Record<string, string | null> = named
      ? {}
      : { [EPOCH_CHILD_META_KEY]: storedRecordValue(child), [EPOCH_CHILD_ID_META_KEY]: null }
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
 * when there is none, or when its record does not decode, does not descend from `epoch`, or (named by id,
 * COMPACT-6.2c) is not the document's record (an archive nobody can vouch for is not served). Archives of every
 * form load: a V2 snapshot, the V1 appends of older versions, the record in full or named. `current`, the record
 * the caller knows the document to hold (read from its stored meta), saves reading the document again for an
 * archive that names it.
 */
export const readEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
  current?: EpochRecord | null,
): Promise<{ readonly child: EpochRecord; readonly stored: StoredDoc } | null> => {
  const stored = await store.load(epochArchiveId(docId, epoch))
  if (!stored) return null
  let child = archivedChild(stored.meta, current ?? null)
  const named = stored.meta[EPOCH_CHILD_ID_META_KEY]
  if (child === undefined && named !== undefined) {
    // Named, and not the caller's record: the document's own (a second read, only for this form).
    const own = readEpochRecord((await store.load(docId))?.meta ?? {})
    child = own?.ok && own.record.id === named ? own : null
  }
  if (!child?.ok || child.record.parent !== epoch) return null
  return { child: child.record, stored }
}

/**
 * The child record of an archive with this meta, without reading anything (COMPACT-6.2c): in full, or named and
 * `current`; `null` when there is none; `undefined` when it is named and the document must be read.
 */
const archivedChild = (
  meta: Readonly<Record<string, string>>,
  current: EpochRecord | null,
): DecodeEpochRecordResult | null | undefined => {
  const full = meta[EPOCH_CHILD_META_KEY]
  if (full !== undefined) return decodeStoredRecord(full)
  const named = meta[EPOCH_CHILD_ID_META_KEY]
  if (named === undefined) return null
  return current?.id === named ? { ok: true, record: current } : undefined
}

/**
 * Before `docId` leaves its current epoch (COMPACT-6.2c): if the archive of the epoch it left last names the
 * document's record instead of holding it, the record is written into that archive in full, since the document is
 * about to replace it. Idempotent; a crash after it leaves the record stored twice, never zero times.
 */
export const keepRecordInArchive = async (store: DocStore, docId: DocId): Promise<void> => {
  const current = readEpochRecord((await store.load(docId))?.meta ?? {})
  if (!current?.ok) return
  const id = epochArchiveId(docId, current.record.parent)
  const archive = await store.load(id)
  if (archive?.meta[EPOCH_CHILD_ID_META_KEY] !== current.record.id) return
  if (archive.meta[EPOCH_CHILD_META_KEY] === undefined)
    await store.setMeta(id, EPOCH_CHILD_META_KEY, storedRecordValue(current.record))
}

/**
 * After `docId` switched to `record` (its `epoch-record` holds it, COMPACT-3.4): the archive of the epoch it left
 * names the record instead of holding a second copy (COMPACT-6.2c). The name is written first and the copy removed
 * only if the document still holds the record, so a crash or another writer's switch in between leaves both (the
 * copy is read first). Nothing happens when there is no archive (a switch that archived nothing) or it holds
 * another record.
 */
export const shareRecordWithArchive = async (
  store: DocStore,
  docId: DocId,
  record: EpochRecord,
): Promise<void> => {
  const id = epochArchiveId(docId, record.parent)
  const full = (await store.load(id))?.meta[EPOCH_CHILD_META_KEY]
  if (full === undefined) return
  const child = decodeStoredRecord(full)
  if (!child.ok || child.record.id !== record.id) return
  await store.setMeta(id, EPOCH_CHILD_ID_META_KEY, record.id)
  const current = readEpochRecord((await store.load(docId))?.meta ?? {})
  if (current?.ok && current.record.id === record.id) await store.setMeta(id, EPOCH_CHILD_META_KEY, null)
}

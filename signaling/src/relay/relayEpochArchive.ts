import * as Y from 'yjs'
import { fromBase64 } from 'lib0/buffer'
import {
  EPOCH_CHILD_META_KEY,
  decodeEpochRecord,
  epochArchiveId,
  type DocId,
  type DocStore,
  type EpochRecord,
} from '@weft/core'
import { mergeUpdatesBatched } from './mergeUpdatesBatched.js'

/** What the relay kept of an epoch it left: the record that replaced it and its last state (V1). */
export interface EpochArchive {
  readonly epoch: string
  /** The record of the epoch that replaced {@link EpochArchive.epoch} (its `parent` is that epoch). */
  readonly child: EpochRecord
  /** The archived epoch's last state, one V1 update. */
  readonly state: Uint8Array
}

/** Marks a document id that is an epoch archive (`<doc>~epoch~<epoch>`, core's `epochArchiveId`). */
const ARCHIVE_INFIX = '~epoch~'

/** Whether a room name is the id of an epoch archive, which is never served as a room (RELAY-EPOCH-6). */
export const isEpochArchiveRoom = (room: string): boolean => room.includes(ARCHIVE_INFIX)

/**
 * Loads the archive of `docId`'s epoch `epoch` (written by the relay's switch, RELAY-EPOCH-4): `null` when there is
 * none, or when its record does not decode (an archive the relay cannot vouch for is not offered).
 */
export const loadEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
): Promise<EpochArchive | null> => {
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
  const parts = [
    ...(stored.snapshot ? [Y.convertUpdateFormatV2ToV1(stored.snapshot)] : []),
    ...stored.updates,
  ]
  return { epoch, child: child.record, state: mergeUpdatesBatched(parts) }
}

/**
 * The catch-up of an offer (COMPACT-5.1): what a peer whose step-1 state vector is `sv` lacks of the archived state;
 * empty when the peer holds nothing (it has nothing to re-apply) or there is no archived state.
 */
export const catchUpFor = (state: Uint8Array | null, sv: Uint8Array): Uint8Array => {
  if (state === null || Y.decodeStateVector(sv).size === 0) return new Uint8Array(0)
  return Y.diffUpdate(state, sv)
}

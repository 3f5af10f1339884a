import * as Y from 'yjs'
import { type DocId, type DocStore, type EpochRecord } from '@weft/core'
import { epochArchiveStateV2, readEpochArchive } from '@weft/core/epochs'

/** What the relay kept of an epoch it left: the record that replaced it and its last state (V2). */
export interface EpochArchive {
  readonly epoch: string
  /** The record of the epoch that replaced {@link EpochArchive.epoch} (its `parent` is that epoch). */
  readonly child: EpochRecord
  /**
   * The archived epoch's last state, one **V2** update: an edit-heavy epoch is mostly deleted items, which V2
   * run-length encodes (a whiteboard's 8.7 MB V1 state is 55 KB), so it is what is stored and kept in memory.
   */
  readonly stateV2: Uint8Array
}

/**
 * Loads the archive of `docId`'s epoch `epoch` (written by the relay's switch, RELAY-EPOCH-4) as one V2 state:
 * `null` when there is none, or when its record cannot be vouched for (core's `readEpochArchive`). Archives written
 * by older versions (V1 appends) load too.
 */
export const loadEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
): Promise<EpochArchive | null> => {
  const archived = await readEpochArchive(store, docId, epoch)
  if (!archived) return null
  return { epoch, child: archived.child, stateV2: epochArchiveStateV2(archived.stored) }
}

/** What a peer whose state vector is `sv` lacks of an archived (V2) state, as a V1 update (the wire's format). */
export const archiveDiff = (stateV2: Uint8Array, sv: Uint8Array): Uint8Array =>
  Y.convertUpdateFormatV2ToV1(Y.diffUpdateV2(stateV2, sv))

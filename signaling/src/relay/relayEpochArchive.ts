import * as Y from 'yjs'
import { readEpochArchive, type DocId, type DocStore, type EpochRecord } from '@weft/core'
import { mergeUpdatesBatched } from './mergeUpdatesBatched.js'

/** What the relay kept of an epoch it left: the record that replaced it and its last state (V1). */
export interface EpochArchive {
  readonly epoch: string
  /** The record of the epoch that replaced {@link EpochArchive.epoch} (its `parent` is that epoch). */
  readonly child: EpochRecord
  /** The archived epoch's last state, one V1 update. */
  readonly state: Uint8Array
}

/**
 * Loads the archive of `docId`'s epoch `epoch` (written by the relay's switch, RELAY-EPOCH-4) as one V1 state:
 * `null` when there is none, or when its record cannot be vouched for (core's `readEpochArchive`).
 */
export const loadEpochArchive = async (
  store: DocStore,
  docId: DocId,
  epoch: string,
): Promise<EpochArchive | null> => {
  const archived = await readEpochArchive(store, docId, epoch)
  if (!archived) return null
  const { stored, child } = archived
  const parts = [
    ...(stored.snapshot ? [Y.convertUpdateFormatV2ToV1(stored.snapshot)] : []),
    ...stored.updates,
  ]
  return { epoch, child, state: mergeUpdatesBatched(parts) }
}

/**
 * The catch-up of an offer (COMPACT-5.1): what a peer whose step-1 state vector is `sv` lacks of the archived state;
 * empty when the peer holds nothing (it has nothing to re-apply) or there is no archived state.
 */
export const catchUpFor = (state: Uint8Array | null, sv: Uint8Array): Uint8Array => {
  if (state === null || Y.decodeStateVector(sv).size === 0) return new Uint8Array(0)
  return Y.diffUpdate(state, sv)
}

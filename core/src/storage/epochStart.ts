import * as Y from 'yjs'
import { uint32 } from 'lib0/random'
import { epochClient } from './epochClient.js'
import { formatProvenance } from './epochFormatProvenance.js'
import { INITIAL_EPOCH, epochRecordId, type EpochRecord } from './epochRecord.js'
import { rebuildFresh } from './rebuildFresh.js'

/** What {@link startEpoch} returns. */
export interface StartedEpoch {
  /** The new epoch's record, to persist (COMPACT-3.4) and to hand to peers (COMPACT-6). */
  readonly record: EpochRecord
  /**
   * The new epoch's document: the content of the old one, without history. Its `clientID` is a fresh random
   * 32-bit id (the deterministic writer of `initial` must never write again).
   */
  readonly doc: Y.Doc
}

/**
 * Starts a new epoch from the current state of `oldDoc` (docs/spec/compaction.md, COMPACT-3.2, COMPACT-3.3):
 * `base` is the snapshot of `oldDoc` (state vector + delete set), `initial` the fresh document rebuilt by
 * `epochClient(parent, 'init')`, `provenance` where each piece of content and each formatting mark came from, and
 * the id the hash of parent, base and initial.
 *
 * `parent` is the epoch `oldDoc` belongs to (its record, or just `{ id, seq }`); omitted for the initial epoch.
 * Synchronous: the id is hashed with lib0's SHA-256 (COMPACT-3.2), so a start is one step with no await in it.
 */
export const startEpoch = (oldDoc: Y.Doc, parent?: Pick<EpochRecord, 'id' | 'seq'>): StartedEpoch => {
  const parentId = parent?.id ?? INITIAL_EPOCH
  const seq = (parent?.seq ?? 0) + 1
  const base = Y.encodeSnapshotV2(Y.snapshot(oldDoc))
  const rebuilt = rebuildFresh(oldDoc, { clientId: epochClient(parentId, 'init') })
  const initial = Y.encodeStateAsUpdateV2(rebuilt.doc)
  const provenance = [
    ...rebuilt.provenance,
    ...formatProvenance(oldDoc, rebuilt.doc, rebuilt.provenance),
  ].sort((a, b) => a.newClock - b.newClock)
  const record: EpochRecord = {
    id: epochRecordId(parentId, seq, base, initial),
    parent: parentId,
    seq,
    base,
    initial,
    provenance,
  }
  rebuilt.doc.clientID = uint32()
  return { record, doc: rebuilt.doc }
}

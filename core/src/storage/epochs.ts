/**
 * Building blocks of history compaction (`@weft/core/epochs`; docs/spec/compaction.md): epoch records and their
 * codecs, starting and persisting epochs, archives of left epochs, re-applying changes onto a new epoch
 * (`rebaseOnto`) and the reset policy's item counts. `EpochManager` and `openDocument` in `@weft/core` use them for an
 * app; a server or a tool that runs epochs itself (the relay, `weft compact`) imports them from here.
 * @module @weft/core/epochs
 */
export { rebuildFresh, type RebuiltDoc, type RebuildOptions, type ProvenanceRun } from './rebuildFresh.js'
export { rebaseOnto, holdsBase, type RebaseResult } from './rebaseOnto.js'
export {
  EPOCH_CHILD_META_KEY,
  EPOCH_CHILD_ID_META_KEY,
  epochArchiveId,
  epochArchiveStateV2,
  isEpochArchiveId,
  readEpochArchive,
  writeEpochArchive,
  type WriteEpochArchiveOptions,
} from './epochArchive.js'
export { startEpoch, type StartedEpoch } from './epochStart.js'
export { epochClient, MIN_EPOCH_CLIENT } from './epochClient.js'
export {
  chooseEpoch,
  compareEpochs,
  decodeEpochRecord,
  encodeEpochRecord,
  encodeStoredEpochRecord,
  epochRecordId,
  epochSeq,
  verifyEpochRecord,
  type DecodeEpochRecordResult,
} from './epochRecord.js'
export { countItems, shouldStartEpoch, type ItemCounts } from './epochPolicy.js'
export {
  persistEpoch,
  persistEpochSnapshot,
  readEpochRecord,
  EPOCH_META_KEY,
  EPOCH_RECORD_META_KEY,
  type PersistEpochOptions,
} from './epochPersist.js'
export { BASE64_META_KEYS } from './epochMeta.js'

/**
 * Storage: the DocStore contract, DocPersistence (one Y.Doc bound to a store) and log compaction.
 * @packageDocumentation
 */
export type { DocStore, StoredDoc, CompactOptions, CompactResult, AppendOptions } from './DocStore.js'
export { epochMismatchError } from './DocStore.js'
export { DocPersistence, type DocPersistenceOptions, type DocPersistenceEvents } from './DocPersistence.js'
export {
  Compactor,
  shouldCompact,
  defaultCompactionPolicy,
  type CompactionPolicy,
  type CompactionStats,
  type CompactionOutcome,
  type CompactorOptions,
} from './Compactor.js'
export { applyStoredDoc } from './applyStoredDoc.js'
export { inspectDoc, type DocInspection } from './inspectDoc.js'
export { rebuildFresh, type RebuiltDoc, type RebuildOptions, type ProvenanceRun } from './rebuildFresh.js'
export { rebaseOnto, holdsBase, type RebaseResult } from './rebaseOnto.js'
export {
  EPOCH_CHILD_META_KEY,
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
  INITIAL_EPOCH,
  chooseEpoch,
  compareEpochs,
  decodeEpochRecord,
  encodeEpochRecord,
  epochRecordId,
  epochSeq,
  verifyEpochRecord,
  type DecodeEpochRecordResult,
  type EpochRecord,
} from './epochRecord.js'
export {
  countItems,
  defaultEpochPolicy,
  shouldStartEpoch,
  type EpochPolicy,
  type ItemCounts,
} from './epochPolicy.js'
export { type PersistEpochOptions } from './epochPersist.js'
export {
  persistEpoch,
  persistEpochSnapshot,
  readEpochRecord,
  EPOCH_META_KEY,
  EPOCH_RECORD_META_KEY,
} from './epochPersist.js'

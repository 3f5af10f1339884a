/**
 * Storage: the DocStore contract, DocPersistence (one Y.Doc bound to a store) and log compaction. Epoch building
 * blocks are on `@weft/core/epochs` (./epochs.ts), store implementers' tools on `@weft/core/store-kit`.
 * @packageDocumentation
 */
export type { DocStore, StoredDoc, CompactOptions, CompactResult, AppendOptions } from './DocStore.js'
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
export { INITIAL_EPOCH, type EpochRecord } from './epochRecord.js'
export { defaultEpochPolicy, type EpochPolicy } from './epochPolicy.js'

/**
 * Storage: the DocStore contract, DocPersistence (one Y.Doc bound to a store) and log compaction.
 * @packageDocumentation
 */
export type { DocStore, StoredDoc, CompactOptions, CompactResult } from './DocStore.js'
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

/**
 * `@weft/core`: the sync engine, the document handle, typed schemas, the Transport and DocStore contracts and the
 * close codes. Wire-level building blocks are on `@weft/core/protocol`, epoch building blocks on `@weft/core/epochs`,
 * the per-path engine on `@weft/core/sync-engine`, store implementers' tools on `@weft/core/store-kit`.
 * @module @weft/core
 */
export { WeftError, WeftErrorCode, toWeftError } from './WeftError.js'
export { requireYDoc } from './requireYDoc.js'
export { doublingDelay } from './backoff.js'
export { docId, peerId, type DocId, type PeerId, type Brand } from './ids.js'
export type { Transport, TransportEvents, TransportStatus } from './transport/Transport.js'
// Storage: the DocStore contract, DocPersistence (one Y.Doc bound to a store) and log compaction.
export type {
  DocStore,
  StoredDoc,
  CompactOptions,
  CompactResult,
  AppendOptions,
  RemoveOptions,
  RemoveResult,
} from './storage/DocStore.js'
export {
  DocPersistence,
  type DocPersistenceOptions,
  type DocPersistenceEvents,
} from './storage/DocPersistence.js'
export { OwnClients, OWN_CLIENTS_META } from './storage/OwnClients.js'
export {
  Compactor,
  shouldCompact,
  defaultCompactionPolicy,
  type CompactionPolicy,
  type CompactionStats,
  type CompactionOutcome,
  type CompactorOptions,
  type CollectMeta,
} from './storage/Compactor.js'
export { applyStoredDoc } from './storage/applyStoredDoc.js'
export { inspectDoc, type DocInspection } from './storage/inspectDoc.js'
export { INITIAL_EPOCH, type EpochRecord } from './storage/epochRecord.js'
export { defaultEpochPolicy, type EpochPolicy } from './storage/epochPolicy.js'
// Workspaces in a store: the `W/D` naming rule and the optional per-workspace change sequence (WS-STORE-*).
export {
  isWorkspaceIndexed,
  workspaceOf,
  splitWorkspaceDoc,
  workspaceDocId,
  isWorkspaceId,
  isWorkspaceDocId,
  CATALOGUE_DOC,
  MAX_WORKSPACE_ID_BYTES,
  MAX_WORKSPACE_DOC_BYTES,
  type WorkspaceIndex,
  type WorkspaceChange,
  type WorkspaceChanges,
  type WorkspaceSummary,
} from './storage/WorkspaceIndex.js'
// Deleted workspace documents: the retention, the catalogue's tombstones and the purge (WS-PURGE-*).
export {
  DEFAULT_WORKSPACE_RETENTION_MS,
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  CatalogueDeletions,
  deletionKey,
  tombstoneOf,
  writeDeletion,
  catalogueTombstones,
  loadCatalogueTombstones,
  loadCataloguePurgeState,
  PURGE_SEEN_META_PREFIX,
  purgeSeenMetaKey,
  isPastRetention,
  TombstoneSightings,
  tombstoneSightingsKey,
  workspaceDocKeys,
  purgeWorkspaceDoc,
  type WorkspaceTombstone,
  type CataloguePurgeState,
} from './storage/workspacePurge.js'
export {
  catalogueTouched,
  catalogueTouchedBy,
  type CatalogueChangeObserver,
} from './storage/catalogueTouched.js'
export { catalogueEntryBytes } from './storage/catalogueEntryBytes.js'
export { CATALOGUE_SCHEMA_MARK } from './storage/catalogueSchemaMark.js'
export type { ReservedChange, ReservedSchema } from './rules/reserved.js'
export {
  SyncSession,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type SyncSessionOptions,
  type SyncSessionEvents,
  type PathRef,
  type EpochOfferSource,
} from './sync/SyncSession.js'
export type { SessionRules } from './sync/PeerRules.js'
export {
  EpochManager,
  type EpochManagerOptions,
  type EpochManagerEvents,
  type EpochBlockedReason,
} from './sync/EpochManager.js'
export { EPOCH_ORIGIN, isEpochOrigin } from './sync/epochOrigin.js'
export { ROLLBACK_ORIGIN, isRollbackOrigin, type RemovedRange } from './sync/rollback.js'
export {
  DocHandle,
  openDocument,
  PENDING_META,
  storedPendingCount,
  type DocHandleEvents,
  type AddTransportOptions,
  type OpenDocumentOptions,
} from './doc/index.js'
export { CloseCode, closeCodeName, isRetryableClose } from './protocol/closeCodes.js'
// Typed schemas: declare a document once, get types, validation, migrations and conflict keeping.
export { s } from './schema/s.js'
export { defineSchema, RESERVED_PREFIX } from './schema/defineSchema.js'
export type { Schema, SchemaOptions, RootField, RootFields, StaticContainer } from './schema/defineSchema.js'
export { ValueField, RecordField } from './schema/fields.js'
export type {
  CollectionField,
  FieldDef,
  Fields,
  ItemField,
  Json,
  ListField,
  Literal,
  RichTextField,
  TextField,
  ValueType,
} from './schema/fields.js'
export type {
  ChangeMeta,
  Infer,
  Input,
  InputFields,
  InvalidEvent,
  Patch,
  PathSegment,
  Prettify,
  Row,
  SharedType,
  ValueKeys,
  WriteFailure,
  WriteFailureReason,
  WriteResult,
} from './schema/types.js'
export { REMOVE, addField, chainSteps, isJson, renameField } from './schema/migration.js'
export type {
  Migration,
  MigrationContext,
  MigrationId,
  RawRecord,
  RecordPatch,
  RecordStep,
} from './schema/migration.js'
export { META_NAME, documentVersion } from './schema/migrate.js'
export { TypedDoc, openTyped, MIGRATION_ORIGIN, SYSTEM_ORIGIN } from './schema/TypedDoc.js'
export type {
  MigrationReport,
  OpenTypedOptions,
  RootHandle,
  RootHandles,
  TypedDocEvents,
  TypedDocStatus,
  TypedUndoOptions,
  UndoScopeItem,
} from './schema/TypedDoc.js'
export { TypedRecord } from './schema/TypedRecord.js'
export type { RecordChange } from './schema/TypedRecord.js'
export { TypedCollection } from './schema/TypedCollection.js'
export type { CollectionChange, InsertOptions } from './schema/TypedCollection.js'
export { TypedList } from './schema/TypedList.js'
export { ConflictLog, CONFLICTS_NAME, RESOLVED_NAME } from './schema/ConflictLog.js'
export type { ConflictEntry, ConflictLogHost, ResolveOptions } from './schema/ConflictLog.js'
export type { RegisterEntry, RegisterState } from './schema/register.js'
export type { Runtime } from './schema/Runtime.js'
export type { ReadEnv } from './schema/readRecord.js'
export type { WriteEnv } from './schema/writeRecord.js'
export {
  announceSchema,
  collaboratorVersions,
  newerCollaborators,
  SCHEMA_AWARENESS_FIELD,
} from './schema/schemaAwareness.js'
export type { CollaboratorVersion } from './schema/schemaAwareness.js'

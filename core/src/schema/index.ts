/**
 * `@weft/core` schema layer: declare a document once, get types, validation, migrations and conflict keeping.
 */
export { s } from './s.js'
export { defineSchema, RESERVED_PREFIX } from './defineSchema.js'
export type { Schema, SchemaOptions, RootField, RootFields, StaticContainer } from './defineSchema.js'
export { ValueField, RecordField } from './fields.js'
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
} from './fields.js'
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
} from './types.js'
export { REMOVE, addField, chainSteps, isJson, renameField } from './migration.js'
export type {
  Migration,
  MigrationContext,
  MigrationId,
  RawRecord,
  RecordPatch,
  RecordStep,
} from './migration.js'
export { META_NAME, documentVersion } from './migrate.js'
export { TypedDoc, openTyped, MIGRATION_ORIGIN, SYSTEM_ORIGIN } from './TypedDoc.js'
export type {
  MigrationReport,
  OpenTypedOptions,
  RootHandle,
  RootHandles,
  TypedDocEvents,
  TypedDocStatus,
  TypedUndoOptions,
  UndoScopeItem,
} from './TypedDoc.js'
export { TypedRecord } from './TypedRecord.js'
export type { RecordChange } from './TypedRecord.js'
export { TypedCollection } from './TypedCollection.js'
export type { CollectionChange, InsertOptions } from './TypedCollection.js'
export { TypedList } from './TypedList.js'
export { ConflictLog, CONFLICTS_NAME, RESOLVED_NAME } from './ConflictLog.js'
export type { ConflictEntry, ConflictLogHost, ResolveOptions } from './ConflictLog.js'
export type { RegisterEntry, RegisterState } from './register.js'
export type { Runtime } from './Runtime.js'
export type { ReadEnv } from './readRecord.js'
export type { WriteEnv } from './writeRecord.js'
export {
  announceSchema,
  collaboratorVersions,
  newerCollaborators,
  SCHEMA_AWARENESS_FIELD,
} from './schemaAwareness.js'
export type { CollaboratorVersion } from './schemaAwareness.js'

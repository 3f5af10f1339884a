import {
  WeftError,
  WeftErrorCode,
  defineSchema,
  isWorkspaceDocId,
  isWorkspaceId,
  s,
  type Fields,
  type InputFields,
  type RecordField,
  type Infer,
  type Schema,
} from '@weft/core'

/** The catalogue's own fields of every record (the app's metadata fields come next to them). */
const CATALOGUE_FIELDS = {
  /** The document's title. */
  title: s.string().optional(''),
  /** When the document was created (ms since the epoch, the creator's clock). */
  createdAt: s.number().optional(0),
  /** When a replica last recorded a local change of the document (ms since the epoch). */
  updatedAt: s.number().optional(0),
  /** The document's encoded size in bytes, as the replica that last changed it measured it. */
  size: s.number().optional(0),
  /** A tombstone: the document was deleted (its data is kept for the retention period). */
  deleted: s.boolean().optional(false),
  /** When it was deleted (ms since the epoch; 0 while not deleted). */
  deletedAt: s.number().optional(0),
}

/** The catalogue's own fields: `title`, `createdAt`, `updatedAt`, `size`, `deleted`, `deletedAt`. */
export type CatalogueFields = typeof CATALOGUE_FIELDS

/** Every field of a catalogue record: the catalogue's own plus the app's metadata fields `M`. */
export type EntryFields<M extends Fields> = CatalogueFields & M

/**
 * One catalogue record as read: `id`, the catalogue's fields (`title`, `createdAt`, `updatedAt`, `size`, `deleted`,
 * `deletedAt`) and the app's metadata fields `M`, typed by the schema layer.
 */
export type CatalogueRecord<M extends Fields = Fields> = CatalogueBase & Infer<RecordField<M>>

/** The catalogue's own fields of a record as read. */
export interface CatalogueBase {
  readonly id: string
  readonly title: string
  readonly createdAt: number
  readonly updatedAt: number
  readonly size: number
  readonly deleted: boolean
  readonly deletedAt: number
}

/** What `workspace.create` takes: the app's metadata (fields with a default may be left out), an optional title and id. */
export type CreateInput<M extends Fields> = InputFields<M> & {
  readonly title?: string
  /** The document id (default: a random one). Non-empty, no leading `.`, no `~`, at most 256 bytes. */
  readonly id?: string
}

/** Throws `invalid-argument` unless `id` is a valid workspace id (`isWorkspaceId` of `@weft/core`). */
export const requireWorkspaceId = (id: string): void => {
  if (typeof id !== 'string' || !isWorkspaceId(id))
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      `not a workspace id: ${JSON.stringify(id)} (non-empty, without "/", at most 128 bytes)`,
    )
}

/** Throws `invalid-argument` unless `id` is a valid document id of a workspace (`isWorkspaceDocId` of `@weft/core`). */
export const requireDocumentId = (id: string): void => {
  if (typeof id !== 'string' || !isWorkspaceDocId(id))
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      `document id ${JSON.stringify(id)}: must be non-empty, not start with ".", contain no "~", at most 256 bytes`,
    )
}

/** The schema of a catalogue whose records carry the app's metadata fields `M`. */
export type CatalogueSchema<M extends Fields> = Schema<{
  readonly documents: ReturnType<typeof s.collection<EntryFields<M>>>
}>

/**
 * The catalogue's schema (`weft-catalogue`, version 1): one root collection `documents`, one record per document,
 * with the catalogue's fields and the app's `metadata` fields. Throws `invalid-argument` when an app field has the
 * name of a catalogue field.
 */
export const catalogueSchema = <M extends Fields>(metadata: M): CatalogueSchema<M> => {
  for (const key of Object.keys(metadata))
    if (Object.hasOwn(CATALOGUE_FIELDS, key))
      throw new WeftError(
        WeftErrorCode.InvalidArgument,
        `openWorkspace({ schema }): field ${JSON.stringify(key)} is a catalogue field`,
      )
  const fields = { ...CATALOGUE_FIELDS, ...metadata } as EntryFields<M>
  return defineSchema({
    name: 'weft-catalogue',
    version: 1,
    root: { documents: s.collection(fields) },
  }) as CatalogueSchema<M>
}

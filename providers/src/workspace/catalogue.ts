import type * as Y from 'yjs'
import {
  CATALOGUE_SCHEMA_MARK,
  CatalogueDeletions,
  WeftError,
  WeftErrorCode,
  defineSchema,
  isWorkspaceDocId,
  isWorkspaceId,
  s,
  tombstoneOf,
  writeDeletion,
  type CollectionChange,
  type Fields,
  type InputFields,
  type Patch,
  type RecordField,
  type Infer,
  type Schema,
  type TypedCollection,
  type TypedDoc,
  type WriteResult,
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
    // The relay's catalogue guard checks the marks against the same name and version (WS-ACCESS-6).
    name: CATALOGUE_SCHEMA_MARK.name,
    version: CATALOGUE_SCHEMA_MARK.version,
    root: { documents: s.collection(fields) },
  }) as CatalogueSchema<M>
}

/**
 * A change of the catalogue as {@link CatalogueDocuments.observe} reports it: the ids whose record or
 * tombstone changed.
 */
export type CatalogueChange = Pick<CollectionChange, 'added' | 'updated' | 'deleted' | 'local'>

/**
 * The catalogue's records read and written with the tombstone rule (WS-PURGE-10): a document is deleted when its
 * record says so or any replica's deletion entry (`deletions`, written with every `delete`) names it, whatever a
 * concurrent `create` or record write says, and its `deletedAt` is the earliest any replica wrote, so every replica
 * reads the same list and computes the same purge time. `create` refuses an id that is or was deleted. The rule itself
 * is `tombstoneOf` of `@weft/core`, which the relay's purge reads too. Created by the workspace. @internal
 */
export class CatalogueDocuments<M extends Fields> {
  readonly #typed: TypedDoc<CatalogueSchema<M>>
  readonly #records: TypedCollection<EntryFields<M>>
  readonly #deletions: CatalogueDeletions

  constructor(typed: TypedDoc<CatalogueSchema<M>>) {
    this.#typed = typed
    this.#records = typed.root.documents as unknown as TypedCollection<EntryFields<M>>
    this.#deletions = new CatalogueDeletions(typed.doc)
  }

  /** Record `id` with the tombstone rule applied, or undefined when there is no valid record. */
  get(id: string): CatalogueRecord<M> | undefined {
    const row = this.#records.get(id) as unknown as CatalogueRecord<M> | undefined
    return row && this.#ruled(row)
  }

  /** The ids of every record, valid or not (`get` tells them apart). */
  ids(): string[] {
    return this.#records.ids()
  }

  /** Every valid record, with the tombstone rule applied. */
  values(): Array<CatalogueRecord<M>> {
    return (this.#records.values() as unknown as Array<CatalogueRecord<M>>).map((row) => this.#ruled(row))
  }

  /** Whether document `id` is deleted by the rule (its record may be missing or invalid). */
  isDeleted(id: string): boolean {
    return tombstoneOf(id, this.#records.ymap.get(id), this.#deletions.earliest(id)) !== null
  }

  /**
   * Inserts record `record` under `id` (random when undefined), checked by the schema. An id in use or ever deleted
   * here (WS-PURGE-10: a deleted id is never reused) is `{ ok: false, reason: 'exists' }` and writes nothing.
   */
  create(record: Record<string, unknown>, id: string | undefined): WriteResult<{ readonly id: string }> {
    if (id !== undefined && this.isDeleted(id))
      return {
        ok: false,
        reason: 'exists',
        message: `documents.${id} was deleted: a deleted document id is never used again`,
        path: ['documents', id],
      }
    return this.#records.insert(record as never, id === undefined ? {} : { id })
  }

  /** Updates fields of record `id` (checked by the schema). */
  update(id: string, patch: Patch<EntryFields<M>>): WriteResult {
    return this.#records.update(id, patch)
  }

  /**
   * Deletes document `id` at `now` (WS-CLIENT-2.1, WS-PURGE-10): in one transaction, the record's `deleted` and
   * `deletedAt` and this replica's deletion entry. A document already deleted by the rule is left alone (its earliest
   * `deletedAt` stays); a missing record is `not-found`.
   */
  delete(id: string, now: number): WriteResult {
    if (this.isDeleted(id)) return { ok: true }
    return this.#typed.transact(() => {
      const result = this.#records.update(id, { deleted: true, deletedAt: now } as unknown as Patch<
        EntryFields<M>
      >)
      if (result.ok) writeDeletion(this.#typed.doc, id, now)
      return result
    })
  }

  /**
   * Calls `listener` after each transaction that changed records or deletion entries, with the ids concerned (a
   * deletion entry's document among `updated`). One call per transaction. Returns the unsubscribe function.
   */
  observe(listener: (change: CatalogueChange) => void): () => void {
    const map = this.#deletions.map
    const ymap = this.#records.ymap
    // Shallow observers run before deep ones: the index is current when the records' listener reads it, and a
    // transaction that changed both (a delete) reports once, from the records' listener.
    let stash: { tr: Y.Transaction; docs: string[] } | null = null
    const onDeletions = (event: Y.YMapEvent<unknown>, tr: Y.Transaction): void => {
      const docs = this.#deletions.apply(event.keysChanged)
      if (stash && stash.tr !== tr) {
        // Its records' listener never ran (the records' change was no change of a record): reported on its own.
        listener({ added: [], updated: stash.docs, deleted: [], local: stash.tr.local })
        stash = null
      }
      if (docs.length === 0) return
      if (tr.changedParentTypes.has(ymap as never)) stash = { tr, docs }
      else listener({ added: [], updated: docs, deleted: [], local: tr.local })
    }
    map.observe(onDeletions)
    const off = this.#records.observe((change) => {
      const extra = stash?.docs ?? []
      stash = null
      if (extra.length === 0) return listener(change)
      const known = new Set([...change.added, ...change.updated, ...change.deleted])
      listener({ ...change, updated: [...change.updated, ...extra.filter((d) => !known.has(d))] })
    })
    return () => {
      map.unobserve(onDeletions)
      off()
    }
  }

  #ruled(row: CatalogueRecord<M>): CatalogueRecord<M> {
    const t = tombstoneOf(row.id, this.#records.ymap.get(row.id), this.#deletions.earliest(row.id))
    if (t === null) return row
    return row.deleted && row.deletedAt === t.deletedAt
      ? row
      : { ...row, deleted: true, deletedAt: t.deletedAt }
  }
}

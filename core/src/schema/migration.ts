import type { Json } from './fields.js'

/** Identifies a migration: `"<schema name>/<version it migrates to>"`, e.g. `"whiteboard/2"`. */
export type MigrationId = `${string}/${number}`

/** In a {@link RecordPatch}: remove this field. */
export const REMOVE: unique symbol = Symbol('weft.schema.remove')

/**
 * A record as a migration step sees it: its stored fields (undeclared ones included), plain values as stored and
 * shared types (Y.Text, ...) as the live objects. Read-only: a step returns a patch instead of writing.
 */
export type RawRecord = { readonly [field: string]: unknown }

/** Fields to set (to JSON values) or to remove (with {@link REMOVE}). */
export type RecordPatch = { readonly [field: string]: Json | typeof REMOVE }

/**
 * Migrates one record. It must be deterministic (same input, same patch) and idempotent (a record it already
 * migrated yields no patch), because it also runs on data that arrives later from peers still on the old version,
 * and because two peers may run it concurrently: both then write the same values, which converges.
 */
export type RecordStep = (record: RawRecord) => RecordPatch | undefined | void

/** Buffered, deterministic document-level operations for {@link Migration.run}; applied only if every step succeeds. */
export interface MigrationContext {
  /** Reads a record's stored fields: `path` is a root collection key (with `id`) or a root record key. */
  read(path: string, id?: string): RawRecord | undefined
  /** Ids in a root collection. */
  ids(collection: string): readonly string[]
  /**
   * Inserts a record with a deterministic `id` if none exists (plain-value fields only are needed; text and lists are
   * created empty). Two peers running this concurrently create equal records; Yjs keeps one.
   */
  insert(collection: string, id: string, values: { readonly [field: string]: Json }): void
  /** Sets (or with {@link REMOVE}, removes) a field of a root record. */
  set(record: string, field: string, value: Json | typeof REMOVE): void
}

/** One migration: to version `n` of schema `name`, identified as `"name/n"`. */
export interface Migration {
  /** `"<schema name>/<version>"`. */
  readonly id: MigrationId
  /** Per-record steps, by root collection key or root record key (dotted for nested static ones: `"page.items"`). */
  readonly records?: { readonly [path: string]: RecordStep }
  /** A document-level step, run once per document (its id is recorded); uses only deterministic operations. */
  readonly run?: (ctx: MigrationContext) => void
  /** What it does, for humans. */
  readonly description?: string
}

/** Renames field `from` to `to` (moves the value; a later value in `from`, from an older peer, moves again). */
export const renameField =
  (from: string, to: string): RecordStep =>
  (record) => {
    if (!(from in record)) return undefined
    const value = record[from]
    return isJson(value) ? { [to]: value, [from]: REMOVE } : undefined
  }

/** Adds field `name` with `value` (or a value computed from the record) where it is missing. */
export const addField =
  (name: string, value: Json | ((record: RawRecord) => Json)): RecordStep =>
  (record) =>
    name in record ? undefined : { [name]: typeof value === 'function' ? value(record) : value }

/** Runs steps one after the other on the same record; each sees the previous steps' result. */
export const chainSteps =
  (...steps: readonly RecordStep[]): RecordStep =>
  (record) => {
    let current: Record<string, unknown> = { ...record }
    const patch: Record<string, Json | typeof REMOVE> = {}
    for (const step of steps) {
      const p = step(current)
      if (!p) continue
      for (const [k, v] of Object.entries(p)) {
        patch[k] = v
        if (v === REMOVE) {
          const { [k]: _gone, ...rest } = current
          current = rest
        } else current = { ...current, [k]: v }
      }
    }
    return Object.keys(patch).length > 0 ? patch : undefined
  }

/** Whether `value` is JSON (a plain value a migration may copy). */
export const isJson = (value: unknown): value is Json => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every(isJson)
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown
    return (proto === Object.prototype || proto === null) && Object.values(value).every(isJson)
  }
  return false
}

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

/**
 * Renames field `from` to `to` (moves the value; a later value in `from`, from an older peer, moves again). A value
 * that is not {@link isJson} (junk from a peer, a shared type) cannot be moved: the record is then left unmigrated
 * and reported invalid (SCHEMA-4.9).
 */
export const renameField =
  (from: string, to: string): RecordStep =>
  (record) =>
    Object.hasOwn(record, from) ? { [to]: record[from] as Json, [from]: REMOVE } : undefined

/** Adds field `name` with `value` (or a value computed from the record) where it is missing. */
export const addField =
  (name: string, value: Json | ((record: RawRecord) => Json)): RecordStep =>
  (record) =>
    Object.hasOwn(record, name) ? undefined : { [name]: typeof value === 'function' ? value(record) : value }

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
        setOwn(patch, k, v)
        if (v === REMOVE) {
          const { [k]: _gone, ...rest } = current
          current = rest
        } else current = { ...current, [k]: v }
      }
    }
    return Object.keys(patch).length > 0 ? patch : undefined
  }

/**
 * Sets an own property, also for the key `"__proto__"` (a plain assignment would replace the prototype instead:
 * Y.Map keys and JSON keys written by peers may be any string).
 */
export const setOwn = <T>(target: Record<string, T>, key: string, value: T): void => {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** Deepest nesting {@link isJson} accepts. */
export const MAX_JSON_DEPTH = 1000
/** Most objects, arrays and values {@link isJson} visits in one value (a shared sub-value counts each time). */
export const MAX_JSON_NODES = 1_000_000

/**
 * Whether `value` is JSON that a Y.Map or Y.Array stores as a plain value and every peer decodes as the same value:
 * `null`, a string, a boolean, a finite number, or an array (no holes) or plain object (prototype `Object.prototype`)
 * of such values; no cycle, at most 1,000 levels and 1,000,000 nodes. Refused:
 * objects with an own `__proto__` key (lib0 decodes that key by setting the prototype: peers would disagree), with
 * a null or other prototype (Yjs throws "Unexpected content type"), a top-level object or array with an own
 * `constructor` key (same), `undefined`, bigint, functions, symbols, Uint8Array, Date and shared types (Y.Text,
 * Y.Map, Y.Doc...). Never throws.
 */
export const isJson = (value: unknown): value is Json => {
  try {
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'constructor')) return false
    return jsonTree(value, 0, new Set(), { nodes: 0 })
  } catch {
    // a Proxy or getter that throws, or a stack overflow despite the depth limit
    return false
  }
}

const jsonTree = (
  value: unknown,
  depth: number,
  ancestors: Set<object>,
  count: { nodes: number },
): boolean => {
  if (++count.nodes > MAX_JSON_NODES) return false
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (depth >= MAX_JSON_DEPTH || ancestors.has(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  ancestors.add(value)
  let ok = true
  if (proto === Array.prototype) {
    const arr = value as readonly unknown[]
    for (let i = 0; ok && i < arr.length; i++)
      ok = Object.hasOwn(arr, i) && jsonTree(arr[i], depth + 1, ancestors, count)
  } else if (proto === Object.prototype && !Object.hasOwn(value, '__proto__')) {
    for (const key of Object.keys(value)) {
      ok = jsonTree((value as Record<string, unknown>)[key], depth + 1, ancestors, count)
      if (!ok) break
    }
  } else ok = false
  ancestors.delete(value)
  return ok
}

import * as Y from 'yjs'
import { CONFLICTS_NAME, RESOLVED_NAME } from '../schema/ConflictLog.js'
import { RESERVED_PREFIX } from '../schema/defineSchema.js'
import { META_NAME } from '../schema/migrate.js'
import type { PathSegment } from '../schema/types.js'
import type { RulesVerdict } from '../schema/rules.js'
import { forEachChangedItem, placeOf, rootNames } from './changedItems.js'
import { refuse } from './refuse.js'

/** The rule id of a refused change to Weft's own top-level types (`__weft*`, RULES-4.11, WS-ACCESS-6). */
export const RESERVED_RULE = 'reserved'

/**
 * What the check of Weft's own types needs of a schema: its name, the version the checker knows, the ids of its
 * migrations. A `Schema` (`defineSchema`) is one; the relay's catalogue guard passes the catalogue's (`CATALOGUE_SCHEMA_MARK`).
 */
export interface ReservedSchema {
  readonly name: string
  readonly version: number
  readonly migrations: ReadonlyArray<{ readonly id: string }>
}

/** One change an update makes under a root named `__weft*`. */
export interface ReservedChange {
  /** The root's name (`__weft`, `__weft.conflicts`, ...). */
  readonly root: string
  /** The map key of the item directly in the root it is (or is under); `null`: content without a key. */
  readonly key: string | null
  /** Whether the item sits deeper than directly in the root (inside a value). */
  readonly nested: boolean
  /** The inserted item's content; `null` for the deletion of an item that was there before. */
  readonly content: Y.Item['content'] | null
}

const VERSION_KEY = /^v:([1-9][0-9]{0,15})$/

const isPath = (p: unknown): p is PathSegment[] =>
  Array.isArray(p) &&
  p.every((s) => typeof s === 'string' || (typeof s === 'number' && Number.isSafeInteger(s)))

/** The one value of a map entry's content, or `undefined` when it holds anything else (a type, several values). */
const valueOf = (content: Y.Item['content']): { readonly value: unknown } | undefined => {
  if (!(content instanceof Y.ContentAny) || content.arr.length !== 1) return undefined
  return { value: content.arr[0] }
}

/** Why `value` may not be stored at `key` of the meta map (`__weft`), or null. */
const metaRefusal = (schema: ReservedSchema, key: string, value: unknown): string | null => {
  if (key === 'name')
    return value === schema.name ? null : `the schema name must be ${JSON.stringify(schema.name)}`
  const version = VERSION_KEY.exec(key)
  if (version) {
    if (Number(version[1]) > schema.version)
      return `version ${version[1]} is above the schema version ${schema.version} this relay knows`
    return value === true ? null : 'a version mark holds true'
  }
  if (key.startsWith('m:')) {
    const id = key.slice(2)
    if (!schema.migrations.some((m) => m.id === id))
      return `the schema declares no migration ${JSON.stringify(id)}`
    return value === true ? null : 'a migration mark holds true'
  }
  return 'no such key of the schema marks (name, v:<n>, m:<migration id>)'
}

/** Why `value` may not be stored at `key` of the conflict log, or null (its shape, as `ConflictLog` writes it). */
const conflictRefusal = (key: string, value: unknown): string | null => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'a conflict entry is an object'
  const e = value as Record<string, unknown>
  const names = Object.keys(e)
  if (names.some((n) => !['path', 'value', 'winner', 'writer', 'clock'].includes(n)))
    return 'a conflict entry holds path, value, winner, writer and clock only'
  if (!isPath(e.path) || !Number.isSafeInteger(e.writer) || !Number.isSafeInteger(e.clock))
    return 'a conflict entry names a path, a writer and a clock'
  if (key !== JSON.stringify([...e.path, e.writer, e.clock]))
    return 'a conflict entry is keyed by its path, writer and clock'
  return null
}

/** Why `change` may not be made, or null. */
const refusalOf = (schema: ReservedSchema, change: ReservedChange): string | null => {
  const { root, key, content } = change
  if (root !== META_NAME && root !== CONFLICTS_NAME && root !== RESOLVED_NAME)
    return `"${root}" is no type of Weft's`
  if (key === null) return 'content without a map key'
  if (change.nested) return 'a value here holds no nested content'
  if (content === null || content instanceof Y.ContentDeleted) return null
  const one = valueOf(content)
  if (one === undefined) return 'a value here is one plain value'
  if (root === META_NAME) return metaRefusal(schema, key, one.value)
  if (root === CONFLICTS_NAME) return conflictRefusal(key, one.value)
  return one.value === true ? null : 'a resolved mark holds true'
}

/**
 * Checks what an update does to Weft's own top-level types (RULES-4.11, WS-ACCESS-6): the schema marks (`__weft`:
 * `name` equal to the schema's name, `v:<n>` true with `n` at most the schema's version, `m:<id>` true for a migration
 * the schema declares), the conflict log (`__weft.conflicts`: entries shaped as `ConflictLog` writes them, keyed by
 * their path, writer and clock) and the resolved marks (`__weft.resolved`: true). Nothing else may be written there
 * (another `__weft*` root, content without a key, a nested type or value), and an entry that was there may be
 * deleted only by setting its key again in the same update (two replicas marking at once: one value replaces the
 * other). `changes` are every insert and deletion the update makes under those roots. Returns the refusal (rule
 * {@link RESERVED_RULE}) or null. The one check of the relay's rules, the peers' rules and the catalogue guard.
 */
export const checkReserved = (
  schema: ReservedSchema,
  changes: Iterable<ReservedChange>,
): RulesVerdict | null => {
  const set = new Set<string>()
  const deleted: ReservedChange[] = []
  for (const c of changes) {
    if (!c.root.startsWith(RESERVED_PREFIX)) continue
    const reason = refusalOf(schema, c)
    if (reason !== null) return refuse(RESERVED_RULE, c.key === null ? [c.root] : [c.root, c.key], reason)
    if (c.content === null) deleted.push(c)
    else if (!(c.content instanceof Y.ContentDeleted)) set.add(JSON.stringify([c.root, c.key]))
  }
  for (const c of deleted)
    if (!set.has(JSON.stringify([c.root, c.key])))
      return refuse(RESERVED_RULE, [c.root, c.key ?? ''], 'Weft marks and log entries are never removed')
  return null
}

/** The change `item` makes under a reserved root (its place's `chain`), for {@link checkReserved}. */
export const reservedChange = (root: string, chain: readonly Y.Item[], inserted: boolean): ReservedChange => {
  const top = chain[0] as Y.Item
  const item = chain[chain.length - 1] as Y.Item
  return { root, key: top.parentSub, nested: chain.length > 1, content: inserted ? item.content : null }
}

/**
 * Adds to `out` every change transaction `tr` made under a reserved root (`__weft*`), for {@link checkReserved}: run
 * it before the transaction's cleanup (`applyObserved`'s `during`). The catalogue guard's way when it applies an
 * update; the rules' view gets the same changes from its `UpdateScreen`.
 */
export const reservedChangesOf = (tr: Y.Transaction, out: ReservedChange[]): void => {
  const names = rootNames(tr.doc)
  forEachChangedItem(tr, (item, inserted) => {
    const { root, chain } = placeOf(item, names)
    if (root?.startsWith(RESERVED_PREFIX)) out.push(reservedChange(root, chain, inserted))
  })
}

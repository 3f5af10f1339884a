/**
 * Running migrations. Everything is computed first (pure), then written in one transaction, so a document-level
 * step that throws leaves the document untouched. Record steps are all or nothing per record: a step that throws
 * on a record, or whose patch holds a value Yjs cannot store as it is, leaves that record untouched (reported
 * invalid) and the others migrate. Every value is checked before the transaction, so writing never throws.
 * Why check and refuse rather than convert junk into something Yjs accepts: a Yjs transaction cannot be rolled back
 * (so a record can only be all or nothing if nothing can fail once writing starts), a converted value is not the
 * value the peer wrote (a null-prototype object's lost prototype, a dropped `__proto__` key) and shared types cannot
 * be moved at all; the record stays as the peer left it, and a later app version or a repair can still use it.
 * Re-running is a no-op: applied ids are recorded, record steps are idempotent and patches only write values that
 * differ.
 */
import * as Y from 'yjs'
import { RESERVED_PREFIX, type Schema } from './defineSchema.js'
import type { Fields, Json, RecordField } from './fields.js'
import {
  REMOVE,
  chainSteps,
  isJson,
  setOwn,
  type MigrationContext,
  type RecordPatch,
  type RecordStep,
} from './migration.js'
import { rawRecord } from './readRecord.js'
import type { PathSegment } from './types.js'
import { buildRecord, checkInput } from './writeRecord.js'

/** Name of the reserved top-level Y.Map holding the schema name, reached versions and applied migration ids. */
export const META_NAME = RESERVED_PREFIX

/** Key in the meta map marking that the document reached version `n` (a grow-only set: the version is the max). */
export const versionKey = (n: number): string => `v:${n}`
/** Key in the meta map marking migration `id` applied. */
export const migrationKey = (id: string): string => `m:${id}`

/** The document's schema version: the highest version any peer marked (0 for a new document). */
export const documentVersion = (meta: Y.Map<unknown>): number => {
  let v = 0
  for (const key of meta.keys()) {
    if (!key.startsWith('v:')) continue
    const n = Number(key.slice(2))
    if (Number.isSafeInteger(n) && n > v) v = n
  }
  return v
}

/** The chained record steps of every migration, by static container name, in migration order. */
export const recordSteps = (schema: Schema): Map<string, RecordStep> => {
  const lists = new Map<string, RecordStep[]>()
  for (const m of schema.migrations) {
    for (const [path, step] of Object.entries(m.records ?? {}))
      lists.set(path, [...(lists.get(path) ?? []), step])
  }
  return new Map(
    [...lists].map(([path, steps]) => [
      path,
      steps.length === 1 ? (steps[0] as RecordStep) : chainSteps(...steps),
    ]),
  )
}

/** Whether stored value `a` equals JSON value `b` (then writing `b` changes nothing). */
const sameJson = (a: unknown, b: Json): boolean =>
  a === b || (typeof a === 'object' && a !== null && isJson(a) && JSON.stringify(a) === JSON.stringify(b))

/** Why a record step could not migrate a record: the record is left as it is and reported invalid. */
export interface RecordSkip {
  /** The record's path, plus the field when one value was to blame. */
  readonly path: readonly PathSegment[]
  /** The value that could not be written (`undefined` when the step threw). */
  readonly value: unknown
  readonly reason: string
}

/**
 * What a record step does to one record: the part of its patch that changes something (`undefined`: nothing), or
 * why the record is skipped. All or nothing: every value of the patch is checked ({@link isJson}) before anything
 * is written, so a patch either applies whole or not at all. Never throws (a step that throws skips the record).
 */
export const migrateRecord = (
  step: RecordStep,
  map: Y.Map<unknown>,
  path: readonly PathSegment[],
): { readonly patch: RecordPatch | undefined } | { readonly skip: RecordSkip } => {
  try {
    const patch: unknown = step(rawRecord(map))
    if (patch === undefined || patch === null) return { patch: undefined }
    if (typeof patch !== 'object')
      return {
        skip: { path, value: patch, reason: 'migration step returned no patch object; record not migrated' },
      }
    const out: Record<string, RecordPatch[string]> = {}
    let any = false
    for (const [k, v] of Object.entries(patch)) {
      if (v !== REMOVE && !isJson(v)) {
        const reason = `migration cannot write ${describe(v)} (not JSON that Yjs stores as it is); record not migrated`
        return { skip: { path: [...path, k], value: v, reason } }
      }
      if (v === REMOVE ? !map.has(k) : map.has(k) && sameJson(map.get(k), v as Json)) continue
      setOwn(out, k, v as RecordPatch[string])
      any = true
    }
    return { patch: any ? out : undefined }
  } catch (err) {
    const reason = `migration step failed on this record: ${err instanceof Error ? err.message : String(err)}; record not migrated`
    return { skip: { path, value: undefined, reason } }
  }
}

const describe = (v: unknown): string => {
  if (v === null || typeof v !== 'object') return typeof v === 'number' ? String(v) : typeof v
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null
  if (proto === null) return 'an object without prototype'
  const name = proto.constructor?.name
  return typeof name === 'string' && name !== 'Object' && name !== 'Array'
    ? `a ${name}`
    : 'an object or array with a key or value that is not JSON'
}

/** Applies a patch computed by {@link migrateRecord} (every value already checked: Yjs accepts each). */
export const applyPatch = (map: Y.Map<unknown>, patch: RecordPatch): void => {
  for (const [k, v] of Object.entries(patch)) {
    if (v === REMOVE) map.delete(k)
    else map.set(k, v)
  }
}

/** The records a static container holds, with their paths: the map itself for a record, its entries for a collection. */
export const recordsOf = (
  schema: Schema,
  doc: Y.Doc,
  name: string,
): Array<{ readonly map: Y.Map<unknown>; readonly path: readonly PathSegment[] }> => {
  const kind = schema.statics.get(name)?.field.kind
  const map = doc.getMap<unknown>(name)
  const path = name.split('.')
  if (kind === 'record') return [{ map, path }]
  if (kind !== 'collection') return []
  const out: Array<{ map: Y.Map<unknown>; path: readonly PathSegment[] }> = []
  for (const [id, v] of map.entries())
    if (v instanceof Y.Map) out.push({ map: v as Y.Map<unknown>, path: [...path, id] })
  return out
}

/** A migration plan: what opening the document at this app's version writes. */
export type MigrationPlan =
  | {
      readonly ok: true
      /** Migration ids newly marked applied. */
      readonly applied: readonly string[]
      /** Records changed by record steps. */
      readonly records: number
      /** Records a record step could not migrate (left as they are; report them as invalid). */
      readonly skipped: readonly RecordSkip[]
      /** Whether anything must be written. */
      readonly changes: boolean
      /** Writes the plan (call inside a transaction). */
      apply(): void
    }
  | { readonly ok: false; readonly migrationId: string; readonly error: unknown }

/** Plans the migration of `doc` to `schema.version`. Runs user steps; never writes. */
export const planMigration = (
  schema: Schema,
  doc: Y.Doc,
  steps: ReadonlyMap<string, RecordStep>,
): MigrationPlan => {
  const meta = doc.getMap<unknown>(META_NAME)
  const ops: Array<() => void> = []
  let current = ''
  try {
    for (const m of schema.migrations) {
      if (!m.run || meta.has(migrationKey(m.id))) continue
      current = m.id
      m.run(migrationContext(schema, doc, ops))
    }
    current = ''
    const patches: Array<[Y.Map<unknown>, RecordPatch]> = []
    const skipped: RecordSkip[] = []
    for (const [name, step] of steps) {
      for (const { map, path } of recordsOf(schema, doc, name)) {
        const result = migrateRecord(step, map, path)
        if ('skip' in result) skipped.push(result.skip)
        else if (result.patch) patches.push([map, result.patch])
      }
    }
    const applied = schema.migrations.map((m) => m.id).filter((id) => !meta.has(migrationKey(id)))
    const marks =
      applied.length > 0 || !meta.has(versionKey(schema.version)) || meta.get('name') !== schema.name
    return {
      ok: true,
      applied,
      records: patches.length,
      skipped,
      changes: marks || ops.length > 0 || patches.length > 0,
      apply: () => {
        for (const op of ops) op()
        for (const [map, patch] of patches) applyPatch(map, patch)
        for (const id of applied) meta.set(migrationKey(id), true)
        if (!meta.has(versionKey(schema.version))) meta.set(versionKey(schema.version), true)
        if (!meta.has('name')) meta.set('name', schema.name)
      },
    }
  } catch (error) {
    return { ok: false, migrationId: current, error }
  }
}

const migrationContext = (schema: Schema, doc: Y.Doc, ops: Array<() => void>): MigrationContext => {
  const staticOf = (path: string, kind: 'record' | 'collection'): void => {
    if (schema.statics.get(path)?.field.kind !== kind) throw new TypeError(`"${path}" is no ${kind}`)
  }
  return {
    read: (path, id) => {
      const map = doc.getMap<unknown>(path)
      const target = id === undefined ? map : map.get(id)
      return target instanceof Y.Map ? rawRecord(target as Y.Map<unknown>) : undefined
    },
    ids: (collection) => {
      staticOf(collection, 'collection')
      return [...doc.getMap(collection).keys()]
    },
    insert: (collection, id, values) => {
      staticOf(collection, 'collection')
      const field = schema.statics.get(collection)?.field
      const def = (field?.kind === 'collection' ? field.record : undefined) as RecordField<Fields>
      const failure = checkInput({ refExists: () => true }, def, values, [collection], id)
      if (failure) throw new TypeError(failure.message)
      ops.push(() => {
        const map = doc.getMap<unknown>(collection)
        if (!map.has(id)) map.set(id, buildRecord(def, values as Record<string, unknown>))
      })
    },
    set: (record, field, value) => {
      staticOf(record, 'record')
      if (value !== REMOVE && !isJson(value))
        throw new TypeError(
          `ctx.set("${record}", "${field}"): the value is not JSON that Yjs stores as it is`,
        )
      ops.push(() => {
        const map = doc.getMap<unknown>(record)
        if (value === REMOVE) map.delete(field)
        else if (!sameJson(map.get(field), value)) map.set(field, value)
      })
    },
  }
}

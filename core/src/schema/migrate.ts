/**
 * Running migrations. Everything is computed first (pure), then written in one transaction, so a step that
 * throws leaves the document untouched. Re-running is a no-op: applied ids are recorded, record steps are
 * idempotent and patches only write values that differ.
 */
import * as Y from 'yjs'
import { RESERVED_PREFIX, type Schema } from './defineSchema.js'
import type { Fields, RecordField } from './fields.js'
import { REMOVE, chainSteps, type MigrationContext, type RecordPatch, type RecordStep } from './migration.js'
import { rawRecord } from './readRecord.js'
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

const sameJson = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && JSON.stringify(a) === JSON.stringify(b))

/** The part of `step`'s patch for `map` that changes something; undefined when nothing would change. */
export const effectivePatch = (step: RecordStep, map: Y.Map<unknown>): RecordPatch | undefined => {
  const patch = step(rawRecord(map))
  if (!patch) return undefined
  const out: Record<string, RecordPatch[string]> = {}
  let any = false
  for (const [k, v] of Object.entries(patch)) {
    if (v === REMOVE ? !map.has(k) : map.has(k) && sameJson(map.get(k), v)) continue
    out[k] = v
    any = true
  }
  return any ? out : undefined
}

/** Applies a patch computed by {@link effectivePatch}. */
export const applyPatch = (map: Y.Map<unknown>, patch: RecordPatch): void => {
  for (const [k, v] of Object.entries(patch)) {
    if (v === REMOVE) map.delete(k)
    else map.set(k, v)
  }
}

/** The records a static container holds: the map itself for a record, its entries for a collection. */
export const recordsOf = (schema: Schema, doc: Y.Doc, name: string): Y.Map<unknown>[] => {
  const kind = schema.statics.get(name)?.field.kind
  const map = doc.getMap<unknown>(name)
  if (kind === 'record') return [map]
  if (kind !== 'collection') return []
  const out: Y.Map<unknown>[] = []
  for (const v of map.values()) if (v instanceof Y.Map) out.push(v as Y.Map<unknown>)
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
    for (const [name, step] of steps) {
      current = `${name} (record step)`
      for (const map of recordsOf(schema, doc, name)) {
        const patch = effectivePatch(step, map)
        if (patch) patches.push([map, patch])
      }
    }
    const applied = schema.migrations.map((m) => m.id).filter((id) => !meta.has(migrationKey(id)))
    const marks =
      applied.length > 0 || !meta.has(versionKey(schema.version)) || meta.get('name') !== schema.name
    return {
      ok: true,
      applied,
      records: patches.length,
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
      ops.push(() => {
        const map = doc.getMap<unknown>(record)
        if (value === REMOVE) map.delete(field)
        else if (!sameJson(map.get(field), value)) map.set(field, value)
      })
    },
  }
}

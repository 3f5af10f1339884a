/**
 * Reading through the schema. Never throws, never returns an ill-typed value: an invalid value reads as its
 * default, or makes its record invalid (a collection skips it); every violation goes to `report`. Raw data is
 * never modified here.
 */
import * as Y from 'yjs'
import type { FieldDef, ItemField, RecordField, Fields, ValueField } from './fields.js'
import { setOwn } from './migration.js'
import { readRegister } from './register.js'
import type { PathSegment } from './types.js'

/** Returned instead of a value when a value is invalid and has no default. */
export const INVALID: unique symbol = Symbol('weft.schema.invalid')

/** What reading needs: the document and where to report violations. */
export interface ReadEnv {
  readonly doc: Y.Doc
  report(path: readonly PathSegment[], value: unknown, reason: string): void
  /**
   * Read every field of an invalid record, to report all its violations (validation); by default reading stops at
   * the first field that makes the record invalid.
   */
  readonly all?: boolean
}

/** Reads a plain-value field of `map`. `rootLevel`: fall back to the zero value instead of INVALID. */
export const readValue = (
  env: ReadEnv,
  map: Y.Map<unknown>,
  key: string,
  def: ValueField<unknown, boolean>,
  path: readonly PathSegment[],
  rootLevel: boolean,
): unknown => {
  if (def.keepsConflicts) {
    const reg = readRegister(map, key, (v) => def.test(v))
    for (const m of reg.malformed)
      env.report([...path, m.key], m.value, 'malformed conflict-register entry; ignored')
    const winner = reg.visible[0]
    if (winner) return winner.v
  }
  const raw = map.get(key)
  if (def.test(raw)) return raw
  const what = raw === undefined ? 'missing' : `expected ${def.describe()}`
  if (def.fallback) {
    if (raw !== undefined) env.report([...path, key], raw, `${what}; read as its default`)
    return def.fallback.value
  }
  if (rootLevel) {
    env.report([...path, key], raw, `${what}; read as ${JSON.stringify(def.zero())}`)
    return def.zero()
  }
  env.report([...path, key], raw, `${what}; record skipped`)
  return INVALID
}

const nested = <T>(
  env: ReadEnv,
  map: Y.Map<unknown>,
  key: string,
  staticName: string | undefined,
  make: (name: string) => T,
  ctor: abstract new (...args: never[]) => T,
  path: readonly PathSegment[],
  what: string,
): T | typeof INVALID => {
  if (staticName !== undefined) return make(`${staticName}.${key}`)
  const raw = map.get(key)
  if (raw instanceof ctor) return raw
  env.report([...path, key], raw, `${raw === undefined ? 'missing' : `expected ${what}`}; record skipped`)
  return INVALID
}

/** Reads field `key` of a record stored in `map` (`staticName` set when the record is a top-level type). */
export const readField = (
  env: ReadEnv,
  map: Y.Map<unknown>,
  key: string,
  def: FieldDef,
  path: readonly PathSegment[],
  staticName: string | undefined,
): unknown => {
  const { doc } = env
  switch (def.kind) {
    case 'value':
      return readValue(env, map, key, def, path, staticName !== undefined)
    case 'text':
      return nested(env, map, key, staticName, (n) => doc.getText(n), Y.Text, path, 'Y.Text')
    case 'richText':
      return nested(
        env,
        map,
        key,
        staticName,
        (n) => doc.getXmlFragment(n),
        Y.XmlFragment,
        path,
        'Y.XmlFragment',
      )
    case 'list': {
      const arr = nested(
        env,
        map,
        key,
        staticName,
        (n) => doc.getArray<unknown>(n),
        Y.Array<unknown>,
        path,
        'Y.Array',
      )
      return arr === INVALID ? INVALID : readList(env, arr, def.item, [...path, key])
    }
    case 'record': {
      const m = nested(
        env,
        map,
        key,
        staticName,
        (n) => doc.getMap<unknown>(n),
        Y.Map<unknown>,
        path,
        'Y.Map',
      )
      if (m === INVALID) return INVALID
      const name = staticName === undefined ? undefined : `${staticName}.${key}`
      return readRecord(env, m, def, path, key, name, {})
    }
    case 'collection':
      if (staticName === undefined) return INVALID
      return readCollection(env, doc.getMap(`${staticName}.${key}`), def.record, [...path, key])
  }
}

/**
 * Reads a whole record into `out`; INVALID if a field without default is invalid (never for static records).
 * The record's path is `[...parent, key]` (`key` undefined: `parent`), built only when something is reported.
 */
export const readRecord = (
  env: ReadEnv,
  map: Y.Map<unknown>,
  def: RecordField<Fields>,
  parent: readonly PathSegment[],
  key: PathSegment | undefined,
  staticName: string | undefined,
  out: Record<string, unknown>,
): Record<string, unknown> | typeof INVALID => {
  const { keys, defs, plainTests } = def
  let path: readonly PathSegment[] | undefined
  let invalid = false
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i] as string
    const test = plainTests[i]
    if (test !== undefined) {
      // fast path: a valid plain value
      const raw = map.get(name)
      if (test(raw)) {
        out[name] = raw
        continue
      }
    }
    path ??= key === undefined ? parent : [...parent, key]
    const v = readField(env, map, name, defs[i] as FieldDef, path, staticName)
    if (v === INVALID) {
      if (!env.all) return INVALID
      invalid = true
    } else out[name] = v
  }
  return invalid ? INVALID : out
}

/** Reads one record of a collection (with its `id`); INVALID when it is not a record or is invalid. */
export const readRow = (
  env: ReadEnv,
  id: string,
  raw: unknown,
  def: RecordField<Fields>,
  path: readonly PathSegment[],
): Record<string, unknown> | typeof INVALID => {
  if (!(raw instanceof Y.Map)) {
    if (raw !== undefined) env.report([...path, id], raw, 'expected a record (Y.Map); skipped')
    return INVALID
  }
  return readRecord(env, raw as Y.Map<unknown>, def, path, id, undefined, { id })
}

/** Reads a collection: valid records only. */
export const readCollection = (
  env: ReadEnv,
  map: Y.Map<unknown>,
  def: RecordField<Fields>,
  path: readonly PathSegment[],
): Map<string, Record<string, unknown>> => {
  const out = new Map<string, Record<string, unknown>>()
  for (const [id, raw] of map.entries()) {
    const row = readRow(env, id, raw, def, path)
    if (row !== INVALID) out.set(id, row)
  }
  return out
}

/** Reads one list item; INVALID when it does not match. */
export const readItem = (
  env: ReadEnv,
  raw: unknown,
  item: ItemField,
  path: readonly PathSegment[],
  index: number,
): unknown => {
  if (item.kind === 'value') {
    if (item.test(raw)) return raw
    env.report([...path, index], raw, `expected ${item.describe()}; item skipped`)
    return INVALID
  }
  if (!(raw instanceof Y.Map)) {
    env.report([...path, index], raw, 'expected a record (Y.Map); item skipped')
    return INVALID
  }
  return readRecord(env, raw as Y.Map<unknown>, item, path, index, undefined, {})
}

/** Reads a list: valid items only, in order. */
export const readList = (
  env: ReadEnv,
  arr: Y.Array<unknown>,
  item: ItemField,
  path: readonly PathSegment[],
): unknown[] => {
  const out: unknown[] = []
  let i = 0
  for (const raw of arr) {
    const v = readItem(env, raw, item, path, i++)
    if (v !== INVALID) out.push(v)
  }
  return out
}

/** A record's stored fields as a migration step sees them (register entries left out). */
export const rawRecord = (map: Y.Map<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of map.entries()) if (!k.includes('@')) setOwn(out, k, v)
  return out
}

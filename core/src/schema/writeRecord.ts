/**
 * Writing through the schema: inputs are checked completely before anything reaches the Y.Doc.
 */
import * as Y from 'yjs'
import type { FieldDef, Fields, ItemField, RecordField, ValueField } from './fields.js'
import type { PathSegment, WriteFailure } from './types.js'

/** What checking needs: whether a referenced record exists. */
export interface WriteEnv {
  refExists(collection: string, id: string): boolean
}

/** Builds a refused-write result. */
export const fail = (
  reason: WriteFailure['reason'],
  message: string,
  path?: readonly PathSegment[],
): WriteFailure =>
  path === undefined ? { ok: false, reason, message } : { ok: false, reason, message, path }

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Y.AbstractType)

/** Checks one plain value (type and, for references, that the target exists); `key` extends `path` on failure. */
export const checkValue = (
  env: WriteEnv,
  def: ValueField<unknown, boolean>,
  value: unknown,
  path: readonly PathSegment[],
  key?: PathSegment,
): WriteFailure | undefined => {
  if (!def.test(value)) {
    const at = key === undefined ? path : [...path, key]
    return fail('invalid-value', `${at.join('.')}: expected ${def.describe()}, got ${show(value)}`, at)
  }
  if (def.ref !== undefined && typeof value === 'string' && !env.refExists(def.ref, value)) {
    const at = key === undefined ? path : [...path, key]
    return fail('invalid-value', `${at.join('.')}: no record "${value}" in ${def.ref}`, at)
  }
  return undefined
}

const show = (v: unknown): string => {
  try {
    return v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v))
  } catch {
    return String(v)
  }
}

const at = (path: readonly PathSegment[], key: PathSegment | undefined): readonly PathSegment[] =>
  key === undefined ? path : [...path, key]

const failAt = (
  path: readonly PathSegment[],
  key: PathSegment | undefined,
  message: string,
): WriteFailure => {
  const where = at(path, key)
  return fail('invalid-value', `${where.join('.')}: ${message}`, where)
}

/** Checks the input of one field at `[...path, key]` (the path is built only on failure). */
const checkField = (
  env: WriteEnv,
  def: FieldDef,
  value: unknown,
  path: readonly PathSegment[],
  key: PathSegment,
): WriteFailure | undefined => {
  switch (def.kind) {
    case 'value':
      if (value === undefined) return def.fallback ? undefined : failAt(path, key, 'required')
      return checkValue(env, def, value, path, key)
    case 'text':
      return value === undefined || typeof value === 'string'
        ? undefined
        : failAt(path, key, 'expected the initial text as a string')
    case 'richText':
      return value === undefined ? undefined : failAt(path, key, 'rich text starts empty')
    case 'list': {
      if (value === undefined) return undefined
      if (!Array.isArray(value)) return failAt(path, key, 'expected an array')
      for (let i = 0; i < value.length; i++) {
        const f = checkItem(env, def.item, value[i], [...path, key], i)
        if (f) return f
      }
      return undefined
    }
    case 'record':
      return checkInput(env, def, value, path, key)
    case 'collection':
      return failAt(path, key, 'a collection cannot be written as a value')
  }
}

/** Checks a list item at `[...path, key]`. */
export const checkItem = (
  env: WriteEnv,
  item: ItemField,
  value: unknown,
  path: readonly PathSegment[],
  key?: PathSegment,
): WriteFailure | undefined =>
  item.kind === 'value'
    ? value === undefined
      ? failAt(path, key, 'required')
      : checkValue(env, item, value, path, key)
    : checkInput(env, item, value, path, key)

/** Checks a whole record input at `[...path, key]` (every declared field; undeclared keys are refused). */
export const checkInput = (
  env: WriteEnv,
  def: RecordField<Fields>,
  input: unknown,
  path: readonly PathSegment[],
  key?: PathSegment,
): WriteFailure | undefined => {
  if (!isPlainObject(input)) return failAt(path, key, 'expected an object')
  for (const name in input) {
    if (def.field(name) === undefined) return failAt(at(path, key), name, 'not declared')
  }
  const { keys, defs } = def
  let here: readonly PathSegment[] | undefined
  for (let i = 0; i < keys.length; i++) {
    const name = keys[i] as string
    const field = defs[i] as FieldDef
    const value = input[name]
    // fast path: a valid plain value without reference
    if (field.kind === 'value' && field.ref === undefined && value !== undefined && field.test(value))
      continue
    here ??= at(path, key)
    const f = checkField(env, field, value, here, name)
    if (f) return f
  }
  return undefined
}

/** Checks a partial update of the record at `[...path, key]`: plain-value fields only. */
export const checkPatch = (
  env: WriteEnv,
  def: RecordField<Fields>,
  patch: unknown,
  path: readonly PathSegment[],
  key?: PathSegment,
): WriteFailure | undefined => {
  if (!isPlainObject(patch)) return failAt(path, key, 'expected an object')
  for (const name in patch) {
    const field = def.field(name)
    if (field?.kind !== 'value') return failAt(at(path, key), name, 'not a plain-value field of this record')
    const value = patch[name]
    if (value === undefined) continue
    if (field.ref === undefined && field.test(value)) continue
    const f = checkValue(env, field, value, at(path, key), name)
    if (f) return f
  }
  return undefined
}

/** Builds the Yjs value of a checked field input. */
const buildField = (def: FieldDef, value: unknown): unknown => {
  switch (def.kind) {
    case 'value':
      return value === undefined ? def.fallback?.value : value
    case 'text':
      return new Y.Text(typeof value === 'string' ? value : undefined)
    case 'richText':
      return new Y.XmlFragment()
    case 'list': {
      const arr = new Y.Array<unknown>()
      arr.push(((value as readonly unknown[] | undefined) ?? []).map((v) => buildItem(def.item, v)))
      return arr
    }
    case 'record':
      return buildRecord(def, value as Record<string, unknown>)
    case 'collection':
      return new Y.Map()
  }
}

/** Builds the Yjs value of a checked list item. */
export const buildItem = (item: ItemField, value: unknown): unknown =>
  item.kind === 'value' ? value : buildRecord(item, value as Record<string, unknown>)

/** Builds a (not yet integrated) Y.Map for a checked record input. */
export const buildRecord = (def: RecordField<Fields>, input: Record<string, unknown>): Y.Map<unknown> => {
  const map = new Y.Map<unknown>()
  const { keys, defs } = def
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    const value = buildField(defs[i] as FieldDef, input[key])
    if (value !== undefined) map.set(key, value)
  }
  return map
}

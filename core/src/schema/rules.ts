/**
 * Rules beside the schema (docs/spec/rules.md, RULES-1 to RULES-3): who may create, update or delete the records of
 * a collection, per-field constraints beyond types, and constraints over a whole collection (unique, sum). The
 * checks are pure: rules see plain records (text as strings) and decide. Two readers at the end turn a Yjs
 * transaction into those records ({@link touchedRecords}, {@link readRuleRecord}). The relay checks every incoming
 * update with them (`weft serve --rules`); the same module runs in clients.
 */
import { equalityDeep } from 'lib0/function'
import * as Y from 'yjs'
import { refuse } from '../rules/refuse.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { RESERVED_PREFIX, type Schema } from './defineSchema.js'
import type { CollectionField, Fields, RecordField } from './fields.js'
import { INVALID, readRow, type ReadEnv } from './readRecord.js'
import type { PathSegment } from './types.js'

/** A record as rules see it: its `id` and its fields as plain values (text and rich text as strings). */
export type PlainRecord = { readonly id: string } & { readonly [field: string]: unknown }

/** Who writes: the writer's token, as the relay accepted it. */
export interface Writer {
  /** The token's subject (`sub`), if any. */
  readonly subject: string | undefined
  /** The token's claims (its JWT payload), or `{}`. */
  readonly claims: Readonly<Record<string, unknown>>
}

/** A writer without a verified identity (no subject, no claims): owns nothing (RULES-2.3). */
export const ANONYMOUS_WRITER: Writer = Object.freeze({ subject: undefined, claims: Object.freeze({}) })

/** What a `create`, `update` or `delete` rule is given about one changed record. */
export interface RuleContext extends Writer {
  /** The collection's name (its top-level name, e.g. `"shapes"`). */
  readonly collection: string
  /** The record's id. */
  readonly id: string
  /** The record before the change; `undefined` for a create. */
  readonly before: PlainRecord | undefined
  /** The record after the change; `undefined` for a delete. */
  readonly after: PlainRecord | undefined
}

/** A permission rule: `true` allows, `false` refuses, a string refuses with that reason. */
export type PermissionRule = (ctx: RuleContext) => boolean | string

/** Constraints on one field of a collection's records (RULES-2). */
export interface FieldRules {
  /** The value may not change once the record exists (`<collection>.<field>.immutable`). */
  readonly immutable?: boolean
  /** Smallest allowed number (`<collection>.<field>.min`). */
  readonly min?: number
  /** Largest allowed number (`<collection>.<field>.max`). */
  readonly max?: number
  /** Longest allowed string or text, in UTF-16 code units (`<collection>.<field>.maxLength`). */
  readonly maxLength?: number
  /** The value (unless `null`) is the id of an existing record of this collection (`<collection>.<field>.references`). */
  readonly references?: string
}

/** The rules of one collection. */
export interface CollectionRules<F extends Fields = Fields> {
  /** May the writer create this record? Absent: anyone with write access may (`<collection>.create`). */
  readonly create?: PermissionRule
  /** May the writer change this record? (`<collection>.update`) */
  readonly update?: PermissionRule
  /** May the writer delete this record? (`<collection>.delete`) */
  readonly delete?: PermissionRule
  /** Constraints per field. */
  readonly fields?: { readonly [K in keyof F & string]?: FieldRules }
  /**
   * The field holding the record's owner (`<collection>.owner`): a record is created with the writer's subject there,
   * and only its owner may update or delete it; the field never changes.
   */
  readonly owner?: keyof F & string
}

/** A constraint over the records of one collection (RULES-3); made by {@link unique} and {@link sum}. */
export type Constraint =
  | { readonly kind: 'unique'; readonly id: string; readonly collection: string; readonly field: string }
  | {
      readonly kind: 'sum'
      readonly id: string
      readonly collection: string
      readonly field: string
      readonly min: number
      readonly max: number
    }

/** No two records of `collection` have the same value of `field` (`null` and missing values excepted). */
export const unique = (collection: string, field: string): Constraint => ({
  kind: 'unique',
  id: `unique:${collection}.${field}`,
  collection,
  field,
})

/** The numbers in `field` over all records of `collection` add up to at least `min` and at most `max`. */
export const sum = (
  collection: string,
  field: string,
  bounds: { readonly min?: number; readonly max?: number },
): Constraint => ({
  kind: 'sum',
  id: `sum:${collection}.${field}`,
  collection,
  field,
  min: bounds.min ?? -Infinity,
  max: bounds.max ?? Infinity,
})

type CollectionKeys<S extends Schema> = {
  [K in keyof S['root'] & string]: S['root'][K] extends CollectionField<RecordField<Fields>> ? K : never
}[keyof S['root'] & string]

type RecordFieldsOf<C> = C extends CollectionField<RecordField<infer F>> ? F : Fields

/** What {@link defineRules} takes: rules per root collection, and constraints. */
export interface RulesDeclaration<S extends Schema> {
  readonly collections?: {
    readonly [K in CollectionKeys<S>]?: CollectionRules<RecordFieldsOf<S['root'][K]>>
  }
  readonly constraints?: readonly Constraint[]
}

/** A checked set of rules for one schema. Create with {@link defineRules}; check changes with {@link checkChanges}. */
export interface Rules<S extends Schema = Schema> {
  /** The schema the rules are for. */
  readonly schema: S
  /** Rules per collection (top-level name). */
  readonly collections: ReadonlyMap<string, CollectionRules>
  /** Constraints over collections, in declaration order. */
  readonly constraints: readonly Constraint[]
  /** Collections named by a constraint or a reference: their whole contents matter to a check. */
  readonly watched: ReadonlySet<string>
}

const bad = (message: string): WeftError =>
  new WeftError(WeftErrorCode.InvalidArgument, `defineRules: ${message}`)

const fieldOf = (schema: Schema, collection: string, field: string, where: string): void => {
  const c = schema.statics.get(collection)
  if (c?.field.kind !== 'collection') throw bad(`${where}: "${collection}" is no collection of the schema`)
  if (c.field.record.field(field) === undefined)
    throw bad(`${where}: "${collection}" records declare no field "${field}"`)
}

/**
 * Declares the rules of a schema (RULES-1). Checks that every collection, field and reference names something the
 * schema declares, and throws a `WeftError` (`invalid-argument`) otherwise: a mistake in the rules is a programmer
 * error. Collections without rules take any valid record from a writer.
 *
 * @example
 * ```ts
 * export default defineRules(board, {
 *   collections: {
 *     shapes: { owner: 'author', fields: { x: { min: 0, max: 10_000 } }, delete: (ctx) => ctx.claims.role === 'admin' },
 *   },
 *   constraints: [unique('shapes', 'name')],
 * })
 * ```
 */
export const defineRules = <S extends Schema>(schema: S, declaration: RulesDeclaration<S>): Rules<S> => {
  const collections = new Map<string, CollectionRules>()
  const watched = new Set<string>()
  for (const [name, rules] of Object.entries((declaration.collections ?? {}) as Record<string, unknown>)) {
    if (rules === undefined) continue
    const c = schema.statics.get(name)
    if (c?.field.kind !== 'collection') throw bad(`"${name}" is no collection of the schema`)
    const r = rules as CollectionRules
    for (const [field, f] of Object.entries(r.fields ?? {})) {
      fieldOf(schema, name, field, `${name}.fields`)
      if (f?.references !== undefined) {
        if (schema.statics.get(f.references)?.field.kind !== 'collection')
          throw bad(`${name}.${field}.references: "${f.references}" is no collection of the schema`)
        watched.add(f.references)
      }
    }
    if (r.owner !== undefined) fieldOf(schema, name, r.owner, `${name}.owner`)
    collections.set(name, r)
  }
  const constraints = declaration.constraints ?? []
  for (const k of constraints) {
    fieldOf(schema, k.collection, k.field, k.id)
    watched.add(k.collection)
  }
  return { schema, collections, constraints, watched }
}

/** One record changed by an update, as the checker sees it. */
export interface RecordChange {
  /** The collection's top-level name. */
  readonly collection: string
  /** The record's id. */
  readonly id: string
  /** The record before; `undefined` when it did not exist (or was not a valid record). */
  readonly before: PlainRecord | undefined
  /** The record after; `undefined` when it was deleted. */
  readonly after: PlainRecord | undefined
  /** Set when the record after the change does not match the schema: what is wrong. */
  readonly invalid?: { readonly path: readonly PathSegment[]; readonly reason: string } | undefined
}

/** The outcome of a check: accepted, or the first rule the change breaks. */
export type RulesVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false
      /** The broken rule's id, e.g. `shapes.update`, `shapes.x.max`, `unique:shapes.name` (docs/spec/rules.md). */
      readonly ruleId: string
      /** Where: the collection, the record id and the field, when there is one. */
      readonly path: readonly PathSegment[]
      /** Why, for people. */
      readonly reason: string
    }

const ACCEPTED: RulesVerdict = Object.freeze({ ok: true })

/**
 * Whether two plain values (records, field values) are deep-equal: the one comparison of rules (RULES-5.5, `immutable`,
 * `unique`, the owner field).
 */
export const samePlain = (a: unknown, b: unknown): boolean => equalityDeep(a, b)

const same = samePlain

/** The records of a collection after the change, for constraints and references. */
export type CollectionReader = (collection: string) => ReadonlyMap<string, PlainRecord>

const permission = (
  rule: PermissionRule | undefined,
  ruleId: string,
  ctx: RuleContext,
  path: readonly PathSegment[],
): RulesVerdict | null => {
  if (rule === undefined) return null
  let answer: boolean | string
  try {
    answer = rule(ctx)
  } catch (err) {
    // A rule that throws refuses (never allows by accident).
    return refuse(ruleId, path, `the rule failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (answer === true) return null
  return refuse(ruleId, path, typeof answer === 'string' ? answer : `${ruleId} refused the change`)
}

const checkField = (
  c: RecordChange,
  field: string,
  f: FieldRules,
  read: CollectionReader,
): RulesVerdict | null => {
  const after = c.after?.[field]
  const path = [c.collection, c.id, field]
  const id = `${c.collection}.${field}`
  if (f.immutable && c.before !== undefined && c.after !== undefined && !same(c.before[field], after))
    return refuse(`${id}.immutable`, path, `${field} may not change`)
  if (c.after === undefined) return null
  if (typeof after === 'number') {
    if (f.min !== undefined && after < f.min) return refuse(`${id}.min`, path, `${field} must be >= ${f.min}`)
    if (f.max !== undefined && after > f.max) return refuse(`${id}.max`, path, `${field} must be <= ${f.max}`)
  }
  if (f.maxLength !== undefined && typeof after === 'string' && after.length > f.maxLength)
    return refuse(`${id}.maxLength`, path, `${field} may be at most ${f.maxLength} long`)
  // Checked where the value is written (a new record, a changed value), not on every edit of the record: whether an
  // unchanged reference still resolves depends on other writers, and a deleted target must not freeze its referrers.
  if (
    f.references !== undefined &&
    typeof after === 'string' &&
    (c.before === undefined || !same(c.before[field], after)) &&
    !read(f.references).has(after)
  )
    return refuse(`${id}.references`, path, `${field} names no record of ${f.references}`)
  return null
}

const checkRecord = (
  rules: CollectionRules,
  c: RecordChange,
  writer: Writer,
  read: CollectionReader,
): RulesVerdict | null => {
  const path = [c.collection, c.id]
  const ctx: RuleContext = { ...writer, collection: c.collection, id: c.id, before: c.before, after: c.after }
  const action = c.before === undefined ? 'create' : c.after === undefined ? 'delete' : 'update'
  if (rules.owner !== undefined) {
    const owner = rules.owner
    const ruleId = `${c.collection}.owner`
    const mine = (r: PlainRecord) => writer.subject !== undefined && r[owner] === writer.subject
    if (action === 'create' && !mine(c.after as PlainRecord))
      return refuse(ruleId, [...path, owner], `a new record's ${owner} must be the writer`)
    if (action !== 'create' && !mine(c.before as PlainRecord))
      return refuse(ruleId, path, `only the record's owner may ${action} it`)
    if (action === 'update' && !same((c.before as PlainRecord)[owner], (c.after as PlainRecord)[owner]))
      return refuse(ruleId, [...path, owner], `${owner} may not change`)
  }
  const verdict = permission(rules[action], `${c.collection}.${action}`, ctx, path)
  if (verdict) return verdict
  for (const [field, f] of Object.entries(rules.fields ?? {})) {
    if (f === undefined) continue
    const v = checkField(c, field, f, read)
    if (v) return v
  }
  return null
}

/**
 * Decides constraint `k` over an update's `changes`: `null` when it holds after the change, or the refusal. `read`
 * gives a collection's records after the change.
 */
export type ConstraintCheck = (
  k: Constraint,
  changes: readonly RecordChange[],
  read: CollectionReader,
) => RulesVerdict | null

/**
 * RULES-3 by a scan of the collection after the change: O(changed records x records) for `unique`. The reference that
 * indexed checks (`RulesView`'s) agree with; fine for a page checking its own few changes.
 */
export const scanConstraint: ConstraintCheck = (k, changes, read) => {
  const touched = changes.filter((c) => c.collection === k.collection)
  if (touched.length === 0) return null
  const records = read(k.collection)
  if (k.kind === 'unique') {
    for (const c of touched) {
      const value = c.after?.[k.field]
      if (value === undefined || value === null) continue
      for (const r of records.values()) {
        if (r.id !== c.id && same(r[k.field], value))
          return refuse(k.id, [c.collection, c.id, k.field], `${k.field} ${JSON.stringify(value)} is taken`)
      }
    }
    return null
  }
  let total = 0
  for (const r of records.values()) {
    const v = r[k.field]
    if (typeof v === 'number') total += v
  }
  if (total < k.min || total > k.max) {
    const c = touched[0] as RecordChange
    return refuse(
      k.id,
      [c.collection, c.id, k.field],
      `the ${k.field} of ${k.collection} would add up to ${total}`,
    )
  }
  return null
}

/**
 * Checks the records one update changed (RULES-2, RULES-3): schema validity, ownership, the permission rules, the
 * field rules and the constraints, in that order; the first broken rule refuses the whole update. `read` gives a
 * collection's records as they are after the change (used for references and constraints only); `constraint` decides
 * a constraint (default: {@link scanConstraint}; the relay's and the peers' view pass their indexed check). Never
 * throws.
 */
export const checkChanges = (
  rules: Rules,
  writer: Writer,
  changes: readonly RecordChange[],
  read: CollectionReader,
  constraint: ConstraintCheck = scanConstraint,
): RulesVerdict => {
  for (const c of changes) {
    if (c.invalid !== undefined)
      return refuse(`${c.collection}.schema`, c.invalid.path, `not a valid record: ${c.invalid.reason}`)
    const r = rules.collections.get(c.collection)
    if (r === undefined || (c.before === undefined && c.after === undefined)) continue
    const v = checkRecord(r, c, writer, read)
    if (v) return v
  }
  for (const k of rules.constraints) {
    const v = constraint(k, changes, read)
    if (v) return v
  }
  return ACCEPTED
}

// ---- Reading what a Yjs transaction changed (RULES-2.1, RULES-4.1, RULES-4.5)

/**
 * Applies `update` to `doc` and returns the transactions it ran (Yjs may run more than one: a struct that completes
 * pending ones), for {@link touchedRecords} and the workspace catalogue's `catalogueTouched`. `during` is called with
 * each transaction before its cleanup, while the content it deleted is still there (the rules' `UpdateScreen`).
 * Throws what `Y.applyUpdate` throws (the doc is then left as Yjs left it).
 */
export const applyObserved = (
  doc: Y.Doc,
  update: Uint8Array,
  during?: (tr: Y.Transaction) => void,
): Y.Transaction[] => {
  const transactions: Y.Transaction[] = []
  const seen = (tr: Y.Transaction) => {
    transactions.push(tr)
    during?.(tr)
  }
  doc.on('afterTransaction', seen)
  try {
    Y.applyUpdate(doc, update)
  } finally {
    doc.off('afterTransaction', seen)
  }
  return transactions
}

/** The records a set of transactions changed, by collection; or the undeclared top-level type one wrote to. */
export type Touched =
  | { readonly ok: true; readonly records: ReadonlyMap<string, ReadonlySet<string>> }
  | { readonly ok: false; readonly name: string }

const rootNameOf = (doc: Y.Doc, type: Y.AbstractType<unknown>): string | undefined => {
  for (const [name, t] of doc.share) if (t === type) return name
  return undefined
}

/**
 * Which records of which collections `transactions` changed (RULES-2.1): a key set or removed in a collection map is
 * that record; a change anywhere below a record (a field, its text, its list) is that record. Changes to Weft's own
 * types (`__weft*`) and to the schema's other containers (root records, lists, text) name no record. A change to a
 * top-level type the schema does not declare is reported as `{ ok: false, name }` (RULES-4.5).
 */
export const touchedRecords = (rules: Rules, doc: Y.Doc, transactions: Iterable<Y.Transaction>): Touched => {
  const records = new Map<string, Set<string>>()
  const add = (collection: string, id: string) => {
    let ids = records.get(collection)
    if (!ids) records.set(collection, (ids = new Set()))
    ids.add(id)
  }
  for (const tr of transactions) {
    for (const [type, keys] of tr.changed) {
      let top: Y.AbstractType<unknown> = type as Y.AbstractType<unknown>
      let below: Y.AbstractType<unknown> | null = null
      while (top._item !== null) {
        below = top
        top = top._item.parent as Y.AbstractType<unknown>
      }
      const name = rootNameOf(doc, top)
      if (name === undefined || name.startsWith(RESERVED_PREFIX)) continue
      const declared = rules.schema.statics.get(name)
      if (declared === undefined) return { ok: false, name }
      if (declared.field.kind !== 'collection') continue
      if (below === null) {
        for (const key of keys) if (key !== null) add(name, key)
      } else {
        const key = below._item?.parentSub
        if (key != null) add(name, key)
      }
    }
  }
  return { ok: true, records }
}

/** A value as rules see it: text and rich text as strings, lists and nested records as plain arrays and objects. */
const plain = (value: unknown): unknown => {
  if (value instanceof Y.AbstractType) return value.toString()
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = plain(v)
    return out
  }
  return value
}

/** Record `id` of `collection` as it is now in `doc`. */
export type ReadRuleRecord =
  | { readonly record: PlainRecord | undefined; readonly invalid?: undefined }
  | {
      readonly record: undefined
      readonly invalid: { readonly path: readonly PathSegment[]; readonly reason: string }
    }

/**
 * Reads record `id` of the collection `collection` (a top-level name) of `doc` as rules see it (RULES-1.2):
 * `record` undefined when it does not exist, `invalid` when it does not match the schema (RULES-2.2).
 */
export const readRuleRecord = (doc: Y.Doc, rules: Rules, collection: string, id: string): ReadRuleRecord => {
  const declared = rules.schema.statics.get(collection)
  if (declared?.field.kind !== 'collection') return { record: undefined }
  const raw = doc.getMap<unknown>(collection).get(id)
  if (raw === undefined) return { record: undefined }
  let last: { path: readonly PathSegment[]; reason: string } = { path: [collection, id], reason: 'invalid' }
  const env: ReadEnv = { doc, report: (path, _value, reason) => (last = { path, reason }) }
  const row = readRow(env, id, raw, declared.field.record, [collection])
  if (row === INVALID) return { record: undefined, invalid: last }
  return { record: plain(row) as PlainRecord }
}

/** Every valid record of `collection` in `doc`, as rules see them (the relay's view keeps these as "before"). */
export const readRuleCollection = (
  doc: Y.Doc,
  rules: Rules,
  collection: string,
): Map<string, PlainRecord> => {
  const out = new Map<string, PlainRecord>()
  for (const id of doc.getMap<unknown>(collection).keys()) {
    const r = readRuleRecord(doc, rules, collection, id)
    if (r.record) out.set(id, r.record)
  }
  return out
}

export { DEPENDS_ON_REJECTED, RulesView } from '../rules/RulesView.js'
export {
  RESERVED_RULE,
  checkReserved,
  reservedChangesOf,
  type ReservedChange,
  type ReservedSchema,
} from '../rules/reserved.js'
export type { PathSegment } from './types.js'

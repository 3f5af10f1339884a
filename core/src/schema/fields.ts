/**
 * Field declarations: the run-time objects that `s.*` builders return. Each carries its TypeScript type as a phantom
 * parameter, so {@link Infer} can compute the document's types without code generation.
 */

/** A JSON value, as stored in a Y.Map entry or a Y.Array item. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/** A literal value allowed by `s.literal()` / `s.enum()`. */
export type Literal = string | number | boolean

/** The primitive type behind a {@link ValueField}. */
export type ValueType = 'string' | 'number' | 'boolean' | 'literal' | 'ref'

interface ValueFieldInit {
  readonly type: ValueType
  readonly literals?: readonly Literal[]
  readonly ref?: string
  readonly isNullable?: boolean
  readonly fallback?: { readonly value: unknown }
  readonly keepsConflicts?: boolean
}

/**
 * A field holding a plain value (string, number, boolean, literal, reference), stored as a JSON value.
 * `T` is the value's type; `D` tells whether the field has a default (and so may be left out of an insert).
 */
export class ValueField<T, D extends boolean = false> {
  /** Discriminates field declarations. */
  readonly kind = 'value' as const
  /** The primitive type. */
  readonly type: ValueType
  /** Allowed values of a literal/enum field. */
  readonly literals: readonly Literal[] | undefined
  /** For `s.ref()`: the name of the root collection the id points into. */
  readonly ref: string | undefined
  /** Whether `null` is allowed. */
  readonly isNullable: boolean
  /** The declared default: a missing or invalid stored value reads as this. */
  readonly fallback: { readonly value: T } | undefined
  /** Whether values that lose a concurrent write are kept in the conflict log (see `.keepConflicts()`). */
  readonly keepsConflicts: boolean
  /** Phantom: the field's TypeScript type. Never set at run time. */
  declare readonly _type: T
  /** Phantom: whether the field has a default. Never set at run time. */
  declare readonly _hasDefault: D

  /** Use the `s.*` builders instead. */
  constructor(init: ValueFieldInit) {
    this.type = init.type
    this.literals = init.literals
    this.ref = init.ref
    this.isNullable = init.isNullable ?? false
    this.fallback = init.fallback as { readonly value: T } | undefined
    this.keepsConflicts = init.keepsConflicts ?? false
    this.test = makeTest<T>(init.type, init.literals, this.isNullable)
  }

  /** Whether `value` is a valid value of this field. Never throws. (A closure specialised for the type, for speed.) */
  readonly test: (value: unknown) => value is T

  /** A human-readable description of the accepted values, used in `reason` texts. */
  describe(): string {
    const base =
      this.type === 'literal'
        ? (this.literals ?? []).map((l) => JSON.stringify(l)).join(' | ')
        : this.type === 'ref'
          ? `ref(${this.ref ?? ''})`
          : this.type
    return this.isNullable ? `${base} | null` : base
  }

  /** The value a root record reads when this field is invalid and has no default: the type's zero value. */
  zero(): T {
    if (this.fallback) return this.fallback.value
    if (this.isNullable) return null as T
    switch (this.type) {
      case 'string':
      case 'ref':
        return '' as T
      case 'number':
        return 0 as T
      case 'boolean':
        return false as T
      case 'literal':
        return this.literals?.[0] as T
    }
  }

  #with(patch: Partial<ValueFieldInit>): ValueFieldInit {
    return {
      type: this.type,
      literals: this.literals,
      ref: this.ref,
      isNullable: this.isNullable,
      fallback: this.fallback,
      keepsConflicts: this.keepsConflicts,
      ...patch,
    }
  }

  /** Allows `null` as well. */
  nullable(): ValueField<T | null, D> {
    return new ValueField<T | null, D>(this.#with({ isNullable: true }))
  }

  /**
   * Gives the field a default: it may be left out of an insert, and a missing or invalid stored value (written by
   * an older, newer or misbehaving peer) reads as `value` instead of making the whole record invalid.
   */
  optional(value: T): ValueField<T, true> {
    if (!this.test(value))
      throw new TypeError(`default ${JSON.stringify(value)} is not a valid ${this.describe()}`)
    return new ValueField<T, true>(this.#with({ fallback: { value } }))
  }

  /**
   * Marks critical data: when two peers write this field concurrently, the value that loses is kept in the
   * document's conflict log (see `TypedDoc.conflicts`) instead of silently disappearing. Ordinary fields keep
   * Yjs's last-writer-wins.
   */
  keepConflicts(): ValueField<T, D> {
    return new ValueField<T, D>(this.#with({ keepsConflicts: true }))
  }
}

const makeTest = <T>(
  type: ValueType,
  literals: readonly Literal[] | undefined,
  nullable: boolean,
): ((v: unknown) => v is T) => {
  const set: ReadonlySet<unknown> = new Set(literals ?? [])
  const base: (v: unknown) => boolean =
    type === 'number'
      ? (v) => typeof v === 'number' && Number.isFinite(v)
      : type === 'boolean'
        ? (v) => typeof v === 'boolean'
        : type === 'literal'
          ? (v) => set.has(v)
          : (v) => typeof v === 'string'
  return (nullable ? (v: unknown) => v === null || base(v) : base) as (v: unknown) => v is T
}

/** A collaborative plain-text field, stored as a `Y.Text`. */
export interface TextField {
  /** Discriminates field declarations. */
  readonly kind: 'text'
}

/** A rich-text field, stored as a `Y.XmlFragment` (for y-prosemirror / Tiptap, or y-codemirror with XML). */
export interface RichTextField {
  /** Discriminates field declarations. */
  readonly kind: 'richText'
}

/** What a list may hold: plain values or records. */
export type ItemField = ValueField<unknown, boolean> | RecordField<Fields>

/** An ordered list, stored as a `Y.Array` of plain values or of `Y.Map` records. */
export interface ListField<I extends ItemField> {
  /** Discriminates field declarations. */
  readonly kind: 'list'
  /** The declaration of each item. */
  readonly item: I
}

/** Any field declaration. */
export type FieldDef =
  | ValueField<unknown, boolean>
  | TextField
  | RichTextField
  | ListField<ItemField>
  | RecordField<Fields>
  | CollectionField<RecordField<Fields>>

/** The fields of a record, by name. */
export type Fields = { readonly [name: string]: FieldDef }

/** A record with fixed fields, stored as a `Y.Map`. */
export class RecordField<F extends Fields> {
  /** Discriminates field declarations. */
  readonly kind = 'record' as const
  /** The declared fields. */
  readonly fields: F
  /** The declared fields as a list, for fast iteration. */
  readonly entries: ReadonlyArray<readonly [string, FieldDef]>
  /** Names of the fields that keep conflicts. */
  readonly conflictKeys: readonly string[]
  /** Field names, parallel to {@link RecordField.defs}. */
  readonly keys: readonly string[]
  /** Field declarations, parallel to {@link RecordField.keys}. */
  readonly defs: readonly FieldDef[]
  /** For each field: its plain-value test when it is a plain value without conflict register (the fast read path). */
  readonly plainTests: ReadonlyArray<((v: unknown) => boolean) | undefined>

  /** Use `s.record()` instead. */
  constructor(fields: F) {
    this.fields = fields
    this.entries = Object.entries(fields)
    this.conflictKeys = this.entries.filter(([, f]) => f.kind === 'value' && f.keepsConflicts).map(([k]) => k)
    this.keys = this.entries.map(([k]) => k)
    this.defs = this.entries.map(([, f]) => f)
    this.plainTests = this.defs.map((f) => (f.kind === 'value' && !f.keepsConflicts ? f.test : undefined))
  }

  /**
   * The declaration of field `name`, or `undefined` when no such field is declared. An own-property lookup:
   * `constructor`, `toString` and other names inherited from `Object.prototype` are not fields.
   */
  field(name: string): FieldDef | undefined {
    return Object.hasOwn(this.fields, name) ? (this.fields[name] as FieldDef) : undefined
  }
}

/** Records of one shape keyed by id, stored as a `Y.Map` of `Y.Map`s. Allowed at the root and in root records. */
export interface CollectionField<R extends RecordField<Fields>> {
  /** Discriminates field declarations. */
  readonly kind: 'collection'
  /** The declaration of each record. */
  readonly record: R
}

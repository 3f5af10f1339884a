import * as Y from 'yjs'
import type { CollectionField, Fields, ItemField, ListField, RecordField } from './fields.js'
import { INVALID, readField, readRecord } from './readRecord.js'
import type { Runtime } from './Runtime.js'
import { TypedCollection } from './TypedCollection.js'
import { TypedList } from './TypedList.js'
import type { ChangeMeta, Infer, Patch, PathSegment, SharedType, ValueKeys, WriteResult } from './types.js'
import { checkPatch, checkValue, fail } from './writeRecord.js'

/** A change to a record: which declared fields changed (a change inside a nested text or list counts). */
export interface RecordChange<F extends Fields> extends ChangeMeta {
  readonly fields: ReadonlySet<keyof F & string>
}

type KeysOfKind<F extends Fields, Kind> = { [K in keyof F]: F[K] extends Kind ? K : never }[keyof F] & string
type ItemOf<L> = L extends ListField<infer I> ? I : never
type FieldsOf<R> =
  R extends RecordField<infer Fs> ? Fs : R extends CollectionField<RecordField<infer Fs>> ? Fs : never

/** Maps a register key `"field@client"` or a plain key to its declared field name. */
const fieldOf = (key: string): string => {
  const at = key.indexOf('@')
  return at < 0 ? key : key.slice(0, at)
}

/**
 * A typed view of one record. `Missing` is what a read gives when the stored value is invalid and has no
 * default: `undefined` for records in collections and lists; root records read the zero value instead
 * (`Missing = never`).
 */
export class TypedRecord<F extends Fields, Missing = undefined> {
  /** The underlying Y.Map (for bindings and raw access; writes through it bypass validation). */
  readonly ymap: Y.Map<unknown>
  readonly #parent: readonly PathSegment[]
  readonly #key: PathSegment | undefined
  #path: readonly PathSegment[] | undefined
  readonly #rt: Runtime
  readonly #def: RecordField<F>
  readonly #static: string | undefined

  /** Created by the typed document and its collections; the path is `[...parent, key]` (built when first used). */
  constructor(
    rt: Runtime,
    ymap: Y.Map<unknown>,
    def: RecordField<F>,
    parent: readonly PathSegment[],
    key: PathSegment | undefined,
    staticName?: string,
  ) {
    this.#rt = rt
    this.ymap = ymap
    this.#def = def
    this.#parent = parent
    this.#key = key
    this.#static = staticName
  }

  /** Where the record is, from the root key. */
  get path(): readonly PathSegment[] {
    this.#path ??= this.#key === undefined ? this.#parent : [...this.#parent, this.#key]
    return this.#path
  }

  /** The declaration of this record. */
  get definition(): RecordField<F> {
    return this.#def
  }

  /** Reads one field (lists as arrays of their valid items, nested records as objects). Never throws. */
  get<K extends keyof F & string>(key: K): Infer<F[K]> | Missing {
    const field = this.#def.field(key)
    if (field === undefined) return undefined as Missing
    if (field.kind === 'value' && !field.keepsConflicts) {
      const raw = this.ymap.get(key)
      if (field.test(raw)) return raw as Infer<F[K]>
    }
    const v = readField(this.#rt, this.ymap, key, field, this.path, this.#static)
    return (v === INVALID ? undefined : v) as Infer<F[K]> | Missing
  }

  /** Reads the whole record; `Missing` when a field without default is invalid (see the `invalid` event). */
  value(): Infer<RecordField<F>> | Missing {
    const v = readRecord(this.#rt, this.ymap, this.#def, this.path, undefined, this.#static, {})
    return (v === INVALID ? undefined : v) as Infer<RecordField<F>> | Missing
  }

  /** Sets one plain-value field. Checked first: a bad value returns `{ ok: false }` and writes nothing. */
  set<K extends ValueKeys<F>>(key: K, value: Infer<F[K]>): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    const field = this.#def.field(key)
    if (field?.kind !== 'value')
      return fail('invalid-value', `${key}: not a plain-value field`, [...this.path, key])
    const f = checkValue(this.#rt, field, value, this.path, key)
    if (f) return f
    this.#rt.transact(() => this.#rt.writeValue(this.ymap, key, field, value, this.path))
    return { ok: true }
  }

  /** Sets several plain-value fields in one transaction; all are checked before any is written. */
  update(patch: Patch<F>): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    const f = checkPatch(this.#rt, this.#def, patch, this.path)
    if (f) return f
    const values = patch as Record<string, unknown>
    this.#rt.transact(() => {
      for (const key in values) {
        const value = values[key]
        const field = this.#def.field(key)
        if (value !== undefined && field?.kind === 'value')
          this.#rt.writeValue(this.ymap, key, field, value, this.path)
      }
    })
    return { ok: true }
  }

  /** The live text of a text field (bind it to an editor); `undefined` if the stored value is not a Y.Text. */
  text(key: KeysOfKind<F, { kind: 'text' }>): Y.Text | undefined {
    const t = this.#static === undefined ? this.ymap.get(key) : this.#rt.doc.getText(`${this.#static}.${key}`)
    return t instanceof Y.Text ? t : undefined
  }

  /** The live fragment of a rich-text field (for y-prosemirror); `undefined` if the stored value is not one. */
  richText(key: KeysOfKind<F, { kind: 'richText' }>): Y.XmlFragment | undefined {
    const t =
      this.#static === undefined ? this.ymap.get(key) : this.#rt.doc.getXmlFragment(`${this.#static}.${key}`)
    return t instanceof Y.XmlFragment ? t : undefined
  }

  /** A typed handle on a list field; `undefined` if the stored value is not a Y.Array. */
  list<K extends KeysOfKind<F, ListField<ItemField>>>(key: K): TypedList<ItemOf<F[K]>> | undefined {
    const def = this.#def.fields[key] as ListField<ItemOf<F[K]>>
    const arr =
      this.#static === undefined ? this.ymap.get(key) : this.#rt.doc.getArray(`${this.#static}.${key}`)
    return arr instanceof Y.Array
      ? new TypedList(this.#rt, arr as Y.Array<unknown>, def.item, [...this.path, key])
      : undefined
  }

  /** A typed handle on a nested record field; `undefined` if the stored value is not a Y.Map. */
  record<K extends KeysOfKind<F, RecordField<Fields>>>(
    key: K,
  ): TypedRecord<FieldsOf<F[K]>, Missing> | undefined {
    const def = this.#def.fields[key] as RecordField<FieldsOf<F[K]>>
    const name = this.#static === undefined ? undefined : `${this.#static}.${key}`
    const map = name === undefined ? this.ymap.get(key) : this.#rt.doc.getMap(name)
    return map instanceof Y.Map
      ? new TypedRecord(this.#rt, map as Y.Map<unknown>, def, this.path, key, name)
      : undefined
  }

  /** A typed handle on a collection field (collections live only in root records). */
  collection<K extends KeysOfKind<F, CollectionField<RecordField<Fields>>>>(
    key: K,
  ): TypedCollection<FieldsOf<F[K]>> | undefined {
    if (this.#static === undefined) return undefined
    const def = this.#def.fields[key] as CollectionField<RecordField<FieldsOf<F[K]>>>
    const name = `${this.#static}.${key}`
    return new TypedCollection(this.#rt, this.#rt.doc.getMap(name), def.record, [...this.path, key])
  }

  /** Calls `listener` with the field's new value after each transaction that changed it. Returns the unsubscribe function. */
  observeField<K extends keyof F & string>(
    key: K,
    listener: (value: Infer<F[K]> | Missing, change: ChangeMeta) => void,
  ): () => void {
    return this.observe((c) => {
      if (c.fields.has(key)) listener(this.get(key), { local: c.local, origin: c.origin })
    })
  }

  /** Calls `listener` after each transaction that changed this record. Returns the unsubscribe function. */
  observe(listener: (change: RecordChange<F>) => void): () => void {
    const def = this.#def
    const unsubscribes: Array<() => void> = []
    const deep = (events: Array<Y.YEvent<SharedType>>, tr: Y.Transaction, nestedKey?: string): void => {
      const fields = new Set<string>()
      for (const e of events) {
        if (nestedKey !== undefined) fields.add(nestedKey)
        else if (e.target === this.ymap && e instanceof Y.YMapEvent)
          for (const k of e.keysChanged as Set<string>) fields.add(fieldOf(k))
        else if (typeof e.path[0] === 'string') fields.add(e.path[0])
      }
      for (const k of fields) if (def.field(k) === undefined) fields.delete(k)
      if (fields.size > 0)
        listener({ fields: fields as Set<keyof F & string>, local: tr.local, origin: tr.origin })
    }
    const onMap = (events: Array<Y.YEvent<SharedType>>, tr: Y.Transaction): void => deep(events, tr)
    this.ymap.observeDeep(onMap)
    unsubscribes.push(() => this.ymap.unobserveDeep(onMap))
    if (this.#static !== undefined) {
      for (const [key, field] of this.#def.entries) {
        if (field.kind === 'value') continue
        const name = `${this.#static}.${key}`
        const type: SharedType =
          field.kind === 'text'
            ? this.#rt.doc.getText(name)
            : field.kind === 'richText'
              ? this.#rt.doc.getXmlFragment(name)
              : field.kind === 'list'
                ? this.#rt.doc.getArray(name)
                : this.#rt.doc.getMap(name)
        const onNested = (events: Array<Y.YEvent<SharedType>>, tr: Y.Transaction): void =>
          deep(events, tr, key)
        type.observeDeep(onNested)
        unsubscribes.push(() => type.unobserveDeep(onNested))
      }
    }
    return () => {
      for (const u of unsubscribes.splice(0)) u()
    }
  }
}

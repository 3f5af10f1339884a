import * as Y from 'yjs'
import type { ItemField, RecordField } from './fields.js'
import { INVALID, readItem, readList } from './readRecord.js'
import type { Runtime } from './Runtime.js'
import { TypedRecord } from './TypedRecord.js'
import type { ChangeMeta, Infer, Input, PathSegment, WriteResult } from './types.js'
import { buildItem, checkItem, fail } from './writeRecord.js'

type FieldsOf<I> = I extends RecordField<infer Fs> ? Fs : never

/** A typed view of a list (`Y.Array`) of values or records. */
export class TypedList<I extends ItemField> {
  /** The underlying Y.Array (writes through it bypass validation). */
  readonly yarray: Y.Array<unknown>
  /** Where the list is, from the root key. */
  readonly path: readonly PathSegment[]
  readonly #rt: Runtime
  readonly #item: I

  /** Created by the typed document and records. */
  constructor(rt: Runtime, yarray: Y.Array<unknown>, item: I, path: readonly PathSegment[]) {
    this.#rt = rt
    this.yarray = yarray
    this.#item = item
    this.path = path
  }

  /** Number of stored items (invalid ones included). */
  get length(): number {
    return this.yarray.length
  }

  /** The valid items, in order (invalid ones are skipped and reported). */
  toArray(): Array<Infer<I>> {
    return readList(this.#rt, this.yarray, this.#item, this.path) as Array<Infer<I>>
  }

  /** The item at stored position `index`, or `undefined` if out of range or invalid. */
  get(index: number): Infer<I> | undefined {
    if (index < 0 || index >= this.yarray.length) return undefined
    const v = readItem(this.#rt, this.yarray.get(index), this.#item, this.path, index)
    return v === INVALID ? undefined : (v as Infer<I>)
  }

  /** A typed handle on the record at stored position `index` (lists of records only). */
  record(index: number): TypedRecord<FieldsOf<I>> | undefined {
    if (this.#item.kind !== 'record' || index < 0 || index >= this.yarray.length) return undefined
    const map = this.yarray.get(index)
    if (!(map instanceof Y.Map)) return undefined
    return new TypedRecord(
      this.#rt,
      map as Y.Map<unknown>,
      this.#item as RecordField<FieldsOf<I>>,
      this.path,
      index,
    )
  }

  /** Inserts `items` at stored position `index`; all are checked before anything is written. */
  insert(index: number, items: ReadonlyArray<Input<I>>): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    if (!Number.isInteger(index) || index < 0 || index > this.yarray.length) {
      return fail('invalid-value', `${this.path.join('.')}: index ${index} out of range`, this.path)
    }
    for (let i = 0; i < items.length; i++) {
      const f = checkItem(this.#rt, this.#item as ItemField, items[i], this.path, index + i)
      if (f) return f
    }
    const built = items.map((v) => buildItem(this.#item as ItemField, v))
    this.#rt.transact(() => this.yarray.insert(index, built))
    return { ok: true }
  }

  /** Appends `items`. */
  push(...items: ReadonlyArray<Input<I>>): WriteResult {
    return this.insert(this.yarray.length, items)
  }

  /** Deletes `count` items from stored position `index`. */
  delete(index: number, count = 1): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    if (!Number.isInteger(index) || index < 0 || count < 0 || index + count > this.yarray.length) {
      return fail('invalid-value', `${this.path.join('.')}: range ${index}+${count} out of range`, this.path)
    }
    this.#rt.transact(() => this.yarray.delete(index, count))
    return { ok: true }
  }

  /** Calls `listener` after each transaction that changed the list. Returns the unsubscribe function. */
  observe(listener: (change: ChangeMeta) => void): () => void {
    const handler = (_events: unknown, tr: Y.Transaction): void =>
      listener({ local: tr.local, origin: tr.origin })
    this.yarray.observeDeep(handler)
    return () => this.yarray.unobserveDeep(handler)
  }
}

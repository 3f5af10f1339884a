import { uuidv4 } from 'lib0/random'
import * as Y from 'yjs'
import type { Fields, RecordField } from './fields.js'
import { INVALID, readRow } from './readRecord.js'
import type { Runtime } from './Runtime.js'
import { TypedRecord } from './TypedRecord.js'
import type { ChangeMeta, SharedType, InputFields, Patch, PathSegment, Row, WriteResult } from './types.js'
import { buildRecord, checkInput, checkPatch, fail } from './writeRecord.js'

/** A change to a collection: ids of records added, changed (any field, however deep) and deleted. */
export interface CollectionChange extends ChangeMeta {
  readonly added: readonly string[]
  readonly updated: readonly string[]
  readonly deleted: readonly string[]
}

/** Options of {@link TypedCollection.insert}. */
export interface InsertOptions {
  /** The record's id; a random one when left out. Use deterministic ids only where the same record is meant. */
  readonly id?: string
}

/** A typed view of a collection of records keyed by id. */
export class TypedCollection<F extends Fields> {
  /** The underlying Y.Map of Y.Maps (writes through it bypass validation). */
  readonly ymap: Y.Map<unknown>
  /** Where the collection is, from the root key. */
  readonly path: readonly PathSegment[]
  readonly #rt: Runtime
  readonly #def: RecordField<F>

  /** Created by the typed document. */
  constructor(rt: Runtime, ymap: Y.Map<unknown>, def: RecordField<F>, path: readonly PathSegment[]) {
    this.#rt = rt
    this.ymap = ymap
    this.#def = def
    this.path = path
  }

  /** The record `id`, or `undefined` if there is none or it is invalid (reported through `invalid`). */
  get(id: string): Row<RecordField<F>> | undefined {
    const row = readRow(this.#rt, id, this.ymap.get(id), this.#def as RecordField<Fields>, this.path)
    return row === INVALID ? undefined : (row as Row<RecordField<F>>)
  }

  /** Whether a valid record `id` exists. */
  has(id: string): boolean {
    return this.get(id) !== undefined
  }

  /** Number of stored entries (invalid ones included). */
  get size(): number {
    return this.ymap.size
  }

  /** Ids of the stored entries (invalid ones included: `get()` tells them apart). */
  ids(): string[] {
    return [...this.ymap.keys()]
  }

  /** The valid records. */
  values(): Array<Row<RecordField<F>>> {
    const out: Array<Row<RecordField<F>>> = []
    for (const [id, raw] of this.ymap.entries()) {
      const row = readRow(this.#rt, id, raw, this.#def as RecordField<Fields>, this.path)
      if (row !== INVALID) out.push(row as Row<RecordField<F>>)
    }
    return out
  }

  /** The valid records with their ids. */
  entries(): Array<[string, Row<RecordField<F>>]> {
    return this.values().map((r) => [r.id, r])
  }

  /** A typed handle on record `id` (for field writes, text, lists, observation); `undefined` if absent. */
  record(id: string): TypedRecord<F> | undefined {
    const map = this.ymap.get(id)
    return map instanceof Y.Map
      ? new TypedRecord(this.#rt, map as Y.Map<unknown>, this.#def, this.path, id)
      : undefined
  }

  /** Inserts a record. Checked first: a bad input returns `{ ok: false }` and writes nothing. */
  insert(input: InputFields<F>, options: InsertOptions = {}): WriteResult<{ readonly id: string }> {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    const id = options.id ?? uuidv4()
    if (this.ymap.has(id))
      return fail('exists', `${[...this.path, id].join('.')} already exists`, [...this.path, id])
    const f = checkInput(this.#rt, this.#def as RecordField<Fields>, input, this.path, id)
    if (f) return f
    const map = buildRecord(this.#def as RecordField<Fields>, input as Record<string, unknown>)
    this.#rt.transact(() => this.ymap.set(id, map))
    return { ok: true, id }
  }

  /** Updates plain-value fields of record `id` in one transaction. */
  update(id: string, patch: Patch<F>): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    const map = this.ymap.get(id)
    if (!(map instanceof Y.Map))
      return fail('not-found', `${[...this.path, id].join('.')} does not exist`, [...this.path, id])
    const f = checkPatch(this.#rt, this.#def as RecordField<Fields>, patch, this.path, id)
    if (f) return f
    const values = patch as Record<string, unknown>
    const target = map as Y.Map<unknown>
    const def = this.#def
    this.#rt.transact(() => {
      for (const key in values) {
        const value = values[key]
        const field = def.field(key)
        if (value === undefined || field?.kind !== 'value') continue
        if (field.keepsConflicts) this.#rt.writeValue(target, key, field, value, [...this.path, id])
        else target.set(key, value)
      }
    })
    return { ok: true }
  }

  /** Deletes record `id`. */
  delete(id: string): WriteResult {
    const refusal = this.#rt.refusal
    if (refusal) return refusal
    if (!this.ymap.has(id))
      return fail('not-found', `${[...this.path, id].join('.')} does not exist`, [...this.path, id])
    this.#rt.transact(() => this.ymap.delete(id))
    return { ok: true }
  }

  /** Calls `listener` after each transaction that changed the collection. Returns the unsubscribe function. */
  observe(listener: (change: CollectionChange) => void): () => void {
    const handler = (events: Array<Y.YEvent<SharedType>>, tr: Y.Transaction): void => {
      const added: string[] = []
      const deleted: string[] = []
      const updated = new Set<string>()
      for (const e of events) {
        if (e.target === this.ymap) {
          for (const [id, change] of e.changes.keys) {
            if (change.action === 'add') added.push(id)
            else if (change.action === 'delete') deleted.push(id)
            else updated.add(id)
          }
        } else if (typeof e.path[0] === 'string') updated.add(e.path[0])
      }
      for (const id of added) updated.delete(id)
      for (const id of deleted) updated.delete(id)
      if (added.length + deleted.length + updated.size === 0) return
      listener({ added, updated: [...updated], deleted, local: tr.local, origin: tr.origin })
    }
    this.ymap.observeDeep(handler)
    return () => this.ymap.unobserveDeep(handler)
  }
}

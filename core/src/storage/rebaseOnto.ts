import * as Y from 'yjs'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { epochClient } from './epochClient.js'
import { ProvenanceIndex } from './epochProvenance.js'
import type { EpochRecord } from './epochRecord.js'
import { EpochUpdateWriter, type ItemStruct, type ParentRef } from './epochUpdateWriter.js'

type AnyType = Y.AbstractType<unknown>
type Struct = Y.Item | Y.GC
/** Per old client, the exclusive end of the clocks above the base that an item depends on (its "knowledge"). */
type Knowledge = Map<number, number>

/** What {@link rebaseOnto} returns. */
export type RebaseResult =
  | {
      readonly ok: true
      /** A Yjs **V1** update for the new epoch (apply it with `Y.applyUpdate` after `record.initial`). */
      readonly update: Uint8Array
      /** Old-epoch clocks re-applied as insertions (live or deleted), over all clients. */
      readonly insertedLength: number
      /** Clocks of the new epoch's fresh content deleted (old content deleted after the base). */
      readonly deletedLength: number
    }
  | {
      readonly ok: false
      /**
       * `missing-base`: `oldDoc` does not contain all of `record.base` (COMPACT-5.1: sync the old epoch with a peer
       * that holds it first); re-applying from a partial view could place a change differently from other peers.
       */
      readonly reason: 'missing-base'
    }

/**
 * Re-applies onto a new epoch every change of `oldDoc` that the epoch's base does not contain
 * (docs/spec/compaction.md, COMPACT-5.2 to COMPACT-5.5): the result, applied to a document built from
 * `record.initial`, holds `oldDoc`'s changes.
 *
 * - Insertions after the base keep their content and length under deterministic ids (COMPACT-5.3):
 *   `(c, k)` becomes `(epochClient(record.id, c), k - base[c])`; items deleted since are written deleted, so every
 *   peer that re-applies the same old change writes the same Yjs item, which Yjs stores once.
 * - Deletions of content visible at the base are deletions by id through `record.provenance` (COMPACT-5.4).
 * - Origins (COMPACT-5.5): an item's new left origin is the nearest item to its left in `oldDoc` that the new epoch
 *   holds *and that every peer holding the item holds*: base content (through provenance), or a change the item
 *   depends on (its origins, parent and earlier clocks of its client, transitively). Its new right origin is the
 *   next such item after the left origin in the new epoch's order. So every peer writes the same item, as a valid
 *   insertion, in the same gap between base content as in the old epoch.
 *
 * Works on items, not on type semantics: text (formatting and embeds), maps, arrays, XML and nested types.
 * `oldDoc` is only read.
 */
export const rebaseOnto = (
  oldDoc: Y.Doc,
  record: Pick<EpochRecord, 'id' | 'parent' | 'base' | 'initial' | 'provenance'>,
): RebaseResult => {
  if (!holdsBase(oldDoc, record)) return { ok: false, reason: 'missing-base' }
  return new Rebase(oldDoc, record, Y.decodeSnapshotV2(record.base).sv).run()
}

/** Whether `doc` holds every change of `record`'s base (COMPACT-5.1): the precondition of {@link rebaseOnto}. */
export const holdsBase = (doc: Y.Doc, record: Pick<EpochRecord, 'base'>): boolean => {
  for (const [client, clock] of Y.decodeSnapshotV2(record.base).sv) {
    if (Y.getState(doc.store, client) < clock) return false
  }
  return true
}

class Rebase {
  readonly #writer = new EpochUpdateWriter()
  readonly #prov: ProvenanceIndex
  readonly #init: number
  /** The new epoch as this peer re-applies into it: used to find right origins in the new order. */
  readonly #sim = new Y.Doc({ gc: false })
  readonly #det = new Map<number, number>()
  readonly #oldOf = new Map<number, number>()
  readonly #done = new Map<number, number>()
  readonly #knowledge = new Map<Struct, Knowledge>()
  readonly #parents = new Map<AnyType, ParentRef | null>()
  #tr: Y.Transaction | null = null
  #inserted = 0
  #deleted = 0

  constructor(
    readonly doc: Y.Doc,
    readonly record: Pick<EpochRecord, 'id' | 'parent' | 'initial' | 'provenance'>,
    readonly sv: Map<number, number>,
  ) {
    this.#prov = new ProvenanceIndex(record.provenance)
    this.#init = epochClient(record.parent, 'init')
    Y.applyUpdateV2(this.#sim, record.initial)
    for (const client of doc.store.clients.keys()) {
      const det = epochClient(record.id, client)
      this.#det.set(client, det)
      this.#oldOf.set(det, client)
    }
  }

  run(): RebaseResult {
    const clients = [...this.doc.store.clients.keys()].sort((a, b) => a - b)
    for (const client of clients) this.#done.set(client, this.#base(client))
    // One transaction on the simulated epoch: each struct is integrated as soon as it is written.
    Y.transact(this.#sim, (tr) => {
      this.#tr = tr
      for (const client of clients) {
        const structs = this.doc.store.clients.get(client) ?? []
        const base = this.#base(client)
        if (Y.getState(this.doc.store, client) <= base) continue
        for (let i = Y.findIndexSS(structs, base); i < structs.length; i++)
          this.#process(structs[i] as Struct)
      }
    })
    this.#tr = null
    this.#sim.destroy()
    for (const client of clients) this.#mapDeletions(client)
    return {
      ok: true,
      update: this.#writer.toUpdate(),
      insertedLength: this.#inserted,
      deletedLength: this.#deleted,
    }
  }

  #base(client: number): number {
    return this.sv.get(client) ?? 0
  }

  #afterBase(id: Y.ID): boolean {
    return id.clock >= this.#base(id.client)
  }

  #detId(id: Y.ID): Y.ID {
    return Y.createID(this.#det.get(id.client) as number, id.clock - this.#base(id.client))
  }

  #structAt(id: Y.ID): Struct {
    const structs = this.doc.store.clients.get(id.client) as Struct[]
    return structs[Y.findIndexSS(structs, id.clock)] as Struct
  }

  #isDone(id: Y.ID): boolean {
    return id.clock < (this.#done.get(id.client) ?? 0)
  }

  /** Ids above the base that `struct`'s part above the base depends on directly. */
  #deps(struct: Struct): Y.ID[] {
    const { client, clock } = struct.id
    const start = Math.max(clock, this.#base(client))
    const deps: Y.ID[] = []
    if (start > this.#base(client)) deps.push(Y.createID(client, start - 1))
    if (struct instanceof Y.Item) {
      if (start === clock && struct.origin) deps.push(struct.origin)
      if (struct.rightOrigin) deps.push(struct.rightOrigin)
      const parent = struct.parent
      if (parent instanceof Y.AbstractType && parent._item) deps.push(parent._item.id)
    }
    return deps.filter((id) => this.#afterBase(id))
  }

  /** Emits `first` after everything it depends on (the order Yjs integrates in). */
  #process(first: Struct): void {
    const emitted = (s: Struct): boolean => s.id.clock + s.length <= (this.#done.get(s.id.client) ?? 0)
    if (emitted(first)) return
    const stack: Struct[] = [first]
    while (stack.length > 0) {
      const top = stack.at(-1) as Struct
      if (emitted(top)) {
        stack.pop()
        continue
      }
      const missing = this.#deps(top).find((id) => !this.#isDone(id))
      if (missing) stack.push(this.#structAt(missing))
      else {
        this.#emit(top)
        stack.pop()
      }
    }
  }

  #knowledgeOf(struct: Struct): Knowledge {
    const k: Knowledge = new Map()
    for (const dep of this.#deps(struct)) {
      for (const [c, end] of this.#knowledge.get(this.#structAt(dep)) ?? [])
        k.set(c, Math.max(k.get(c) ?? 0, end))
      k.set(dep.client, Math.max(k.get(dep.client) ?? 0, dep.clock + 1))
    }
    return k
  }

  /** COMPACT-5.2/5.3: writes `struct`'s part above the base under its deterministic id. */
  #emit(struct: Struct): void {
    const { client } = struct.id
    const base = this.#base(client)
    const start = Math.max(struct.id.clock, base)
    const length = struct.id.clock + struct.length - start
    const det = this.#det.get(client) as number
    const clock = start - base
    const knowledge = this.#knowledgeOf(struct)
    this.#knowledge.set(struct, knowledge)
    this.#done.set(client, start + length)
    this.#inserted += length
    if (struct.deleted) this.#writer.delete(det, clock, length)
    const parent = struct instanceof Y.Item ? this.#parentOf(struct) : null
    if (!(struct instanceof Y.Item) || parent === null) {
      // In a type the new epoch does not hold (deleted at the base): the clocks exist, the content does not.
      this.#writer.gc(det, clock, length)
      new Y.GC(Y.createID(det, clock), length).integrate(this.#transaction(), 0)
    } else {
      const origin = this.#leftOrigin(struct, start, knowledge)
      const item: ItemStruct = {
        origin,
        rightOrigin: this.#rightOrigin(origin, parent, struct.parentSub, knowledge),
        parent,
        parentSub: struct.parentSub,
        content: struct.deleted
          ? new Y.ContentDeleted(length)
          : start > struct.id.clock
            ? struct.content.copy().splice(start - struct.id.clock)
            : struct.content,
      }
      this.#writer.item(det, clock, item)
      this.#simulate(Y.createID(det, clock), item, length)
    }
  }

  #transaction(): Y.Transaction {
    if (!this.#tr) throw new WeftError(WeftErrorCode.InvalidArgument, 'rebaseOnto: no transaction')
    return this.#tr
  }

  /** Integrates `item` into the simulated epoch, as `Y.applyUpdate` would (own copy of the content). */
  #simulate(id: Y.ID, item: ItemStruct, length: number): void {
    const tr = this.#transaction()
    let parent: AnyType | Y.ID | null = null
    if (item.origin === null && item.rightOrigin === null && item.parent) {
      parent = 'root' in item.parent ? (this.#sim.get(item.parent.root) as AnyType) : item.parent.id
    }
    const content =
      item.content instanceof Y.ContentDeleted ? new Y.ContentDeleted(length) : item.content.copy()
    const sim = new Y.Item(id, null, item.origin, null, item.rightOrigin, parent, item.parentSub, content)
    sim.getMissing(tr, this.#sim.store)
    sim.integrate(tr, 0)
  }

  /** COMPACT-5.5: nearest item left of `struct`'s part at `start` that the new epoch holds and `knowledge` covers. */
  #leftOrigin(struct: Y.Item, start: number, knowledge: Knowledge): Y.ID | null {
    const origin = start > struct.id.clock ? Y.createID(struct.id.client, start - 1) : struct.origin
    if (origin && this.#afterBase(origin)) return this.#detId(origin)
    const own = this.#mappedHead(struct)
    if (own) return own
    for (let it = struct.left; it !== null; it = it.left) {
      const { client, clock } = it.id
      const tailStart = Math.max(clock, this.#base(client))
      const known = Math.min(clock + it.length, knowledge.get(client) ?? 0)
      if (known > tailStart) return this.#detId(Y.createID(client, known - 1))
      const head = this.#mappedHead(it)
      if (head) return head
    }
    return null
  }

  /** The last clock of `item`'s base part that the new epoch holds, as a new-epoch id. */
  #mappedHead(item: Y.Item): Y.ID | null {
    const { client, clock } = item.id
    const n = this.#prov.lastIn(client, clock, Math.min(clock + item.length, this.#base(client)))
    return n === null ? null : Y.createID(this.#init, n)
  }

  /** COMPACT-5.5: the item after `left` in the new epoch's order that every peer holding this change holds. */
  #rightOrigin(
    left: Y.ID | null,
    parent: ParentRef,
    parentSub: string | null,
    knowledge: Knowledge,
  ): Y.ID | null {
    const holds = (client: number, clock: number): boolean => {
      if (client === this.#init) return true
      const old = this.#oldOf.get(client)
      return old !== undefined && clock + this.#base(old) < (knowledge.get(old) ?? 0)
    }
    let it: Y.Item | null
    if (left) {
      const at = Y.getItem(this.#sim.store, left) as Struct
      if (!(at instanceof Y.Item)) return null
      const next = left.clock + 1
      if (next < at.id.clock + at.length && holds(at.id.client, next)) return Y.createID(at.id.client, next)
      it = at.right
    } else {
      it = this.#listStart(parent, parentSub)
    }
    for (; it !== null; it = it.right) if (holds(it.id.client, it.id.clock)) return it.id
    return null
  }

  /** First item of the list (sequence, or one key of a map) in the simulated new epoch. */
  #listStart(parent: ParentRef, parentSub: string | null): Y.Item | null {
    let type: AnyType | undefined
    if ('root' in parent) type = this.#sim.share.get(parent.root) as AnyType | undefined
    else {
      const item = Y.getItem(this.#sim.store, parent.id) as Struct
      if (item instanceof Y.Item && item.content instanceof Y.ContentType) type = item.content.type as AnyType
    }
    if (!type) return null
    if (parentSub === null) return type._start
    let it = type._map.get(parentSub) ?? null
    while (it?.left) it = it.left
    return it
  }

  /** COMPACT-5.4: old content visible at the base (it has provenance) and deleted now. */
  #mapDeletions(client: number): void {
    const structs = this.doc.store.clients.get(client) ?? []
    const base = Math.min(this.#base(client), Y.getState(this.doc.store, client))
    for (const struct of structs) {
      if (struct.id.clock >= base) break
      if (!struct.deleted) continue
      const end = Math.min(struct.id.clock + struct.length, base)
      this.#prov.forEachIn(client, struct.id.clock, end, (newClock, length) => {
        this.#writer.delete(this.#init, newClock, length)
        this.#deleted += length
      })
    }
  }

  /** Where the new epoch holds `item`'s parent type, or null if it holds no such type (deleted at the base). */
  #parentOf(item: Y.Item): ParentRef | null {
    const type = item.parent
    if (!(type instanceof Y.AbstractType)) {
      throw new WeftError(WeftErrorCode.InvalidArgument, 'rebaseOnto: an integrated item has no parent type')
    }
    const known = this.#parents.get(type as AnyType)
    if (known !== undefined) return known
    let ref: ParentRef | null
    const typeItem = type._item
    if (typeItem === null) {
      ref = { root: Y.findRootTypeKey(type) }
    } else if (this.#afterBase(typeItem.id)) {
      ref = this.#parentOf(typeItem) === null ? null : { id: this.#detId(typeItem.id) }
    } else {
      const n = this.#prov.toNew(typeItem.id.client, typeItem.id.clock)
      ref = n === null ? null : { id: Y.createID(this.#init, n) }
    }
    this.#parents.set(type as AnyType, ref)
    return ref
  }
}

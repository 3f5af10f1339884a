import * as Y from 'yjs'
import { RESERVED_PREFIX } from '../schema/defineSchema.js'
import type { ReservedChange } from '../rules/reserved.js'
import { CATALOGUE_COLLECTION, CATALOGUE_DELETIONS } from './workspacePurge.js'
import { itemBytes } from './catalogueEntryBytes.js'

/**
 * What {@link catalogueTouchedBy} reports besides the documents an update touches, for the relay's checks of a
 * partial writer (WS-ACCESS-6 to 8).
 */
export interface CatalogueChangeObserver {
  /** A change under a root named `__weft*` (WS-ACCESS-6). */
  readonly reserved?: (change: ReservedChange) => void
  /**
   * A change under a root that is neither {@link CATALOGUE_COLLECTION}, {@link CATALOGUE_DELETIONS} nor `__weft*`,
   * or content of those two without a map key (WS-ACCESS-7): no reader takes it for an entry.
   */
  readonly foreign?: (root: string) => void
  /** An item the update inserts into document `doc`'s entry, with its key and content bytes (WS-ACCESS-8). */
  readonly added?: (doc: string, bytes: number) => void
  /**
   * A value the update sets directly in document `doc`'s record map (`documents.<doc>.<key>`), for checks of the
   * catalogue's fields (WS-ACCESS-11). A record that is not a map has no fields.
   */
  readonly field?: (doc: string, key: string, content: Y.Item['content']) => void
}

const isEntryRoot = (root: string): boolean => root === CATALOGUE_COLLECTION || root === CATALOGUE_DELETIONS

/**
 * The document a key of a catalogue's root maps names, for access checks (WS-ACCESS-2): a record key of
 * {@link CATALOGUE_COLLECTION} is the document id itself; a deletion key of {@link CATALOGUE_DELETIONS}
 * (`<D>~<writer>`) names what precedes its first `~`, or the whole key when it has none. Every key a reader takes for
 * document D (`tombstoneOf`, `CatalogueDeletions`) yields D here; a key no reader takes for a document yields some
 * name too, so a check on it errs on the side of refusing.
 */
const namedDoc = (root: string, key: string): string => {
  if (root !== CATALOGUE_DELETIONS) return key
  const cut = key.indexOf('~')
  return cut < 0 ? key : key.slice(0, cut)
}

/**
 * Which documents a change of a workspace's catalogue touches (WS-ACCESS-2): `transactions` are the Yjs transactions
 * that applying one update to `catalogue` (a `Y.Doc` whose {@link CATALOGUE_COLLECTION} and {@link CATALOGUE_DELETIONS}
 * roots are maps) ran. A document is touched when its record (the map entry `documents.<D>`, or anything nested in
 * it, at any depth) or one of its deletion entries (`deletions.<D>~<writer>`, or anything nested in its value) was
 * created, changed or deleted, by an insert, a deletion or a map key set. Changes elsewhere (other roots, content
 * of the two roots without a map key) name no document and are left out, reported to `foreign` (with the root's
 * name; never for a `__weft*` root, WS-ACCESS-7); so are changes inside a record or entry
 * that was already deleted (Yjs reports none: no reader sees them). Pure: reads the transactions, writes nothing.
 * The relay checks the writer's grant on each (`W/D`) before it takes a catalogue update.
 */
export const catalogueTouched = (
  catalogue: Y.Doc,
  transactions: Iterable<Y.Transaction>,
  foreign?: (root: string) => void,
): Set<string> => {
  const roots = new Map<unknown, string>()
  for (const [name, type] of catalogue.share) roots.set(type, name)
  const docs = new Set<string>()
  for (const tr of transactions) {
    for (const [type, keys] of tr.changed) {
      let top = type as Y.AbstractType<unknown>
      let below: Y.AbstractType<unknown> | null = null
      while (top._item !== null) {
        below = top
        top = top._item.parent as Y.AbstractType<unknown>
      }
      const root = roots.get(top)
      if (root === undefined) continue
      if (!isEntryRoot(root)) {
        if (!root.startsWith(RESERVED_PREFIX)) foreign?.(root)
        continue
      }
      if (below === null) {
        for (const key of keys) if (key !== null) docs.add(namedDoc(root, key))
        if (keys.has(null)) foreign?.(root)
      } else {
        const key = below._item?.parentSub
        if (key != null) docs.add(namedDoc(root, key))
        else foreign?.(root)
      }
    }
  }
  return docs
}

/** Where an item of an update goes, as Yjs resolves it on integration (`Item.getMissing`). */
type Parent =
  | { readonly at: 'gc' }
  | { readonly at: 'root'; readonly name: string }
  | { readonly at: 'view'; readonly type: Y.AbstractType<unknown> }
  | { readonly at: 'new' }

/** An update's struct once integrated (simulated): its parent and map key (`parentSub`); parent `gc`: a GC. */
interface Resolved {
  readonly struct: Y.Item | Y.GC
  readonly parent: Parent
  readonly sub: string | null
  /** Whether it is an item of a shared type (content `ContentType`): a parent for other items. */
  readonly holds: boolean
  /** That type when the item is the view's (a type the update creates is not looked at). */
  readonly type?: Y.AbstractType<unknown>
  /** For an item of the update: the document whose entry it is in, or null (set once integrated). */
  doc?: string | null
  /** For an item of the update: it is a record map (`documents.<D>`, a nested type). */
  isRecord?: boolean
  /** For an item of the update: its parent is a record map the update creates. */
  inRecord?: boolean
}

const GCD: Parent = Object.freeze({ at: 'gc' })
const NEW: Parent = Object.freeze({ at: 'new' })

/** The index of the struct holding `clock` in `structs` (sorted by clock, as Yjs keeps them), or -1. */
const indexAt = <S>(structs: readonly S[], clock: number, of: (s: S) => Y.Item | Y.GC | Y.Skip): number => {
  let lo = 0
  let hi = structs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = structs[mid] as S
    const { id, length } = of(s)
    if (clock < id.clock) hi = mid - 1
    else if (clock >= id.clock + length) lo = mid + 1
    else return mid
  }
  return -1
}

/**
 * Which documents `update` would touch if applied to `catalogue` (WS-ACCESS-2), worked out WITHOUT applying it: the
 * set {@link catalogueTouched} reads from the transactions that applying it would run. Each item the update adds is
 * given the parent Yjs would give it (a root name, or the item its origin, right origin or parent id names, in
 * `catalogue` or earlier in `update`) and names the document of the root key it hangs under, unless it goes into a
 * type created by the same update (that type's own item names it) or into a deleted or collected one; each range of
 * the update's delete set names the documents of `catalogue`'s live items in it. Returns null when `update` would
 * leave anything pending in `catalogue` (a struct or deletion whose dependency neither holds) or cannot be read: once
 * completed it could touch any record. `catalogue` must hold nothing pending itself (`store.pendingStructs` and
 * `store.pendingDs` null), else the result is not defined. Pure: `catalogue` is left exactly as it was, so a
 * refused update costs no rebuild of it.
 */
export const catalogueTouchedBy = (
  catalogue: Y.Doc,
  update: Uint8Array,
  observer: CatalogueChangeObserver = {},
): Set<string> | null => {
  const { reserved, foreign, added, field } = observer
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch {
    return null
  }
  const store = catalogue.store
  const roots = new Map<unknown, string>()
  for (const [name, type] of catalogue.share) roots.set(type, name)
  const docs = new Set<string>()
  /**
   * The document of the root key below which `type` (a view type) or its key `sub` sits, if a catalogue root's
   * (added to the touched set); null otherwise, a change outside the entries reported to `foreign`.
   */
  const touchUnder = (type: Y.AbstractType<unknown>, sub: string | null): string | null => {
    let top = type
    let below: Y.AbstractType<unknown> | null = null
    while (top._item !== null) {
      below = top
      top = top._item.parent as Y.AbstractType<unknown>
    }
    const root = roots.get(top)
    const key = below === null ? sub : below._item?.parentSub
    if (key != null && root !== undefined && isEntryRoot(root)) {
      const doc = namedDoc(root, key)
      docs.add(doc)
      return doc
    }
    if (foreign && root !== undefined && !root.startsWith(RESERVED_PREFIX)) foreign(root)
    return null
  }
  /** The reserved root (`__weft*`) and its key that the view's nested `type` sits under, or null. */
  const reservedUnder = (type: Y.AbstractType<unknown>): { root: string; key: string | null } | null => {
    let top = type
    let below = type
    while (top._item !== null) {
      below = top
      top = top._item.parent as Y.AbstractType<unknown>
    }
    const root = roots.get(top)
    if (root === undefined || !root.startsWith(RESERVED_PREFIX)) return null
    return { root, key: below._item?.parentSub ?? null }
  }
  const viewParent = (type: Y.AbstractType<unknown>): Parent => {
    const name = type._item === null ? roots.get(type) : undefined
    return name !== undefined ? { at: 'root', name } : { at: 'view', type }
  }
  const viewState = (client: number) => Y.getState(store, client)
  const gc = (struct: Y.Item | Y.GC): Resolved => ({ struct, parent: GCD, sub: null, holds: false })

  // The update's structs per client, in clock order; what of them is integrated so far and the state it reaches.
  const queues = new Map<number, Array<Y.Item | Y.GC | Y.Skip>>()
  for (const s of decoded.structs) {
    const q = queues.get(s.id.client)
    if (q) q.push(s)
    else queues.set(s.id.client, [s])
  }
  for (const q of queues.values()) q.sort((a, b) => a.id.clock - b.id.clock)
  const done = new Map<number, Resolved[]>()
  const state = new Map<number, number>()
  const stateOf = (client: number) => state.get(client) ?? viewState(client)

  /** The struct holding `id` once it is there (the view's, or one integrated from the update); undefined: missing. */
  const find = (id: Y.ID): Resolved | undefined => {
    if (id.clock < viewState(id.client)) {
      const structs = store.clients.get(id.client) ?? []
      const s = structs[indexAt(structs, id.clock, (x) => x)]
      if (s === undefined) return undefined
      if (!(s instanceof Y.Item)) return gc(s)
      const holds = s.content instanceof Y.ContentType
      return {
        struct: s,
        parent: viewParent(s.parent as Y.AbstractType<unknown>),
        sub: s.parentSub,
        holds,
        ...(holds ? { type: (s.content as Y.ContentType).type as Y.AbstractType<unknown> } : {}),
      }
    }
    const mine = done.get(id.client) ?? []
    return mine[indexAt(mine, id.clock, (r) => r.struct)]
  }

  /** Item.getMissing: the parent of `item`, its dependencies there; undefined: Yjs could not integrate it. */
  const resolve = (item: Y.Item): Resolved | undefined => {
    const holds = item.content instanceof Y.ContentType
    const left = item.origin ? find(item.origin) : null
    const right = item.rightOrigin ? find(item.rightOrigin) : null
    if (left === undefined || right === undefined) return undefined
    if (left?.parent.at === 'gc' || right?.parent.at === 'gc') return gc(item)
    const parent = item.parent as Y.ID | string | null
    if (parent === null) {
      const from = left ?? right
      return from === null
        ? gc(item)
        : {
            struct: item,
            parent: from.parent,
            sub: from.sub,
            holds,
            doc: from.doc ?? null,
            inRecord: from.inRecord === true,
          }
    }
    if (typeof parent === 'string')
      return { struct: item, parent: { at: 'root', name: parent }, sub: item.parentSub, holds }
    const holder = find(parent)
    if (holder === undefined) return undefined
    if (!holder.holds) return gc(item)
    const at: Parent = holder.type ? viewParent(holder.type) : NEW
    return {
      struct: item,
      parent: at,
      sub: item.parentSub,
      holds,
      doc: holder.doc ?? null,
      inRecord: holder.isRecord === true,
    }
  }

  /** The client a struct waits for (a dependency of another client not there yet), or null. */
  const waitsFor = (client: number, s: Y.Item): number | null => {
    for (const dep of [s.origin, s.rightOrigin, s.parent as Y.ID | string | null])
      if (dep instanceof Y.ID && dep.client !== client && dep.clock >= stateOf(dep.client)) return dep.client
    return null
  }
  /** Integrates (in simulation) `client`'s next struct; false: Yjs could not (a gap, a dependency ahead of it). */
  const integrate = (client: number, s: Y.Item | Y.GC): boolean => {
    const offset = stateOf(client) - s.id.clock
    if (offset < 0) return false // a gap this update does not fill: pending
    if (offset >= s.length) return true // already there: Yjs integrates nothing of it
    let r: Resolved
    if (s instanceof Y.Item) {
      const got = resolve(s)
      if (got === undefined) return false // a same-client dependency ahead of it: Yjs throws
      r = got
    } else r = gc(s)
    const mine = done.get(client)
    if (mine) mine.push(r)
    else done.set(client, [r])
    state.set(client, s.id.clock + s.length)
    const p = r.parent
    let doc: string | null = null
    if (p.at === 'root') {
      if (isEntryRoot(p.name)) {
        if (r.sub !== null) docs.add((doc = namedDoc(p.name, r.sub)))
        else foreign?.(p.name)
      } else if (p.name.startsWith(RESERVED_PREFIX)) {
        if (reserved && s instanceof Y.Item)
          reserved({ root: p.name, key: r.sub, nested: false, content: s.content })
      } else foreign?.(p.name)
    } else if (p.at === 'view') {
      if (!(p.type._item?.deleted ?? false)) doc = touchUnder(p.type, r.sub)
      if (reserved && s instanceof Y.Item) {
        const under = reservedUnder(p.type)
        if (under !== null) reserved({ root: under.root, key: under.key, nested: true, content: s.content })
      }
    } else if (p.at === 'new') doc = r.doc ?? null
    r.doc = doc
    r.isRecord = p.at === 'root' && p.name === CATALOGUE_COLLECTION && r.sub !== null && r.holds
    if (doc !== null && s instanceof Y.Item) {
      added?.(doc, itemBytes(r.sub, s.content))
      const inRecord =
        p.at === 'view'
          ? p.type._item !== null && roots.get(p.type._item.parent) === CATALOGUE_COLLECTION
          : p.at === 'new' && r.inRecord === true
      if (field && inRecord && r.sub !== null) field(doc, r.sub, s.content)
    }
    return true
  }
  // Integrates the clients' structs in turn, a client waiting for another's struct after that one's (as Yjs's
  // integrateStructs, with a stack: each client is taken up once, the work is linear in the update). A dependency on
  // a client with nothing left, or on one that waits for it in turn, is missing: Yjs would leave it pending.
  const next = new Map<number, number>()
  const onStack = new Set<number>()
  for (const start of queues.keys()) {
    const stack = [start]
    onStack.add(start)
    while (stack.length > 0) {
      const client = stack[stack.length - 1]!
      const q = queues.get(client)!
      let i = next.get(client) ?? 0
      let blocker: number | null = null
      for (; i < q.length; i++) {
        const s = q[i]!
        if (s instanceof Y.Skip) continue
        if (s instanceof Y.Item) blocker = waitsFor(client, s)
        if (blocker !== null) break
        if (!integrate(client, s)) return null
      }
      next.set(client, i)
      if (blocker === null) {
        stack.pop()
        onStack.delete(client)
        continue
      }
      const other = queues.get(blocker)
      if (!other || (next.get(blocker) ?? 0) >= other.length || onStack.has(blocker)) return null
      stack.push(blocker)
      onStack.add(blocker)
    }
  }
  for (const [client, q] of queues) if ((next.get(client) ?? 0) < q.length) return null

  // The delete set, after the structs (as Yjs applies it): a range past the state is pending; a live item of the
  // view in one names its document. An item of the update in one names nothing its insertion did not.
  for (const [client, ranges] of decoded.ds.clients) {
    const structs = (store.clients.get(client) ?? []) as Array<Y.Item | Y.GC>
    const seen = viewState(client)
    for (const { clock, len } of ranges) {
      if (clock + len > stateOf(client)) return null
      if (clock >= seen) continue
      let at = indexAt(structs, clock, (x) => x)
      for (; at >= 0 && at < structs.length && structs[at]!.id.clock < clock + len; at++) {
        const s = structs[at]!
        if (!(s instanceof Y.Item) || s.deleted) continue
        touchUnder(s.parent as Y.AbstractType<unknown>, s.parentSub)
        if (reserved) {
          const parent = s.parent as Y.AbstractType<unknown>
          const name = parent._item === null ? roots.get(parent) : undefined
          if (name?.startsWith(RESERVED_PREFIX))
            reserved({ root: name, key: s.parentSub, nested: false, content: null })
          else {
            const under = reservedUnder(parent)
            if (under !== null) reserved({ root: under.root, key: under.key, nested: true, content: null })
          }
        }
      }
    }
  }
  return docs
}

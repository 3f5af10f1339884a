import * as Y from 'yjs'
import { addDeletions, encodeDeletionsUpdate, type DeleteRanges } from '../protocol/deleteSets.js'
import { drawClientId } from './drawClientId.js'
import { someStruct } from './someStruct.js'
import { copyDeleteSet, stepAt, type LocalStep } from './localSteps.js'
import { inRecord } from './refusedScope.js'
import { attributesAt, reformat, textRuns, walkText, type TextRun } from './rollbackText.js'

/**
 * Rolling back an update that the relay rejected under the room's rules (docs/spec/rules.md, RULES-5). Yjs cannot
 * un-delete an item, and a restoring change whose origin is a rejected item would itself be refused (the relay lacks
 * it), so the rollback removes the rejected items structurally and re-creates what they overwrote or deleted as new
 * items under a fresh client id, placed next to items the relay has.
 */

/** Origin of the rollback's first transaction (deleting the refused items): never sent, stored or counted. */
export const ROLLBACK_ORIGIN: unique symbol = Symbol('weft-rollback')

/** Whether a transaction origin is the rollback's own deletion (see {@link ROLLBACK_ORIGIN}). */
export const isRollbackOrigin = (origin: unknown): boolean => origin === ROLLBACK_ORIGIN

/**
 * Content a rollback removed (RULES-5.7): the retired client id's items with clocks in `[from, to)`: the refused
 * content, and the later updates' inserts (re-created under the new client id). `null`: nothing was removed.
 */
export type RemovedRange = { readonly client: number; readonly from: number; readonly to: number } | null

/** What {@link rollbackUpdates} did. */
export interface RollbackResult {
  /** The client id that wrote the refused updates, retired (RULES-5.2). */
  readonly retiredClientId: number
  /** The lowest clock of the retired client that was removed (`null`: the refused updates inserted nothing). */
  readonly fromClock: number | null
  /**
   * The end (exclusive) of the retired client's removed clocks: every item of it in `[fromClock, toClock)` is gone from
   * the document, the refused content and the later updates' inserts (these re-created under the new id).
   */
  readonly toClock: number | null
  /**
   * Deletions of items the relay has, made by the refused updates (restored as copies) and by the later ones (still
   * valid): a V1 update holding only that delete set, or `null`. It must travel with the restoring transaction's
   * update (RULES-5.4), never alone: the relay would see the record's content disappear.
   */
  readonly deletions: Uint8Array | null
  /** Content that could not be restored (already garbage-collected), as item ids `client:clock`. */
  readonly lost: readonly string[]
  /**
   * RULES-5.16: the restoring transactions as steps of the new client id (pass them as {@link RollbackInput.steps}
   * if the restoring update is refused in turn): each re-created value in the step it was written in, so that a
   * refusal of the restore steps back one of the writer's steps again.
   */
  readonly steps: readonly LocalStep[]
  /**
   * RULES-5.16: the refused record went back to the writer's previous step that changed it (changes of earlier steps
   * in the refused update were kept and are re-sent), rather than to what the relay holds.
   */
  readonly stepped: boolean
}

/** Inputs of {@link rollbackUpdates}. */
export interface RollbackInput {
  readonly doc: Y.Doc
  /** The refused update (V1), as this side sent it. */
  readonly rejected: Uint8Array
  /** The updates this side sent on the same path after it, in order (refused behind the fence, RULES-5.1). */
  readonly later: readonly Uint8Array[]
  /** Origin of the restoring transaction (a local change: sent, stored and counted). */
  readonly restoreOrigin: unknown
  /**
   * Re-create what the refused changes overwrote or deleted (default true). `false` when the relay refused a restore
   * of the same record twice in a row (it refuses the old values, RULES-5.13): the refused changes are removed and
   * nothing of what they overwrote or deleted comes back (their deletions are not re-sent), so that a rollback never
   * loops; the document may then differ from the relay's on those values. The other changes (other records', the
   * later updates') are re-created either way.
   */
  readonly restore?: boolean
  /**
   * What the relay is known to hold (RULES-5.3): nothing of it is ever removed or restored. `deleteSets`: deletions
   * the relay holds (its step 2 and the updates received from it); an item deleted there is never re-created. `clock`:
   * the retired client's items below it were accepted and are never removed. `deletionsKnown: false` when the refused
   * update is a sync step 2 (its delete set is the whole document's) and the relay's delete set is unknown: then none
   * of the refused update's deletions is restored.
   */
  readonly held?: {
    readonly deleteSets: readonly DeleteSet[]
    readonly clock: number
    readonly deletionsKnown: boolean
  }
  /**
   * RULES-5.10, 5.13: only the refused update's changes of this record (the rejection's path, up to its first two
   * keys) are refused; its other changes are re-created and its other deletions re-sent, as a later update's are.
   * Any refused update (live, a sync step 2, a restore); `refusedScope` decides it. Absent: the whole update is
   * refused.
   */
  readonly refusedRecord?: readonly string[]
  /**
   * RULES-5.11: other client ids this side wrote with (earlier sessions, from the local store): their items in the
   * refused update (which the relay lacks) are removed from their first clock there on and the valid ones re-created,
   * as the current id's are. A refused change that an earlier session stored but never rolled back (it crashed in
   * between) then leaves the document instead of riding in every later step 2.
   */
  readonly earlier?: readonly number[]
  /**
   * RULES-5.16: the local steps (transactions) of the document's client id, in order (`LocalSteps`). With a refused
   * record, only that record's changes of the last step that changed it in the refused update are refused; those of
   * its earlier steps are kept and re-sent (the record goes back to what the writer showed before that step), and
   * values that later steps overwrote are re-created step by step. Absent: the refused update is one step.
   */
  readonly steps?: readonly LocalStep[]
}

/** Yjs's delete set (not exported by name). */
export type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/** `ds` without the ranges of `minus` (a new delete set). */
const subtract = (ds: DeleteSet, minus: DeleteSet): DeleteSet => {
  const out = Y.createDeleteSet()
  for (const [client, ranges] of ds.clients) {
    const cut = [...(minus.clients.get(client) ?? [])].sort((a, b) => a.clock - b.clock)
    const kept: Array<{ clock: number; len: number }> = []
    for (const r of ranges) {
      let from = r.clock
      const to = r.clock + r.len
      for (const m of cut) {
        if (m.clock + m.len <= from) continue
        if (m.clock >= to) break
        if (m.clock > from) kept.push({ clock: from, len: m.clock - from })
        from = Math.max(from, m.clock + m.len)
      }
      if (from < to) kept.push({ clock: from, len: to - from })
    }
    // Yjs's DeleteItem is a plain { clock, len } record.
    if (kept.length > 0) out.clients.set(client, kept as (typeof ranges)[number][])
  }
  return out
}

interface Range {
  readonly clock: number
  readonly len: number
}

const inRanges = (ranges: readonly Range[], clock: number): boolean =>
  ranges.some((r) => clock >= r.clock && clock < r.clock + r.len)

/** The clock ranges of `client`'s structs in an update. */
const rangesOf = (decoded: { structs: Array<Y.Item | Y.GC | Y.Skip> }, client: number): Range[] =>
  decoded.structs
    .filter((s) => s.id.client === client && !(s instanceof Y.Skip))
    .map((s) => ({ clock: s.id.clock, len: s.length }))

/** Splits `[0, item.length)` into runs of equal `classify(clock)`. */
const runsOf = <K>(
  item: Y.Item,
  classify: (clock: number) => K,
): Array<{ from: number; to: number; kind: K }> => {
  const out: Array<{ from: number; to: number; kind: K }> = []
  for (let i = 0; i < item.length; i++) {
    const kind = classify(item.id.clock + i)
    const last = out[out.length - 1]
    if (last && last.kind === kind) last.to = i + 1
    else out.push({ from: i, to: i + 1, kind })
  }
  return out
}

/** What {@link keepLocalDeletions} returns. */
export interface KeptDeletions {
  /**
   * Lets Yjs garbage-collect what was kept with a mark up to `upTo` (its updates are acknowledged: no rollback can
   * need it): one transaction with {@link ROLLBACK_ORIGIN} (never sent, changes nothing visible) whose delete set holds
   * those ranges, so that Yjs's cleanup replaces their content. No-op on a document with `gc: false`.
   */
  release(upTo: number): void
  /**
   * What was kept with a mark from `from` on is kept under `to` instead: a rollback re-sends those deletions in its
   * restoring update (change count `to`), which the relay may refuse in turn.
   */
  remark(from: number, to: number): void
  /** Stops keeping (the document's previous `gcFilter` is back); what is kept stays until Yjs's next cleanup of it. */
  stop(): void
}

/**
 * Keeps from Yjs's garbage collection (with `gc` on, Yjs replaces a deleted item's content at the end of the
 * transaction) what a rollback may have to restore (RULES-5.8): the content of items deleted by local transactions,
 * and map values of other clients overwritten on arrival by one of this client's values. Each is kept under
 * `mark()` (local transactions: `mark() + 1`, the change count their update will get) until
 * {@link KeptDeletions.release} covers it, so that deleted content neither grows memory nor reaches full encodings
 * (compaction, a step 2 to a new peer) once acknowledged.
 */
export const keepLocalDeletions = (
  doc: Y.Doc,
  isLocal: (origin: unknown) => boolean,
  mark: () => number = () => 0,
): KeptDeletions => {
  const previous = doc.gcFilter
  let keep = false
  let releasing = false
  let kept: Array<{ mark: number; client: number; clock: number; len: number }> = []
  // `afterTransaction` runs right before the transaction's garbage collection.
  const onAfter = (tr: Y.Transaction) => {
    keep = !releasing && isLocal(tr.origin)
    if (!keep || !doc.gc) return
    const m = mark() + 1
    for (const [client, items] of tr.deleteSet.clients)
      for (const d of items) kept.push({ mark: m, client, clock: d.clock, len: d.len })
  }
  doc.on('afterTransaction', onAfter)
  // A map value that arrived behind one of this client's own (deleted at once, as overwritten): if this client's
  // value is refused, that one is the key's value on the relay.
  const behind = (item: Y.Item) => item.parentSub !== null && item.right?.id.client === doc.clientID
  doc.gcFilter = (item) => {
    if (releasing) return previous(item)
    if (keep) return false
    if (behind(item)) {
      kept.push({ mark: mark(), client: item.id.client, clock: item.id.clock, len: item.length })
      return false
    }
    return previous(item)
  }
  return {
    release: (upTo) => {
      const out = kept.filter((k) => k.mark <= upTo)
      if (out.length === 0) return
      kept = kept.filter((k) => k.mark > upTo)
      if (!doc.gc) return
      releasing = true
      try {
        doc.transact((tr) => {
          for (const k of out) {
            // A rollback may have removed the end of a range (RULES-5.4): only what the store still holds.
            const len = Math.min(k.len, Y.getState(doc.store, k.client) - k.clock)
            if (len <= 0) continue
            let list = tr.deleteSet.clients.get(k.client)
            if (!list) tr.deleteSet.clients.set(k.client, (list = []))
            // Yjs's DeleteItem is a plain { clock, len } record; the cleanup sorts and merges them.
            list.push({ clock: k.clock, len } as (typeof list)[number])
          }
        }, ROLLBACK_ORIGIN)
      } finally {
        releasing = false
      }
    },
    remark: (from, to) => {
      for (const k of kept) if (k.mark >= from) k.mark = to
    },
    stop: () => {
      doc.off('afterTransaction', onAfter)
      if (doc.gcFilter !== previous) doc.gcFilter = previous
      kept = []
    },
  }
}

/**
 * How a rollback copies content: items deleted in `ds` count as visible (they are being restored), the refused units
 * (`refused(item, clock)`) as absent (a map key shows the value they overwrote); what could not be copied goes to
 * `lost`.
 */
interface Copying {
  readonly ds: DeleteSet | null
  readonly refused: (item: Y.Item, clock: number) => boolean
  /** Whether a unit of an item the rollback removes shows (RULES-5.16), `null` for any other item. */
  readonly own: (item: Y.Item, clock: number) => boolean | null
  readonly lost: string[]
  /**
   * RULES-5.16: a map key's values to re-create, oldest first, each with the writer's step that wrote it (the newest
   * shown value of `chosen`'s key and the values it overwrote in earlier steps).
   */
  readonly history: (chosen: Y.Item, offset: number) => readonly KeyValue[]
  /** The step in which the copy is made: values of later steps are set on it in theirs ({@link Copying.defer}). */
  readonly cap: number
  /** Sets the value `value` names as `key` of `target` (once integrated) in the restoring transaction of its step. */
  readonly defer: (target: Y.Map<unknown>, key: string, value: KeyValue) => void
}

/** A value a map key held: unit `offset` of `item` (a run of a key's values is one item), and the step that wrote it. */
interface KeyValue {
  readonly step: number
  readonly item: Y.Item
  readonly offset: number
}

/** A type's content as {@link Copying} sees it, as a new type (not integrated) of the same kind. */
const copyType = (type: Y.AbstractType<unknown>, cx: Copying): unknown => {
  const shown = (item: Y.Item, offset: number): boolean => {
    const clock = item.id.clock + offset
    const own = cx.own(item, clock)
    if (own !== null) return own
    if (cx.refused(item, clock)) return false
    return !item.deleted || (cx.ds !== null && Y.isDeleted(cx.ds, Y.createID(item.id.client, clock)))
  }
  /** The shown values of a list-like type's items (an array's, an XML node's children). */
  const children = (): unknown[] => {
    const out: unknown[] = []
    for (let it = type._start; it !== null; it = it.right) {
      if (!it.countable) continue
      const item = it
      for (const run of runsOf(item, (clock) => shown(item, clock - item.id.clock))) {
        if (!run.kind) continue
        const values = copyContent(item, run.from, run.to, cx)
        if (values !== null && typeof values !== 'string') out.push(...values)
      }
    }
    return out
  }
  /** The shown values of its keys (a map's entries, an XML element's or text's attributes). */
  const entries = (): Array<[string, unknown]> => {
    const out: Array<[string, unknown]> = []
    for (const [key, last] of type._map) {
      let item: Y.Item | null = last
      while (item !== null && cx.refused(item, item.id.clock + item.length - 1)) item = item.left
      if (item === null || !shown(item, item.length - 1)) continue
      const values = copyContent(item, item.length - 1, item.length, cx)
      if (values !== null && typeof values !== 'string') out.push([key, values[0]])
    }
    return out
  }
  if (type instanceof Y.XmlHook) return type.clone()
  if (type instanceof Y.Map) {
    // RULES-5.16: as it was in the copy's step; what later steps set is set again in theirs.
    const out = new Y.Map<unknown>()
    for (const [key, last] of type._map) {
      // The key's newest unit that is not refused, if it shows.
      let unit: { item: Y.Item; offset: number } | null = null
      find: for (let item: Y.Item | null = last; item !== null; item = item.left)
        for (let o = item.length - 1; o >= 0; o--) {
          if (cx.refused(item, item.id.clock + o)) continue
          unit = shown(item, o) ? { item, offset: o } : null
          break find
        }
      if (unit === null) continue
      for (const h of cx.history(unit.item, unit.offset)) {
        if (h.step > cx.cap) cx.defer(out, key, h)
        else {
          const values = copyContent(h.item, h.offset, h.offset + 1, cx)
          if (values !== null && typeof values !== 'string') out.set(key, values[0])
        }
      }
    }
    return out
  }
  if (type instanceof Y.Text) {
    // RULES-5.9: with its formatting (format items count as their content does) and its embeds.
    const out = type instanceof Y.XmlText ? new Y.XmlText() : new Y.Text()
    let index = 0
    walkText(type, shown, (item, from, to, attrs) => {
      const values = copyContent(item, from, to, cx)
      if (typeof values === 'string') out.insert(index, values, { ...attrs })
      else if (values !== null)
        for (const [i, v] of values.entries()) out.insertEmbed(index + i, v as object, { ...attrs })
      index += to - from
    })
    for (const [key, value] of entries()) out.setAttribute(key, value)
    return out
  }
  if (type instanceof Y.Array) {
    const out = new Y.Array<unknown>()
    out.push(children())
    return out
  }
  if (type instanceof Y.XmlElement) {
    const out = new Y.XmlElement(type.nodeName)
    for (const [key, value] of entries()) out.setAttribute(key, value as string)
    out.insert(0, children() as Array<Y.XmlElement | Y.XmlText>)
    return out
  }
  if (type instanceof Y.XmlFragment) {
    const out = new Y.XmlFragment()
    out.insert(0, children() as Array<Y.XmlElement | Y.XmlText>)
    return out
  }
  return (type as unknown as { clone(): unknown }).clone()
}

/** The content of `item` between `from` and `to`: a string (text), values (a list, a map value), or null if lost. */
const copyContent = (item: Y.Item, from: number, to: number, cx: Copying): string | unknown[] | null => {
  const content = item.content
  if (content instanceof Y.ContentString) return content.str.slice(from, to)
  if (content instanceof Y.ContentAny || content instanceof Y.ContentJSON)
    return content.getContent().slice(from, to)
  if (content instanceof Y.ContentBinary || content instanceof Y.ContentEmbed) return content.getContent()
  if (content instanceof Y.ContentType) return [copyType(content.type, cx)]
  cx.lost.push(`${item.id.client}:${item.id.clock + from}`)
  return null
}

/**
 * The delete set of a refused update split into the deletions of items in the refused record and the others
 * (RULES-5.10, 5.13). The others are clipped to what the relay holds (below the update's first clock of each client it
 * carries structs of): a deletion of clocks the relay lacks would make it refuse the restoring update.
 */
const splitDeletions = (
  doc: Y.Doc,
  update: { structs: Array<Y.Item | Y.GC | Y.Skip>; ds: DeleteSet },
  inRefused: (item: Y.Item) => boolean,
): [DeleteSet, DeleteSet] => {
  const from = new Map<number, number>()
  for (const s of update.structs)
    if (!(s instanceof Y.Skip)) from.set(s.id.client, Math.min(from.get(s.id.client) ?? Infinity, s.id.clock))
  const refusedDs = Y.createDeleteSet()
  const validDs = Y.createDeleteSet()
  for (const [client, ranges] of update.ds.clients) {
    const known = Math.min(from.get(client) ?? Infinity, Y.getState(doc.store, client))
    for (const r of ranges)
      someStruct(doc, client, r.clock, r.len, (s, a, b) => {
        if (s instanceof Y.Item && inRefused(s)) pushRange(refusedDs, client, a, b - a)
        else if (a < known) pushRange(validDs, client, a, Math.min(b, known) - a)
      })
  }
  return [refusedDs, validDs]
}

/** The step of a writer's own changes that is no step of it (restored values, other clients'): before every step. */
const BASE = -Infinity

const pushRange = (ds: DeleteSet, client: number, clock: number, len: number) => {
  let list = ds.clients.get(client)
  if (!list) ds.clients.set(client, (list = []))
  // Yjs's DeleteItem is a plain { clock, len } record.
  list.push({ clock, len } as (typeof list)[number])
}

/** Whether two delete sets share a deleted id. */
const overlaps = (a: DeleteSet, b: DeleteSet): boolean => {
  for (const [client, ranges] of a.clients) {
    const other = b.clients.get(client)
    if (other?.some((o) => ranges.some((r) => r.clock < o.clock + o.len && o.clock < r.clock + r.len)))
      return true
  }
  return false
}

/**
 * RULES-5.16: the last of the writer's `steps` that changed the refused record in the refused update (inserted items
 * of `X` in `ranges` that lie in it, or deleted items of it: `recordDs`), and whether an earlier step changed it too
 * there (then only the last step's changes are refused). `null` without steps.
 */
const lastStep = (
  doc: Y.Doc,
  X: number,
  ranges: readonly Range[],
  recordDs: DeleteSet,
  steps: readonly LocalStep[],
  inRefused: (item: Y.Item) => boolean,
): { step: number; stepped: boolean } | null => {
  if (steps.length === 0) return null
  let last = -1
  let first = Infinity
  for (const r of ranges)
    someStruct(doc, X, r.clock, r.len, (s, a, b) => {
      if (!(s instanceof Y.Item) || !inRefused(s)) return
      last = Math.max(last, stepAt(steps, b - 1))
      first = Math.min(first, stepAt(steps, a))
    })
  for (const [i, st] of steps.entries())
    if (overlaps(st.ds, recordDs)) {
      last = Math.max(last, i)
      first = Math.min(first, i)
    }
  return { step: last, stepped: first < last }
}

type ListOp = { readonly index: number; readonly values: string | unknown[] }
type MapOp = { readonly key: string; readonly values: unknown[] }

/**
 * Rolls back `rejected` and every later update of the same path (RULES-5.2..5.5): retires the document's client id,
 * deletes every item of it from the refused updates' first clock on (one transaction with {@link ROLLBACK_ORIGIN}:
 * observers see ordinary deletions), removes those items from the document's structure (its state vector and delete
 * set no longer mention them), then, in one transaction with `restoreOrigin` under the new client id, re-creates what
 * the refused update overwrote or deleted and what the later updates inserted. The later updates' deletions stay.
 * Needs the content of items deleted by the refused and later updates ({@link keepLocalDeletions}, or `gc: false`).
 */
export const rollbackUpdates = (input: RollbackInput): RollbackResult => {
  const { doc } = input
  const X = doc.clientID
  const rejected = Y.decodeUpdate(input.rejected)
  const later = input.later.map((u) => Y.decodeUpdate(u))
  const held = input.held
  // RULES-5.3: X's items the relay acknowledged stay, whatever a step 2 re-sent.
  const heldClock = held?.clock ?? 0
  const rejectedRanges = rangesOf(rejected, X)
  let c = Infinity
  for (const d of [rejected, ...later])
    for (const r of rangesOf(d, X))
      if (r.clock + r.len > heldClock) c = Math.min(c, Math.max(r.clock, heldClock))
  // Only deletions the relay does not hold may be restored (a step 2's delete set is the whole document's).
  const heldDs = Y.mergeDeleteSets([...(held?.deleteSets ?? [])])
  const record = input.refusedRecord?.slice(0, 2)
  const inRefused = (item: Y.Item) => record === undefined || inRecord(item, record)
  // RULES-5.10: the refused update's deletions outside the refused record are kept and re-sent, as a later update's.
  const [recordDs, otherDs] =
    record === undefined ? [rejected.ds, Y.createDeleteSet()] : splitDeletions(doc, rejected, inRefused)
  // RULES-5.16: the refused record's changes of the last step that changed it are refused, its earlier steps' kept.
  const steps = record === undefined ? [] : (input.steps ?? [])
  const cutAt =
    record === undefined
      ? null
      : lastStep(doc, X, rejectedRanges, subtract(recordDs, heldDs), steps, inRefused)
  const k = cutAt?.step ?? -1
  const early = k > 0 ? Y.mergeDeleteSets(steps.slice(0, k).map((st) => st.ds)) : Y.createDeleteSet()
  const refusedDs = k > 0 ? subtract(recordDs, early) : recordDs
  const validDs = k > 0 ? Y.mergeDeleteSets([otherDs, subtract(recordDs, refusedDs)]) : otherDs
  // RULES-5.4, 5.13: without `restore`, what the refused changes overwrote or deleted is not brought back.
  const restoring = input.restore !== false
  const dsS = !restoring || held?.deletionsKnown === false ? Y.createDeleteSet() : subtract(refusedDs, heldDs)
  const dsL = subtract(Y.mergeDeleteSets([validDs, ...later.map((d) => d.ds)]), heldDs)
  // Per client id: the first clock removed (X's, and RULES-5.11 each earlier own id's first clock in the refused
  // update: the relay lacks all of them), and its refused ranges.
  const from = new Map<number, number>()
  const refusedRanges = new Map<number, Range[]>([[X, rejectedRanges]])
  if (c !== Infinity) from.set(X, c)
  for (const E of input.earlier ?? []) {
    if (E === X) continue
    const ranges = rangesOf(rejected, E)
    if (ranges.length === 0) continue
    from.set(E, Math.min(...ranges.map((r) => r.clock)))
    refusedRanges.set(E, ranges)
  }
  const removed = (item: Y.Item) => item.id.clock >= (from.get(item.id.client) ?? Infinity)
  const lost: string[] = []
  const store = doc.store

  // Which types change: parents of the removed items and of the items the updates deleted.
  const parents = new Set<Y.AbstractType<unknown>>()
  const endX = Y.getState(store, X)
  for (const [client, first] of from) {
    const structs = store.clients.get(client) ?? []
    if (first >= Y.getState(store, client)) continue
    for (let i = Y.findIndexSS(structs, first); i < structs.length; i++) {
      const s = structs[i]
      if (s instanceof Y.Item && s.parent instanceof Y.AbstractType) parents.add(s.parent)
    }
  }
  const deletedRuns: Array<{ client: number; clock: number; len: number }> = []
  for (const ds of [dsS, dsL]) {
    for (const [client, items] of ds.clients) {
      if (!store.clients.has(client)) continue
      for (const whole of items) {
        // The removed items (X's, an earlier own id's) are removed, not deleted: only accepted items count.
        const f = from.get(client)
        const d = f !== undefined ? { clock: whole.clock, len: Math.min(whole.len, f - whole.clock) } : whole
        if (d.len <= 0) continue
        someStruct(doc, client, d.clock, d.len, (s) => {
          if (s instanceof Y.Item && s.parent instanceof Y.AbstractType) parents.add(s.parent)
        })
        deletedRuns.push({ client, clock: d.clock, len: d.len })
      }
    }
  }
  const inS = (client: number, clock: number) => Y.isDeleted(dsS, Y.createID(client, clock))
  const inL = (client: number, clock: number) => Y.isDeleted(dsL, Y.createID(client, clock))
  /** The step of this writer (RULES-5.16) that wrote unit `offset` of `item`, or {@link BASE} (none of its steps). */
  const stepOf = (item: Y.Item, offset: number): number =>
    steps.length > 0 && item.id.client === X && removed(item) ? stepAt(steps, item.id.clock + offset) : BASE

  // The plan, read before anything changes (the refused items' content is garbage-collected by the deletion).
  const listOps = new Map<Y.AbstractType<unknown>, ListOp[]>()
  // Copies never take the refused content (a record the refused update changed, then deleted, comes back as it was).
  const refused = (item: Y.Item, clock: number) =>
    inRanges(refusedRanges.get(item.id.client) ?? [], clock) &&
    inRefused(item) &&
    (item.id.client !== X || stepAt(steps, clock) >= k)
  /**
   * Whether a unit of a removed item is in the document after the rollback: not refused, and not deleted but by a
   * refused change (RULES-5.16: a value a refused step overwrote comes back).
   */
  const shownRemoved = (item: Y.Item, clock: number): boolean =>
    !refused(item, clock) &&
    (!item.deleted ||
      (Y.isDeleted(refusedDs, Y.createID(item.id.client, clock)) && !inL(item.id.client, clock)))
  const own = (item: Y.Item, clock: number): boolean | null =>
    removed(item) ? shownRemoved(item, clock) : null
  /** RULES-5.16: the values of `chosen`'s key to re-create, oldest first, with their steps (see {@link Copying}). */
  const history = (chosen: Y.Item, offset: number): KeyValue[] => {
    let at = stepOf(chosen, offset)
    const out: KeyValue[] = [{ step: at, item: chosen, offset }]
    if (at === BASE) return out
    let o = offset - 1
    for (let e: Y.Item | null = chosen; e !== null && e.id.client === X && removed(e);) {
      for (; o >= 0; o--) {
        const clock = e.id.clock + o
        if (refused(e, clock)) continue
        const step = stepAt(steps, clock)
        // The value the key had at the end of an earlier step (the first met of each step is its last).
        if (step >= at) continue
        out.unshift({ step, item: e, offset: o })
        at = step
      }
      e = e.left
      o = (e?.length ?? 0) - 1
    }
    return out
  }
  /** The restoring transactions after the first (BASE): per step, what they set (RULES-5.16). */
  const groups = new Map<number, Array<() => void>>()
  const inGroup = (step: number, op: () => void) => {
    let ops = groups.get(step)
    if (!ops) groups.set(step, (ops = []))
    ops.push(op)
  }
  const copying = (ds: DeleteSet | null, cap: number): Copying => ({
    ds,
    refused,
    own,
    lost,
    history,
    cap,
    defer: (target, key, { step, item, offset }) => {
      // Copied now: the removed items' content is gone once the rollback deleted them.
      const values = copyContent(item, offset, offset + 1, copying(null, step))
      if (values === null || typeof values === 'string') return
      inGroup(step, () => {
        if (!target._item?.deleted) target.set(key, values[0])
      })
    },
  })
  const live: Copying = copying(null, BASE)
  const restored: Copying = copying(dsS, BASE)
  const textTargets = new Map<Y.Text, TextRun[]>()
  /** Whether the unit at `offset` of `item` is in the document after the rollback (as the plan below counts it). */
  const restores = (item: Y.Item, offset: number): boolean => {
    const clock = item.id.clock + offset
    if (removed(item)) return shownRemoved(item, clock)
    return !item.deleted || inS(item.id.client, clock)
  }
  const mapOps = new Map<Y.AbstractType<unknown>, MapOp[]>()
  for (const parent of parents) {
    const own = parent._item
    if (own !== null && (own.deleted || removed(own))) continue // the parent goes, or is copied whole
    const ops: ListOp[] = []
    let index = 0
    for (let it = parent._start; it !== null; it = it.right) {
      if (!it.countable) continue
      const item = it
      if (removed(item)) {
        for (const run of runsOf(item, (clock) => shownRemoved(item, clock))) {
          if (!run.kind) continue
          const values = copyContent(item, run.from, run.to, live)
          if (values !== null) ops.push({ index, values })
          index += run.to - run.from
        }
      } else if (!item.deleted) index += item.length
      else {
        for (const run of runsOf(item, (clock) => inS(item.id.client, clock))) {
          if (!run.kind) continue
          const values = copyContent(item, run.from, run.to, restored)
          if (values !== null) ops.push({ index, values })
          index += run.to - run.from
        }
      }
    }
    if (ops.length > 0) listOps.set(parent, ops)
    // RULES-5.9: how the text reads afterwards, formatting included (the same units as the ops above count).
    const text = parent instanceof Y.Text ? parent : null
    if (text) textTargets.set(text, textRuns(text, restores))
    const keys: MapOp[] = []
    for (const [key, last] of parent._map) {
      // The key's value from the right: the newest later value, else what the refused update overwrote.
      let values: unknown[] | null = null
      for (let it: Y.Item | null = last; it !== null; it = it.left) {
        const lastClock = it.id.clock + it.length - 1
        if (removed(it)) {
          // Its newest unit that shows (a run of the key's values is one item).
          let off = it.length - 1
          while (off >= 0 && !shownRemoved(it, it.id.clock + off)) off--
          if (off < 0) continue
          // RULES-5.16: a map's key with the values it overwrote in the writer's earlier steps, each set again in its
          // step (an attribute of a text or an XML element: its newest value, in the first restoring transaction).
          const written = parent instanceof Y.Map ? history(it, off) : []
          if (written.length > 0 && written.every((h) => h.step !== BASE))
            for (const h of written) live.defer(parent as Y.Map<unknown>, key, h)
          else values = copyContent(it, off, off + 1, live) as unknown[] | null
        } else if (it.deleted && !inL(it.id.client, lastClock)) {
          // Overwritten by the refused update, or deleted when it arrived because a refused item stood to its right
          // (a concurrent set from another client): the relay holds it as the key's value. (An explicit delete by
          // another client of that same value, concurrent with the refused set, is not told apart: it comes back.)
          const overwritten = inS(it.id.client, lastClock) || (it.right !== null && removed(it.right))
          if (overwritten && restoring)
            values = copyContent(it, it.length - 1, it.length, restored) as unknown[] | null
        }
        break
      }
      if (values !== null) keys.push({ key, values })
    }
    if (keys.length > 0) mapOps.set(parent, keys)
  }

  // RULES-5.2: the refused updates' client id is retired.
  // Above X: where a replay of the stored history still holds the refused items (a reload before the compaction), a
  // re-created item sorts to the right of a refused one with the same origin (Yjs orders such siblings by client id),
  // so it stays the value of its map key there too. The session draws a uniform id again once everything is
  // acknowledged, so ids do not climb rollback after rollback (RULES-5.6).
  // Above the earlier ids whose items are removed too (RULES-5.11), for the same reason.
  doc.clientID = drawClientId(doc, X, Math.max(X, ...from.keys()))

  const cut = [...from].filter(([client, first]) => first < Y.getState(store, client))
  if (cut.length > 0) {
    // T1: ordinary deletions of the refused items, so observers (editor bindings) see them go.
    doc.transact((tr) => {
      for (const [client, first] of cut) {
        const structs = store.clients.get(client) ?? []
        const straddling = structs[Y.findIndexSS(structs, first)]
        if (straddling instanceof Y.Item && straddling.id.clock < first && !straddling.deleted)
          Y.getItemCleanStart(tr, Y.createID(client, first))
        for (const s of [...structs]) if (s instanceof Y.Item && removed(s) && !s.deleted) s.delete(tr)
      }
    }, ROLLBACK_ORIGIN)
    for (const [client, first] of cut) removeFrom(doc, client, first)
  }

  // RULES-5.16: the valid deletions the restoring update re-sends, each with the step that made it; the others (those
  // of restored content: the originals of copies) with the first restoring transaction.
  const resent = Y.createDeleteSet()
  for (const r of deletedRuns) pushRange(resent, r.client, r.clock, r.len)
  const valid = subtract(resent, subtract(resent, dsL))
  const resentOf = new Map<number, DeleteSet>()
  let unattributed = resent
  for (const [i, st] of steps.entries()) {
    const part = subtract(valid, subtract(valid, st.ds))
    if (part.clients.size === 0) continue
    resentOf.set(i, part)
    unattributed = subtract(unattributed, st.ds)
    if (!groups.has(i)) groups.set(i, [])
  }
  const restoreSteps: LocalStep[] = []
  /** One restoring transaction, recorded as a step of the new client id. */
  const restoreStep = (extra: DeleteSet | undefined, body: () => void) => {
    const clock = Y.getState(store, doc.clientID)
    let ds: DeleteSet | null = null
    doc.transact((tr) => {
      body()
      ds = tr.deleteSet
    }, input.restoreOrigin)
    const own = ds === null ? Y.createDeleteSet() : copyDeleteSet(ds)
    restoreSteps.push({ clock, ds: extra ? Y.mergeDeleteSets([own, extra]) : own })
  }

  // T2: restore and re-apply under the new client id.
  restoreStep(unattributed, () => {
    for (const [parent, ops] of listOps) {
      for (const op of ops) {
        if (parent instanceof Y.Text) {
          // With the attributes it had (RULES-5.9), not those of the text it lands next to.
          const attrs = attributesAt(textTargets.get(parent) ?? [], op.index)
          if (typeof op.values === 'string') parent.insert(op.index, op.values, { ...attrs })
          else op.values.forEach((v, i) => parent.insertEmbed(op.index + i, v as object, { ...attrs }))
        } else if (parent instanceof Y.Array || parent instanceof Y.XmlFragment) {
          ;(parent as Y.Array<unknown>).insert(op.index, op.values as unknown[])
        }
      }
    }
    // The formatting of the text that stays: what the refused update's format items changed goes back, what the
    // later updates' did (removed with the retired id) is done again (RULES-5.9).
    for (const [text, target] of textTargets) reformat(text, target)
    for (const [parent, ops] of mapOps) {
      for (const op of ops) {
        if (parent instanceof Y.XmlElement) parent.setAttribute(op.key, op.values[0] as string)
        else if (parent instanceof Y.Map) parent.set(op.key, op.values[0])
        else if (parent instanceof Y.Text) parent.setAttribute(op.key, op.values[0])
      }
    }
  })
  // RULES-5.16: then the writer's steps again, oldest first, each in its own transaction.
  for (const [step, ops] of [...groups].sort(([a], [b]) => a - b))
    restoreStep(resentOf.get(step), () => {
      for (const op of ops) op()
    })

  return {
    retiredClientId: X,
    fromClock: c === Infinity ? null : c,
    toClock: c < endX ? endX : null,
    deletions: deletedRuns.length > 0 ? encodeDeletions(deletedRuns) : null,
    lost,
    steps: restoreSteps,
    stepped: cutAt?.stepped ?? false,
  }
}

/**
 * Removes every struct of `client` from `clock` on from the document's structure, outside any transaction: they are
 * all deleted already, so nothing visible changes. Each item leaves its parent's list (and its map key, which falls
 * back to the nearest item on its left that stays), a struct straddling `clock` is cut, and the client's struct list
 * ends before `clock`.
 */
const removeFrom = (doc: Y.Doc, client: number, clock: number): void => {
  const structs = doc.store.clients.get(client)
  if (!structs || Y.getState(doc.store, client) <= clock) return
  let index = Y.findIndexSS(structs, clock)
  const straddling = structs[index]
  if (straddling && straddling.id.clock < clock) {
    const keep = clock - straddling.id.clock
    if (straddling instanceof Y.Item) straddling.content.splice(keep)
    ;(straddling as { length: number }).length = keep
    index++
  }
  const gone = structs.slice(index)
  const isGone = (item: Y.Item) => item.id.client === client && item.id.clock >= clock
  for (const s of gone) {
    if (!(s instanceof Y.Item)) continue
    const parent = s.parent
    if (s.left) s.left.right = s.right
    if (s.right) s.right.left = s.left
    if (parent instanceof Y.AbstractType) {
      if (parent._start === s) parent._start = s.right
      if (s.parentSub !== null && parent._map.get(s.parentSub) === s) {
        let left = s.left
        while (left !== null && isGone(left)) left = left.left
        if (left) parent._map.set(s.parentSub, left)
        else parent._map.delete(s.parentSub)
      }
      if (parent._searchMarker) parent._searchMarker.length = 0
    }
  }
  structs.length = index
  if (index === 0) doc.store.clients.delete(client)
}

/** A V1 update holding only the delete set of `runs` (the protocol's one delete-set encoder). */
const encodeDeletions = (runs: ReadonlyArray<{ client: number; clock: number; len: number }>): Uint8Array => {
  const byClient: DeleteRanges = new Map()
  for (const r of runs) {
    let ranges = byClient.get(r.client)
    if (!ranges) byClient.set(r.client, (ranges = []))
    ranges.push([r.clock, r.clock + r.len])
  }
  // Sorted and merged per client, as a delete set is encoded.
  const ds: DeleteRanges = new Map()
  addDeletions(ds, byClient)
  return encodeDeletionsUpdate(ds)
}

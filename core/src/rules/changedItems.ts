import * as Y from 'yjs'

/**
 * Calls `visit` with every item a transaction inserted (`inserted: true`, whether it is still there or was deleted in
 * the same transaction) and every item that was there before it and that it deleted (`inserted: false`): each change
 * the transaction made, wherever it sits (RULES-2.7). Must run before the transaction's cleanup (in an
 * `afterTransaction` handler, as {@link applyObserved} calls it): the cleanup collects deleted content. Structs that
 * are no items (GC, skips) are left out: they hold nothing.
 */
export const forEachChangedItem = (
  tr: Y.Transaction,
  visit: (item: Y.Item, inserted: boolean) => void,
): void => {
  const store = tr.doc.store
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0
    if (after <= before) continue
    const structs = store.clients.get(client)
    if (!structs) continue
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i] as Y.Item | Y.GC
      if (s.id.clock >= after) break
      if (s instanceof Y.Item) visit(s, true)
    }
  }
  Y.iterateDeletedStructs(tr, tr.deleteSet, (s) => {
    if (!(s instanceof Y.Item)) return
    // An item this transaction inserted was visited above.
    if (s.id.clock >= (tr.beforeState.get(s.id.client) ?? 0)) return
    visit(s, false)
  })
}

/** Where an item sits: its root type's name and the items from the root down to it (the item last). */
export interface ItemPlace {
  /** The top-level name of the root type it is under (`undefined`: a type the document does not name). */
  readonly root: string | undefined
  /** The items from the one directly in the root down to the item itself. */
  readonly chain: readonly Y.Item[]
  /** Whether the item or a type it is in is deleted: nobody sees it. */
  readonly dead: boolean
}

/** The place of `item` in `doc` (`names`: the document's root types by type, see {@link rootNames}). */
export const placeOf = (item: Y.Item, names: ReadonlyMap<unknown, string>): ItemPlace => {
  const chain: Y.Item[] = [item]
  let dead = item.deleted
  let parent = item.parent as Y.AbstractType<unknown>
  while (parent._item !== null) {
    const holder = parent._item
    if (holder.deleted) dead = true
    chain.push(holder)
    parent = holder.parent as Y.AbstractType<unknown>
  }
  chain.reverse()
  return { root: names.get(parent), chain, dead }
}

/** The root types of `doc`, by type (to name the root an item is under). */
export const rootNames = (doc: Y.Doc): Map<unknown, string> => {
  const names = new Map<unknown, string>()
  for (const [name, type] of doc.share) names.set(type, name)
  return names
}

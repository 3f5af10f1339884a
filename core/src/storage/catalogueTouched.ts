import type * as Y from 'yjs'
import { CATALOGUE_COLLECTION, CATALOGUE_DELETIONS } from './workspacePurge.js'

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
 * of the two roots without a map key) name no document and are left out; so are changes inside a record or entry
 * that was already deleted (Yjs reports none: no reader sees them). Pure: reads the transactions, writes nothing.
 * The relay checks the writer's grant on each (`W/D`) before it takes a catalogue update.
 */
export const catalogueTouched = (catalogue: Y.Doc, transactions: Iterable<Y.Transaction>): Set<string> => {
  const roots = new Map<unknown, string>()
  for (const name of [CATALOGUE_COLLECTION, CATALOGUE_DELETIONS]) {
    const root = catalogue.share.get(name)
    if (root) roots.set(root, name)
  }
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
      if (below === null) {
        for (const key of keys) if (key !== null) docs.add(namedDoc(root, key))
      } else {
        const key = below._item?.parentSub
        if (key != null) docs.add(namedDoc(root, key))
      }
    }
  }
  return docs
}

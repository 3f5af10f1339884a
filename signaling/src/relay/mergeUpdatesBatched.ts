import * as Y from 'yjs'
import { countItems, type ItemCounts } from '@weft/core/epochs'
import { validateUpdate } from '@weft/core/protocol'

/** The encoding of an update that changes nothing (no structs, empty delete set). */
export const EMPTY_UPDATE: Uint8Array = new Uint8Array([0, 0])

/**
 * Merges Yjs updates (V1) into one without a Y.Doc. `Y.mergeUpdates` is superlinear in the number of inputs, so
 * large lists are merged as a tree of batches of `batchSize`.
 */
export const mergeUpdatesBatched = (updates: readonly Uint8Array[], batchSize = 64): Uint8Array => {
  if (updates.length === 0) return EMPTY_UPDATE
  let level: Uint8Array[] = [...updates]
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += batchSize) {
      const group = level.slice(i, i + batchSize)
      next.push(group.length === 1 ? (group[0] as Uint8Array) : Y.mergeUpdates(group))
    }
    level = next
  }
  return level[0] as Uint8Array
}

/** Whether a (validated) update carries nothing: no structs and an empty delete set, i.e. exactly `[0, 0]`. */
export const isEmptyUpdate = (update: Uint8Array): boolean =>
  update.byteLength === 2 && update[0] === 0 && update[1] === 0

/**
 * A document's state rebuilt through a `Y.Doc` with garbage collection, so deleted content is dropped (merged
 * updates keep it): `v1` for the relay's in-memory log, `v2` for a snapshot (STORE-3.6). With `count`, also the
 * live and deleted items of the rebuilt state (COMPACT-2.1), counted on the same `Y.Doc` (zero when nothing was
 * deleted: no epoch policy starts on such a state).
 */
export const collectGarbage = (
  state: Uint8Array,
  count = false,
): { v1: Uint8Array; v2: Uint8Array; counts: ItemCounts | null } => {
  // Nothing deleted (a fresh upload of a large document, say): a rebuild would drop nothing and costs a Y.Doc of
  // the document's size; the format conversion alone is far cheaper (and leaves far less memory behind).
  if (validateUpdate(state).deleted === 0)
    return { v1: state, v2: Y.convertUpdateFormatV1ToV2(state), counts: count ? NO_ITEMS : null }
  const doc = new Y.Doc({ gc: true })
  try {
    Y.applyUpdate(doc, state)
    const counts = count ? countItems(doc) : null
    const v2 = Y.encodeStateAsUpdateV2(doc)
    return { v1: Y.convertUpdateFormatV2ToV1(v2), v2, counts }
  } finally {
    doc.destroy()
  }
}

const NO_ITEMS: ItemCounts = Object.freeze({ liveItems: 0, deletedItems: 0 })

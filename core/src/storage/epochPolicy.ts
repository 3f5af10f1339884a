import * as Y from 'yjs'

/** When history compaction is worth it (docs/spec/compaction.md, COMPACT-2.1). */
export interface EpochPolicy {
  /** Deleted items (Yjs clock units) below which a reset is never started. Default 100,000. */
  readonly minDeletedItems: number
  /** Deleted items per live item from which a reset starts. Default 10. */
  readonly deletedPerLive: number
}

/** The default {@link EpochPolicy}. */
export const defaultEpochPolicy: EpochPolicy = { minDeletedItems: 100_000, deletedPerLive: 10 }

/** Live and deleted items of a document, in Yjs clock units (one per character, array element or map write). */
export interface ItemCounts {
  readonly liveItems: number
  readonly deletedItems: number
}

/** Counts a document's live and deleted items (one pass over its structs; no allocation per item). */
export const countItems = (doc: Y.Doc): ItemCounts => {
  let liveItems = 0
  let deletedItems = 0
  for (const structs of doc.store.clients.values()) {
    for (const struct of structs) {
      if (struct instanceof Y.GC || struct.deleted) deletedItems += struct.length
      else liveItems += struct.length
    }
  }
  return { liveItems, deletedItems }
}

/**
 * COMPACT-2.1: a document is a candidate for an epoch reset when its tombstones are both many and far more than its
 * live content: a whiteboard whose shapes were dragged thousands of times qualifies, a text edited normally does not.
 */
export const shouldStartEpoch = (counts: ItemCounts, policy: Partial<EpochPolicy> = {}): boolean => {
  const p = { ...defaultEpochPolicy, ...policy }
  return (
    counts.deletedItems >= p.minDeletedItems &&
    counts.deletedItems >= p.deletedPerLive * Math.max(counts.liveItems, 1)
  )
}

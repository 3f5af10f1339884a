import * as Y from 'yjs'
import { applyStoredDoc } from './applyStoredDoc.js'
import type { StoredDoc } from './DocStore.js'

/** What {@link inspectDoc} reports about one stored document (`weft inspect`). */
export interface DocInspection {
  /** Bytes of live (not deleted) content: UTF-8 of text, JSON of values, binary lengths. */
  readonly liveContentBytes: number
  /** Bytes of the whole state encoded as a V2 update (what a log compaction would store). */
  readonly encodedBytes: number
  /** Bytes of the whole state encoded as a V1 update (what y-indexeddb and most Yjs stores keep). */
  readonly encodedBytesV1: number
  /** Bytes as stored: snapshot + tail. */
  readonly storedBytes: number
  /** Bytes of the stored snapshot (0 if none). */
  readonly snapshotBytes: number
  /** Updates in the stored tail (not yet compacted). */
  readonly storedUpdates: number
  /** Deleted items (counted in Yjs clock units: one per character / array element / map write). */
  readonly deletedItems: number
  /** Live items, in the same units. */
  readonly liveItems: number
  /** Every client id that wrote to the document, ascending. */
  readonly clientIds: readonly number[]
  /** The document's epoch (meta `epoch`), or `null` before any history compaction. */
  readonly epoch: string | null
  readonly meta: Readonly<Record<string, string>>
}

const utf8 = new TextEncoder()
/**
 * CLI-4.7: bytes of a value as JSON, for every value Yjs stores: a BigInt counts as its digits (JSON.stringify
 * throws on one), a Uint8Array as its byte length, `undefined` as nothing (or `null` in an array, as JSON has it).
 */
const jsonBytes = (value: unknown): number => {
  let adjust = 0
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') {
      adjust -= 2 // written as a string: its quotes are not content
      return v.toString()
    }
    if (v instanceof Uint8Array) {
      adjust += v.byteLength - 4 // written as null
      return null
    }
    return v
  })
  return utf8.encode(json ?? '').byteLength + adjust
}

const contentBytes = (content: Y.Item['content']): number => {
  if (content instanceof Y.ContentString) return utf8.encode(content.str).byteLength
  if (content instanceof Y.ContentBinary) return content.content.byteLength
  if (
    content instanceof Y.ContentAny ||
    content instanceof Y.ContentJSON ||
    content instanceof Y.ContentEmbed
  ) {
    return content.getContent().reduce((n: number, value: unknown) => n + jsonBytes(value), 0)
  }
  if (content instanceof Y.ContentFormat) return jsonBytes({ [content.key]: content.value })
  return 0 // types and subdocuments: their children are counted themselves
}

/**
 * Inspects a stored document (from {@link DocStore.load}): sizes, tombstones, writers, epoch. Decodes the
 * document in memory; throws a `store-corrupted` WeftError if it cannot be decoded. Writes nothing.
 */
export const inspectDoc = (stored: StoredDoc): DocInspection => {
  const doc = new Y.Doc()
  try {
    applyStoredDoc(doc, stored, null)
    let liveContentBytes = 0
    let deletedItems = 0
    let liveItems = 0
    for (const structs of doc.store.clients.values()) {
      for (const struct of structs) {
        if (struct instanceof Y.GC || (struct instanceof Y.Item && struct.deleted)) {
          deletedItems += struct.length
        } else if (struct instanceof Y.Item) {
          liveItems += struct.length
          liveContentBytes += contentBytes(struct.content)
        }
      }
    }
    const snapshotBytes = stored.snapshot?.byteLength ?? 0
    return {
      liveContentBytes,
      encodedBytes: Y.encodeStateAsUpdateV2(doc).byteLength,
      encodedBytesV1: Y.encodeStateAsUpdate(doc).byteLength,
      storedBytes: stored.byteLength,
      snapshotBytes,
      storedUpdates: stored.updates.length,
      deletedItems,
      liveItems,
      clientIds: [...doc.store.clients.keys()].sort((a, b) => a - b),
      epoch: stored.meta.epoch ?? null,
      meta: stored.meta,
    }
  } finally {
    doc.destroy()
  }
}

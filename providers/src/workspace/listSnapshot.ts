import { toHexString } from 'lib0/buffer'
import { digest } from 'lib0/hash/sha256'
import { INITIAL_EPOCH, docId, type DocId, type DocStore, type Fields, type StoredDoc } from '@weft/core'
import type { CatalogueRecord, CatalogueSchema } from './catalogue.js'

/**
 * The catalogue document's store meta key holding this device's snapshot of the list's records (WS-CLIENT-8.1):
 * device-local, never synced, removed with the catalogue.
 */
export const LIST_SNAPSHOT_META = 'workspace-list'

/** What the snapshot was derived from: the catalogue's stored clock and epoch, and the catalogue's schema. */
export interface ListSnapshotTag {
  /** The stored catalogue's clock (`StoredDoc.clock`) the records were read at. */
  readonly clock: number
  /** The stored catalogue's epoch (meta `epoch`, absent = `"0"`). */
  readonly epoch: string
  /** A fingerprint of the catalogue schema the records were read through (an app's new field changes them). */
  readonly schema: string
}

interface Encoded extends ListSnapshotTag {
  readonly v: 1
  readonly records: ReadonlyArray<Record<string, unknown>>
}

/** The fingerprint of a catalogue schema (its name, version and field declarations, defaults included). */
export const schemaFingerprint = <M extends Fields>(schema: CatalogueSchema<M>): string =>
  toHexString(digest(new TextEncoder().encode(JSON.stringify(schema))).subarray(0, 16))

/** Whether `value` survives `JSON.stringify` then `JSON.parse` unchanged (plain data, finite numbers, no `-0`). */
const isPlain = (value: unknown): boolean => {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0)
  if (Array.isArray(value)) return value.every(isPlain)
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false
  return Object.values(value as Record<string, unknown>).every((v) => v !== undefined && isPlain(v))
}

/**
 * Encodes `records` tagged with `tag`, or returns null when a record holds a value JSON would not give back as it is
 * (e.g. an app field of a collaborative type): such a catalogue gets no snapshot and always opens the slow way.
 */
export const encodeListSnapshot = (
  records: Iterable<CatalogueRecord>,
  tag: ListSnapshotTag,
): string | null => {
  const list: Array<Record<string, unknown>> = []
  for (const record of records) {
    if (!isPlain(record)) return null
    list.push(record as unknown as Record<string, unknown>)
  }
  const encoded: Encoded = { v: 1, clock: tag.clock, epoch: tag.epoch, schema: tag.schema, records: list }
  return JSON.stringify(encoded)
}

/**
 * The records of the snapshot stored in `stored` (the catalogue as loaded) if it still describes that catalogue:
 * its tag names the stored clock, the stored epoch and `schema`. Null when it is missing, stale or unreadable
 * (WS-CLIENT-8.2: then the catalogue is applied before the list is read, as without a snapshot).
 */
export const readListSnapshot = (stored: StoredDoc | null, schema: string): CatalogueRecord[] | null => {
  const text = stored?.meta[LIST_SNAPSHOT_META]
  if (!stored || text === undefined) return null
  let parsed: Partial<Encoded>
  try {
    parsed = JSON.parse(text) as Partial<Encoded>
  } catch {
    return null
  }
  const epoch = stored.meta.epoch ?? INITIAL_EPOCH
  if (
    parsed.v !== 1 ||
    parsed.clock !== stored.clock ||
    parsed.epoch !== epoch ||
    parsed.schema !== schema ||
    !Array.isArray(parsed.records)
  )
    return null
  return parsed.records as unknown as CatalogueRecord[]
}

/**
 * A view of `store` whose first `load` of `key` is decided by `defer`: given the stored document, it returns true to
 * keep it for the caller (the load then answers its meta and clock with no content, so the document opens empty and
 * the caller applies the content later, with the persistence as origin) or false to answer it whole. Every other
 * call, and every later load, goes to `store` unchanged. `taken()` gives what was kept (undefined when nothing).
 */
export const deferFirstLoad = (
  store: DocStore,
  key: string,
  defer: (stored: StoredDoc) => boolean,
): { readonly store: DocStore; readonly taken: () => StoredDoc | undefined } => {
  const id = docId(key)
  let first = true
  let kept: StoredDoc | undefined
  const view: DocStore = {
    load: async (d: DocId) => {
      const stored = await store.load(d)
      if (d !== id || !first) return stored
      first = false
      if (!stored || !defer(stored)) return stored
      kept = stored
      return { snapshot: null, updates: [], clock: stored.clock, byteLength: 0, meta: stored.meta }
    },
    append: (d, update, options) => store.append(d, update, options),
    compact: (d, snapshot, through, options) => store.compact(d, snapshot, through, options),
    setMeta: (d, k, value) => store.setMeta(d, k, value),
    remove: (d, options) => store.remove(d, options),
    list: () => store.list(),
    close: () => store.close(),
  }
  return { store: view, taken: () => kept }
}

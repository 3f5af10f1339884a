import { INITIAL_EPOCH, WeftError, WeftErrorCode, type DocId } from '@weft/core'
import { EPOCH_META_KEY } from '@weft/core/epochs'
import { CLOCKS, META, SNAPSHOTS, UPDATES } from './idb.js'

/** A row of the `snapshots` store. */
export interface SnapshotRow {
  readonly clock: number
  readonly data: Uint8Array
}

export const isSnapshotRow = (v: unknown): v is SnapshotRow =>
  typeof v === 'object' &&
  v !== null &&
  'clock' in v &&
  'data' in v &&
  typeof v.clock === 'number' &&
  v.data instanceof Uint8Array

/** Every key of one document in `updates` ([doc, clock]) or `meta` ([doc, key]): arrays sort after all others. */
export const docRange = (docId: DocId): IDBKeyRange => IDBKeyRange.bound([docId], [docId, []])
export const updatesThrough = (docId: DocId, clock: number): IDBKeyRange =>
  IDBKeyRange.bound([docId], [docId, clock])

export const corrupted = (docId: DocId, what: string): WeftError =>
  new WeftError(WeftErrorCode.StoreCorrupted, `IndexedDbDocStore: document ${JSON.stringify(docId)}: ${what}`)

/** A stored clock counter (`clocks` row): a non-negative integer, or `undefined` when absent or malformed. */
export const toClock = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined

/**
 * Last clock handed out for a document, read inside `tx` (which must cover `clocks`, `snapshots` and `updates`):
 * the `clocks` row, one point read. A document last written by schema version 1 has none: then the snapshot clock
 * or the last update key, found with a reverse cursor over the document's range (slow once log compaction has
 * deleted rows: the cursor skips the deleted entries the browser keeps until its own compaction).
 */
export const readLastClock = (tx: IDBTransaction, docId: DocId, done: (last: number) => void): void => {
  const counter = tx.objectStore(CLOCKS).get(docId)
  counter.onsuccess = () => {
    const known = toClock(counter.result)
    if (known !== undefined) return done(known)
    let snapshotClock: number | undefined
    let lastUpdate: number | undefined
    const finish = (): void => {
      if (snapshotClock !== undefined && lastUpdate !== undefined) done(Math.max(snapshotClock, lastUpdate))
    }
    const snap = tx.objectStore(SNAPSHOTS).get(docId)
    snap.onsuccess = () => {
      snapshotClock = isSnapshotRow(snap.result) ? snap.result.clock : 0
      finish()
    }
    const cursor = tx.objectStore(UPDATES).openKeyCursor(docRange(docId), 'prev')
    cursor.onsuccess = () => {
      const key = cursor.result?.key
      lastUpdate = Array.isArray(key) && typeof key[1] === 'number' ? key[1] : 0
      finish()
    }
  }
}

/** The stored epoch of a document (meta `epoch`, absent = `"0"`), read inside `tx` (which must cover `meta`). */
export const readEpoch = (
  tx: IDBTransaction,
  docId: DocId,
  done: (epoch: string | WeftError) => void,
): void => {
  const req = tx.objectStore(META).get([docId, EPOCH_META_KEY])
  req.onsuccess = () => {
    const value: unknown = req.result
    if (value === undefined) done(INITIAL_EPOCH)
    else done(typeof value === 'string' ? value : corrupted(docId, 'bad metadata row'))
  }
}

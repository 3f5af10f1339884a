import {
  INITIAL_EPOCH,
  WeftError,
  WeftErrorCode,
  type AppendOptions,
  type CompactOptions,
  type CompactResult,
  type DocId,
  type DocStore,
  type RemoveOptions,
  type RemoveResult,
  type StoredDoc,
  type WorkspaceChanges,
  type WorkspaceIndex,
  type WorkspaceSummary,
} from '@weft/core'
import { CLOCKS, META, openWeftDatabase, requestResult, SNAPSHOTS, transactionDone, UPDATES } from './idb.js'
import {
  corrupted,
  docRange,
  isSnapshotRow,
  readEpoch,
  readLastClock,
  toClock,
  updatesThrough,
  type SnapshotRow,
} from './readRows.js'
import { EPOCH_META_KEY } from '@weft/core/epochs'
import {
  AppendQueue,
  compactionIsChange,
  rejectAppends,
  settleAppends,
  type PendingAppend,
} from '@weft/core/store-kit'
import { writeAppends, type BatchOutcome } from './writeAppends.js'
import {
  advanceWorkspaces,
  readChangesSince,
  readWorkspaceSeq,
  readWorkspaces,
  removeFromWorkspace,
  workspaceScope,
} from './workspaceRows.js'
import { loadedMetaValue, storedMetaValue } from './metaValues.js'

/** Options of {@link IndexedDbDocStore}. */
export interface IndexedDbDocStoreOptions {
  /** Database name (default `'weft'`). One database holds every document. */
  readonly name?: string
  /** The IndexedDB factory (default `globalThis.indexedDB`); tests pass fake-indexeddb's. */
  readonly indexedDB?: IDBFactory
  /**
   * Transaction durability hint for writes (default `'strict'`: the browser flushes to disk before `complete`,
   * so a resolved append survives a crash of the OS). `'relaxed'` is faster but may lose the last writes.
   */
  readonly durability?: 'strict' | 'relaxed'
}

const toStoreError = (err: unknown, what: string): WeftError => {
  if (err instanceof WeftError) return err
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new WeftError(WeftErrorCode.StoreFailed, `IndexedDbDocStore ${what}: ${detail}`, { cause: err })
}

/**
 * A {@link DocStore} on raw IndexedDB: object stores `updates` (key `[doc, clock]`), `snapshots` (key `doc`),
 * `meta` (key `[doc, key]`) and `clocks` (key `doc`: the last clock handed out). Compaction is one transaction.
 *
 * Appends are group-committed (STORE-2.4): every append of one task goes into one transaction, and while an append
 * transaction is in flight the appends issued meanwhile wait and form the next one, so a burst costs a few
 * transactions, not one per update. Several tabs may share the database: the store remembers each document's last
 * clock and writes without reading first, and the same transaction checks the document's `clocks` row; when
 * another tab wrote in between, the transaction aborts before committing and the batch is written again with the
 * clocks read inside its transaction (docs/guides/providers.md, "Storage speed").
 *
 * It keeps the {@link WorkspaceIndex} (`WS-STORE-*`), so an app lists the documents of a workspace it holds locally:
 * each append transaction, epoch switch and removal of a `W/D` document advances W's change sequence in the same
 * transaction (one seq per document per transaction). A database of schema version 2 is indexed on upgrade.
 */
export class IndexedDbDocStore implements DocStore, WorkspaceIndex {
  readonly #db: Promise<IDBDatabase>
  readonly #durability: 'strict' | 'relaxed'
  #dbValue: IDBDatabase | null = null
  /** Group commit (STORE-2.4): a task's appends, or those issued while an append transaction is in flight. */
  readonly #appends = new AppendQueue(() => this.#schedule())
  /** A flush of the queued appends is scheduled (`#autoFlush`). */
  #scheduled = false
  /** Append transactions created and not settled yet. */
  #writing = 0
  /** Batches whose transaction hit a conflict: written again, before anything queued, once none is in flight. */
  #retry: PendingAppend[][] = []
  /**
   * Each document's last clock as this store expects it: from a load, or assigned by the append transactions
   * created so far. Checked inside every write transaction; absent when unknown (then read first).
   */
  readonly #last = new Map<DocId, number>()
  readonly #inflight = new Set<Promise<unknown>>()
  #closed = false

  constructor(options: IndexedDbDocStoreOptions = {}) {
    const factory = options.indexedDB ?? globalThis.indexedDB
    this.#durability = options.durability ?? 'strict'
    this.#db = openWeftDatabase(factory, options.name ?? 'weft').then((db) => (this.#dbValue = db))
    // The rejection is reported by the operations that await #db; keep it from being "unhandled" meanwhile.
    this.#db.catch(() => undefined)
  }

  async load(docId: DocId): Promise<StoredDoc | null> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([UPDATES, SNAPSHOTS, META, CLOCKS], 'readonly')
    const updates = tx.objectStore(UPDATES)
    const meta = tx.objectStore(META)
    const [snap, rows, keys, metaKeys, metaValues, counter] = await Promise.all([
      requestResult(tx.objectStore(SNAPSHOTS).get(docId)),
      requestResult(updates.getAll(docRange(docId))),
      requestResult(updates.getAllKeys(docRange(docId))),
      requestResult(meta.getAllKeys(docRange(docId))),
      requestResult(meta.getAll(docRange(docId))),
      requestResult(tx.objectStore(CLOCKS).get(docId)),
    ]).catch((err: unknown) => Promise.reject(toStoreError(err, 'load')))
    if (snap !== undefined && !isSnapshotRow(snap)) throw corrupted(docId, 'bad snapshot row')
    const lastKey = keys.at(-1)
    const clock = Array.isArray(lastKey) && typeof lastKey[1] === 'number' ? lastKey[1] : (snap?.clock ?? 0)
    // The next append's expected clock (checked in its transaction); a version-1 document has no `clocks` row.
    if (!this.#last.has(docId))
      this.#last.set(docId, counter === undefined ? clock : (toClock(counter) ?? -1))
    if (snap === undefined && rows.length === 0 && metaKeys.length === 0) return null
    let byteLength = snap?.data.byteLength ?? 0
    for (const row of rows) {
      if (!(row instanceof Uint8Array)) throw corrupted(docId, 'an update row is not a Uint8Array')
      byteLength += row.byteLength
    }
    const metaRecord: Record<string, string> = {}
    metaKeys.forEach((key, i) => {
      const value: unknown = metaValues[i]
      const name: unknown = Array.isArray(key) ? key[1] : undefined
      const text = typeof name === 'string' ? loadedMetaValue(name, value) : null
      if (typeof name !== 'string' || text === null) throw corrupted(docId, 'bad metadata row')
      metaRecord[name] = text
    })
    return {
      snapshot: snap?.data ?? null,
      updates: rows as Uint8Array[],
      clock,
      byteLength,
      meta: metaRecord,
    }
  }

  append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    if (this.#closed)
      return Promise.reject(new WeftError(WeftErrorCode.Destroyed, 'IndexedDbDocStore is closed'))
    // Copy now (STORE-1.4); also, structured clone of a view would store its whole underlying buffer.
    const bytes = new Uint8Array(update)
    return this.#appends.push(docId, bytes, options)
  }

  /** Appends landed in an empty queue: flush them at the end of this task (or once the database is open). */
  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    if (this.#dbValue) queueMicrotask(() => this.#autoFlush())
    else
      this.#db.then(
        () => this.#autoFlush(),
        (err: unknown) => this.#failQueue(toStoreError(err, 'open')),
      )
  }

  async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    const data = new Uint8Array(snapshot)
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([UPDATES, SNAPSHOTS, META, CLOCKS, ...workspaceScope([docId])], 'readwrite', {
      durability: this.#durability,
    })
    let result: CompactResult = { ok: false, reason: 'stale' }
    let failure: WeftError | null = null
    const write = (
      snapshotClock: number,
      hadSnapshot: boolean,
      last: number,
      epoch: string | WeftError | undefined,
    ): void => {
      if (throughClock < snapshotClock || throughClock > last) return
      // STORE-3.7, STORE-3.8: checked in this transaction, which IndexedDB serializes with every other write.
      if (options?.exact && last > throughClock) return
      if (epoch instanceof WeftError) return void (failure = epoch)
      if (options?.epoch !== undefined && options.epoch !== epoch) return
      const change = compactionIsChange(options?.meta, () => epoch ?? INITIAL_EPOCH, hadSnapshot || last > 0)
      tx.objectStore(SNAPSHOTS).put({ clock: throughClock, data } satisfies SnapshotRow, docId)
      tx.objectStore(UPDATES).delete(updatesThrough(docId, throughClock))
      // A version-1 document gets its `clocks` row here: later appends and compactions read it, not the range.
      tx.objectStore(CLOCKS).put(last, docId)
      for (const [key, value] of Object.entries(options?.meta ?? {})) {
        if (value === null) tx.objectStore(META).delete([docId, key])
        else tx.objectStore(META).put(storedMetaValue(key, value), [docId, key])
      }
      if (change) advanceWorkspaces(tx, [docId])
      result = { ok: true }
    }
    const snap = tx.objectStore(SNAPSHOTS).get(docId)
    snap.onsuccess = () => {
      const hadSnapshot = isSnapshotRow(snap.result)
      const snapshotClock = isSnapshotRow(snap.result) ? snap.result.clock : 0
      // The stored epoch is read for STORE-3.8 and for WS-STORE-2.1 (whether the compaction switches it).
      const needsEpoch = options?.epoch !== undefined || options?.meta?.[EPOCH_META_KEY] !== undefined
      readLastClock(tx, docId, (last) => {
        if (!needsEpoch) write(snapshotClock, hadSnapshot, last, undefined)
        else readEpoch(tx, docId, (epoch) => write(snapshotClock, hadSnapshot, last, epoch))
      })
    }
    await this.#track(transactionDone(tx), 'compact')
    if (failure) throw failure
    return result
  }

  async setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([META], 'readwrite', { durability: this.#durability })
    if (value === null) tx.objectStore(META).delete([docId, key])
    else tx.objectStore(META).put(storedMetaValue(key, value), [docId, key])
    await this.#track(transactionDone(tx), 'setMeta')
  }

  async remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([UPDATES, SNAPSHOTS, META, CLOCKS, ...workspaceScope([docId])], 'readwrite', {
      durability: this.#durability,
    })
    let result: RemoveResult = { ok: false, reason: 'stale' }
    const removeRows = (): void => {
      removeFromWorkspace(tx, docId)
      tx.objectStore(UPDATES).delete(docRange(docId))
      tx.objectStore(SNAPSHOTS).delete(docId)
      tx.objectStore(META).delete(docRange(docId))
      tx.objectStore(CLOCKS).delete(docId)
      result = { ok: true }
    }
    const ifClock = options?.ifClock
    if (ifClock === undefined) {
      removeRows()
      // Appends created before this transaction still count on their clocks: expect the next one from 0 only if none is.
      if (this.#writing === 0) this.#last.set(docId, 0)
      else this.#last.delete(docId)
    } else {
      // STORE-5.3: the clock read in this transaction, which IndexedDB serializes with every other tab's writes.
      readLastClock(tx, docId, (last) => last === ifClock && removeRows())
      this.#last.delete(docId)
    }
    await this.#track(transactionDone(tx), 'remove')
    return result
  }

  async list(): Promise<DocId[]> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([UPDATES, SNAPSHOTS, META], 'readonly')
    const ids = new Set<string>()
    const firstKeys = (store: IDBObjectStore): void => {
      // Visit one key per document: jump past [doc, *] with continue([doc, []]).
      const cursor = store.openKeyCursor()
      cursor.onsuccess = () => {
        const c = cursor.result
        if (!c) return
        const doc: unknown = Array.isArray(c.key) ? c.key[0] : undefined
        if (typeof doc !== 'string') return c.continue()
        ids.add(doc)
        c.continue([doc, []])
      }
    }
    firstKeys(tx.objectStore(UPDATES))
    firstKeys(tx.objectStore(META))
    const snapshotKeys = requestResult(tx.objectStore(SNAPSHOTS).getAllKeys())
    await transactionDone(tx).catch((err: unknown) => Promise.reject(toStoreError(err, 'list')))
    for (const key of await snapshotKeys) if (typeof key === 'string') ids.add(key)
    return [...ids] as DocId[]
  }

  async workspaceSeq(workspace: string): Promise<number> {
    const db = await this.#open()
    this.#flush()
    return this.#track(readWorkspaceSeq(db, workspace), 'workspaceSeq')
  }

  async changesSince(workspace: string, cursor: number, limit: number): Promise<WorkspaceChanges> {
    const db = await this.#open()
    this.#flush()
    return this.#track(readChangesSince(db, workspace, cursor, limit), 'changesSince')
  }

  async workspaces(): Promise<WorkspaceSummary[]> {
    const db = await this.#open()
    this.#flush()
    return this.#track(readWorkspaces(db), 'workspaces')
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const db = await this.#db.catch(() => null)
    if (db) this.#flush()
    else
      this.#failQueue(
        new WeftError(WeftErrorCode.StoreFailed, 'IndexedDbDocStore could not open its database'),
      )
    // A conflict's retry is created when the transactions before it settle: wait until nothing is left.
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    db?.close()
  }

  #failQueue(err: WeftError): void {
    this.#scheduled = false
    this.#appends.fail(err)
  }

  #check(): void {
    if (this.#closed) throw new WeftError(WeftErrorCode.Destroyed, 'IndexedDbDocStore is closed')
  }

  async #open(): Promise<IDBDatabase> {
    this.#check()
    const db = await this.#db.catch((err: unknown) => Promise.reject(toStoreError(err, 'open')))
    this.#check()
    return db
  }

  #track<T>(p: Promise<T>, what: string): Promise<T> {
    const tracked = p.catch((err: unknown) => Promise.reject(toStoreError(err, what)))
    this.#inflight.add(tracked)
    const untrack = (): void => void this.#inflight.delete(tracked)
    tracked.then(untrack, untrack)
    return tracked
  }

  /** The scheduled flush of queued appends: waits while an append transaction is in flight (group commit). */
  #autoFlush(): void {
    this.#scheduled = false
    if (this.#writing === 0) this.#flush()
  }

  /**
   * Writes every queued append in one transaction now (before a load, compaction... that must come after them),
   * unless a conflict's retry is pending: queued appends then follow it.
   */
  #flush(): void {
    const db = this.#dbValue
    if (this.#appends.size === 0 || !db || this.#retry.length > 0) return
    this.#write(db, this.#appends.take(), false)
  }

  /** One append transaction for `batch`; settles its promises on `complete` (STORE-2.4). */
  #write(db: IDBDatabase, batch: PendingAppend[], reread: boolean): void {
    const docs = [...new Set(batch.map((p) => p.docId))]
    let expected: Map<DocId, number> | null = null
    if (!reread && docs.every((d) => this.#last.has(d))) {
      expected = new Map(docs.map((d) => [d, this.#last.get(d) ?? 0]))
      // Optimistic: the next transaction, created before this one settles, continues from these clocks.
      const last = new Map(expected)
      for (const p of batch) last.set(p.docId, (last.get(p.docId) ?? 0) + 1)
      for (const [d, clock] of last) this.#last.set(d, clock)
    } else for (const d of docs) this.#last.delete(d)
    let outcome: Promise<BatchOutcome>
    try {
      outcome = writeAppends(db, batch, expected, this.#durability)
    } catch (err) {
      // Nothing was written: the clocks advanced for it above are not the stored ones.
      for (const d of docs) this.#last.delete(d)
      return rejectAppends(batch, toStoreError(err, 'append'))
    }
    this.#writing++
    const settled = (result: BatchOutcome | WeftError): void => {
      this.#writing--
      if (result instanceof WeftError) {
        for (const d of docs) this.#last.delete(d)
        rejectAppends(batch, result)
      } else if (!result.ok) {
        for (const d of docs) this.#last.delete(d)
        this.#retry.push(batch)
      } else {
        // Only where no later transaction took over the document's expected clock.
        if (!expected) for (const [d, clock] of result.last) if (!this.#last.has(d)) this.#last.set(d, clock)
        settleAppends(batch, result.clocks)
      }
      if (this.#writing > 0) return
      if (this.#retry.length > 0) {
        const again = [...this.#retry.flat(), ...this.#appends.take()]
        this.#retry = []
        this.#write(db, again, true)
      } else if (!this.#scheduled) this.#flush()
    }
    void this.#track(outcome, 'append').then(settled, (err: unknown) => settled(toStoreError(err, 'append')))
  }
}

import {
  EPOCH_META_KEY,
  INITIAL_EPOCH,
  WeftError,
  WeftErrorCode,
  epochMismatchError,
  type AppendOptions,
  type CompactOptions,
  type CompactResult,
  type DocId,
  type DocStore,
  type StoredDoc,
} from '@weft/core'
import { openWeftDatabase, requestResult, SNAPSHOTS, transactionDone, UPDATES, META } from './idb.js'

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

interface PendingAppend {
  readonly docId: DocId
  readonly bytes: Uint8Array
  /** STORE-2.5: the epoch the stored document must be in, checked inside the write transaction. */
  readonly epoch: string | undefined
  readonly resolve: (clock: number) => void
  readonly reject: (err: unknown) => void
}

interface SnapshotRow {
  readonly clock: number
  readonly data: Uint8Array
}

/** Every key of one document in `updates` ([doc, clock]) or `meta` ([doc, key]): arrays sort after all others. */
const docRange = (docId: DocId): IDBKeyRange => IDBKeyRange.bound([docId], [docId, []])
const updatesThrough = (docId: DocId, clock: number): IDBKeyRange =>
  IDBKeyRange.bound([docId], [docId, clock])

const corrupted = (docId: DocId, what: string): WeftError =>
  new WeftError(WeftErrorCode.StoreCorrupted, `IndexedDbDocStore: document ${JSON.stringify(docId)}: ${what}`)

const toStoreError = (err: unknown, what: string): WeftError => {
  if (err instanceof WeftError) return err
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new WeftError(WeftErrorCode.StoreFailed, `IndexedDbDocStore ${what}: ${detail}`, { cause: err })
}

const isSnapshotRow = (v: unknown): v is SnapshotRow =>
  typeof v === 'object' &&
  v !== null &&
  'clock' in v &&
  'data' in v &&
  typeof v.clock === 'number' &&
  v.data instanceof Uint8Array

/** Last clock handed out for a document, read inside `tx` (snapshot clock or last update key). */
const readLastClock = (
  tx: IDBTransaction,
  docId: DocId,
  done: (snapshotClock: number, last: number) => void,
): void => {
  let snapshotClock: number | undefined
  let lastUpdate: number | undefined
  const finish = (): void => {
    if (snapshotClock !== undefined && lastUpdate !== undefined)
      done(snapshotClock, Math.max(snapshotClock, lastUpdate))
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

/** The stored epoch of a document (meta `epoch`, absent = `"0"`), read inside `tx` (which must cover `meta`). */
const readEpoch = (tx: IDBTransaction, docId: DocId, done: (epoch: string | WeftError) => void): void => {
  const req = tx.objectStore(META).get([docId, EPOCH_META_KEY])
  req.onsuccess = () => {
    const value: unknown = req.result
    if (value === undefined) done(INITIAL_EPOCH)
    else done(typeof value === 'string' ? value : corrupted(docId, 'bad metadata row'))
  }
}

const epochMismatch = (docId: DocId, stored: string, expected: string): WeftError =>
  epochMismatchError('IndexedDbDocStore', docId, stored, expected)

/**
 * A {@link DocStore} on raw IndexedDB: object stores `updates` (key `[doc, clock]`), `snapshots` (key `doc`) and
 * `meta` (key `[doc, key]`). Appends of one tick share one transaction (group commit); compaction is one
 * transaction. Several tabs may share the database: clocks are assigned inside the write transaction.
 */
export class IndexedDbDocStore implements DocStore {
  readonly #db: Promise<IDBDatabase>
  readonly #durability: 'strict' | 'relaxed'
  #dbValue: IDBDatabase | null = null
  #queue: PendingAppend[] = []
  #scheduled = false
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
    const tx = db.transaction([UPDATES, SNAPSHOTS, META], 'readonly')
    const updates = tx.objectStore(UPDATES)
    const meta = tx.objectStore(META)
    const [snap, rows, keys, metaKeys, metaValues] = await Promise.all([
      requestResult(tx.objectStore(SNAPSHOTS).get(docId)),
      requestResult(updates.getAll(docRange(docId))),
      requestResult(updates.getAllKeys(docRange(docId))),
      requestResult(meta.getAllKeys(docRange(docId))),
      requestResult(meta.getAll(docRange(docId))),
    ]).catch((err: unknown) => Promise.reject(toStoreError(err, 'load')))
    if (snap === undefined && rows.length === 0 && metaKeys.length === 0) return null
    if (snap !== undefined && !isSnapshotRow(snap)) throw corrupted(docId, 'bad snapshot row')
    let byteLength = snap?.data.byteLength ?? 0
    for (const row of rows) {
      if (!(row instanceof Uint8Array)) throw corrupted(docId, 'an update row is not a Uint8Array')
      byteLength += row.byteLength
    }
    const lastKey = keys.at(-1)
    const clock = Array.isArray(lastKey) && typeof lastKey[1] === 'number' ? lastKey[1] : (snap?.clock ?? 0)
    const metaRecord: Record<string, string> = {}
    metaKeys.forEach((key, i) => {
      const value: unknown = metaValues[i]
      const name: unknown = Array.isArray(key) ? key[1] : undefined
      if (typeof name !== 'string' || typeof value !== 'string') throw corrupted(docId, 'bad metadata row')
      metaRecord[name] = value
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
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ docId, bytes, epoch: options?.epoch, resolve, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      if (this.#dbValue) queueMicrotask(() => this.#flush())
      else
        this.#db.then(
          () => this.#flush(),
          (err: unknown) => this.#failQueue(toStoreError(err, 'open')),
        )
    })
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
    const tx = db.transaction([UPDATES, SNAPSHOTS, META], 'readwrite', { durability: this.#durability })
    let result: CompactResult = { ok: false, reason: 'stale' }
    let failure: WeftError | null = null
    const write = (snapshotClock: number, last: number, epoch: string | WeftError | undefined): void => {
      if (throughClock < snapshotClock || throughClock > last) return
      // STORE-3.7, STORE-3.8: checked in this transaction, which IndexedDB serializes with every other write.
      if (options?.exact && last > throughClock) return
      if (epoch instanceof WeftError) return void (failure = epoch)
      if (options?.epoch !== undefined && options.epoch !== epoch) return
      tx.objectStore(SNAPSHOTS).put({ clock: throughClock, data } satisfies SnapshotRow, docId)
      tx.objectStore(UPDATES).delete(updatesThrough(docId, throughClock))
      for (const [key, value] of Object.entries(options?.meta ?? {})) {
        if (value === null) tx.objectStore(META).delete([docId, key])
        else tx.objectStore(META).put(value, [docId, key])
      }
      result = { ok: true }
    }
    readLastClock(tx, docId, (snapshotClock, last) => {
      if (options?.epoch === undefined) write(snapshotClock, last, undefined)
      else readEpoch(tx, docId, (epoch) => write(snapshotClock, last, epoch))
    })
    await this.#track(transactionDone(tx), 'compact')
    if (failure) throw failure
    return result
  }

  async setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([META], 'readwrite', { durability: this.#durability })
    if (value === null) tx.objectStore(META).delete([docId, key])
    else tx.objectStore(META).put(value, [docId, key])
    await this.#track(transactionDone(tx), 'setMeta')
  }

  async remove(docId: DocId): Promise<void> {
    const db = await this.#open()
    this.#flush()
    const tx = db.transaction([UPDATES, SNAPSHOTS, META], 'readwrite', { durability: this.#durability })
    tx.objectStore(UPDATES).delete(docRange(docId))
    tx.objectStore(SNAPSHOTS).delete(docId)
    tx.objectStore(META).delete(docRange(docId))
    await this.#track(transactionDone(tx), 'remove')
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

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const db = await this.#db.catch(() => null)
    if (db) this.#flush()
    else
      this.#failQueue(
        new WeftError(WeftErrorCode.StoreFailed, 'IndexedDbDocStore could not open its database'),
      )
    await Promise.allSettled([...this.#inflight])
    db?.close()
  }

  #failQueue(err: WeftError): void {
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    for (const p of batch) p.reject(err)
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

  /** Writes every queued append in one transaction (group commit, STORE-2.4); settles them on `complete`. */
  #flush(): void {
    this.#scheduled = false
    const batch = this.#queue
    const db = this.#dbValue
    if (batch.length === 0 || !db) return
    this.#queue = []
    // Per append: its clock, or the error that refused it (STORE-2.5: nothing written, no clock used).
    const clocks: (number | WeftError)[] = []
    const checked = batch.some((p) => p.epoch !== undefined)
    let tx: IDBTransaction
    try {
      // `meta` joins the scope only when an append is epoch-checked: one more store to lock, one get per document.
      const scope = checked ? [UPDATES, SNAPSHOTS, META] : [UPDATES, SNAPSHOTS]
      tx = db.transaction(scope, 'readwrite', { durability: this.#durability })
    } catch (err) {
      for (const p of batch) p.reject(toStoreError(err, 'append'))
      return
    }
    const docs = [...new Set(batch.map((p) => p.docId))]
    const next = new Map<DocId, number>()
    const epochs = new Map<DocId, string | WeftError>()
    let waiting = docs.length
    const write = (): void => {
      // Every last clock (and stored epoch) is known: write the batch in call order.
      const updates = tx.objectStore(UPDATES)
      for (const p of batch) {
        const stored = p.epoch === undefined ? undefined : epochs.get(p.docId)
        if (stored instanceof WeftError) clocks.push(stored)
        else if (stored !== undefined && stored !== p.epoch)
          clocks.push(epochMismatch(p.docId, stored, p.epoch ?? ''))
        else {
          const clock = (next.get(p.docId) ?? 0) + 1
          next.set(p.docId, clock)
          clocks.push(clock)
          updates.add(p.bytes, [p.docId, clock])
        }
      }
    }
    const checkedDocs = new Set(batch.filter((p) => p.epoch !== undefined).map((p) => p.docId))
    docs.forEach((docId) => {
      if (checkedDocs.has(docId)) waiting++
      readLastClock(tx, docId, (_snapshotClock, last) => {
        next.set(docId, last)
        if (--waiting === 0) write()
      })
      if (checkedDocs.has(docId))
        readEpoch(tx, docId, (epoch) => {
          epochs.set(docId, epoch)
          if (--waiting === 0) write()
        })
    })
    void this.#track(transactionDone(tx), 'append').then(
      () =>
        batch.forEach((p, i) => {
          const clock = clocks[i] ?? 0
          if (clock instanceof WeftError) p.reject(clock)
          else p.resolve(clock)
        }),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    )
  }
}

import { ProcessLock } from './ProcessLock.js'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import Database from 'better-sqlite3'
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
import { EPOCH_META_KEY } from '@weft/core/epochs'
import { epochMismatchError } from '@weft/core/store-kit'
import {
  AppendQueue,
  compactionIsChange,
  metaBytes,
  rejectAppends,
  settleAppends,
} from '@weft/core/store-kit'
import { SqliteWorkspaceIndex } from './SqliteWorkspaceIndex.js'

/** Options of {@link SqliteDocStore}. */
export interface SqliteDocStoreOptions {
  /** Database file, created if missing. `':memory:'` for a throw-away store. */
  readonly path: string
  /**
   * `'full'` (default): every commit fsyncs the write-ahead log, so a resolved promise survives power loss, which a
   * relay's durable acknowledgements rely on. Group commit amortizes the fsync over all appends of one tick.
   * `'normal'`: survives a crash of the process but may lose the last commits on power loss; faster.
   */
  readonly durability?: 'full' | 'normal'
  /** How long to wait for another process's write lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number
  /**
   * Serve this file from one store at a time (STORE-6.3; default false): the store holds an exclusive lock on
   * `<path>.lock` while it is open, and a second store opened with `exclusive` on the same path, in any process,
   * fails (every operation and {@link SqliteDocStore.ready} reject with `store-failed`, "in use"). The lock goes with
   * the process, kill -9 included. Stores opened without it (`weft inspect`, `weft compact`) read and compact as
   * before. `weft serve` opens its `--data` store this way: two servers on one directory would each relay only their
   * own clients' updates.
   */
  readonly exclusive?: boolean
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS weft_updates (doc TEXT NOT NULL, clock INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (doc, clock));
CREATE TABLE IF NOT EXISTS weft_snapshots (doc TEXT NOT NULL PRIMARY KEY, clock INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS weft_meta (doc TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (doc, key));
`

const CORRUPT_CODES = new Set([
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_CORRUPT_INDEX',
  'SQLITE_CORRUPT_VTAB',
])

/** STORE-6.3: the lock of an `exclusive` store, or `store-failed` naming the file when another store holds it. */
const takeLock = (path: string): ProcessLock => {
  try {
    return new ProcessLock(path)
  } catch (err) {
    throw new WeftError(
      WeftErrorCode.StoreFailed,
      `SqliteDocStore: ${path} is in use by another store (another weft serve on the same data directory?): its lock ${path}.lock is held`,
      { cause: err },
    )
  }
}

/** Maps a better-sqlite3 failure to a WeftError (`store-corrupted` for a damaged file, else `store-failed`). */
const toStoreError = (err: unknown, what: string): WeftError => {
  if (err instanceof WeftError) return err
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  const detail = err instanceof Error ? err.message : String(err)
  const weftCode = CORRUPT_CODES.has(code) ? WeftErrorCode.StoreCorrupted : WeftErrorCode.StoreFailed
  return new WeftError(weftCode, `SqliteDocStore ${what}: ${detail}`, { cause: err })
}

const epochMismatch = (docId: DocId, stored: string, expected: string): WeftError =>
  epochMismatchError('SqliteDocStore', docId, stored, expected)

const corrupted = (docId: DocId, what: string): WeftError =>
  new WeftError(WeftErrorCode.StoreCorrupted, `SqliteDocStore: document ${JSON.stringify(docId)}: ${what}`)

/** Checks a stored BLOB; anything else (TEXT, NULL, number written by another tool) is corruption. */
const blob = (docId: DocId, value: unknown): Uint8Array => {
  if (!(value instanceof Uint8Array)) throw corrupted(docId, `a stored row is ${typeof value}, not a BLOB`)
  // A plain Uint8Array view of the Buffer better-sqlite3 returned (no copy).
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}
/** A Buffer view of caller bytes for binding (better-sqlite3 binds Buffers as BLOBs). */
const bind = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
/**
 * Meta values as stored (STORE-4.3, `metaBytes`): a base64 entry (`BASE64_META_KEYS`: the epoch records) as a BLOB
 * of its bytes, deflated (an epoch record is mostly `initial`, the document's content in V2, whose keys and strings
 * deflate 5-6x; it is written once per epoch and read once per load); every other value, and a base64 entry that is
 * not canonical base64, as TEXT. Files of older versions hold TEXT only, which loads as it is.
 */
const metaValues = metaBytes({ compress: deflateRawSync, decompress: inflateRawSync })
const storedMeta = (key: string, value: string): string | Uint8Array => metaValues.stored(key, value)
/** A stored meta value as `load` gives it (STORE-4.3): TEXT as it is, the BLOB of a base64 entry as base64. */
const loadedMeta = (docId: DocId, key: unknown, value: unknown): string => {
  if (typeof key !== 'string') throw corrupted(docId, 'bad metadata row')
  const loaded = metaValues.loaded(key, value)
  if (loaded.ok) return loaded.value
  throw corrupted(
    docId,
    loaded.reason === 'bad-row' ? 'bad metadata row' : `metadata ${JSON.stringify(key)} does not inflate`,
  )
}
const clockOf = (docId: DocId, value: unknown): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw corrupted(docId, `a stored clock is not a non-negative integer`)
  }
  return value
}

/**
 * A {@link DocStore} on SQLite (better-sqlite3), for Node peers, tools and the relay. One table for updates keyed by
 * (doc, clock), one for snapshots, one for metadata; WAL journal; compaction in one transaction. Appends issued in the
 * same tick share one transaction (group commit); each promise resolves after that commit. Several processes may share
 * one file: clocks are assigned inside the write transaction.
 *
 * It keeps the {@link WorkspaceIndex} (`WS-STORE-*`): each commit advances the change sequence of the workspace of
 * every `W/D` document it appended to, switched to a new epoch or removed, in the same transaction (one seq per
 * document per commit, so a group commit of many appends to one document advances it once). A file written before the
 * index existed is indexed when it is opened.
 */
export class SqliteDocStore implements DocStore, WorkspaceIndex {
  readonly #db: Database.Database | null = null
  readonly #initError: WeftError | null = null
  readonly #stmts: ReturnType<typeof prepare> | null = null
  readonly #workspaces: SqliteWorkspaceIndex | null = null
  /** Group commit (STORE-2.4): appends of one tick are written by the next `setImmediate`, in one transaction. */
  readonly #appends = new AppendQueue<Buffer>(() => setImmediate(() => this.#flush()))
  /**
   * STORE-4.4: `setMeta` calls waiting for the next group commit, each with the number of appends queued before it
   * (`after`), so that the commit applies appends and meta entries in call order.
   */
  #metas: PendingMeta[] = []
  #closed = false
  #commits = 0
  /** STORE-6.3: the lock of an `exclusive` store. */
  #lock: ProcessLock | null = null

  constructor(options: SqliteDocStoreOptions) {
    try {
      if (options.exclusive && options.path !== ':memory:') this.#lock = takeLock(options.path)
      const db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 })
      this.#db = db
      // Takes effect only on a new file (before the tables exist): lets compaction give freed pages back.
      db.pragma('auto_vacuum = INCREMENTAL')
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`)
      // WS-PURGE-3: a row deleted by any write (a compaction's log, a replaced snapshot) is overwritten with zeros in
      // the pages that stay, at no extra I/O; `remove` goes further (ON: the freed pages too).
      db.pragma('secure_delete = FAST')
      db.exec(SCHEMA)
      this.#stmts = prepare(db)
      this.#workspaces = new SqliteWorkspaceIndex(db)
    } catch (err) {
      // A damaged or foreign file: every operation reports it (STORE-6.2) instead of the constructor throwing.
      this.#initError = toStoreError(err, 'open')
      this.#lock?.release()
      this.#lock = null
    }
  }

  /**
   * Resolves once the store is open and usable; rejects with the error every operation would report otherwise (a
   * damaged or foreign file, a path that cannot be opened: STORE-6.2). For a server that should fail at start-up, not
   * at its first client (CLI-1.2).
   */
  ready(): Promise<void> {
    try {
      this.#ready()
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }

  /** Diagnostics: how many group commits (of appends and meta entries, STORE-2.4, STORE-4.4) were committed. */
  get appendCommits(): number {
    return this.#commits
  }

  async load(docId: DocId): Promise<StoredDoc | null> {
    const s = this.#ready()
    this.#flush()
    try {
      return this.#db!.transaction(() => {
        const snap = s.getSnapshot.get(docId) as { clock: unknown; data: unknown } | undefined
        const rows = s.getUpdates.all(docId) as { clock: unknown; data: unknown }[]
        const metaRows = s.getMeta.all(docId) as { key: unknown; value: unknown }[]
        if (!snap && rows.length === 0 && metaRows.length === 0) return null
        const snapshot = snap ? blob(docId, snap.data) : null
        const snapshotClock = snap ? clockOf(docId, snap.clock) : 0
        let byteLength = snapshot?.byteLength ?? 0
        let clock = snapshotClock
        const updates = rows.map((row) => {
          const data = blob(docId, row.data)
          clock = clockOf(docId, row.clock)
          byteLength += data.byteLength
          return data
        })
        const meta: Record<string, string> = {}
        for (const row of metaRows) meta[row.key as string] = loadedMeta(docId, row.key, row.value)
        return { snapshot, updates, clock, byteLength, meta }
      })()
    } catch (err) {
      throw toStoreError(err, 'load')
    }
  }

  append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    try {
      this.#ready()
    } catch (err) {
      return Promise.reject(err as Error)
    }
    // Copy now: the caller may reuse its buffer (STORE-1.4).
    return this.#appends.push(docId, Buffer.from(update), options)
  }

  async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    const s = this.#ready()
    this.#flush()
    let result: CompactResult
    try {
      result = this.#db!.transaction((): CompactResult => {
        const snap = s.getSnapshotClock.get(docId) as { clock: number } | undefined
        const snapshotClock = snap?.clock ?? 0
        const last = Math.max(snapshotClock, (s.maxClock.get(docId) as { clock: number | null }).clock ?? 0)
        if (throughClock < snapshotClock || throughClock > last) return { ok: false, reason: 'stale' }
        // STORE-3.7, STORE-3.8: in the same transaction as the write.
        if (options?.exact && last > throughClock) return { ok: false, reason: 'stale' }
        if (options?.epoch !== undefined && options.epoch !== this.#storedEpoch(s, docId))
          return { ok: false, reason: 'stale' }
        const change = compactionIsChange(
          options?.meta,
          () => this.#storedEpoch(s, docId),
          snap !== undefined || last > 0,
        )
        s.putSnapshot.run(docId, throughClock, bind(snapshot))
        s.deleteUpdatesThrough.run(docId, throughClock)
        for (const [key, value] of Object.entries(options?.meta ?? {})) {
          if (value === null) s.deleteMeta.run(docId, key)
          else s.putMeta.run(docId, key, storedMeta(key, value))
        }
        if (change) this.#workspaces!.changed([docId])
        return { ok: true }
      }).immediate()
    } catch (err) {
      throw toStoreError(err, 'compact')
    }
    if (result.ok) this.#reclaim()
    return result
  }

  /**
   * After a compaction (or a deleted meta entry) freed pages, give them back to the file system (outside the
   * transaction that freed them) once they are over a quarter of the file and at least 16 pages: an epoch switch
   * frees the old epoch's snapshot, log and record at once (COMPACT-6.2c), and a small store would otherwise keep
   * them as free pages.
   */
  #reclaim(): void {
    try {
      const free = this.#db!.pragma('freelist_count', { simple: true }) as number
      const total = this.#db!.pragma('page_count', { simple: true }) as number
      if (free >= 16 && free * 4 > total) this.#db!.pragma('incremental_vacuum')
    } catch {
      // Best effort: the pages stay reusable inside the file.
    }
  }

  /**
   * Sets (or, with `null`, deletes) one meta entry. Group-committed with the appends and other entries of the same
   * tick (STORE-4.4): one transaction, one fsync for all of them, in call order; resolves once that commit is
   * durable. Every read (`load`, `list`...) commits what is queued first, so it sees the entry.
   */
  setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    try {
      this.#ready()
    } catch (err) {
      return Promise.reject(err as Error)
    }
    return new Promise<void>((resolve, reject) => {
      if (this.#metas.length === 0 && this.#appends.size === 0) setImmediate(() => this.#flush())
      this.#metas.push({ docId, key, value, after: this.#appends.size, resolve, reject })
    })
  }

  /**
   * Removes the document's rows in one transaction (with `ifClock`, only if the document's clock is still that one,
   * read in the same transaction: STORE-5.3), overwriting their bytes with zeros (SQLite's `secure_delete`, ON for
   * this transaction). Then, outside it, gives freed pages back to the file system and checkpoints the write-ahead log
   * into the file and truncates it, so once the promise resolves neither the file nor the log holds the removed
   * document's bytes (WS-PURGE-3), even if the process is killed right after.
   */
  async remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    const s = this.#ready()
    this.#flush()
    const db = this.#db!
    let result: RemoveResult
    let changed = 0
    try {
      db.pragma('secure_delete = ON')
      result = db
        .transaction((): RemoveResult => {
          if (options?.ifClock !== undefined) {
            const snap = s.getSnapshotClock.get(docId) as { clock: number } | undefined
            const max = (s.maxClock.get(docId) as { clock: number | null }).clock ?? 0
            if (Math.max(snap?.clock ?? 0, max) !== options.ifClock) return { ok: false, reason: 'stale' }
          }
          changed =
            s.removeUpdates.run(docId).changes +
            s.removeSnapshot.run(docId).changes +
            s.removeMeta.run(docId).changes
          this.#workspaces!.removed(docId)
          return { ok: true }
        })
        .immediate()
    } catch (err) {
      throw toStoreError(err, 'remove')
    } finally {
      try {
        db.pragma('secure_delete = FAST')
      } catch {
        // A closed connection: nothing to reset.
      }
    }
    if (changed > 0) this.#scrub()
    return result
  }

  /**
   * WS-PURGE-3, after a removal: the freed pages given back (`#reclaim`), then the write-ahead log copied into the
   * file and truncated to zero bytes. Best effort: when another process reads the file at that moment the log is
   * truncated by a later removal, a checkpoint or the last close.
   */
  #scrub(): void {
    this.#reclaim()
    try {
      this.#db!.pragma('wal_checkpoint(TRUNCATE)')
    } catch {
      // Busy (another connection): see above.
    }
  }

  async list(): Promise<DocId[]> {
    const s = this.#ready()
    this.#flush()
    try {
      return (s.list.all() as { doc: string }[]).map((row) => row.doc as DocId)
    } catch (err) {
      throw toStoreError(err, 'list')
    }
  }

  async workspaceSeq(workspace: string): Promise<number> {
    const index = this.#index()
    this.#flush()
    try {
      return index.workspaceSeq(workspace)
    } catch (err) {
      throw toStoreError(err, 'workspaceSeq')
    }
  }

  async changesSince(workspace: string, cursor: number, limit: number): Promise<WorkspaceChanges> {
    const index = this.#index()
    this.#flush()
    try {
      return index.changesSince(workspace, cursor, limit)
    } catch (err) {
      throw toStoreError(err, 'changesSince')
    }
  }

  async workspaces(): Promise<WorkspaceSummary[]> {
    const index = this.#index()
    this.#flush()
    try {
      return index.workspaces()
    } catch (err) {
      throw toStoreError(err, 'workspaces')
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    if (!this.#initError) this.#flush()
    this.#closed = true
    try {
      this.#db?.close()
    } catch (err) {
      throw toStoreError(err, 'close')
    } finally {
      this.#lock?.release()
    }
  }

  /** The stored epoch of a document (meta `epoch`, absent = `"0"`), read inside the caller's transaction. */
  #storedEpoch(s: ReturnType<typeof prepare>, docId: DocId): string {
    const row = s.getMetaValue.get(docId, EPOCH_META_KEY) as { value: unknown } | undefined
    if (row === undefined) return INITIAL_EPOCH
    if (typeof row.value !== 'string') throw corrupted(docId, 'bad metadata row')
    return row.value
  }

  #index(): SqliteWorkspaceIndex {
    this.#ready()
    return this.#workspaces!
  }

  #ready(): ReturnType<typeof prepare> {
    if (this.#closed) throw new WeftError(WeftErrorCode.Destroyed, 'SqliteDocStore is closed')
    if (this.#initError || !this.#stmts)
      throw this.#initError ?? new WeftError(WeftErrorCode.StoreFailed, 'not open')
    return this.#stmts
  }

  /** Commits every queued append in one transaction (group commit, STORE-2.4), then settles their promises. */
  #flush(): void {
    if ((this.#appends.size === 0 && this.#metas.length === 0) || this.#closed || !this.#stmts) return
    const batch = this.#appends.take()
    const metas = this.#metas
    this.#metas = []
    const s = this.#stmts
    // Per append: its clock, or the epoch-mismatch that refused it (STORE-2.5: nothing written, no clock used).
    let clocks: (number | WeftError)[]
    try {
      clocks = this.#db!.transaction(() => {
        const next = new Map<DocId, number>()
        // One meta lookup per document with checked appends, inside this write transaction (nothing cached across).
        const epochs = new Map<DocId, string>()
        // STORE-4.4: the meta entries set before append `i` was queued are written before it.
        let m = 0
        const metasBefore = (i: number): void => {
          for (; m < metas.length && (metas[m] as PendingMeta).after <= i; m++) {
            const { docId, key, value } = metas[m] as PendingMeta
            if (value === null) s.deleteMeta.run(docId, key)
            else s.putMeta.run(docId, key, storedMeta(key, value))
            if (key === EPOCH_META_KEY) epochs.delete(docId)
          }
        }
        const results = batch.map(({ docId, bytes, epoch, meta }, i) => {
          metasBefore(i)
          if (epoch !== undefined) {
            let stored = epochs.get(docId)
            if (stored === undefined) {
              stored = this.#storedEpoch(s, docId)
              epochs.set(docId, stored)
            }
            if (stored !== epoch) return epochMismatch(docId, stored, epoch)
          }
          let clock = next.get(docId)
          if (clock === undefined) {
            // The larger of the snapshot's clock and the log's, in one statement (0 for neither).
            clock = (s.lastClock.get(docId, docId) as { clock: number }).clock
          }
          clock++
          next.set(docId, clock)
          s.insertUpdate.run(docId, clock, bytes)
          // STORE-2.6: in the same transaction as the update.
          for (const [key, value] of Object.entries(meta ?? {})) {
            if (value === null) s.deleteMeta.run(docId, key)
            else s.putMeta.run(docId, key, storedMeta(key, value))
          }
          return clock
        })
        metasBefore(Infinity)
        // WS-STORE-2.1, 2.3: the documents this commit appended to, in the same transaction.
        this.#workspaces!.changed(batch.filter((_, i) => typeof results[i] === 'number').map((p) => p.docId))
        return results
      }).immediate()
    } catch (err) {
      rejectAppends(batch, toStoreError(err, 'append'))
      const error = toStoreError(err, 'setMeta')
      for (const meta of metas) meta.reject(error)
      return
    }
    this.#commits++
    settleAppends(batch, clocks)
    for (const meta of metas) meta.resolve()
    if (metas.some((meta) => meta.value === null)) this.#reclaim()
  }
}

/** A `setMeta` waiting for its group commit (STORE-4.4). */
interface PendingMeta {
  readonly docId: DocId
  readonly key: string
  readonly value: string | null
  /** How many appends of the same batch were queued before it. */
  readonly after: number
  resolve(): void
  reject(err: unknown): void
}

const prepare = (db: Database.Database) => ({
  getSnapshot: db.prepare('SELECT clock, data FROM weft_snapshots WHERE doc = ?'),
  getSnapshotClock: db.prepare('SELECT clock FROM weft_snapshots WHERE doc = ?'),
  getUpdates: db.prepare('SELECT clock, data FROM weft_updates WHERE doc = ? ORDER BY clock'),
  getMeta: db.prepare('SELECT key, value FROM weft_meta WHERE doc = ?'),
  getMetaValue: db.prepare('SELECT value FROM weft_meta WHERE doc = ? AND key = ?'),
  maxClock: db.prepare('SELECT max(clock) AS clock FROM weft_updates WHERE doc = ?'),
  lastClock: db.prepare(
    'SELECT max(coalesce((SELECT clock FROM weft_snapshots WHERE doc = ?), 0), ' +
      'coalesce((SELECT max(clock) FROM weft_updates WHERE doc = ?), 0)) AS clock',
  ),
  insertUpdate: db.prepare('INSERT INTO weft_updates (doc, clock, data) VALUES (?, ?, ?)'),
  putSnapshot: db.prepare(
    'INSERT INTO weft_snapshots (doc, clock, data) VALUES (?, ?, ?) ON CONFLICT (doc) DO UPDATE SET clock = excluded.clock, data = excluded.data',
  ),
  deleteUpdatesThrough: db.prepare('DELETE FROM weft_updates WHERE doc = ? AND clock <= ?'),
  putMeta: db.prepare(
    'INSERT INTO weft_meta (doc, key, value) VALUES (?, ?, ?) ON CONFLICT (doc, key) DO UPDATE SET value = excluded.value',
  ),
  deleteMeta: db.prepare('DELETE FROM weft_meta WHERE doc = ? AND key = ?'),
  removeUpdates: db.prepare('DELETE FROM weft_updates WHERE doc = ?'),
  removeSnapshot: db.prepare('DELETE FROM weft_snapshots WHERE doc = ?'),
  removeMeta: db.prepare('DELETE FROM weft_meta WHERE doc = ?'),
  list: db.prepare(
    'SELECT doc FROM weft_updates UNION SELECT doc FROM weft_snapshots UNION SELECT doc FROM weft_meta',
  ),
})

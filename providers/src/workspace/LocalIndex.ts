import { CATALOGUE_DOC, docId, storedPendingCount, type DocStore, type StoredDoc } from '@weft/core'

/** What this device knows of one locally stored document of a workspace. */
export interface LocalDocInfo {
  /** Stored bytes (as last measured; `-1` when unknown). */
  readonly bytes: number
  /** When it was last opened by the app on this device (ms; 0 = never). */
  readonly lastOpened: number
  /**
   * Local changes not yet confirmed, as its stored meta held them when it was last closed, or, for a document left
   * loaded by a crash, as its stored meta holds them now (WS-CLIENT-6.4; the document's own meta is authoritative).
   */
  readonly pending: number
}

/** The store key of the workspace's device-local index: `W/~local` (`~` is never in a document id). */
export const localIndexKey = (workspace: string): string => `${workspace}/~local`

const parseCount = (v: string | undefined): number => {
  const n = Number(v)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

/** Pending local changes recorded in a stored document's meta, summed over every writer of the store (STORE-9.7). */
export const storedPending = (stored: StoredDoc | null): number =>
  stored ? storedPendingCount(stored.meta) : 0

/**
 * The device-local bookkeeping of a workspace (never synced): which documents are stored here, their size, when
 * the app last opened them, their stored pending count at close, and which are loaded now (`l:`), kept as metadata
 * entries of the store key `W/~local` (one small `setMeta` per change, `"<field>:<docId>"`), so that eviction and the
 * summed pending count need no load of every document: only of those a crash left marked loaded.
 */
export class LocalIndex {
  readonly #store: DocStore
  readonly #key: string
  readonly #prefix: string
  readonly #docs = new Map<string, LocalDocInfo>()
  /** Documents marked loaded (`l:<docId>`) in the store at load: loaded elsewhere, or left loaded by a crash. */
  readonly #loaded = new Set<string>()
  /** Documents this index marked loaded and has not unloaded (its own loads, WS-CLIENT-6.6). */
  readonly #mine = new Set<string>()
  #pending = 0
  #writes: Promise<void> = Promise.resolve()
  readonly #tasks = new Set<Promise<void>>()
  /** Where a failed write is reported (the workspace's `error` event). */
  onError: (err: unknown) => void = () => {}

  private constructor(store: DocStore, workspace: string) {
    this.#store = store
    this.#key = localIndexKey(workspace)
    this.#prefix = `${workspace}/`
  }

  /** Loads the index and the list of stored documents of `workspace` (documents stored but not indexed are added). */
  static async load(store: DocStore, workspace: string): Promise<LocalIndex> {
    const index = new LocalIndex(store, workspace)
    const [stored, ids] = await Promise.all([store.load(docId(index.#key)), store.list()])
    // The recorded fields first (one entry per field recorded, usually far fewer than the stored documents), then
    // every stored document of the workspace: no lookup per document and field (issue #15, warm open).
    const recorded = new Map<string, { bytes: number; lastOpened: number; pending: number }>()
    for (const [key, value] of Object.entries(stored?.meta ?? {})) {
      const field = key.slice(0, 2)
      if (field === 'l:') {
        index.#loaded.add(key.slice(2))
        continue
      }
      if (field !== 'b:' && field !== 'o:' && field !== 'p:') continue
      const d = key.slice(2)
      let info = recorded.get(d)
      if (!info) recorded.set(d, (info = { bytes: -1, lastOpened: 0, pending: 0 }))
      if (field === 'b:') info.bytes = parseCount(value)
      else if (field === 'o:') info.lastOpened = parseCount(value)
      else info.pending = parseCount(value)
    }
    // WS-CLIENT-6.4: a document still marked loaded was not closed (a crash, a closed tab): its recorded fields
    // predate its last changes. Its stored meta is read instead (only these documents are loaded here).
    const storedIds = new Set<string>(ids)
    await Promise.all(
      [...index.#loaded].map(async (d) => {
        const id = `${index.#prefix}${d}`
        if (!storedIds.has(id)) return
        const doc = await store.load(docId(id))
        if (!doc) return
        const info = recorded.get(d)
        const pending = storedPending(doc)
        recorded.set(d, { lastOpened: info?.lastOpened ?? 0, bytes: doc.byteLength, pending })
        // The recorded fields are corrected too (a later close writes only what differs from them).
        if (info?.pending !== pending) index.#write(`p:${d}`, String(pending))
        if (info?.bytes !== doc.byteLength) index.#write(`b:${d}`, String(doc.byteLength))
      }),
    )
    const none: LocalDocInfo = { bytes: -1, lastOpened: 0, pending: 0 }
    const prefix = index.#prefix
    const docs = index.#docs
    for (const id of ids) {
      if (!id.startsWith(prefix)) continue
      const d = id.slice(prefix.length)
      if (d === CATALOGUE_DOC || d.includes('~')) continue
      const info = recorded.get(d)
      docs.set(d, info ?? none)
      if (info) index.#pending += info.pending
    }
    return index
  }

  /** Whether document `d` is stored on this device. */
  has(d: string): boolean {
    return this.#docs.has(d)
  }

  get(d: string): LocalDocInfo | undefined {
    return this.#docs.get(d)
  }

  /** Every locally stored document. */
  entries(): Array<[string, LocalDocInfo]> {
    return [...this.#docs.entries()]
  }

  /** Pending changes of every document, as recorded at close (or read at load for one left loaded, WS-CLIENT-6.4). */
  get pending(): number {
    return this.#pending
  }

  /** Records what is known of `d` now (the fields given), and stores it. */
  set(d: string, info: Partial<LocalDocInfo>): void {
    const old = this.#docs.get(d) ?? { bytes: -1, lastOpened: 0, pending: 0 }
    const next = { ...old, ...info }
    this.#docs.set(d, next)
    this.#pending += next.pending - old.pending
    const writes: Array<[string, string]> = []
    if (next.bytes !== old.bytes && next.bytes >= 0) writes.push([`b:${d}`, String(next.bytes)])
    if (next.lastOpened !== old.lastOpened) writes.push([`o:${d}`, String(next.lastOpened)])
    if (next.pending !== old.pending) writes.push([`p:${d}`, String(next.pending)])
    for (const [k, v] of writes) this.#write(k, v)
  }

  /**
   * Marks `d` loaded (WS-CLIENT-6.4) and resolves once the mark is stored: awaited before the document is opened, so
   * that no local change of it is stored before the mark. A mark left by a crash makes the next {@link load} read
   * the document's stored pending count. One write per load: a mark found at {@link load} may be another tab's, which
   * it clears when it closes the document (WS-CLIENT-6.6).
   */
  loading(d: string): Promise<void> {
    if (this.#mine.has(d)) return this.#writes
    this.#mine.add(d)
    this.#write(`l:${d}`, '1')
    return this.#writes
  }

  /**
   * Records what `d` stored when it was unloaded (the fields given, `pending` from its stored meta) and clears its
   * loaded mark (WS-CLIENT-6.4). Without `info` (nothing of it is stored) only the mark is cleared. `clearMark`
   * false keeps the stored mark: another tab or workspace sharing the store has `d` loaded (WS-CLIENT-6.6).
   */
  unloaded(d: string, info?: Partial<LocalDocInfo>, clearMark = true): void {
    if (info) this.set(d, info)
    this.#loaded.delete(d)
    if (this.#mine.delete(d) && clearMark) this.#write(`l:${d}`, null)
  }

  /** Forgets `d` (its data was removed from the store). */
  delete(d: string): void {
    const marked = this.#loaded.delete(d)
    if (this.#mine.delete(d) || marked) this.#write(`l:${d}`, null)
    const old = this.#docs.get(d)
    if (!old) return
    this.#docs.delete(d)
    this.#pending -= old.pending
    for (const f of ['b', 'o', 'p']) this.#write(`${f}:${d}`, null)
  }

  /**
   * Clears the stored loaded mark of `d` left by {@link unloaded} with `clearMark` false, unless `d` was loaded here
   * again since; resolves once stored. Called while no one else holds `d` open (WS-CLIENT-6.6).
   */
  clearMark(d: string): Promise<void> {
    if (this.#mine.has(d)) return Promise.resolve()
    this.#write(`l:${d}`, null)
    return this.#writes
  }

  /** Keeps `task` (a background {@link clearMark}) until it ends: {@link flushed} waits for it. */
  track(task: Promise<unknown>): void {
    const tracked: Promise<void> = task
      .then(() => undefined)
      .catch((err: unknown) => this.onError(err))
      .finally(() => this.#tasks.delete(tracked))
    this.#tasks.add(tracked)
  }

  /** Resolves once every index write so far (and every tracked task) is stored. */
  async flushed(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all(this.#tasks)
    await this.#writes
  }

  /**
   * Stores one entry. Issued at once, not after the previous write: a store applies the writes of one document in
   * call order (STORE-4.4), and those of one tick share a commit (the marks of the documents a round of brief syncs
   * loads together cost one fsync, not one each in turn).
   */
  #write(key: string, value: string | null): void {
    const write = this.#store.setMeta(docId(this.#key), key, value).catch((err: unknown) => this.onError(err))
    this.#writes = Promise.all([this.#writes, write]).then(() => undefined)
  }
}

import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type {
  AppendOptions,
  CompactOptions,
  CompactResult,
  DocStore,
  RemoveOptions,
  RemoveResult,
  StoredDoc,
} from '../storage/DocStore.js'
import { EPOCH_META_KEY } from '../storage/epochPersist.js'
import { epochMismatchError } from '../storage/DocStore.js'
import { INITIAL_EPOCH } from '../storage/epochRecord.js'
import {
  changesPage,
  compactionIsChange,
  pageSize,
  indexedWorkspaceDoc,
  type WorkspaceChange,
  type WorkspaceChanges,
  type WorkspaceIndex,
  type WorkspaceSummary,
} from '../storage/WorkspaceIndex.js'

interface MemoryEntry {
  snapshot: Uint8Array | null
  snapshotClock: number
  /** Highest clock ever handed out for this document (clocks are never reused, STORE-3.2). */
  lastClock: number
  updates: { clock: number; bytes: Uint8Array }[]
  meta: Map<string, string>
}

/** One workspace's change sequence and the last seq of each of its documents (`removed`: a tombstone). */
interface MemoryWorkspace {
  seq: number
  readonly docs: Map<string, { seq: number; removed: boolean }>
}

/**
 * An in-memory {@link DocStore} for tests and fuzzing. It follows the whole contract (docs/spec/storage.md) except
 * durability across processes; keep the same instance to simulate a restart of the peer that uses it. It keeps the
 * {@link WorkspaceIndex} (`WS-STORE-*`): each append, epoch switch and removal is its own transaction, so each
 * advances the document's workspace sequence by one (a log compaction advances nothing, WS-STORE-2.1).
 */
export class MemoryDocStore implements DocStore, WorkspaceIndex {
  readonly #docs = new Map<DocId, MemoryEntry>()
  readonly #workspaces = new Map<string, MemoryWorkspace>()
  #closed = false

  /** Number of write operations (append, compact, setMeta, remove) performed so far; tests use it. */
  writeCount = 0

  async load(docId: DocId): Promise<StoredDoc | null> {
    this.#check()
    await Promise.resolve()
    const entry = this.#docs.get(docId)
    if (!entry) return null
    const updates = entry.updates.map((u) => u.bytes.slice())
    const snapshot = entry.snapshot?.slice() ?? null
    return {
      snapshot,
      updates,
      clock: this.#clockOf(docId),
      byteLength: (snapshot?.byteLength ?? 0) + updates.reduce((n, u) => n + u.byteLength, 0),
      meta: Object.fromEntries(entry.meta),
    }
  }

  async append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    this.#check()
    // Checked and written synchronously: nothing can come between the check and the write (STORE-2.5).
    if (options?.epoch !== undefined && options.epoch !== this.#epochOf(docId)) {
      throw epochMismatchError('MemoryDocStore', docId, this.#epochOf(docId), options.epoch)
    }
    this.writeCount++
    // The clock is taken synchronously, so concurrent appends are ordered by call (STORE-2.2).
    const entry = this.#entry(docId)
    const clock = ++entry.lastClock
    entry.updates.push({ clock, bytes: new Uint8Array(update) })
    // STORE-2.6: the meta entries in the same (synchronous) step as the update.
    for (const [key, value] of Object.entries(options?.meta ?? {})) {
      if (value === null) entry.meta.delete(key)
      else entry.meta.set(key, value)
    }
    this.#advance(docId, false)
    await Promise.resolve()
    return clock
  }

  async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    this.#check()
    const copy = new Uint8Array(snapshot)
    await Promise.resolve()
    const entry = this.#docs.get(docId)
    const lastClock = entry?.lastClock ?? 0
    if (throughClock < (entry?.snapshotClock ?? 0) || throughClock > lastClock)
      return { ok: false, reason: 'stale' }
    // STORE-3.7: clocks are never reused, so an update above throughClock exists iff the last clock is above it.
    if (options?.exact && lastClock > throughClock) return { ok: false, reason: 'stale' }
    if (options?.epoch !== undefined && options.epoch !== this.#epochOf(docId))
      return { ok: false, reason: 'stale' }
    this.writeCount++
    const hadContent = entry !== undefined && (entry.snapshot !== null || entry.updates.length > 0)
    const change = compactionIsChange(options?.meta, () => this.#epochOf(docId), hadContent)
    const e = this.#entry(docId)
    e.snapshot = copy
    e.snapshotClock = throughClock
    e.updates = e.updates.filter((u) => u.clock > throughClock)
    for (const [key, value] of Object.entries(options?.meta ?? {})) {
      if (value === null) e.meta.delete(key)
      else e.meta.set(key, value)
    }
    if (change) this.#advance(docId, false)
    return { ok: true }
  }

  async setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    this.#check()
    this.writeCount++
    await Promise.resolve()
    if (value === null) {
      const entry = this.#docs.get(docId)
      entry?.meta.delete(key)
      if (entry && entry.snapshot === null && entry.updates.length === 0 && entry.meta.size === 0) {
        this.#docs.delete(docId)
      }
    } else {
      this.#entry(docId).meta.set(key, value)
    }
  }

  async remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    this.#check()
    await Promise.resolve()
    // STORE-5.3: checked and removed synchronously, nothing comes in between.
    if (options?.ifClock !== undefined && options.ifClock !== this.#clockOf(docId))
      return { ok: false, reason: 'stale' }
    this.writeCount++
    this.#docs.delete(docId)
    // WS-STORE-4.1: a tombstone, when the workspace index held the document.
    const split = indexedWorkspaceDoc(docId)
    const row = split && this.#workspaces.get(split.workspace)?.docs.get(split.doc)
    if (row && !row.removed) this.#advance(docId, true)
    return { ok: true }
  }

  /** The document's clock as `load` gives it (0 when nothing is stored). */
  #clockOf(docId: DocId): number {
    const entry = this.#docs.get(docId)
    return entry ? (entry.updates.at(-1)?.clock ?? entry.snapshotClock) : 0
  }

  async workspaceSeq(workspace: string): Promise<number> {
    this.#check()
    await Promise.resolve()
    return this.#workspaces.get(workspace)?.seq ?? 0
  }

  async changesSince(workspace: string, cursor: number, limit: number): Promise<WorkspaceChanges> {
    this.#check()
    await Promise.resolve()
    const ws = this.#workspaces.get(workspace)
    if (!ws) return changesPage([], limit, 0)
    const rows: WorkspaceChange[] = [...ws.docs]
      .filter(([, row]) => row.seq > cursor)
      .map(([doc, row]) => ({ doc, seq: row.seq }))
      .sort((a, b) => a.seq - b.seq)
      .slice(0, pageSize(limit) + 1)
    return changesPage(rows, limit, ws.seq)
  }

  async workspaces(): Promise<WorkspaceSummary[]> {
    this.#check()
    await Promise.resolve()
    return [...this.#workspaces]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, ws]) => {
        let documents = 0
        let bytes = 0
        for (const [doc, row] of ws.docs) {
          if (row.removed) continue
          documents++
          const entry = this.#docs.get(`${id}/${doc}` as DocId)
          bytes +=
            (entry?.snapshot?.byteLength ?? 0) +
            (entry?.updates ?? []).reduce((n, u) => n + u.bytes.byteLength, 0)
        }
        return { id, documents, seq: ws.seq, bytes }
      })
  }

  async list(): Promise<DocId[]> {
    this.#check()
    await Promise.resolve()
    return [...this.#docs.keys()]
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.resolve()
  }

  /** WS-STORE-2.1: one change of `docId` (in the caller's synchronous step): its workspace's next seq. */
  #advance(docId: DocId, removed: boolean): void {
    const split = indexedWorkspaceDoc(docId)
    if (!split) return
    let ws = this.#workspaces.get(split.workspace)
    if (!ws) {
      ws = { seq: 0, docs: new Map() }
      this.#workspaces.set(split.workspace, ws)
    }
    ws.seq++
    ws.docs.set(split.doc, { seq: ws.seq, removed })
  }

  #entry(docId: DocId): MemoryEntry {
    let entry = this.#docs.get(docId)
    if (!entry) {
      entry = { snapshot: null, snapshotClock: 0, lastClock: 0, updates: [], meta: new Map() }
      this.#docs.set(docId, entry)
    }
    return entry
  }

  #epochOf(docId: DocId): string {
    return this.#docs.get(docId)?.meta.get(EPOCH_META_KEY) ?? INITIAL_EPOCH
  }

  #check(): void {
    if (this.#closed) throw new WeftError(WeftErrorCode.Destroyed, 'MemoryDocStore is closed')
  }
}

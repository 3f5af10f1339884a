import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type {
  AppendOptions,
  CompactOptions,
  CompactResult,
  DocStore,
  StoredDoc,
} from '../storage/DocStore.js'
import { EPOCH_META_KEY } from '../storage/epochPersist.js'
import { epochMismatchError } from '../storage/DocStore.js'
import { INITIAL_EPOCH } from '../storage/epochRecord.js'

interface MemoryEntry {
  snapshot: Uint8Array | null
  snapshotClock: number
  /** Highest clock ever handed out for this document (clocks are never reused, STORE-3.2). */
  lastClock: number
  updates: { clock: number; bytes: Uint8Array }[]
  meta: Map<string, string>
}

/**
 * An in-memory {@link DocStore} for tests and fuzzing. It follows the whole contract (docs/spec/storage.md) except
 * durability across processes; keep the same instance to simulate a restart of the peer that uses it.
 */
export class MemoryDocStore implements DocStore {
  readonly #docs = new Map<DocId, MemoryEntry>()
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
    const last = entry.updates.at(-1)
    return {
      snapshot,
      updates,
      clock: last ? last.clock : entry.snapshotClock,
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
    const e = this.#entry(docId)
    e.snapshot = copy
    e.snapshotClock = throughClock
    e.updates = e.updates.filter((u) => u.clock > throughClock)
    for (const [key, value] of Object.entries(options?.meta ?? {})) {
      if (value === null) e.meta.delete(key)
      else e.meta.set(key, value)
    }
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

  async remove(docId: DocId): Promise<void> {
    this.#check()
    this.writeCount++
    await Promise.resolve()
    this.#docs.delete(docId)
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

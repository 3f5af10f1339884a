import type { DocId } from '../ids.js'
import type {
  AppendOptions,
  CompactOptions,
  CompactResult,
  DocStore,
  RemoveOptions,
  RemoveResult,
  StoredDoc,
} from '../storage/DocStore.js'

/**
 * A {@link DocStore} wrapper that simulates a crash of the process after its `crashAfter`-th write operation
 * (`append`, `compact`, `setMeta`, `remove`, in call order): the first `crashAfter` writes reach the inner store,
 * every later one is dropped. A dropped write still "succeeds" (an append gets a made-up clock), so the code under
 * test runs on as if nothing happened; what it does after the crash is never persisted, which is what a crash looks
 * like from the next start. Reads go to the inner store. Reopen the inner store (or a new instance on the same
 * medium) after {@link settled} to see what survived. `crashAfter: Infinity` never crashes (counts the writes).
 */
export class CrashingDocStore implements DocStore {
  readonly #inner: DocStore
  readonly #crashAfter: number
  readonly #onCrash: (() => void) | undefined
  readonly #forwarded = new Set<Promise<unknown>>()
  #fakeClock = 1_000_000_000
  /** Write operations attempted so far (forwarded or dropped). */
  writes = 0

  constructor(
    inner: DocStore,
    options: {
      /** How many writes reach the inner store. */
      readonly crashAfter: number
      /** Called synchronously when the first write is dropped: the instant of the crash. */
      readonly onCrash?: () => void
    },
  ) {
    this.#inner = inner
    this.#crashAfter = options.crashAfter
    this.#onCrash = options.onCrash
  }

  /** Whether the crash happened (a write was dropped). */
  get crashed(): boolean {
    return this.writes > this.#crashAfter
  }

  /** Resolves once every write forwarded to the inner store settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#forwarded])
  }

  load(docId: DocId): Promise<StoredDoc | null> {
    return this.#inner.load(docId)
  }

  append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    return this.#write(
      () => this.#inner.append(docId, update, options),
      () => ++this.#fakeClock,
    )
  }

  compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    return this.#write(
      () => this.#inner.compact(docId, snapshot, throughClock, options),
      () => ({ ok: true }) as const,
    )
  }

  setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    return this.#write(
      () => this.#inner.setMeta(docId, key, value),
      () => undefined,
    )
  }

  remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    return this.#write(
      () => this.#inner.remove(docId, options),
      () => ({ ok: true }) as const,
    )
  }

  list(): Promise<DocId[]> {
    return this.#inner.list()
  }

  /** Does not close the inner store (the test reopens it). */
  async close(): Promise<void> {
    await this.settled()
  }

  #write<T>(forward: () => Promise<T>, dropped: () => T): Promise<T> {
    this.writes++
    if (this.writes === this.#crashAfter + 1) this.#onCrash?.()
    if (this.writes > this.#crashAfter) return Promise.resolve(dropped())
    const p = forward()
    const settled = p.then(
      () => undefined,
      () => undefined,
    )
    this.#forwarded.add(settled)
    return p
  }
}

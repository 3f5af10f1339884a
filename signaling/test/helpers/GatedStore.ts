import type {
  AppendOptions,
  CompactOptions,
  CompactResult,
  DocId,
  DocStore,
  RemoveOptions,
  RemoveResult,
  StoredDoc,
} from '@weft/core'

/** A deferred promise. */
export const deferred = <T = void>() => {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * Wraps a DocStore for tests: counts calls, lets a test hold `load` or `append` until it releases them, and
 * reports every call as it happens (`nextAppend()`, `nextLoad()`).
 */
export class GatedStore implements DocStore {
  readonly inner: DocStore
  loads = 0
  appends = 0
  compactions = 0
  /** `compact` calls, counted when called (`compactions` counts completions). */
  compactCalls = 0
  #loadGate: Promise<void> | null = null
  #appendGate: Promise<void> | null = null
  #appendWaiters: Array<(docId: DocId) => void> = []
  #loadWaiters: Array<(docId: DocId) => void> = []
  #appendCallWaiters: Array<(docId: DocId) => void> = []
  #compactWaiters: Array<() => void> = []

  constructor(inner: DocStore) {
    this.inner = inner
  }

  /** Holds every `load` until the returned function is called. */
  holdLoads(): () => void {
    const d = deferred()
    this.#loadGate = d.promise
    return () => {
      this.#loadGate = null
      d.resolve()
    }
  }

  /** Holds every `append` until the returned function is called. */
  holdAppends(): () => void {
    const d = deferred()
    this.#appendGate = d.promise
    return () => {
      this.#appendGate = null
      d.resolve()
    }
  }

  /** Resolves when the next `append` completed (durable). */
  nextAppend(): Promise<DocId> {
    return new Promise((resolve) => this.#appendWaiters.push(resolve))
  }

  /** Resolves when `append` is next called (before it completes). */
  nextAppendCall(): Promise<DocId> {
    return new Promise((resolve) => this.#appendCallWaiters.push(resolve))
  }

  /** Resolves when the next `load` was called (before it completes). */
  nextLoad(): Promise<DocId> {
    return new Promise((resolve) => this.#loadWaiters.push(resolve))
  }

  /** Resolves when the next `compact` completed. */
  nextCompaction(): Promise<void> {
    return new Promise((resolve) => this.#compactWaiters.push(resolve))
  }

  async load(docId: DocId): Promise<StoredDoc | null> {
    this.loads++
    for (const w of this.#loadWaiters.splice(0)) w(docId)
    if (this.#loadGate) await this.#loadGate
    return this.inner.load(docId)
  }

  async append(docId: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    this.appends++
    for (const w of this.#appendCallWaiters.splice(0)) w(docId)
    if (this.#appendGate) await this.#appendGate
    const clock = await this.inner.append(docId, update, options)
    for (const w of this.#appendWaiters.splice(0)) w(docId)
    return clock
  }

  async compact(
    docId: DocId,
    snapshot: Uint8Array,
    throughClock: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    this.compactCalls++
    const result = await this.inner.compact(docId, snapshot, throughClock, options)
    this.compactions++
    for (const w of this.#compactWaiters.splice(0)) w()
    return result
  }

  setMeta(docId: DocId, key: string, value: string | null): Promise<void> {
    return this.inner.setMeta(docId, key, value)
  }

  remove(docId: DocId, options?: RemoveOptions): Promise<RemoveResult> {
    return this.inner.remove(docId, options)
  }

  list(): Promise<DocId[]> {
    return this.inner.list()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

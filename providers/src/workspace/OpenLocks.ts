/**
 * "This document is open somewhere" across the tabs or workspaces sharing one store (WS-CLIENT-5.3, WS-CLIENT-6.6).
 *
 * In browsers it is the Web Locks API: each load holds a `shared` lock named after the document until its unload,
 * and the browser drops it when the tab closes or crashes; a tab that wants to evict a document, or to clear its
 * loaded mark, asks for the `exclusive` lock with `ifAvailable` and skips when it is not granted. Where
 * `navigator.locks` is absent (Node 20) a per-process registry does the same for the workspaces of one process:
 * two Node processes sharing one SQLite file do not see each other's open documents (their evictions remain guarded
 * only by the conditional remove, STORE-5.3).
 */
export interface OpenLocks {
  /** Holds `name` shared (open here) and resolves once held, with the function that releases it. */
  hold(name: string): Promise<() => void>
  /**
   * Runs `fn` while holding `name` exclusively if no one holds it now (never waits); resolves with `fn`'s result, or
   * `undefined` without running it when `name` is held (open somewhere).
   */
  ifFree<T>(name: string, fn: () => Promise<T>): Promise<T | undefined>
}

/** The lock name of stored document `key` (a workspace document id, `W/D`). */
export const openLockName = (key: string): string => `weft-open:${key}`

interface LockManagerLike {
  request<T>(
    name: string,
    options: { mode?: 'shared' | 'exclusive'; ifAvailable?: boolean },
    callback: (lock: unknown) => Promise<T> | T,
  ): Promise<T>
}

/** The Web Locks implementation over `locks` (`navigator.locks`). */
export const webOpenLocks = (locks: LockManagerLike): OpenLocks => ({
  hold: (name) =>
    new Promise((resolve, reject) => {
      locks
        .request(name, { mode: 'shared' }, () => new Promise<void>((release) => resolve(() => release())))
        .catch(reject)
    }),
  ifFree: (name, fn) =>
    locks.request(name, { mode: 'exclusive', ifAvailable: true }, (lock) => (lock ? fn() : undefined)),
})

interface Entry {
  shared: number
  exclusive: Promise<void> | null
}

/** The per-process implementation (one registry for every workspace of the process). */
export const processOpenLocks = (): OpenLocks => {
  const entries = new Map<string, Entry>()
  const entry = (name: string): Entry => {
    let e = entries.get(name)
    if (!e) entries.set(name, (e = { shared: 0, exclusive: null }))
    return e
  }
  const tidy = (name: string, e: Entry) => {
    if (e.shared === 0 && !e.exclusive) entries.delete(name)
  }
  return {
    async hold(name) {
      let e = entry(name)
      while (e.exclusive) {
        await e.exclusive
        e = entry(name)
      }
      e.shared++
      let released = false
      return () => {
        if (released) return
        released = true
        e.shared--
        tidy(name, e)
      }
    },
    async ifFree(name, fn) {
      const e = entry(name)
      if (e.shared > 0 || e.exclusive) return undefined
      let done!: () => void
      e.exclusive = new Promise<void>((resolve) => (done = resolve))
      try {
        return await fn()
      } finally {
        e.exclusive = null
        done()
        tidy(name, e)
      }
    },
  }
}

let processLocks: OpenLocks | null = null

/** `navigator.locks` when the platform has it, else the per-process registry. */
export const defaultOpenLocks = (): OpenLocks => {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks
  if (locks) return webOpenLocks(locks)
  return (processLocks ??= processOpenLocks())
}

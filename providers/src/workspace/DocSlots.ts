import type { WeftDoc } from '../WeftDoc.js'

/** Who holds a loaded document: the app (`open`) or the workspace syncing it briefly (preload, pending push). */
export type SlotHolder = 'app' | 'sync'

interface Slot {
  ready: Promise<WeftDoc>
  doc: WeftDoc | null
  app: number
  sync: number
  closing: Promise<void> | null
}

/**
 * The documents of a workspace that hold a `Y.Doc` now: one {@link WeftDoc} per document, shared by every holder,
 * reference-counted, unloaded (destroyed) when the last holder releases it (WS-CLIENT-3). Removing a document's
 * stored data ({@link exclusive}) runs only while it is not loaded, and a load waits for it.
 */
export class DocSlots {
  readonly #slots = new Map<string, Slot>()
  readonly #removing = new Map<string, Promise<void>>()
  readonly #open: (d: string) => Promise<WeftDoc>
  readonly #unload: (d: string, doc: WeftDoc) => Promise<void>

  constructor(options: {
    readonly open: (d: string) => Promise<WeftDoc>
    /** Called once the last holder released `doc`; it must destroy it. */
    readonly unload: (d: string, doc: WeftDoc) => Promise<void>
  }) {
    this.#open = options.open
    this.#unload = options.unload
  }

  /** Loads `d` (or shares the loaded one) for `holder`. Every acquire is matched by one {@link release}. */
  async acquire(d: string, holder: SlotHolder): Promise<WeftDoc> {
    for (;;) {
      const removing = this.#removing.get(d)
      if (removing) {
        await removing
        continue
      }
      const slot = this.#slots.get(d)
      if (slot?.closing) {
        await slot.closing
        continue
      }
      if (slot) {
        slot[holder]++
        return slot.ready
      }
      break
    }
    const slot: Slot = {
      ready: Promise.resolve(null as unknown as WeftDoc),
      doc: null,
      app: 0,
      sync: 0,
      closing: null,
    }
    slot[holder]++
    slot.ready = this.#open(d).then((doc) => {
      slot.doc = doc
      return doc
    })
    slot.ready.catch(() => {
      if (this.#slots.get(d) === slot) this.#slots.delete(d)
    })
    this.#slots.set(d, slot)
    return slot.ready
  }

  /** Releases one hold of `holder` on `d`; the last release unloads it. Extra releases do nothing. */
  async release(d: string, holder: SlotHolder): Promise<void> {
    const slot = this.#slots.get(d)
    if (!slot || slot.closing || slot[holder] === 0) return
    slot[holder]--
    if (slot.app + slot.sync > 0) return
    slot.closing = (async () => {
      const doc = await slot.ready.catch(() => null)
      if (doc) await this.#unload(d, doc)
    })().finally(() => {
      if (this.#slots.get(d) === slot) this.#slots.delete(d)
    })
    await slot.closing
  }

  /** The loaded document `d` (null while loading, closing or not loaded). */
  get(d: string): WeftDoc | null {
    const slot = this.#slots.get(d)
    return slot && !slot.closing ? slot.doc : null
  }

  /** Whether the app holds `d` open. */
  isOpen(d: string): boolean {
    const slot = this.#slots.get(d)
    return slot !== undefined && !slot.closing && slot.app > 0
  }

  /** Whether `d` holds a `Y.Doc` (loading, loaded or closing) or its data is being removed. */
  isBusy(d: string): boolean {
    return this.#slots.has(d) || this.#removing.has(d)
  }

  /** Ids of the documents that hold a `Y.Doc` now (loading, loaded or closing). */
  loaded(): string[] {
    return [...this.#slots.keys()]
  }

  /** The loaded documents with their holders. */
  *docs(): Generator<[string, WeftDoc, { app: number; sync: number }]> {
    for (const [d, slot] of this.#slots) if (slot.doc && !slot.closing) yield [d, slot.doc, slot]
  }

  /**
   * Runs `fn` while `d` is not loaded, keeping any load of it waiting until `fn` settles; returns `undefined`
   * without running it when `d` is loaded (a document in use is never removed).
   */
  async exclusive<T>(d: string, fn: () => Promise<T>): Promise<T | undefined> {
    for (let r = this.#removing.get(d); r; r = this.#removing.get(d)) await r
    if (this.#slots.has(d)) return undefined
    let done = (): void => {}
    this.#removing.set(
      d,
      new Promise<void>((resolve) => {
        done = resolve
      }),
    )
    try {
      return await fn()
    } finally {
      this.#removing.delete(d)
      done()
    }
  }

  /** Unloads every document (the workspace closes). */
  async closeAll(): Promise<void> {
    const closing: Array<Promise<void>> = []
    for (const [d, slot] of this.#slots) {
      if (slot.closing) {
        closing.push(slot.closing)
        continue
      }
      slot.app = Math.min(slot.app, 1)
      slot.sync = 0
      if (slot.app === 0) slot.app = 1
      closing.push(this.release(d, 'app'))
    }
    await Promise.all(closing)
  }
}

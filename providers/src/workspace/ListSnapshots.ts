import type * as Y from 'yjs'
import { CATALOGUE_DOC, workspaceDocId, type DocStore, type Fields } from '@weft/core'
import type { WeftDoc } from '../WeftDoc.js'
import type { CatalogueRecord, CatalogueSchema } from './catalogue.js'
import { LIST_SNAPSHOT_META, encodeListSnapshot, schemaFingerprint } from './listSnapshot.js'

/** How long after a catalogue change the list's snapshot is written (ms): never on the path of the edit itself. */
export const LIST_SNAPSHOT_DELAY_MS = 1000

/** Records compared per step of {@link ListSnapshots.adopt} (a few ms, WS-CLIENT-8.4). */
export const ADOPT_SLICE = 500

/** The comparison of the live catalogue's records with the snapshot's, a slice per {@link step}. @internal */
export interface Adoption {
  /** Compares the next slice of records; returns true once every record is compared. */
  readonly step: () => boolean
  /** The ids whose record differs from the snapshot's (complete once `step` returned true). */
  readonly differing: readonly string[]
}

/** What {@link ListSnapshots} needs of the workspace. @internal */
export interface ListSnapshotsOptions<M extends Fields> {
  readonly store: DocStore
  readonly workspace: string
  readonly schema: CatalogueSchema<M>
  /** The catalogue's `Y.Doc` (its transactions are counted). */
  readonly doc: Y.Doc
  /** The catalogue when a snapshot may be taken of it (its stored state applied, not closed), else null. */
  readonly catalogue: () => WeftDoc | null
  /** The live record `id` (tombstone rule applied), or undefined. */
  readonly read: (id: string) => CatalogueRecord<M> | undefined
  /** The ids of the catalogue's records (invalid ones included: `read` leaves them out). */
  readonly ids: () => string[]
  /** Every live record. */
  readonly all: () => Array<CatalogueRecord<M>>
  readonly error: (err: unknown) => void
}

const equal = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(
    (k) => Object.hasOwn(b, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  )
}

/**
 * Keeps this device's snapshot of the list's records (WS-CLIENT-8) in the catalogue's store meta
 * `workspace-list`: the live records are kept up to date from each catalogue change (only the changed ones are
 * read), and written, debounced, once the catalogue's persistence has stored every change, tagged with the clock
 * and epoch the store holds them at. A crash between a catalogue append and the snapshot's write leaves an older
 * tag: the next open sees it stale and applies the catalogue first (WS-CLIENT-8.2). Created by the workspace.
 * @internal
 */
export class ListSnapshots<M extends Fields> {
  readonly #o: ListSnapshotsOptions<M>
  readonly #key
  readonly #schema: string
  #live: Map<string, CatalogueRecord<M>> | null = null
  #dirty = false
  #disabled = false
  #closed = false
  #timer: ReturnType<typeof setTimeout> | null = null
  #writing: Promise<void> = Promise.resolve()
  #transactions = 0
  readonly #onTransaction = (): void => {
    this.#transactions++
  }

  constructor(options: ListSnapshotsOptions<M>) {
    this.#o = options
    this.#key = workspaceDocId(options.workspace, CATALOGUE_DOC)
    this.#schema = schemaFingerprint(options.schema)
    options.doc.on('afterTransaction', this.#onTransaction)
  }

  /**
   * Takes the live catalogue's records (just applied), {@link ADOPT_SLICE} records per `step()` (WS-CLIENT-8.4),
   * and finds the ids whose record differs from `before` (the snapshot the list was read from): added, removed or
   * changed. The catalogue must not change until `step()` returns true; then `differing` holds them.
   */
  adopt(before: ReadonlyMap<string, CatalogueRecord<M>>): Adoption {
    const ids = this.#o.ids()
    const live = new Map<string, CatalogueRecord<M>>()
    const differing: string[] = []
    let at = 0
    return {
      differing,
      step: () => {
        const end = Math.min(ids.length, at + ADOPT_SLICE)
        for (; at < end; at++) {
          const id = ids[at]!
          const record = this.#o.read(id)
          if (!record) continue
          live.set(id, record)
          if (!equal(record, before.get(id))) differing.push(id)
        }
        if (at < ids.length) return false
        for (const id of before.keys()) if (!live.has(id)) differing.push(id)
        this.#live = live
        return true
      },
    }
  }

  /** The records `ids` changed: they are read again and a write is scheduled. */
  changed(ids: readonly string[]): void {
    const live = this.#live
    if (live)
      for (const id of ids) {
        const record = this.#o.read(id)
        if (record) live.set(id, record)
        else live.delete(id)
      }
    this.schedule()
  }

  /** Schedules a write of the snapshot ({@link LIST_SNAPSHOT_DELAY_MS} from the first change not yet written). */
  schedule(): void {
    if (this.#disabled || this.#closed) return
    this.#dirty = true
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.flush()
    }, LIST_SNAPSHOT_DELAY_MS)
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  /** Writes the snapshot now if a change is not written yet; resolves once written (or found not possible now). */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#writing = this.#writing.then(() => this.#write()).catch((err: unknown) => this.#o.error(err))
    return this.#writing
  }

  /** Stops: nothing more is scheduled or written (a write under way completes). */
  close(): void {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#o.doc.off('afterTransaction', this.#onTransaction)
  }

  async #write(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const catalogue = this.#o.catalogue()
      const persistence = catalogue?.handle.persistence
      if (!this.#dirty || this.#closed || !persistence) return
      const seen = this.#transactions
      await persistence.flushed()
      if (this.#closed || this.#o.catalogue() !== catalogue) return
      // Changed while storing: the store does not hold this state yet; tried again.
      if (this.#transactions !== seen) continue
      const { held, last, epoch } = persistence.clocks
      // Another writer of the store (a tab) appended between this writer's appends: the doc's state is not the
      // stored state at any one clock; the next change tries again.
      if (held !== last || epoch === undefined) return
      this.#live ??= new Map(this.#o.all().map((r) => [r.id, r]))
      const text = encodeListSnapshot(this.#live.values(), { clock: held, epoch, schema: this.#schema })
      if (text === null) {
        this.#disabled = true
        return
      }
      this.#dirty = false
      await this.#o.store.setMeta(this.#key, LIST_SNAPSHOT_META, text)
      return
    }
  }
}

import { ObservableV2 } from 'lib0/observable'
import type { Fields } from '@weft/core'
import type { CatalogueRecord } from './catalogue.js'

/**
 * One document of a workspace as the list shows it: its catalogue record (`id`, `title`, the app's metadata,
 * `createdAt`, `updatedAt`, `size`, `deleted`, `deletedAt`) and what this device knows of it.
 */
export type WorkspaceEntry<M extends Fields = Fields> = CatalogueRecord<M> & {
  /** Its data is stored on this device (opens without the network). */
  readonly local: boolean
  /** The app has it open (`workspace.open`). */
  readonly open: boolean
  /**
   * Open, but not synced since it was opened: what it shows may be behind the relay and peers (WS-CLIENT-4.3).
   * False for documents that are not open.
   */
  readonly stale: boolean
  /** The preload policy keeps it locally and in sync. */
  readonly preloaded: boolean
}

/** Events of a {@link WorkspaceList}. */
export type WorkspaceListEvents = {
  /** Entries changed: `ids` are the documents whose entry (catalogue record or local state) may have changed. */
  change: (event: { readonly ids: readonly string[] }) => void
}

/** How the list reads the workspace: every entry (once), and one entry by id (after a change of it). */
export interface WorkspaceListReader<M extends Fields> {
  readonly all: () => Array<WorkspaceEntry<M>>
  readonly one: (id: string) => WorkspaceEntry<M> | undefined
}

const order = <M extends Fields>(a: WorkspaceEntry<M>, b: WorkspaceEntry<M>): number =>
  b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * The observable list of a workspace's documents: {@link entries} (not deleted), {@link deleted} (tombstones, kept
 * until purged), {@link get}, and a `change` event after every change of the catalogue (local or from a peer) or
 * of a document's local state (stored, opened, synced). The whole catalogue is read once; after a change only the
 * changed ids are read again (issue #15).
 */
export class WorkspaceList<M extends Fields = Fields> extends ObservableV2<WorkspaceListEvents> {
  readonly #reader: WorkspaceListReader<M>
  #byId: Map<string, WorkspaceEntry<M>> | null = null
  readonly #dirty = new Set<string>()
  #entries: Array<WorkspaceEntry<M>> | null = null
  #deleted: Array<WorkspaceEntry<M>> | null = null

  /** Created by the workspace (`workspace.list`); not for apps to construct. @internal */
  constructor(reader: WorkspaceListReader<M>) {
    super()
    this.#reader = reader
  }

  /** The documents not deleted, newest `updatedAt` first (ties by id). */
  get entries(): ReadonlyArray<WorkspaceEntry<M>> {
    this.#refresh()
    this.#entries ??= [...this.#byId!.values()].filter((e) => !e.deleted).sort(order)
    return this.#entries
  }

  /** The deleted documents (tombstones), newest `deletedAt` first (ties by id). */
  get deleted(): ReadonlyArray<WorkspaceEntry<M>> {
    this.#refresh()
    this.#deleted ??= [...this.#byId!.values()]
      .filter((e) => e.deleted)
      .sort((a, b) => b.deletedAt - a.deletedAt || order(a, b))
    return this.#deleted
  }

  /** The entry of document `id` (deleted or not), or undefined. */
  get(id: string): WorkspaceEntry<M> | undefined {
    this.#refresh()
    return this.#byId!.get(id)
  }

  /** @internal Called by the workspace after a change of the entries `ids`. */
  _changed(ids: readonly string[]): void {
    if (this.#byId !== null) for (const id of ids) this.#dirty.add(id)
    this.#entries = null
    this.#deleted = null
    this.emit('change', [{ ids }])
  }

  /** Reads what changed since the last read: everything the first time, then only the changed ids. */
  #refresh(): void {
    if (this.#byId === null) {
      this.#byId = new Map(this.#reader.all().map((e) => [e.id, e]))
      return
    }
    for (const id of this.#dirty) {
      const e = this.#reader.one(id)
      if (e) this.#byId.set(id, e)
      else this.#byId.delete(id)
    }
    this.#dirty.clear()
  }
}

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

/**
 * The observable list of a workspace's documents: {@link entries} (not deleted), {@link deleted} (tombstones, kept
 * until purged), {@link get}, and a `change` event after every change of the catalogue (local or from a peer) or
 * of a document's local state (stored, opened, synced). Entries are recomputed on read after a change.
 */
export class WorkspaceList<M extends Fields = Fields> extends ObservableV2<WorkspaceListEvents> {
  readonly #read: () => Array<WorkspaceEntry<M>>
  #cache: Array<WorkspaceEntry<M>> | null = null
  #byId: Map<string, WorkspaceEntry<M>> | null = null

  /** Created by the workspace. */
  constructor(read: () => Array<WorkspaceEntry<M>>) {
    super()
    this.#read = read
  }

  /** The documents not deleted, newest `updatedAt` first (ties by id). */
  get entries(): ReadonlyArray<WorkspaceEntry<M>> {
    return this.#all().filter((e) => !e.deleted)
  }

  /** The deleted documents (tombstones), newest `deletedAt` first. */
  get deleted(): ReadonlyArray<WorkspaceEntry<M>> {
    return this.#all()
      .filter((e) => e.deleted)
      .sort((a, b) => b.deletedAt - a.deletedAt)
  }

  /** The entry of document `id` (deleted or not), or undefined. */
  get(id: string): WorkspaceEntry<M> | undefined {
    this.#all()
    return this.#byId?.get(id)
  }

  /** @internal Called by the workspace after a change. */
  _changed(ids: readonly string[]): void {
    this.#cache = null
    this.#byId = null
    this.emit('change', [{ ids }])
  }

  #all(): Array<WorkspaceEntry<M>> {
    if (this.#cache === null) {
      this.#cache = this.#read().sort(
        (a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      )
      this.#byId = new Map(this.#cache.map((e) => [e.id, e]))
    }
    return this.#cache
  }
}

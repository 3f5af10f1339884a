import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import type { DocStore } from './DocStore.js'
import { newWriterId, writerEntries, writerKey } from './writerMeta.js'

/** Meta key (in the document's DocStore) of the client ids this device wrote the document with (RULES-5.11). */
export const OWN_CLIENTS_META = 'weft:own-clients'

/**
 * The Yjs client ids under which this device wrote a document into its store, earlier sessions' included
 * (docs/spec/rules.md, RULES-5.11). A session's client id is recorded with the first append that holds items of it,
 * in the same atomic step (the append's metadata, STORE-2.6), so a stored item of this device always has its id
 * recorded: a refused change that an earlier session stored but never rolled back (it crashed in between) is known
 * as this device's own, and a later rollback removes it like one of the current id's. Kept by
 * {@link DocPersistence}; read by the sync session's rollback.
 *
 * The list stays short: an id leaves it once the authority is seen holding every item of it (its state vector at a
 * handshake), or when the loaded document holds no item of it.
 *
 * Each writer of the store (a process, a tab) keeps the ids it wrote with in its own key
 * `weft:own-clients:<writer>` (STORE-9.7, RULES-5.14) and never writes another's. The recorded ids are the union of
 * every writer's key (the pre-STORE-9.7 key included), so no writer's id is lost to another's write.
 */
export class OwnClients {
  readonly #ids = new Set<number>()
  /** The ids this writer wrote with (this session): what its own key holds. */
  readonly #own = new Set<number>()
  /** This writer's key (STORE-9.7): it never writes another writer's. */
  readonly #key = writerKey(OWN_CLIENTS_META, newWriterId())
  /** The list as last stored under {@link #key} (an append carrying it resolved). */
  #stored = ''

  /** Reads every writer's stored list (`meta` as loaded); ids of which `doc` holds no item are dropped. */
  load(meta: Readonly<Record<string, string>>, doc: Y.Doc): void {
    for (const [, value] of writerEntries(meta, OWN_CLIENTS_META)) {
      for (const part of value.split(' ')) {
        const id = Number(part)
        if (part !== '' && Number.isSafeInteger(id) && id >= 0 && doc.store.clients.has(id)) this.#ids.add(id)
      }
    }
  }

  /** Whether this device wrote items of `client` into the store (this session or an earlier one). */
  has(client: number): boolean {
    return this.#ids.has(client)
  }

  /** The earlier ids (every recorded id but `current`), for a rollback. */
  earlier(current: number): number[] {
    return [...this.#ids].filter((id) => id !== current)
  }

  /**
   * The authority holds `sv` (its state vector at a handshake): an earlier id of which it holds every item `doc`
   * has can no longer be refused and leaves the list (stored with the next append).
   */
  heldBy(sv: ReadonlyMap<number, number>, doc: Y.Doc): void {
    for (const id of this.#ids)
      if (id !== doc.clientID && (sv.get(id) ?? 0) >= Y.getState(doc.store, id)) this.#ids.delete(id)
  }

  /**
   * The metadata to write with an append made now: the list, when `doc`'s current id has items and is not recorded
   * yet, or when the list differs from what is stored. `undefined`: nothing to write.
   */
  appendMeta(doc: Y.Doc): Readonly<Record<string, string>> | undefined {
    const id = doc.clientID
    if (!this.#own.has(id) && Y.getState(doc.store, id) > 0) {
      this.#ids.add(id)
      this.#own.add(id)
    }
    const value = [...this.#own].filter((own) => this.#ids.has(own)).join(' ')
    return value === this.#stored ? undefined : { [this.#key]: value }
  }

  /**
   * Removes this writer's key (STORE-9.7), for a session that ends with every change it wrote stored by the relay or
   * rolled back (its count settled by the relay's acks, once its appends are stored): none of its ids can be refused
   * any more. A removal that lands before an append carrying the key leaves the key: one record too many, never one
   * too few.
   */
  async release(store: DocStore, docId: DocId): Promise<void> {
    if (this.#stored === '') return
    await store.setMeta(docId, this.#key, null)
    this.#stored = ''
  }

  /** An append carrying `meta` (from {@link appendMeta}) is durable. */
  stored(meta: Readonly<Record<string, string | null>> | undefined): void {
    const value = meta?.[this.#key]
    if (typeof value === 'string') this.#stored = value
  }
}

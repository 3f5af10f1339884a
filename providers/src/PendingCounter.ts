import { ObservableV2 } from 'lib0/observable'
import type * as Y from 'yjs'
import type { DocId, DocStore, SyncSession, Transport } from '@weft/core'

/** Metadata keys (in the local DocStore) that make the pending count survive reloads. */
export const PENDING_META = {
  /** Local changes ever made on this device for this document. */
  local: 'weft:local-changes',
  /** How many of them the relay (or, without a relay, a peer) has confirmed. */
  confirmed: 'weft:confirmed-changes',
} as const

/**
 * Counts local changes that are not yet confirmed: by the relay's durable acks when a relay is configured,
 * otherwise by a peer's ack or by having been sent to a synced peer. Both counters are persisted in the local
 * store's metadata. The local count rides on the document's appends ({@link PendingCounter.appendMeta}, given to
 * `DocPersistence` as its `appendMeta`): every append issued after a local change carries the count including it,
 * in the same store transaction (STORE-2.6), and appends commit in order, so after a crash the count can only be
 * too high (shown as pending until the next handshake confirms it), never too low, whichever listener runs first.
 * With `persist: false` (nothing can ever acknowledge: no relay, no peer transport) the count is kept in memory
 * only and writes nothing.
 */
export class PendingCounter extends ObservableV2<{ change: () => void }> {
  #doc: Y.Doc
  readonly #store: DocStore | null
  readonly #docId: DocId
  readonly #isLocal: (origin: unknown) => boolean
  #baseLocal = 0
  #baseConfirmed = 0
  #sessionLocal = 0
  #confirmed = 0
  #session: SyncSession | null = null
  #relay: Transport | null = null
  #writes: Promise<unknown> = Promise.resolve()
  #confirmedWrite: string | null = null
  readonly #persist: boolean
  /** The baseline was loaded: until then a written count would be too low (it lacks the stored one). */
  #loaded = false
  /** The last update counted (Yjs hands the same array to every listener of one update): counted once. */
  #counted: Uint8Array | null = null

  constructor(options: {
    doc: Y.Doc
    store: DocStore | null
    docId: DocId
    isLocal: (origin: unknown) => boolean
    /** Persist the local count (default true); false when nothing can acknowledge a change. */
    persist?: boolean
  }) {
    super()
    this.#doc = options.doc
    this.#store = options.store
    this.#docId = options.docId
    this.#isLocal = options.isLocal
    this.#persist = options.store !== null && options.persist !== false
    this.#doc.on('update', this.#onUpdate)
  }

  /** Sets the persisted baseline (the local store's metadata, as loaded). */
  setBaseline(meta: Readonly<Record<string, string>>): void {
    this.#baseLocal = toCount(meta[PENDING_META.local])
    this.#baseConfirmed = Math.min(this.#baseLocal, toCount(meta[PENDING_META.confirmed]))
    this.#confirmed = this.#baseConfirmed
    // Local changes made while the document was loading were appended without the count (it was not known yet):
    // the next append carries it. A separate write now could commit after that append, with a lower count.
    this.#loaded = true
    this.emit('change', [])
  }

  /**
   * The metadata to write with an append of the document (`DocPersistence`'s `appendMeta`): counts `update` if it
   * is a local change not counted yet, then returns the local count once there is one to store.
   */
  readonly appendMeta = (
    update: Uint8Array | null,
    origin: unknown,
  ): Readonly<Record<string, string>> | undefined => {
    if (update) this.#count(update, origin)
    if (!this.#persist || !this.#loaded || this.#sessionLocal === 0) return undefined
    return { [PENDING_META.local]: String(this.#total()) }
  }

  /** Local changes not confirmed yet. */
  get pending(): number {
    return Math.max(0, this.#baseLocal + this.#sessionLocal - this.#confirmed)
  }

  /** Starts listening to the session's acks and syncs. */
  attach(session: SyncSession, relay: Transport | null): void {
    this.#session = session
    this.#relay = relay
    session.on('ack', ({ transport, localChanges }) => {
      if (this.#relay !== null && transport !== this.#relay) return
      this.#confirm(this.#baseLocal + localChanges)
    })
    session.on('peer-synced', () => this.#sentToSyncedPeer())
  }

  /** Follows the document to a new epoch (COMPACT-7.3). Call synchronously on `epoch-changed`. */
  rebind(doc: Y.Doc): void {
    this.#doc.off('update', this.#onUpdate)
    this.#doc = doc
    doc.on('update', this.#onUpdate)
  }

  /** Stops counting and waits for the counter's own writes. */
  async close(): Promise<void> {
    this.#doc.off('update', this.#onUpdate)
    await this.#writes.catch(() => undefined)
    super.destroy()
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    this.#count(update, origin)
  }

  #count(update: Uint8Array, origin: unknown): void {
    if (update === this.#counted || !this.#isLocal(origin)) return
    this.#counted = update
    this.#sessionLocal++
    this.#sentToSyncedPeer()
    this.emit('change', [])
  }

  #total(): number {
    return this.#baseLocal + this.#sessionLocal
  }

  /** Without a relay, a change sent on a synced path counts as received (the transports are reliable). */
  #sentToSyncedPeer(): void {
    const session = this.#session
    if (this.#relay !== null || !session) return
    const synced = session.paths.some(({ transport, peer }) => session.pathInfo(transport, peer)?.synced)
    if (synced) this.#confirm(this.#baseLocal + this.#sessionLocal)
  }

  #confirm(total: number): void {
    if (total <= this.#confirmed) return
    this.#confirmed = total
    // Coalesced: only the newest value is written once the previous write finished.
    const first = this.#confirmedWrite === null
    this.#confirmedWrite = String(total)
    if (first) {
      this.#writes = this.#writes
        .then(() => {
          const value = this.#confirmedWrite
          this.#confirmedWrite = null
          return value === null ? undefined : this.#store?.setMeta(this.#docId, PENDING_META.confirmed, value)
        })
        .catch(() => undefined)
    }
    this.emit('change', [])
  }
}

const toCount = (v: string | undefined): number => {
  const n = Number(v)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

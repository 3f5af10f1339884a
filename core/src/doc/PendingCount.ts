import { ObservableV2 } from 'lib0/observable'
import * as Y from 'yjs'
import { coversDeletions, readDeletions, type DeleteRanges } from '../protocol/deleteSets.js'
import type { DocId } from '../ids.js'
import type { DocStore } from '../storage/DocStore.js'
import { SyncSession } from '../sync/SyncSession.js'
import type { Transport } from '../transport/Transport.js'
import { newWriterId, writerKey } from '../storage/writerMeta.js'
import { PENDING_META, collectSettled, readPendingGroups, settledValue } from './pendingMeta.js'

export { PENDING_META } from './pendingMeta.js'

/**
 * A change stored here that came from a peer which is not the relay (another tab, a WebRTC peer), not known to be on
 * the relay yet (STORE-9.9): the end clocks of its structs, its deleted ranges when it has no struct (a deletion
 * only), and the sequence number of the relay step 2 that carries it (`null`: none sent yet).
 */
interface ForeignChange {
  readonly to: Map<number, number>
  readonly deletes: DeleteRanges | null
  inStep2: number | null
  /** How many changes this entry stands for: consecutive changes of one client are one entry (their highest clock). */
  count: number
}

/** The deletions of an update this document applied (so it decodes), per client id. */
const deletesOf = (update: Uint8Array): DeleteRanges => readDeletions(update)?.deletions ?? new Map()

/**
 * Counts local changes that are not yet confirmed: by the relay's durable acks when a relay is set, otherwise by a
 * peer's ack or by having been sent to a synced peer (docs/spec/storage.md, STORE-9). Internal to
 * {@link DocHandle}, which is its only owner.
 *
 * The local count is never written on its own: it rides on the document's appends ({@link appendMeta}, given to
 * `DocPersistence`), so every append issued after a local change carries the count including it in the same atomic
 * store operation (STORE-2.6). Appends commit in call order, so after a crash the stored count is at least the
 * number of stored local changes (too high at worst: shown as pending until the next handshake confirms it). The
 * confirmed count is a separate `setMeta`; on load it is capped by the local count, so whichever of the two commits
 * first, no stored change is taken as confirmed that the relay did not acknowledge.
 *
 * Both are this counter's own keys (one writer id per counter, STORE-9.7): another writer of the same store (a
 * process, a tab) never overwrites them. What other writers stored as pending at load is this counter's baseline;
 * once its relay confirms it (the handshake carried it), a `settled` mark of this writer says so. A settled counter
 * removes its own keys when the handle is destroyed ({@link release}).
 */
export class PendingCount extends ObservableV2<{ change: () => void }> {
  #doc: Y.Doc
  readonly #store: DocStore | null
  readonly #docId: DocId
  readonly #isLocal: (origin: unknown) => boolean
  readonly #persist: boolean
  #baseLocal = 0
  #sessionLocal = 0
  #confirmed = 0
  #session: SyncSession | null = null
  /** Local changes counted before the session existed: its handshake sends them, its acks do not count them. */
  #beforeSession = 0
  #relay: Transport | null = null
  #writes: Promise<unknown> = Promise.resolve()
  /** Entries to write (coalesced: the newest value of each key, written once the previous write finished). */
  readonly #toWrite = new Map<string, string | null>()
  /** This counter's writer id (STORE-9.7): it writes only its own keys. */
  readonly #writer = newWriterId()
  /** Other writers' groups pending at load: writer -> its stored local count (marked settled once confirmed). */
  #inherited = new Map<string, number>()
  /** The stored baseline is known (DocPersistence calls `setBaseline` before its first append). */
  #loaded = false
  /** STORE-9.9: changes from non-relay peers not known to be on the relay, oldest first. */
  #foreign: ForeignChange[] = []
  /** Foreign changes counted (stored with the local count) and how many of them the relay is known to hold. */
  #foreignCounted = 0
  #foreignConfirmed = 0
  /** This writer's own local changes confirmed (the value of its confirmed key, foreign ones apart). */
  #ownConfirmed = 0
  /** What the relay is known to hold: its step 1's state vector and the updates it sent, per client. */
  #relayHolds = new Map<number, number>()
  /** Resolves once the appends issued so far are stored (the persistence's `flushed`), see {@link setWhenStored}. */
  #whenStored: () => Promise<void> = () => Promise.resolve()
  /** The last update counted (Yjs hands the same array to every listener of one update): counted once. */
  #counted: Uint8Array | null = null
  readonly #offs: Array<() => void> = []

  constructor(options: {
    readonly doc: Y.Doc
    readonly store: DocStore | null
    readonly docId: DocId
    readonly isLocal: (origin: unknown) => boolean
    /** Persist the local count (default true); false when nothing can acknowledge a change. */
    readonly persist?: boolean
  }) {
    super()
    this.#doc = options.doc
    this.#store = options.store
    this.#docId = options.docId
    this.#isLocal = options.isLocal
    this.#persist = options.store !== null && options.persist !== false
    // Content the doc held before it was opened is the app's own: one local change (DocPersistence stores it).
    if (this.#doc.store.clients.size > 0) this.#sessionLocal = 1
    this.#loaded = options.store === null
    this.#doc.on('update', this.#onUpdate)
  }

  /**
   * Makes every write of this counter wait until the appends issued before it are stored (STORE-9.9): a confirmed
   * count then never lands before the local count that includes what it confirms. Confirmations of foreign changes
   * are not a prefix of the stored changes, so the cap by the local count (STORE-9.2) no longer suffices alone.
   */
  setWhenStored(whenStored: () => Promise<void>): void {
    this.#whenStored = whenStored
  }

  /** Sets the stored baseline (the store's metadata, as loaded). Called by DocPersistence's `onLoad`. */
  setBaseline(meta: Readonly<Record<string, string>>): void {
    // STORE-9.7: every writer's unconfirmed changes (a pre-STORE-9.7 single key included) are this session's baseline.
    this.#baseLocal = 0
    this.#inherited = new Map()
    for (const [writer, { local, confirmed }] of readPendingGroups(meta)) {
      if (local <= confirmed) continue
      this.#baseLocal += local - confirmed
      this.#inherited.set(writer, local)
    }
    this.#confirmed = 0
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
    if (!this.#persist || !this.#loaded || this.#storedLocal() === 0) return undefined
    return { [writerKey(PENDING_META.local, this.#writer)]: String(this.#storedLocal()) }
  }

  /** Every local change counted is confirmed, and the count was stored (nothing pending, the baseline known). */
  get settled(): boolean {
    return this.#persist && this.#loaded && this.pending === 0
  }

  /**
   * Other writers' settled entries to remove with a compaction that loaded `meta` (STORE-9.8; `DocPersistence`'s
   * `collectMeta`). Never this counter's own keys; nothing when the count is not persisted.
   */
  readonly collectMeta = (meta: Readonly<Record<string, string>>): Record<string, null> | undefined =>
    this.#persist ? collectSettled(meta, this.#writer) : undefined

  /** Local changes not confirmed yet. */
  get pending(): number {
    return Math.max(0, this.#total() - this.#confirmed) + this.#foreignCounted - this.#foreignConfirmed
  }

  /** Starts counting the session's acks and syncs (once, right after the session is created). */
  attach(session: SyncSession): void {
    this.#session = session
    this.#beforeSession = this.#sessionLocal - session.localChanges
    const onAck = ({
      transport,
      localChanges,
      seq,
    }: {
      transport: Transport
      localChanges: number
      seq: number
    }) => {
      if (this.#relay !== null && transport !== this.#relay) return
      this.#confirm(this.#baseLocal + this.#beforeSession + localChanges)
      // STORE-9.9: the relay stored the step 2 that carried these foreign changes.
      if (this.#relay !== null) this.#confirmForeign((f) => f.inStep2 !== null && f.inStep2 <= seq)
    }
    const onHolds = ({
      transport,
      kind,
      data,
      answeredSeq,
    }: {
      transport: Transport
      kind: 'state-vector' | 'update'
      data: Uint8Array
      answeredSeq: number | null
    }) => {
      if (transport !== this.#relay) return
      const clocks = kind === 'state-vector' ? Y.decodeStateVector(data) : Y.parseUpdateMeta(data).to
      for (const [client, clock] of clocks)
        if (clock > (this.#relayHolds.get(client) ?? 0)) this.#relayHolds.set(client, clock)
      let deleted: DeleteRanges | null = null
      const relayDeleted = (): DeleteRanges => (deleted ??= deletesOf(data))
      this.#confirmForeign((f) =>
        f.deletes === null
          ? this.#relayHas(f.to)
          : kind === 'update' && coversDeletions(relayDeleted(), f.deletes),
      )
      // Its step 2 carries everything this side holds that its state vector lacks: confirmed once acknowledged.
      if (kind === 'state-vector' && answeredSeq !== null)
        for (const f of this.#foreign) f.inStep2 = answeredSeq
    }
    const onLeft = ({ transport }: { transport: Transport }) => {
      if (transport !== this.#relay) return
      this.#relayHolds = new Map()
      for (const f of this.#foreign) f.inStep2 = null
    }
    const onSynced = () => this.#sentToSyncedPeer()
    // SYNC-3.7: a local import integrated by a peer's update is one more local change (emitted before its append).
    const onIntegrated = () => this.#countOne()
    session.on('ack', onAck)
    session.on('peer-holds', onHolds)
    session.on('peer-left', onLeft)
    session.on('peer-synced', onSynced)
    session.on('local-integrated', onIntegrated)
    this.#offs.push(() => {
      session.off('ack', onAck)
      session.off('peer-holds', onHolds)
      session.off('peer-left', onLeft)
      session.off('peer-synced', onSynced)
      session.off('local-integrated', onIntegrated)
    })
  }

  /** The transport whose durable acks alone confirm changes (the relay), or `null`: any peer's. */
  setRelay(relay: Transport | null): void {
    this.#relay = relay
  }

  get relay(): Transport | null {
    return this.#relay
  }

  /** Follows the document to a new epoch (COMPACT-7.3). Called synchronously on the session's `epoch-changed`. */
  rebind(doc: Y.Doc): void {
    this.#doc.off('update', this.#onUpdate)
    this.#doc = doc
    doc.on('update', this.#onUpdate)
  }

  /** Stops counting and waits for the counter's own writes. */
  async close(): Promise<void> {
    this.#doc.off('update', this.#onUpdate)
    for (const off of this.#offs.splice(0)) off()
    await this.#writes.catch(() => undefined)
    super.destroy()
  }

  /**
   * After {@link close} and once the document's appends are stored: a settled counter (every change it counted is
   * confirmed) removes its own keys, local first (STORE-9.7), so the store does not keep one pair per session. A
   * removal that lands before an append carrying the local count leaves that count unconfirmed: too high, never low.
   */
  async release(): Promise<void> {
    if (!this.settled || this.#storedLocal() === 0) return
    const store = this.#store
    if (!store) return
    await store.setMeta(this.#docId, writerKey(PENDING_META.local, this.#writer), null).catch(() => undefined)
    await store
      .setMeta(this.#docId, writerKey(PENDING_META.confirmed, this.#writer), null)
      .catch(() => undefined)
  }

  /** The counter's `update` listener (it ignores what its `isLocal` says is not local, e.g. the store's load). */
  get updateListener(): (update: Uint8Array, origin: unknown) => void {
    return this.#onUpdate
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    this.#count(update, origin)
  }

  #count(update: Uint8Array, origin: unknown): void {
    if (update === this.#counted) return
    if (this.#isLocal(origin)) {
      this.#counted = update
      this.#countOne()
      return
    }
    // STORE-9.9: a change from a peer that is not the relay (a tab, a WebRTC peer) is pending here until the relay
    // is known to hold it: its writer may never push it (a crashed tab).
    const from = SyncSession.originTransport(origin)
    if (this.#relay === null || from === null || from === this.#relay) return
    this.#counted = update
    const to = Y.parseUpdateMeta(update).to
    const change: ForeignChange = {
      to,
      deletes: to.size === 0 ? deletesOf(update) : null,
      inStep2: null,
      count: 1,
    }
    this.#foreignCounted++
    if (change.deletes === null && this.#relayHas(to)) this.#foreignConfirmed++
    else if (!this.#merge(change)) this.#foreign.push(change)
    this.emit('change', [])
  }

  /**
   * Folds `change` into the last entry when both hold structs of one and the same client only and no step 2 carries
   * the last one yet: the relay holding the higher clock holds the lower ones (a client's clocks only grow), so the
   * entry is confirmed exactly when both would be, and a long offline session keeps one entry per run of one peer.
   */
  #merge(change: ForeignChange): boolean {
    const last = this.#foreign.at(-1)
    if (!last || last.deletes !== null || change.deletes !== null || last.inStep2 !== null) return false
    if (last.to.size !== 1 || change.to.size !== 1) return false
    const [only] = change.to
    const held = only === undefined ? undefined : last.to.get(only[0])
    if (only === undefined || held === undefined) return false
    const [client, clock] = only
    last.to.set(client, Math.max(held, clock))
    last.count++
    return true
  }

  /** The relay is known to hold every struct below `to`. */
  #relayHas(to: ReadonlyMap<number, number>): boolean {
    for (const [client, clock] of to) if ((this.#relayHolds.get(client) ?? 0) < clock) return false
    return true
  }

  /** Confirms the foreign changes that `held` says the relay holds (STORE-9.9), and stores the confirmed count. */
  #confirmForeign(held: (change: ForeignChange) => boolean): void {
    let confirmed = 0
    const left = this.#foreign.filter((f) => {
      if (!held(f)) return true
      confirmed += f.count
      return false
    })
    if (confirmed === 0) return
    this.#foreignConfirmed += confirmed
    this.#foreign = left
    this.#writeConfirmed()
    this.emit('change', [])
  }

  /** This writer's stored local count: its own local changes and the foreign changes it stored (STORE-9.9). */
  #storedLocal(): number {
    return this.#sessionLocal + this.#foreignCounted
  }

  #writeConfirmed(): void {
    const n = this.#ownConfirmed + this.#foreignConfirmed
    if (this.#persist && n > 0) this.#write(writerKey(PENDING_META.confirmed, this.#writer), String(n))
  }

  #countOne(): void {
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
    if (synced) this.#confirm(this.#total())
  }

  #confirm(total: number): void {
    if (total <= this.#confirmed) return
    this.#confirmed = total
    if (this.#persist) {
      // The baseline (other writers' changes) is confirmed first: the handshake carried it.
      const own = Math.min(this.#sessionLocal, total - this.#baseLocal)
      if (own > this.#ownConfirmed) {
        this.#ownConfirmed = own
        this.#writeConfirmed()
      }
      if (total >= this.#baseLocal && this.#inherited.size > 0) {
        this.#write(writerKey(PENDING_META.settled, this.#writer), settledValue(this.#inherited))
        this.#inherited = new Map()
      }
    }
    this.emit('change', [])
  }

  /** Writes `key` (coalesced: only the newest value is written once the previous write finished). */
  #write(key: string, value: string): void {
    const first = this.#toWrite.size === 0
    this.#toWrite.set(key, value)
    if (!first) return
    this.#writes = this.#writes
      .then(async () => {
        while (this.#toWrite.size > 0) {
          const [k, v] = this.#toWrite.entries().next().value as [string, string | null]
          this.#toWrite.delete(k)
          await this.#whenStored().catch(() => undefined)
          await this.#store?.setMeta(this.#docId, k, v).catch(() => undefined)
        }
      })
      .catch(() => undefined)
  }
}

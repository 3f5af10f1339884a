import { ObservableV2 } from 'lib0/observable'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { DocId, PeerId } from '../ids.js'
import type { CompactionOutcome } from '../storage/Compactor.js'
import type { DocPersistence } from '../storage/DocPersistence.js'
import { writeEpochArchive } from '../storage/epochArchive.js'
import { readEpochRecord } from '../storage/epochPersist.js'
import type { EpochRecord } from '../storage/epochRecord.js'
import { holdsBase } from '../storage/rebaseOnto.js'
import { EPOCH_ORIGIN } from '../sync/epochOrigin.js'
import { judgeOffer } from '../sync/epochRules.js'
import type { EpochManager } from '../sync/EpochManager.js'
import type { Rejection } from '../sync/protocolPorts.js'
import type { RemovedRange } from '../sync/rollback.js'
import type { SyncSession, SyncSessionEvents } from '../sync/SyncSession.js'
import type { Transport } from '../transport/Transport.js'
import { WeftErrorCode, toWeftError, type WeftError } from '../WeftError.js'
import type { PendingCount } from './PendingCount.js'
import { writeOrphans, writeWaitingEpoch } from './waitingEpoch.js'

/** Options of {@link DocHandle.addTransport}. */
export interface AddTransportOptions {
  /**
   * This transport is the relay: its durable acknowledgements alone confirm local changes (`pendingChanges`).
   * Without a relay, a change counts as confirmed once a synced peer of any transport received it (STORE-9.6).
   * At most one transport is the relay; marking another one replaces it.
   */
  readonly relay?: boolean
}

/** Events of {@link DocHandle}. */
export type DocHandleEvents = {
  /**
   * The document moved to a new epoch (history compaction, docs/guides/compaction.md): `doc` is a new Y.Doc, already
   * persisted, synced and counted by the handle. Rebind editors, undo managers and observers to it; `handle.doc`
   * returns it from now on. `started` is true on the side that started the epoch.
   */
  'epoch-changed': (event: {
    readonly doc: Y.Doc
    readonly record: EpochRecord
    readonly started: boolean
  }) => void
  /**
   * A newer epoch is available (default mode, `epochs: true`; COMPACT-8): a peer or the relay moved to `record`
   * while this document is open. The `Y.Doc` stays the same and keeps working in its epoch: edits are stored
   * locally and stay pending (`pendingChanges`), updates from peers already in the new epoch do not arrive, and the
   * relay does not confirm anything. The epoch is stored and taken at the next open, which re-applies every local
   * change onto it: show "a newer version is available, reopen". Emitted once per record.
   */
  'epoch-available': (event: { readonly record: EpochRecord }) => void
  /**
   * The relay (or, with no relay connected, a peer that checks the rules, RULES-6.3) rejected a local change under the
   * room's rules (docs/guides/rules.md, RULES-5.7) and the document was rolled back: it holds what the relay accepted
   * plus the later local changes (the editor saw ordinary changes).
   * `ruleId`, `path` and `reason` say which rule and where (show "not allowed"), `seq` which update. The rejected
   * changes left {@link DocHandle.pendingChanges}. `removed`: the removed content as a clock range of the retired
   * client id (see SyncSession's `rejected`); a refused step 2 (offline work sent on reconnect) loses all its work.
   */
  rejected: (event: {
    readonly ruleId: string
    readonly path: readonly string[]
    readonly reason: string
    readonly seq: number | null
    readonly removed: RemovedRange
  }) => void
  /**
   * Only with `rules` (RULES-6.2): a peer's update broke the document's rules and was neither applied nor passed on
   * (WebRTC, tabs, any path that is not the authority). The session's `refused` event as it is: `ruleId`, `path`,
   * `reason`, `seq` say what the peer tried; `transport` and `peer` where it came from; `told` whether the peer was
   * sent a `rejected` message (it rolls back, RULES-6.3) or was refused silently (RULES-6.5, RULES-6.6). The
   * document is unchanged; show it, log it, or disconnect a peer that keeps trying.
   */
  refused: (event: Parameters<SyncSessionEvents['refused']>[0]) => void
  /**
   * The store holds the document as rolled back after a `rejected` event (RULES-5.6): a reload no longer brings the
   * refused change back.
   */
  'rolled-back': (event: { readonly outcome: CompactionOutcome }) => void
  /** {@link DocHandle.pendingChanges} may have changed (a local change, an acknowledgement, the stored count). */
  'pending-changed': (event: { readonly pendingChanges: number }) => void
  /**
   * An asynchronous fault of the store (append, compaction), of an epoch switch, or of a peer's data (the session
   * dropped that path). Never thrown.
   */
  error: (event: { readonly error: WeftError }) => void
}

/**
 * One open document (docs/guides/documents.md): the single owner of its persistence ({@link DocPersistence} over a
 * DocStore), its epochs ({@link EpochManager}), its {@link SyncSession} and its pending-change count, wired in the
 * one order that is correct, so that no correctness rests on the order in which an app adds listeners. Transports
 * are added with {@link addTransport}; the handle never creates, connects or destroys one. Create with
 * {@link openDocument}.
 */
export class DocHandle extends ObservableV2<DocHandleEvents> {
  /** The document's id (its key in the store). */
  readonly docId: DocId
  /** The sync engine (transports, peer paths, acks). Add transports through {@link addTransport}. */
  readonly session: SyncSession
  /** The local persistence, or null for a document opened without a store. */
  readonly persistence: DocPersistence | null
  /** History compaction (null when opened with `epochs: false`). */
  readonly epochs: EpochManager | null
  readonly #pending: PendingCount
  readonly #offs: Array<() => void> = []
  #destroyed = false
  /** Offers handled in default mode (COMPACT-8), one at a time. */
  #deferring: Promise<void> = Promise.resolve()
  #waiting: EpochRecord | null = null
  /** Offers answered with a fresh announce (`"<record> <peer>"`), each once. */
  readonly #announced = new Set<string>()
  /** Another open of the store moved it to a newer epoch (COMPACT-8.4): local changes are saved to the archive. */
  #moved = false
  #orphansQueued = false
  readonly #deferEpochs: boolean

  /**
   * Use {@link openDocument}.
   * @internal
   */
  constructor(parts: {
    readonly docId: DocId
    readonly session: SyncSession
    readonly persistence: DocPersistence | null
    readonly epochs: EpochManager | null
    readonly pending: PendingCount
    /** Offered epochs wait for the next open (default mode, COMPACT-8) instead of switching the Y.Doc. */
    readonly deferEpochs?: boolean
  }) {
    super()
    this.#deferEpochs = parts.deferEpochs ?? false
    this.docId = parts.docId
    this.session = parts.session
    this.persistence = parts.persistence
    this.epochs = parts.epochs
    this.#pending = parts.pending
    const session = this.session
    const pending = this.#pending
    // The counter follows the session to a new epoch first (the session emits before any app code can edit the new
    // document); this listener is added before the handle is handed out, so nothing can come before it.
    const onSwitch = ({ doc }: { doc: Y.Doc }) => pending.rebind(doc)
    session.on('epoch-changed', onSwitch)
    pending.attach(session)
    const onPending = () => this.emit('pending-changed', [{ pendingChanges: pending.pending }])
    pending.on('change', onPending)
    const onError = ({ error }: { error: WeftError }) => this.emit('error', [{ error }])
    session.on('error', onError)
    // RULES-5.6: the store still holds the refused changes; the rolled-back document replaces them (the compaction is
    // crash-safe: before it, a reload re-sends the refused update, which the relay refuses again).
    const onRejected = ({
      ruleId,
      path,
      reason,
      seq,
      removed,
    }: Rejection & { readonly removed: RemovedRange }) => {
      const persistence = this.persistence
      // A compaction already running may have taken its snapshot during the rollback: it is let finish, then the
      // rolled-back document is written (`meta` makes it run even without new appends).
      if (persistence)
        persistence
          .compact()
          .catch(() => undefined)
          .then(() => persistence.compact({ meta: {} }))
          .then(
            (outcome) => this.emit('rolled-back', [{ outcome }]),
            (err: unknown) => onError({ error: toWeftError(WeftErrorCode.StoreFailed, err) }),
          )
      this.emit('rejected', [{ ruleId, path, reason, seq, removed }])
    }
    session.on('rejected', onRejected)
    const onRefused = (event: Parameters<SyncSessionEvents['refused']>[0]) => this.emit('refused', [event])
    session.on('refused', onRefused)
    this.persistence?.on('error', onError)
    this.#offs.push(() => {
      session.off('epoch-changed', onSwitch)
      pending.off('change', onPending)
      session.off('error', onError)
      session.off('rejected', onRejected)
      session.off('refused', onRefused)
      this.persistence?.off('error', onError)
    })
    const epochs = this.epochs
    if (epochs) {
      epochs.bind(session)
      const onEpoch = (event: { doc: Y.Doc; record: EpochRecord; started: boolean }) =>
        this.emit('epoch-changed', [event])
      epochs.on('epoch-changed', onEpoch)
      epochs.on('error', onError)
      this.#offs.push(() => {
        epochs.off('epoch-changed', onEpoch)
        epochs.off('error', onError)
      })
    }
    if (parts.deferEpochs && this.persistence) {
      const persistence = this.persistence
      const onMismatch = ({ error }: { error: WeftError }) => {
        if (error.code === WeftErrorCode.EpochMismatch && !this.#moved) this.#storeMoved()
      }
      persistence.on('error', onMismatch)
      this.#offs.push(() => persistence.off('error', onMismatch))
    }
    if (parts.deferEpochs) {
      const onOffer = (offer: {
        record: EpochRecord
        catchUp: Uint8Array
        transport: Transport
        peer: PeerId
      }) => {
        this.#deferring = this.#deferring
          .then(() => this.#defer(offer))
          .catch((err: unknown) =>
            this.emit('error', [{ error: toWeftError(WeftErrorCode.StoreFailed, err, 'epoch offer') }]),
          )
      }
      session.on('epoch-offer', onOffer)
      this.#offs.push(() => session.off('epoch-offer', onOffer))
    }
  }

  /**
   * COMPACT-8.4: another open of the same store (a second tab, a reopen while this one is still open) took a newer
   * epoch, so the store refuses this document's appends (STORE-7.8). The document keeps its Y.Doc; its whole state
   * is saved into its epoch's archive after every change (the archive merges), marked for the next open, which
   * re-applies it onto the stored epoch.
   */
  #storeMoved(): void {
    this.#moved = true
    const doc = this.session.doc
    const epoch = this.session.epoch
    const onUpdate = () => this.#saveOrphans(doc, epoch)
    doc.on('update', onUpdate)
    this.#offs.push(() => doc.off('update', onUpdate))
    this.#saveOrphans(doc, epoch)
  }

  #saveOrphans(doc: Y.Doc, epoch: string): void {
    const persistence = this.persistence
    if (!persistence || this.#orphansQueued) return
    this.#orphansQueued = true
    this.#deferring = this.#deferring
      .then(async () => {
        this.#orphansQueued = false
        const child = this.#waiting ?? (await this.#storedChild(epoch))
        if (!child) return
        await writeEpochArchive(persistence.store, this.docId, epoch, Y.encodeStateAsUpdateV2(doc), child, {
          format: 'v2',
        })
        await writeOrphans(persistence.store, this.docId, epoch)
        if (this.#waiting?.id === child.id || this.#destroyed) return
        this.#waiting = child
        this.emit('epoch-available', [{ record: child }])
      })
      .catch((err: unknown) =>
        this.emit('error', [{ error: toWeftError(WeftErrorCode.StoreFailed, err, 'saving changes') }]),
      )
  }

  /** The epoch the store holds, if it directly replaced `epoch`. */
  async #storedChild(epoch: string): Promise<EpochRecord | null> {
    const persistence = this.persistence
    const stored = persistence ? await persistence.store.load(this.docId) : null
    const record = stored ? readEpochRecord(stored.meta) : null
    return record?.ok && record.record.parent === epoch ? record.record : null
  }

  /** The newer epoch this document will take at its next open (default mode, see `epoch-available`), or null. */
  get waitingEpoch(): EpochRecord | null {
    return this.#waiting
  }

  /**
   * Default mode (COMPACT-8): an offered epoch never replaces the Y.Doc. An empty document takes it in place (the same
   * Y.Doc, still empty, is switched; the new epoch's content comes in its handshake, COMPACT-8.1b); otherwise the
   * old-epoch catch-up is applied (same epoch, COMPACT-5.1) and stored, then the record, for the next open.
   */
  async #defer(offer: {
    record: EpochRecord
    catchUp: Uint8Array
    transport: Transport
    peer: PeerId
  }): Promise<void> {
    const { record, catchUp } = offer
    const session = this.session
    if (this.#destroyed || judgeOffer(record, session.epoch) !== 'child') return
    const doc = session.doc
    const askAgain = () => {
      // As EpochManager does (COMPACT-6.4): an offer without catch-up to a document lacking the base asks again.
      const key = `${record.id} ${offer.peer}`
      if (catchUp.byteLength > 0 || this.#announced.has(key)) return
      this.#announced.add(key)
      session.announce(offer.transport, offer.peer)
    }
    if (doc.store.clients.size === 0) {
      // COMPACT-8.1b: the document stays empty. The new epoch's content (its initial state and every old-epoch change
      // the offerer re-applied) comes in the new epoch's handshake from the offerer, which holds it; filled here, the
      // document could not take the offerer's next epoch in place, and a new device several epochs behind would stop
      // one epoch after its own (outside review R4). Nothing of the catch-up is needed: there is nothing to re-apply.
      const persisted = this.persistence?.switchEpoch({
        record,
        doc,
        old: doc,
        oldEpoch: session.epoch,
        archive: false,
        rebase: () => null,
      })
      session.switchEpoch(doc, record)
      await persisted
      return
    }
    if (catchUp.byteLength > 0) Y.applyUpdate(doc, catchUp, EPOCH_ORIGIN)
    if (!holdsBase(doc, record)) return askAgain()
    if (this.#waiting?.id === record.id) return
    const persistence = this.persistence
    if (persistence) {
      // The catch-up is stored before the record that needs it: at the next open the stored document holds the base.
      await persistence.flushed()
      await writeWaitingEpoch(persistence.store, this.docId, record)
    }
    if (this.#destroyed) return
    this.#waiting = record
    this.emit('epoch-available', [{ record }])
  }

  /** The document: the same Y.Doc for the handle's life by default; a new one after each switch with `epochs: 'live'` (`epoch-changed`). */
  get doc(): Y.Doc {
    return this.session.doc
  }

  /** The document's awareness (presence); a new one on the new Y.Doc after an epoch change (COMPACT-7.4). */
  get awareness(): Awareness {
    return this.session.awareness
  }

  /**
   * Local changes not yet confirmed: durably stored by the relay when one was added ({@link addTransport} with
   * `relay: true`), otherwise received by a synced peer. Survives reloads: the count is stored with every local
   * change, in the same store operation (STORE-9.2), so after a crash it is never lower than the number of stored
   * changes the relay lacks.
   */
  get pendingChanges(): number {
    return this.#pending.pending
  }

  /** The transport added with `relay: true` (its durable acks confirm local changes), or null. */
  get relay(): Transport | null {
    return this.#pending.relay
  }

  /**
   * Adds a transport to the session (a handshake starts with each of its peers); `relay: true` makes its durable
   * acknowledgements the ones that confirm local changes. Returns a function that removes it again. The handle does
   * not connect it: the caller owns the transport.
   */
  addTransport(transport: Transport, options: AddTransportOptions = {}): () => void {
    if (options.relay) this.#pending.setRelay(transport)
    const remove = this.session.addTransport(transport)
    return () => {
      if (this.#pending.relay === transport) this.#pending.setRelay(null)
      remove()
    }
  }

  /** Resolves once every update the document emitted so far is stored (at once without a store); STORE-7.4. */
  flushed(): Promise<void> {
    return this.persistence?.flushed() ?? Promise.resolve()
  }

  /**
   * Stops syncing and counting, waits for the local writes, releases the session, the epochs and the persistence.
   * Transports and the store stay open (the caller owns them).
   */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    // COMPACT-8.4: a last append the store refuses (another open moved it on) is saved to the archive before closing.
    if (this.#deferEpochs) await this.persistence?.flushed().catch(() => undefined)
    for (const off of this.#offs.splice(0)) off()
    await this.#deferring
    this.epochs?.destroy()
    this.session.destroy()
    await this.#pending.close()
    await this.persistence?.destroy()
    // STORE-9.7: a settled count removes its own keys once the document's appends are stored; so does the record of
    // the client ids when the relay confirmed everything (RULES-5.14: nothing of them can be refused any more).
    const relaySettled = this.#pending.settled && this.#pending.relay !== null
    await this.#pending.release()
    const own = this.persistence?.ownClients
    if (relaySettled && own && this.persistence)
      await own.release(this.persistence.store, this.persistence.docId).catch(() => undefined)
    super.destroy()
  }
}

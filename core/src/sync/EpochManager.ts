import { ObservableV2 } from 'lib0/observable'
import * as Y from 'yjs'
import { applyStoredDoc } from '../storage/applyStoredDoc.js'
import type { DocPersistence } from '../storage/DocPersistence.js'
import { readEpochArchive, writeEpochArchive } from '../storage/epochArchive.js'
import { readEpochRecord } from '../storage/epochPersist.js'
import type { EpochRecord } from '../storage/epochRecord.js'
import { countItems, shouldStartEpoch, type EpochPolicy } from '../storage/epochPolicy.js'
import { startEpoch } from '../storage/epochStart.js'
import { holdsBase, rebaseOnto } from '../storage/rebaseOnto.js'
import { WeftError, WeftErrorCode, toWeftError } from '../WeftError.js'
import { EPOCH_ORIGIN } from './epochOrigin.js'
import { judgeOffer } from './epochRules.js'
import { buildEpochDoc, planFollow } from './followOffer.js'
import type { Transport } from '../transport/Transport.js'
import type { EpochOfferSource, PathRef, SyncSession } from './SyncSession.js'

/** Options of {@link EpochManager}. */
export interface EpochManagerOptions {
  /** The document's persistence, if any: switches are stored atomically and old epochs archived (COMPACT-3.4, 6.2). */
  readonly persistence?: DocPersistence | null
  /** Follow winning epochs that peers offer (default true). */
  readonly follow?: boolean
  /**
   * Start epochs automatically (COMPACT-2): after each log compaction of `persistence`, when the document's
   * tombstones pass the policy, at most once per `minIntervalMs` (default 60 s). Only for the epoch authority
   * (COMPACT-3.1: the relay or one designated peer); default off.
   */
  readonly autoStart?: (Partial<EpochPolicy> & { readonly minIntervalMs?: number }) | false
  /** Client ids for new epochs' documents (default: Yjs' random ones); tests use it to be reproducible. */
  readonly clientId?: () => number
}

/** Why a switch did not happen (the session stays in its epoch and keeps serving it). */
export type EpochBlockedReason =
  /** This side lacks part of the new epoch's base and the offer brought no catch-up (COMPACT-5.1). */
  | 'missing-base'
  /** The offered epoch does not descend from this side's epoch, and this side changed its own epoch (COMPACT-4.2). */
  | 'unreachable'

/** Events of {@link EpochManager}. */
export type EpochManagerEvents = {
  /** The document moved to a new epoch; bind the app to `doc` (the old document is no longer synced). */
  'epoch-changed': (event: {
    readonly doc: Y.Doc
    readonly record: EpochRecord
    readonly started: boolean
  }) => void
  /** An offered epoch could not be followed yet; a later offer (from a peer that kept the old epoch) may succeed. */
  blocked: (event: { readonly record: EpochRecord; readonly reason: EpochBlockedReason }) => void
  /** An asynchronous fault (store). Never thrown. */
  error: (event: { readonly error: WeftError }) => void
}

/** What this side keeps of an epoch it left: the record that replaced it and (if still in memory) its document. */
interface Left {
  readonly child: EpochRecord
  doc: Y.Doc | null
}

/** Re-applies to `record`'s new document what an old-epoch document has beyond the record's base (COMPACT-5). */
const rebaseFor =
  (record: EpochRecord) =>
  (old: Y.Doc): Uint8Array | null => {
    const again = rebaseOnto(old, record)
    return again.ok ? again.update : null
  }

/**
 * History compaction for one document (docs/spec/compaction.md): starts epochs ({@link start}), follows the
 * winning epochs that peers offer (applies the old-epoch catch-up, re-applies this side's changes with `rebaseOnto`,
 * persists the switch, moves the {@link SyncSession} to the new document), and serves peers that come back from
 * an epoch this side left. Create it with the persistence, then pass `record` and `lineage` to the SyncSession and
 * call {@link bind}.
 */
export class EpochManager extends ObservableV2<EpochManagerEvents> {
  readonly #persistence: DocPersistence | null
  readonly #follow: boolean
  readonly #clientId: (() => number) | undefined
  #session: SyncSession | null = null
  readonly #left = new Map<string, Left>()
  /** The current epoch's document changed since it was built (own or peers' edits, re-applied changes). */
  #touched = false
  #queue: Promise<void> = Promise.resolve()
  readonly #record: EpochRecord | null
  #off: (() => void) | null = null
  readonly #auto: (Partial<EpochPolicy> & { readonly minIntervalMs?: number }) | false
  #lastAutoStart = -Infinity

  constructor(options: EpochManagerOptions = {}) {
    super()
    this.#persistence = options.persistence ?? null
    this.#follow = options.follow ?? true
    this.#clientId = options.clientId
    this.#auto = options.autoStart ?? false
    const stored = this.#persistence ? readEpochRecord(this.#persistence.meta) : null
    if (stored && !stored.ok) {
      throw new WeftError(WeftErrorCode.StoreCorrupted, `stored epoch record: ${stored.reason}`)
    }
    this.#record = stored?.ok ? stored.record : null
    // A loaded document holds more than its epoch's initial state: never switch from it as a sibling.
    this.#touched = true
  }

  /** The epoch record the document was loaded in (pass to `SyncSession` as `epoch`). */
  get record(): EpochRecord | null {
    return this.#record
  }

  /**
   * Serves peers in older epochs (pass to `SyncSession` as `epochLineage`): the record that replaced `peerEpoch`
   * and this side's last document of it, from memory or the store's archive. A side that passed through
   * `peerEpoch` without its document (it switched from an empty one) fetches it from its peers first (SYNC-9.7).
   */
  readonly lineage = (peerEpoch: string): EpochOfferSource | null | Promise<EpochOfferSource | null> => {
    const left = this.#left.get(peerEpoch)
    if (left?.doc) return { record: left.child, oldDoc: left.doc }
    const persistence = this.#persistence
    const child = left?.child ?? (this.#record?.parent === peerEpoch ? this.#record : null)
    const fetchIfKnown = () => (child ? this.#fetch(peerEpoch, child) : null)
    if (!persistence) return fetchIfKnown()
    return readEpochArchive(persistence.store, persistence.docId, peerEpoch, this.#record).then(
      (archived) => {
        if (!archived) return fetchIfKnown()
        const doc = new Y.Doc({ gc: false })
        applyStoredDoc(doc, archived.stored, EPOCH_ORIGIN)
        // Keep it for the next peer from that epoch (one archive in memory per left epoch).
        this.#left.set(peerEpoch, { child: archived.child, doc })
        return { record: archived.child, oldDoc: doc }
      },
    )
  }

  /** Offers answered with a fresh announce (per transport: `"<record> <peer>"`), so each is asked only once. */
  readonly #announced = new WeakMap<Transport, Set<string>>()

  /** Old epochs being fetched from peers (SYNC-9.7), by epoch id. */
  readonly #fetches = new Map<
    string,
    {
      readonly child: EpochRecord
      readonly promise: Promise<EpochOfferSource>
      resolve: (s: EpochOfferSource) => void
    }
  >()

  /**
   * Asks the peers for `epoch`'s state: every Weft peer now, and each one that opens a path later (the session keeps
   * the request until `stopRequestingEpoch`). Never re-sent in answer to a request, so two sides that both lack the
   * epoch cannot ask each other in a loop.
   */
  #fetch(epoch: string, child: EpochRecord): Promise<EpochOfferSource> {
    const known = this.#fetches.get(epoch)
    if (known) return known.promise
    let resolve: (s: EpochOfferSource) => void = () => undefined
    const promise = new Promise<EpochOfferSource>((r) => (resolve = r))
    this.#fetches.set(epoch, { child, promise, resolve })
    this.#session?.requestEpoch(epoch)
    return promise
  }

  /** A peer answered a fetch: keep the old epoch's state if it is complete (holds the base of what replaced it). */
  #onArchive(record: EpochRecord, catchUp: Uint8Array): void {
    const fetch = this.#fetches.get(record.parent)
    if (!fetch || fetch.child.id !== record.id) return
    const doc = new Y.Doc({ gc: false })
    try {
      Y.applyUpdate(doc, catchUp, EPOCH_ORIGIN)
    } catch {
      return
    }
    if (!holdsBase(doc, record)) return
    this.#fetches.delete(record.parent)
    this.#session?.stopRequestingEpoch(record.parent)
    this.#left.set(record.parent, { child: record, doc })
    const persistence = this.#persistence
    if (persistence) {
      writeEpochArchive(persistence.store, persistence.docId, record.parent, catchUp, record).catch(
        (err: unknown) => this.emit('error', [{ error: toWeftError(WeftErrorCode.StoreFailed, err) }]),
      )
    }
    fetch.resolve({ record, oldDoc: doc })
  }

  /** Attaches to the session (created with `epoch: manager.record, epochLineage: manager.lineage`). */
  bind(session: SyncSession): void {
    if (this.#session) throw new WeftError(WeftErrorCode.InvalidArgument, 'EpochManager is already bound')
    this.#session = session
    const onOffer = (offer: { record: EpochRecord; catchUp: Uint8Array } & PathRef) => {
      // A failure is reported as an `error` event by the queue.
      if (this.#follow) this.#enqueue(() => this.#follow_(offer)).catch(() => undefined)
    }
    session.on('epoch-offer', onOffer)
    const onArchive = ({ record, catchUp }: { record: EpochRecord; catchUp: Uint8Array }) =>
      this.#onArchive(record, catchUp)
    session.on('epoch-archive', onArchive)
    const onUpdate = (_u: Uint8Array, origin: unknown) => {
      if (origin !== EPOCH_ORIGIN) this.#touched = true
    }
    let doc = session.doc
    doc.on('update', onUpdate)
    const onChanged = ({ doc: next }: { doc: Y.Doc }) => {
      doc.off('update', onUpdate)
      doc = next
      doc.on('update', onUpdate)
    }
    session.on('epoch-changed', onChanged)
    const onCompacted = ({ outcome }: { outcome: { ok: boolean } }) => {
      if (outcome.ok) this.#maybeAutoStart()
    }
    this.#persistence?.on('compacted', onCompacted)
    this.#off = () => {
      session.off('epoch-offer', onOffer)
      session.off('epoch-archive', onArchive)
      session.off('epoch-changed', onChanged)
      this.#persistence?.off('compacted', onCompacted)
      doc.off('update', onUpdate)
    }
  }

  /**
   * Starts a new epoch from the document's current state (COMPACT-3): rebuilds it without history, switches the
   * session (peers in the old epoch are offered the new one) and persists the switch. Resolves with the record once
   * the switch is durable.
   */
  start(): Promise<EpochRecord> {
    return this.#enqueue(async () => {
      const session = this.#requireSession()
      const old = session.doc
      const { record, doc } = startEpoch(old, session.epochRecord ?? undefined)
      const fresh = buildEpochDoc(this.#newDoc(old), record, null, EPOCH_ORIGIN)
      doc.destroy()
      // COMPACT-6.6: old-epoch changes another writer of the store appended meanwhile are found by the switch's
      // reload; they are re-applied like a follower's (they follow the base).
      if (this.#persistence) {
        // COMPACT-3.1: peers hear of the epoch only once it is stored; a starter that crashed before would restart in
        // the old epoch while they are in the new one. `old` stays live meanwhile; what changes in it is re-applied.
        await this.#persistence.switchEpoch({
          record,
          doc: fresh,
          old,
          oldEpoch: session.epoch,
          rebase: rebaseFor(record),
          starting: true,
        })
        // Unbound (the document closed) meanwhile: the switch is stored, the next open is in the new epoch.
        if (this.#session !== session) return record
      }
      await this.#switch(session, record, old, fresh, true, true)
      return record
    })
  }

  /** Resolves once every switch queued so far (started or offered) is done. */
  settled(): Promise<void> {
    return this.#queue
  }

  override destroy(): void {
    this.#off?.()
    this.#off = null
    this.#session = null
    super.destroy()
  }

  #maybeAutoStart(): void {
    const auto = this.#auto
    const session = this.#session
    if (!auto || !session) return
    const now = Date.now()
    if (now - this.#lastAutoStart < (auto.minIntervalMs ?? 60_000)) return
    const counts = countItems(session.doc)
    // An empty document gives an empty epoch, in which a stock peer cannot be told from a pre-reset one (SYNC-9.5).
    if (counts.liveItems === 0 || !shouldStartEpoch(counts, auto)) return
    this.#lastAutoStart = now
    // A failure is reported as an `error` event by the queue.
    this.start().catch(() => undefined)
  }

  #newDoc(like: Y.Doc): Y.Doc {
    const doc = new Y.Doc({ gc: like.gc })
    if (this.#clientId) doc.clientID = this.#clientId()
    return doc
  }

  #requireSession(): SyncSession {
    if (!this.#session)
      throw new WeftError(WeftErrorCode.InvalidArgument, 'EpochManager is not bound to a session')
    return this.#session
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task)
    this.#queue = run.then(
      () => undefined,
      (err: unknown) => this.emit('error', [{ error: toWeftError(WeftErrorCode.StoreFailed, err) }]),
    )
    return run
  }

  async #follow_(offer: { record: EpochRecord; catchUp: Uint8Array } & PathRef): Promise<void> {
    const { record, catchUp } = offer
    const session = this.#session
    if (!session) return
    const judgement = judgeOffer(record, session.epoch)
    if (judgement === 'not-winning') return
    const current = session.doc
    let source: Y.Doc
    if (judgement === 'child') {
      source = current
    } else {
      // COMPACT-4.2: from a sibling (or an epoch we passed through) only if nothing happened in the current epoch.
      const parent = this.#left.get(record.parent)?.doc
      if (!parent || this.#touched) {
        this.emit('blocked', [{ record, reason: 'unreachable' }])
        return
      }
      source = parent
    }
    // COMPACT-5.1, 5.2: complete the old epoch with the catch-up, then re-apply what it holds beyond the base.
    const plan = planFollow(source, record, catchUp, EPOCH_ORIGIN)
    if (!plan.ok) {
      // An offer answers the state vector we announced; we may have changed since (it then came without a
      // catch-up, to a document that was empty). Announce the current one: the answer brings the catch-up.
      // Once per offerer and record: an offerer that has no catch-up to give would answer the same way forever.
      const key = `${record.id} ${offer.peer}`
      const asked = this.#announced.get(offer.transport) ?? new Set<string>()
      this.#announced.set(offer.transport, asked)
      if (catchUp.length === 0 && !asked.has(key)) {
        asked.add(key)
        session.announce(offer.transport, offer.peer)
      } else this.emit('blocked', [{ record, reason: plan.reason }])
      return
    }
    const fresh = buildEpochDoc(this.#newDoc(current), record, plan.rebased, EPOCH_ORIGIN)
    // A document that was empty (even after the catch-up) held nothing of the old epoch: it cannot serve it.
    await this.#switch(session, record, source, fresh, false, plan.rebased !== null)
  }

  async #switch(
    session: SyncSession,
    record: EpochRecord,
    old: Y.Doc,
    fresh: Y.Doc,
    started: boolean,
    complete: boolean,
  ): Promise<void> {
    const oldEpoch = session.epoch
    const leaving = session.doc
    // From a sibling (`old` is then the parent epoch's document): the sibling's own document serves nobody.
    const fromParent = leaving === old
    const keep = fromParent && complete
    // Synchronous from here to the session switch: no update can land on the old document in between.
    this.#left.set(oldEpoch, { child: record, doc: keep ? leaving : null })
    // A started epoch was stored by start() before its peers heard of it (COMPACT-6.3b).
    const persisted = started
      ? undefined
      : this.#persistence?.switchEpoch({
          record,
          doc: fresh,
          old: leaving,
          oldEpoch,
          archive: keep,
          rebase: fromParent ? rebaseFor(record) : () => null,
        })
    session.switchEpoch(fresh, record)
    this.#touched = false
    // Only the most recent left document stays in memory (it holds the old epoch's whole history); older ones come
    // back from the store's archive, or from peers (SYNC-9.7).
    for (const [epoch, left] of this.#left) if (epoch !== oldEpoch) left.doc = null
    this.emit('epoch-changed', [{ doc: fresh, record, started }])
    await persisted
  }
}

import { ObservableV2 } from 'lib0/observable'
import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { requireYDoc } from '../requireYDoc.js'
import { toWeftError, WeftError, WeftErrorCode } from '../WeftError.js'
import { applyStoredDoc } from './applyStoredDoc.js'
import { Compactor, type CollectMeta, type CompactionOutcome } from './Compactor.js'
import type { AppendOptions, CompactOptions, DocStore, StoredDoc } from './DocStore.js'
import { EPOCH_META_KEY, persistEpoch } from './epochPersist.js'
import { writeEpochArchive } from './epochArchive.js'
import { INITIAL_EPOCH, type EpochRecord } from './epochRecord.js'
import { OwnClients } from './OwnClients.js'

/** Options of {@link DocPersistence.open}. */
export interface DocPersistenceOptions {
  readonly doc: Y.Doc
  readonly store: DocStore
  readonly docId: DocId
  /**
   * Runs log compaction when its policy says so (default: a shared `Compactor` with the default policy);
   * `null` disables automatic compaction.
   */
  readonly compactor?: Compactor | null
  /**
   * Promise that this persistence is the document's only writer in `store` (a Node peer, the relay; not a browser
   * tab that shares IndexedDB with other tabs). Compaction then encodes the live doc instead of loading and
   * decoding the store, which is much cheaper on long histories (docs/guides/compaction.md). Default false.
   */
  readonly exclusive?: boolean
  /**
   * Metadata written with each append, in the same atomic step (STORE-2.6); called synchronously just before the
   * append is issued, with the doc update being appended and its origin (`null` and the persistence for appends it
   * makes on its own: a repair, the state held before open, changes made during an epoch switch). A client's
   * pending-change count rides on it, so the count is stored with the change it counts, whatever the order in which
   * listeners were added. Undefined: nothing extra is written.
   */
  readonly appendMeta?: (
    update: Uint8Array | null,
    origin: unknown,
  ) => Readonly<Record<string, string | null>> | undefined
  /**
   * Called once, synchronously, when `open` has applied the stored state to the doc, with the stored metadata, and
   * before anything the doc emitted meanwhile is appended (STORE-7.3): an owner whose `appendMeta` depends on what
   * was stored (a client's pending-change count) is ready before the first append is issued.
   */
  readonly onLoad?: (meta: Readonly<Record<string, string>>) => void
  /**
   * The doc's other `update` listeners that ignore the load (its origin is the persistence), e.g. a pending-change
   * counter: when the doc has no listener but these and the persistence's own, the stored state is applied without
   * Yjs encoding it as an `update` event (`applyStoredDoc`'s `ignoring`).
   */
  readonly ignoringLoad?: ReadonlyArray<(update: Uint8Array, origin: unknown) => void>
  /**
   * Record the client ids the doc is written with ({@link DocPersistence.ownClients}, RULES-5.11; default false): a
   * client whose changes an authority may refuse (`openDocument` when its pending count is stored).
   */
  readonly recordOwnClients?: boolean
  /**
   * Meta entries a compaction that loads the store removes, decided on its load (STORE-9.8: other writers' settled
   * pending counts). Not used by an exclusive persistence (it loads nothing).
   */
  readonly collectMeta?: CollectMeta
}

/** Events of {@link DocPersistence}. */
export type DocPersistenceEvents = {
  /**
   * An asynchronous failure (append, compaction); never thrown (STORE-7.5). `epoch-mismatch`: another writer of the
   * store moved it to another epoch; this persistence stopped appending (STORE-7.8).
   */
  error: (event: { readonly error: WeftError }) => void
  /** A log compaction finished (successfully or not needed). */
  compacted: (event: { readonly outcome: CompactionOutcome }) => void
}

/** Tail bookkeeping for the compaction policy: appends grouped by the clock they reached. */
interface TailEntry {
  readonly clock: number
  readonly count: number
  readonly bytes: number
}

const defaultCompactor = new Compactor()

/**
 * Binds one Y.Doc to a {@link DocStore} (docs/spec/storage.md, STORE-7): loads the stored state into the doc,
 * appends every later update, compacts the log when the policy says so. The persistence object is the origin of
 * the transaction that applies the stored state, so other observers can tell loaded state from edits.
 */
export class DocPersistence extends ObservableV2<DocPersistenceEvents> {
  #doc: Y.Doc
  readonly store: DocStore
  readonly docId: DocId
  readonly compactor: Compactor | null
  /**
   * The client ids this device wrote the document with, earlier sessions' included (RULES-5.11): each recorded with
   * the first append holding items of it, in the same atomic step. `null` unless `recordOwnClients`.
   */
  readonly ownClients: OwnClients | null
  readonly #exclusive: boolean
  readonly #appendMetaOf: DocPersistenceOptions['appendMeta']
  readonly #onLoad: DocPersistenceOptions['onLoad']
  readonly #collectMeta: DocPersistenceOptions['collectMeta']
  readonly #ignoringLoad: ReadonlySet<unknown>
  /**
   * What the doc held before `open` and emitted while `open` read the store (STORE-7.3): appended as one update once
   * the stored state is applied (then `null`), so it is epoch-checked and carries `appendMeta` like any other append.
   */
  #early: Uint8Array[] | null = []
  /** Highest clock known to be applied to the doc (loaded, or appended from it). */
  #lastClock = 0
  /**
   * Highest clock through which the doc holds *every* stored update: the loaded clock, advanced by this writer's
   * own appends only while they are contiguous. With other writers of the store (browser tabs), an own append at
   * n+2 does not mean the doc holds another writer's n+1; an epoch switch compacts through this clock (exactly, so
   * a later update makes it stale and the switch reloads first), never through `#lastClock` (COMPACT-6.6).
   */
  #heldClock = 0
  readonly #pending = new Set<Promise<void>>()
  #tail: TailEntry[] = []
  /** Running totals of #tail (the policy is checked on every append). */
  #tailCount = 0
  #tailBytes = 0
  #snapshotBytes = 0
  #needsRepair = false
  #repair: Promise<void> | null = null
  #compaction: Promise<void> | null = null
  #destroyed = false
  #meta: Readonly<Record<string, string>> = {}
  /** An epoch switch being persisted: `flushed()` waits for it (nothing of the new epoch is durable before). */
  #switching: Promise<void> | null = null
  /** No log compaction while a switch is in progress (it would compact the new document under the old epoch). */
  #switchActive = false
  /**
   * The epoch this persistence stores the document in (meta `epoch` at load, absent = `"0"`; the record's id after
   * {@link switchEpoch}); every append is checked against the store's (STORE-2.5). `undefined` while loading: what
   * the doc emits before the stored state is applied is appended unchecked, as it belongs to whatever is stored.
   */
  #epoch: string | undefined = undefined
  /**
   * An append was refused with `epoch-mismatch` (STORE-7.8): the store holds another epoch. Nothing more is
   * appended until a switch (or a repair in `flushed()`) succeeds; the unstored changes stay in the doc.
   */
  #blocked = false

  /**
   * Loads the stored state into `doc` and starts persisting its updates. Rejects with the store's WeftError
   * (`store-failed`, `store-corrupted`) when the document cannot be loaded; nothing is then left listening.
   */
  static async open(options: DocPersistenceOptions): Promise<DocPersistence> {
    const p = new DocPersistence(options)
    try {
      await p.#load()
    } catch (err) {
      p.#detach()
      throw toWeftError(WeftErrorCode.StoreFailed, err)
    }
    return p
  }

  private constructor(options: DocPersistenceOptions) {
    super()
    this.#doc = requireYDoc(options.doc, 'DocPersistence')
    this.store = options.store
    this.docId = options.docId
    this.compactor = options.compactor === undefined ? defaultCompactor : options.compactor
    this.#exclusive = options.exclusive ?? false
    this.ownClients = options.recordOwnClients ? new OwnClients() : null
    this.#appendMetaOf = options.appendMeta
    this.#onLoad = options.onLoad
    this.#collectMeta = options.collectMeta
    this.#ignoringLoad = new Set<unknown>([this.#onUpdate, ...(options.ignoringLoad ?? [])])
    // Listen before loading: edits made while the load is in flight are stored too.
    this.doc.on('update', this.#onUpdate)
    this.doc.on('destroy', this.#onDocDestroy)
  }

  async #load(): Promise<void> {
    // Content the doc held before opening (not from this store) is stored once as a whole.
    if (this.doc.store.clients.size > 0) this.#early?.push(Y.encodeStateAsUpdate(this.doc))
    const stored = await this.store.load(this.docId)
    this.#epoch = stored?.meta[EPOCH_META_KEY] ?? INITIAL_EPOCH
    if (stored) {
      this.#meta = stored.meta
      applyStoredDoc(this.doc, stored, this, this.#ignoringLoad)
      this.ownClients?.load(stored.meta, this.doc)
      this.#lastClock = Math.max(this.#lastClock, stored.clock)
      this.#heldClock = stored.clock
      this.#snapshotBytes = stored.snapshot?.byteLength ?? 0
      const tailBytes = stored.byteLength - this.#snapshotBytes
      if (stored.updates.length > 0) {
        this.#tail.unshift({ clock: stored.clock, count: stored.updates.length, bytes: tailBytes })
        this.#tailCount += stored.updates.length
        this.#tailBytes += tailBytes
      }
    }
    this.#onLoad?.(this.#meta)
    // No compaction here: opening writes nothing (STORE-7.2) but what the doc held or emitted meanwhile; the next
    // append re-checks the policy.
    const early = this.#early ?? []
    this.#early = null
    if (early.length > 0) this.#write(early.length === 1 ? early[0]! : Y.mergeUpdates(early))
  }

  /** The document being persisted (replaced by {@link switchEpoch}). */
  get doc(): Y.Doc {
    return this.#doc
  }

  /**
   * Moves persistence to a new epoch's document (docs/spec/compaction.md, COMPACT-3.4): stops storing the old
   * document now (synchronously), waits for its pending appends, stores `archive` (the old epoch's document and the
   * record that replaced it, for peers that come back from it, COMPACT-6.2) under {@link @weft/core/epochs!epochArchiveId}, then
   * replaces the stored document by `doc` and the record in one atomic step, and from then on stores `doc`'s updates
   * (also those made meanwhile). `flushed()` waits for all of it.
   *
   * The atomic step is an exact, epoch-checked compaction (COMPACT-6.6, STORE-3.7, STORE-3.8). When it is `stale`,
   * the store is loaded again:
   * - still in the old epoch (another writer, e.g. a browser tab sharing the store, appended to it meanwhile): the
   *   stored state is applied to `old` and `rebase(old)` to `doc` (deterministic ids make re-applying idempotent),
   *   then the compaction is retried through the new last clock;
   * - already in `record`'s epoch (another writer switched first): its snapshot lacks what only this writer held, so
   *   `doc`'s whole state is appended on top, epoch-checked;
   * - in another epoch: this switch cannot be stored; the persistence reports `epoch-mismatch` and stops appending
   *   (STORE-7.8) until the switch to the stored epoch, which the peers' offer brings.
   */
  switchEpoch(params: {
    readonly record: EpochRecord
    readonly doc: Y.Doc
    readonly old: Y.Doc
    readonly oldEpoch: string
    /** Archive `old` (default true; false when it does not hold the old epoch, e.g. it was empty). */
    readonly archive?: boolean
    readonly rebase: (old: Y.Doc) => Uint8Array | null
    /**
     * The starter's mode (COMPACT-3.1): `old` stays the live document while the switch is stored (its owner moves
     * to `doc` only afterwards). Changes made to `old` meanwhile are re-applied onto `doc` (with `rebase`) before
     * the switch completes, and a switch that fails goes back to storing `old` (nothing of it is lost: the next
     * `flushed()` re-appends its state).
     */
    readonly starting?: boolean
  }): Promise<void> {
    if (this.#destroyed)
      return Promise.reject(new WeftError(WeftErrorCode.Destroyed, 'DocPersistence was destroyed'))
    const { record, doc, old, oldEpoch, rebase } = params
    this.#doc.off('update', this.#onUpdate)
    this.#doc.off('destroy', this.#onDocDestroy)
    this.#doc = doc
    this.#switchActive = true
    let oldChanged = false
    const onOld = () => {
      oldChanged = true
    }
    if (params.starting) old.on('update', onOld)
    const run = (async () => {
      await Promise.all([...this.#pending])
      await this.#compaction
      const archive = params.archive !== false
      // V2: the old epoch's state is mostly deleted items, which V2 run-length encodes (COMPACT-6.2b).
      if (archive)
        await writeEpochArchive(this.store, this.docId, oldEpoch, Y.encodeStateAsUpdateV2(old), record, V2)
      const from = this.#epoch ?? INITIAL_EPOCH
      let persistedSv: Uint8Array
      let elsewhere = false
      for (let attempt = 0; ; attempt++) {
        // persistEpoch encodes `doc` synchronously: what arrives during the await is written afterwards.
        persistedSv = Y.encodeStateVector(doc)
        const through = this.#heldClock
        const result = await persistEpoch(this.store, this.docId, record, doc, through, { from })
        if (result.ok) {
          this.#resetTail(null)
          this.#lastClock = Math.max(this.#lastClock, through)
          break
        }
        const stored = await this.store.load(this.docId)
        if (!stored || attempt >= 5)
          throw new WeftError(WeftErrorCode.StoreFailed, 'epoch switch kept going stale')
        this.#lastClock = stored.clock
        this.#heldClock = stored.clock
        const storedEpoch = stored.meta[EPOCH_META_KEY] ?? INITIAL_EPOCH
        if (storedEpoch === record.id) {
          // Another writer of this store switched already: take what it stored (the same epoch, so it is safe),
          // and store all of `doc` on top (an empty state vector): it holds what only this writer re-applied.
          applyStoredDoc(doc, stored, this)
          persistedSv = EMPTY_STATE_VECTOR
          this.#resetTail(stored)
          break
        }
        if (storedEpoch !== from) {
          elsewhere = true
          this.#resetTail(stored)
          break
        }
        // Same epoch (never apply another epoch's state, COMPACT-5.7): catch up, archive it too, and re-apply.
        const known = Y.encodeStateVector(old)
        applyStoredDoc(old, stored, this)
        if (archive) {
          const more = Y.encodeStateAsUpdateV2(old, known)
          await writeEpochArchive(this.store, this.docId, oldEpoch, more, record, V2)
        }
        const again = rebase(old)
        if (again) Y.applyUpdate(doc, again, this)
      }
      this.#epoch = record.id
      this.#meta = { ...this.#meta, [EPOCH_META_KEY]: record.id }
      // The store now holds all of `doc` (a snapshot, or the whole state appended below), and `doc` holds every
      // change of `old`, also one whose append failed or was refused: nothing is left to repair.
      this.#blocked = false
      this.#needsRepair = false
      if (elsewhere) this.#refused(epochMismatch(`the store moved to another epoch than ${record.id}`))
      old.off('update', onOld)
      if (oldChanged) {
        // The starter's document changed while the switch was stored: re-apply (idempotent) before completing.
        const again = rebase(old)
        if (again) Y.applyUpdate(doc, again, this)
      }
      if (!this.#destroyed) {
        doc.on('update', this.#onUpdate)
        doc.on('destroy', this.#onDocDestroy)
      }
      // Edits made in the new epoch while it was being persisted (stored also when `destroy()` came meanwhile: they
      // were made before it, STORE-7.6; `destroy()` waits for the switch, then for this append).
      const missed = Y.encodeStateAsUpdate(doc, persistedSv)
      if (!isEmptyUpdate(missed)) this.#write(missed)
    })().finally(() => {
      this.#switchActive = false
    })
    this.#switching = run.then(
      () => undefined,
      (err: unknown) => {
        old.off('update', onOld)
        if (params.starting && !this.#destroyed) {
          // The starter stays in the old epoch: store `old` again, including what changed meanwhile.
          this.#doc = old
          old.on('update', this.#onUpdate)
          old.on('destroy', this.#onDocDestroy)
          this.#needsRepair = true
          this.#emitError(toWeftError(WeftErrorCode.StoreFailed, err, 'epoch start failed'))
          return
        }
        // The store still holds the old epoch (the switch is one atomic step) but the document is the new one:
        // nothing of it may be appended to the old epoch. Appends, and the repair in `flushed()`, are checked
        // against the new epoch and refused until a switch is stored (STORE-7.8), so no durable ack covers them.
        this.#epoch = record.id
        this.#blocked = true
        this.#needsRepair = true
        this.#emitError(toWeftError(WeftErrorCode.StoreFailed, err, 'epoch switch failed'))
      },
    )
    return run
  }

  /** Metadata as loaded by `open` (epoch id, schema version...). */
  get meta(): Readonly<Record<string, string>> {
    return this.#meta
  }

  /**
   * What the doc is known to hold of the store: `held`, the highest clock through which it holds every stored update
   * (the loaded clock, advanced by this writer's own contiguous appends); `last`, the highest clock it holds at all;
   * `epoch`, the epoch it is stored in (`undefined` while loading). When `held === last` and nothing is waiting to
   * be appended (after `flushed()`), the doc's state is exactly what the store holds through `held`: a derived value
   * tagged with that clock and epoch is current as long as the stored clock and epoch are those.
   */
  get clocks(): { readonly held: number; readonly last: number; readonly epoch: string | undefined } {
    return { held: this.#heldClock, last: this.#lastClock, epoch: this.#epoch }
  }

  /**
   * Resolves once every update the doc emitted before this call is durable (STORE-7.4). If an append failed, it
   * re-appends the whole document state (which covers the lost update) and rejects only if that fails too.
   *
   * After an `epoch-mismatch` (STORE-7.8) the re-append is epoch-checked too: while the store holds another epoch
   * it is refused and `flushed()` rejects with that `epoch-mismatch` WeftError, so nothing (a durable ack above all)
   * treats the unstored changes as durable. It resolves again once a switch to the stored epoch has stored them.
   */
  async flushed(): Promise<void> {
    if (this.#switching) await this.#switching
    await Promise.all([...this.#pending])
    // A repair another caller started covers this call too: wait for its outcome (it cleared `#needsRepair`).
    if (this.#repair) return this.#repair
    if (!this.#needsRepair) return
    this.#repair = (async () => {
      this.#needsRepair = false
      try {
        await this.#track(
          this.store.append(this.docId, Y.encodeStateAsUpdate(this.doc), this.#appendOptions()),
        )
        this.#blocked = false
      } catch (err) {
        this.#needsRepair = true
        const error = toWeftError(WeftErrorCode.StoreFailed, err)
        if (error.code === WeftErrorCode.EpochMismatch) this.#blocked = true
        throw error
      } finally {
        this.#repair = null
      }
    })()
    await this.#repair
  }

  /**
   * Compacts the log now (the policy decides when this happens on its own), joining a compaction already running.
   * `options.meta` is written in the same atomic step. Rejects with a WeftError; needs a compactor.
   */
  async compact(options?: CompactOptions): Promise<CompactionOutcome> {
    if (this.#destroyed) throw new WeftError(WeftErrorCode.Destroyed, 'DocPersistence was destroyed')
    if (this.#switching) await this.#switching
    const compactor = this.compactor ?? defaultCompactor
    // Epoch-checked (STORE-3.8): never fold this writer's epoch over a newer one another writer stored.
    if (options?.epoch === undefined && this.#epoch !== undefined)
      options = { ...options, epoch: this.#epoch }
    let outcome: CompactionOutcome
    if (this.#exclusive) {
      const through = this.#lastClock
      const tail = { count: 0, bytes: 0 }
      for (const entry of this.#tail) {
        if (entry.clock > through) continue
        tail.count += entry.count
        tail.bytes += entry.bytes
      }
      outcome = await compactor.compactFrom(this.store, this.docId, this.doc, through, tail, options)
    } else {
      outcome = await compactor.compact(this.store, this.docId, options, this.#collectMeta)
    }
    if (outcome.ok) {
      this.#snapshotBytes = outcome.snapshotBytes
      this.#tail = this.#tail.filter((entry) => entry.clock > outcome.throughClock)
      this.#tailCount = 0
      this.#tailBytes = 0
      for (const entry of this.#tail) {
        this.#tailCount += entry.count
        this.#tailBytes += entry.bytes
      }
    }
    this.emit('compacted', [{ outcome }])
    return outcome
  }

  /**
   * Stops persisting (later updates are not stored), waits for pending appends and a running compaction
   * (STORE-7.6). Leaves the store open: the caller owns it.
   */
  // Async on purpose: a restart (close, reopen the same store) must be able to await the last writes.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#detach()
    // The switch first: it may still append (edits made in the new epoch while it was stored).
    await Promise.allSettled([this.#switching])
    await Promise.allSettled([...this.#pending, this.#compaction])
    super.destroy()
  }

  #detach(): void {
    this.#destroyed = true
    this.#early = null
    this.#doc.off('update', this.#onUpdate)
    this.#doc.off('destroy', this.#onDocDestroy)
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || this.#destroyed) return
    if (this.#early) this.#early.push(update)
    else this.#write(update, origin)
  }

  readonly #onDocDestroy = (): void => {
    void this.destroy()
  }

  /** Appends `update`: a doc update with its `origin`, or (origin: the persistence) one it makes on its own. */
  #write(update: Uint8Array, origin: unknown = this): void {
    if (this.#blocked) {
      // STORE-7.8: the store holds another epoch; the change stays in the doc (the switch re-applies it).
      this.#needsRepair = true
      return
    }
    const options = this.#appendOptions(origin === this ? null : update, origin)
    const append = this.store.append(this.docId, update, options).then(
      (clock) => {
        this.ownClients?.stored(options?.meta)
        this.#lastClock = Math.max(this.#lastClock, clock)
        if (clock === this.#heldClock + 1) this.#heldClock = clock
        this.#tail.push({ clock, count: 1, bytes: update.byteLength })
        this.#tailCount++
        this.#tailBytes += update.byteLength
        this.#maybeCompact()
      },
      (err: unknown) => {
        this.#needsRepair = true
        const error = toWeftError(WeftErrorCode.StoreFailed, err, 'append failed')
        if (error.code === WeftErrorCode.EpochMismatch) this.#refused(error)
        else this.#emitError(error)
      },
    )
    void this.#track(append)
  }

  /** The epoch check of every append of the document (STORE-2.5); none while loading. One object per epoch. */
  #appendOptions(update: Uint8Array | null = null, origin: unknown = this): AppendOptions | undefined {
    const owner = this.#appendMetaOf?.(update, origin)
    // RULES-5.11: the doc's client id is recorded with its first items.
    const own = this.ownClients?.appendMeta(this.#doc)
    const meta = own ? { ...owner, ...own } : owner
    if (this.#epoch === undefined) return meta ? { meta } : undefined
    if (this.#appendOpts?.epoch !== this.#epoch) this.#appendOpts = { epoch: this.#epoch }
    return meta ? { epoch: this.#epoch, meta } : this.#appendOpts
  }
  #appendOpts: AppendOptions | null = null

  /** STORE-7.8: stop appending, report once. */
  #refused(error: WeftError): void {
    this.#needsRepair = true
    if (this.#blocked) return
    this.#blocked = true
    this.#emitError(error)
  }

  /** Tail bookkeeping after a switch: empty, or what a load of the new epoch found. */
  #resetTail(stored: StoredDoc | null): void {
    const snapshotBytes = stored?.snapshot?.byteLength ?? 0
    const count = stored?.updates.length ?? 0
    const tailBytes = (stored?.byteLength ?? 0) - snapshotBytes
    this.#tail = stored && count > 0 ? [{ clock: stored.clock, count, bytes: tailBytes }] : []
    this.#tailCount = count
    this.#tailBytes = count > 0 ? tailBytes : 0
    if (stored) this.#snapshotBytes = snapshotBytes
  }

  #track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    )
    this.#pending.add(settled)
    void settled.then(() => this.#pending.delete(settled))
    return p
  }

  #maybeCompact(): void {
    if (!this.compactor || this.#compaction || this.#destroyed || this.#switchActive || this.#blocked) return
    const stats = {
      updateCount: this.#tailCount,
      updateBytes: this.#tailBytes,
      snapshotBytes: this.#snapshotBytes,
    }
    if (!this.compactor.shouldCompact(stats)) return
    this.#compaction = this.compact()
      .then(
        () => undefined,
        (err: unknown) => this.#emitError(toWeftError(WeftErrorCode.StoreFailed, err, 'compaction failed')),
      )
      .finally(() => {
        this.#compaction = null
      })
  }

  #emitError(error: WeftError): void {
    this.emit('error', [{ error }])
  }
}

const isEmptyUpdate = (update: Uint8Array): boolean => update.length <= 2

/** Archives are written from V2 encodings (COMPACT-6.2b). */
const V2 = { format: 'v2' } as const

/** A state vector that knows nothing: `encodeStateAsUpdate(doc, it)` is the whole document. */
const EMPTY_STATE_VECTOR = Uint8Array.of(0)

const epochMismatch = (message: string): WeftError => new WeftError(WeftErrorCode.EpochMismatch, message)

import { ObservableV2 } from 'lib0/observable'
import * as Y from 'yjs'
import {
  WeftError,
  WeftErrorCode,
  CATALOGUE_DOC,
  CloseCode,
  TombstoneSightings,
  isPastRetention,
  tombstoneSightingsKey,
  openTyped,
  workspaceDocId,
  isWorkspaceDocId,
  toWeftError,
  type Fields,
  type Patch,
  type StoredDoc,
  type TypedDoc,
  type WriteResult,
} from '@weft/core'
import type { SyncStatus, WeftDoc } from '../WeftDoc.js'
import {
  CatalogueDocuments,
  requireDocumentId,
  type CatalogueRecord,
  type CatalogueSchema,
  type CreateInput,
  type EntryFields,
} from './catalogue.js'
import { BackgroundSync, type WorkspaceProgress } from './BackgroundSync.js'
import { CatalogueApply } from './CatalogueApply.js'
import { ListSnapshots } from './ListSnapshots.js'
import { DocSlots } from './DocSlots.js'
import { storedPending, type LocalIndex } from './LocalIndex.js'
import { planEviction } from './planEviction.js'
import { defaultOpenLocks, openLockName } from './OpenLocks.js'
import { attachPeerSummaries } from './peerSummary.js'
import { PreloadSet } from './PreloadSet.js'
import { openWorkspaceDoc, type WorkspaceConfig } from './workspaceConfig.js'
import { WorkspaceList, type WorkspaceEntry } from './WorkspaceList.js'
import { workspaceStatus } from './workspaceStatus.js'

/** Events of a {@link Workspace}. */
export type WorkspaceEvents = {
  /** The aggregate status or the summed pending count changed (WS-CLIENT-6.1). */
  status: (event: { readonly status: SyncStatus; readonly pendingChanges: number }) => void
  /** The progress changed (WS-CLIENT-6.2). */
  progress: (event: WorkspaceProgress) => void
  /** An asynchronous fault (store, a document's sync, the catalogue). Never thrown. */
  error: (event: { readonly error: WeftError }) => void
  /**
   * The relay refused document `docId` for good (a final `connection-error`: deleted past its retention, no access):
   * its `pendingChanges` local changes will not be confirmed, and from now on they are not counted in the workspace's
   * `pendingChanges` and do not hold its status in `syncing` (WS-CLIENT-6.5). Show "these edits were not saved".
   */
  refused: (event: { readonly docId: string; readonly pendingChanges: number; readonly code: number }) => void
}

/**
 * A workspace: a catalogue of documents (the document `W/.catalogue`) and the documents themselves, opened lazily,
 * kept locally and in sync as the preload policy says, unloaded when closed, evicted under a storage budget. Create
 * with `openWorkspace`; the guide is docs/guides/workspaces.md, the rules `WS-CLIENT-*` in
 * docs/spec/workspaces.md.
 */
export class Workspace<M extends Fields = Record<never, never>> extends ObservableV2<WorkspaceEvents> {
  /** The workspace id `W`. */
  readonly id: string
  /** The observable list of documents. */
  readonly list: WorkspaceList<M>
  readonly #catalogue: WeftDoc
  readonly #typed: TypedDoc<CatalogueSchema<M>>
  readonly #config: WorkspaceConfig<M>
  readonly #index: LocalIndex
  /** "Open somewhere" across the tabs sharing the store (WS-CLIENT-5.3, WS-CLIENT-6.6), and the ones held here. */
  readonly #locks = defaultOpenLocks()
  readonly #held = new Map<string, () => void>()
  readonly #slots: DocSlots
  readonly #documents: CatalogueDocuments<M>
  readonly #stale = new Set<string>()
  /** Loaded documents whose relay refused them for good (a final `connection-error`). */
  readonly #refused = new Set<string>()
  /** Pending catalogue writes of open documents changed here (WS-CLIENT-1.4). */
  readonly #touches = new Map<string, ReturnType<typeof setTimeout>>()
  readonly #preload: PreloadSet<M>
  readonly #background: BackgroundSync
  readonly #offs: Array<() => void> = []
  #catalogueSynced = false
  /** The catalogue holds (or was given) its schema marks (WS-CLIENT-1.6). */
  #marked = false
  #unmark: (() => void) | null = null
  #wasOnline = false
  #caughtUp = false
  #connected: boolean
  #destroyed = false
  /** The catalogue was released (the last step of destroy): no record is written any more. */
  #catalogueClosed = false
  #status: SyncStatus = 'offline'
  #lastPending = -1
  #evicting: Promise<void> | null = null
  #evictAgain = false
  #purging: Promise<void> = Promise.resolve()
  /** When this replica first saw each tombstone (WS-PURGE-11), read at the first purge. */
  #sightings: Promise<TombstoneSightings> | null = null
  /** Documents the relay refused for good (`Forbidden`: past its retention, or no access), kept after unloading. */
  readonly #gone = new Set<string>()
  /** Documents refused for good since they were last loaded: their changes are not pending any more (WS-CLIENT-6.5). */
  readonly #lost = new Set<string>()
  /** Documents store their pending count with their appends (they have a relay or transports, PROV-5.8). */
  readonly #persistsPending: boolean
  /**
   * WS-CLIENT-8: the apply of the catalogue's stored state, kept back at a warm open and done in slices, one per
   * task (WS-CLIENT-8.4), or at once when the catalogue is needed; and the list's records (from the stored snapshot)
   * meanwhile. Both null once applied.
   */
  #pendingApply: Generator<void, void, void> | null = null
  #snapshot: Map<string, CatalogueRecord<M>> | null = null
  #applyTimer: ReturnType<typeof setTimeout> | null = null
  /** The apply is under way (its changes are not the list's changes: the list follows once it is done). */
  #applying = false
  /** A slice of the apply is running now (not re-entered). */
  #inSlice = false
  /** What waits for the kept-back catalogue to be applied. */
  #applied: Array<() => void> = []
  readonly #snapshots: ListSnapshots<M>

  /** Use `openWorkspace`. */
  constructor(parts: {
    config: WorkspaceConfig<M>
    catalogue: WeftDoc
    index: LocalIndex
    connect: boolean
    /** A warm open's kept-back catalogue state and the list's records from its snapshot (WS-CLIENT-8.1). */
    deferred?: { readonly stored: StoredDoc; readonly records: ReadonlyArray<CatalogueRecord<M>> } | null
  }) {
    super()
    const config = parts.config
    this.#config = config
    this.id = config.id
    this.#catalogue = parts.catalogue
    if (parts.deferred) {
      this.#pendingApply = this.#applySlices(parts.deferred.stored)
      this.#snapshot = new Map(parts.deferred.records.map((r) => [r.id, r]))
    }
    this.#index = parts.index
    this.#persistsPending =
      config.link !== null ||
      config.relay !== null ||
      (typeof config.transports !== 'function' && config.transports.length > 0)
    this.#connected = parts.connect
    this.#index.onError = (err) => this.#fault(err, 'local index')
    // WS-CLIENT-1.6, 1.8: a new catalogue is marked with its schema only right after its first local write: a device
    // joining a workspace, or reading it, writes nothing to it (its mark would conflict with every replica's, and a
    // reader could never send it).
    this.#typed = openTyped(this.#catalogue.doc, config.schema, { markLater: true })
    this.#offs.push(this.#markOnce())
    this.#documents = new CatalogueDocuments(this.#typed)
    this.#snapshots = new ListSnapshots<M>({
      store: config.store,
      workspace: config.id,
      schema: config.schema,
      doc: this.#catalogue.doc,
      catalogue: () => (this.#catalogueClosed || this.#pendingApply ? null : this.#catalogue),
      read: (id) => this.#documents.get(id),
      ids: () => this.#documents.ids(),
      all: () => this.#documents.values(),
      error: (err) => this.#fault(err, 'list snapshot'),
    })
    // Read whole only when a policy needs it; from now on each catalogue change reads its own records (issue #15).
    this.#preload = new PreloadSet(config.policy, config.policy === undefined ? [] : this.#records(), (id) =>
      this.#record(id),
    )
    this.list = new WorkspaceList<M>({
      all: () => this.#records().map((record) => this.#entry(record)),
      one: (id) => {
        const record = this.#record(id)
        return record && this.#entry(record)
      },
    })
    this.#slots = new DocSlots({
      open: (d) => this.#load(d),
      unload: (d, doc) => this.#unload(d, doc),
    })
    this.#background = new BackgroundSync({
      concurrency: config.concurrency,
      runnable: () => this.#catalogueSynced && this.#online(),
      acquire: (d) => this.#slots.acquire(d, 'sync'),
      release: (d) => this.#slots.release(d, 'sync'),
      refused: (d) => this.#refused.has(d),
      sizeOf: (d) => this.#record(d)?.size ?? 0,
      settled: (d, outcome, seqs) => {
        // A refused document is not retried: its changes are reported handled so the cursor moves on.
        for (const seq of seqs) this.#config.link?.handled(seq)
        this.#updateStatus()
        this.#purge([d])
        this.#evict()
      },
      failed: (d, err) => this.#fault(err, `syncing ${d}`),
      changed: () => this.#updateStatus(),
      progressed: () => this.emit('progress', [this.progress]),
    })
    const update = () => this.#updateStatus()
    this.#catalogue.on('status', update)
    this.#offs.push(() => this.#catalogue.off('status', update))
    const onError = ({ error }: { error: WeftError }) => this.emit('error', [{ error }])
    this.#catalogue.on('error', onError)
    this.#offs.push(() => this.#catalogue.off('error', onError))
    this.#offs.push(this.#documents.observe((change) => this.#catalogueChanged(change)))
    const link = config.link
    if (link) {
      const onChanged = ({ doc, seq }: { doc: string; seq: number }) => this.#changed(doc, seq)
      const onCaughtUp = () => {
        this.#caughtUp = true
        this.#updateStatus()
      }
      const onLink = () => {
        if (link.status !== 'connected') this.#caughtUp = false
        this.#onlineChanged()
      }
      link.on('changed', onChanged)
      link.on('caught-up', onCaughtUp)
      link.on('status', onLink)
      this.#offs.push(() => {
        link.off('changed', onChanged)
        link.off('caught-up', onCaughtUp)
        link.off('status', onLink)
      })
    } else {
      const onCatalogue = () => this.#onlineChanged()
      this.#catalogue.on('status', onCatalogue)
      this.#offs.push(() => this.#catalogue.off('status', onCatalogue))
    }
    // WS-PEER-2: peers met on workspace-wide sources compare their document sets; the differing ones sync briefly.
    if (typeof config.transports !== 'function')
      this.#offs.push(
        attachPeerSummaries(config.transports, {
          workspace: config.id,
          store: config.store,
          differing: (ids) => {
            // WS-PEER-6: only documents the catalogue holds a record of; the others wait for one.
            this.#background.offer(
              ids.filter((d) => !this.#slots.isOpen(d)),
              (d) => this.#record(d) !== undefined,
            )
          },
          error: (err) => this.#fault(err, 'peer summary'),
        }),
      )
    // WS-CLIENT-4.1: the catalogue syncs first; preloading starts after its first sync.
    // Without any transport it is synced at once: with the catalogue kept back (WS-CLIENT-8.1), after its apply.
    void this.#catalogue.whenSynced.then(() =>
      this.#afterApply(() => {
        if (this.#destroyed) return
        // WS-CLIENT-1.8: not marked here: a reader could never send the marks (pending for good); the first local
        // write marks it (#markOnce), and a reader makes none.
        this.#catalogueSynced = true
        this.#enqueueInitial()
        this.#background.pump() // what was queued before (a link's changes caught up first) may run now
        this.#updateStatus()
      }),
    )
    this.#purge()
    this.#updateStatus()
    if (this.#pendingApply) {
      // WS-CLIENT-8.1: applied after the open's first reads (from a macrotask later, a slice per task, WS-CLIENT-8.4),
      // or at once when something needs it first.
      this.#applyTimer = setTimeout(() => this.#applySlice(), 0)
    } else if ((parts.catalogue.handle.persistence?.clocks.last ?? 0) > 0) {
      // No current snapshot was stored (first open, or the catalogue changed since, WS-CLIENT-8.2): one is written.
      this.#snapshots.schedule()
    }
  }

  /**
   * The catalogue document (`W/.catalogue`), open for the workspace's life. After a warm open from the list's
   * snapshot (WS-CLIENT-8.1), reading it applies the catalogue's stored state first if that is not done yet.
   */
  get catalogue(): WeftDoc {
    this.#applyCatalogue()
    return this.#catalogue
  }

  /**
   * The catalogue seen through its schema (`typed.root.documents` holds one record per document); applies the
   * stored catalogue first, as {@link catalogue} does.
   */
  get typed(): TypedDoc<CatalogueSchema<M>> {
    this.#applyCatalogue()
    return this.#typed
  }

  /**
   * Whether the catalogue's stored state is applied to its `Y.Doc`. False only after a warm open from the list's
   * snapshot (WS-CLIENT-8.1), until its apply, a slice per task from the next macrotask on (WS-CLIENT-8.4), ends,
   * or the first use of the catalogue.
   */
  get catalogueLoaded(): boolean {
    return this.#pendingApply === null
  }

  /** The aggregate status (WS-CLIENT-6.1): `offline`, `connecting`, `syncing` or `synced`. */
  get status(): SyncStatus {
    return this.#status
  }

  /**
   * Local changes not yet confirmed, summed over the catalogue and every document, open or closed (WS-CLIENT-6.3),
   * without those of documents the relay refused for good (WS-CLIENT-6.5, the `refused` event).
   */
  get pendingChanges(): number {
    let n = this.#catalogue.pendingChanges + this.#index.pending
    for (const [d, doc] of this.#slots.docs())
      if (!this.#lost.has(d)) n += doc.pendingChanges - (this.#index.get(d)?.pending ?? 0)
    for (const d of this.#lost) n -= this.#index.get(d)?.pending ?? 0
    return n
  }

  /** The current round's progress (WS-CLIENT-6.2). */
  get progress(): WorkspaceProgress {
    return this.#background.progress
  }

  /** Ids of the documents that hold a `Y.Doc` now (open, or being synced briefly); the catalogue is not counted. */
  get loaded(): readonly string[] {
    return this.#slots.loaded()
  }

  /** Whether open document `docId` has not synced since it was opened (WS-CLIENT-4.3). */
  isStale(docId: string): boolean {
    return this.#stale.has(docId) && this.#slots.isOpen(docId)
  }

  /**
   * Adds a document to the catalogue (WS-CLIENT-1.2) and returns its id; it is not opened (no `Y.Doc`). A bad
   * value (`invalid-value`) or an id in use or ever deleted (`exists`: a deleted id is never reused, WS-PURGE-10)
   * writes nothing and returns `{ ok: false, reason }`.
   * Throws `invalid-argument` for an id that is not a valid document id.
   */
  create(input: CreateInput<M>): WriteResult<{ readonly id: string }> {
    this.#live('create')
    this.#applyCatalogue()
    const { id, ...fields } = input as CreateInput<M> & Record<string, unknown>
    if (id !== undefined) requireDocumentId(id)
    const now = this.#config.now()
    const record = { ...fields, createdAt: now, updatedAt: now, size: 0, deleted: false, deletedAt: 0 }
    // The preload set and the list follow from the catalogue's change event, fired by the insert.
    return this.#documents.create(record, id)
  }

  /** Changes the title or app metadata of document `id` (and its `updatedAt`). Checked as `create` is. */
  update(id: string, patch: Patch<EntryFields<M>>): WriteResult {
    this.#live('update')
    this.#applyCatalogue()
    return this.#documents.update(id, { ...patch, updatedAt: this.#config.now() } as Patch<EntryFields<M>>)
  }

  /**
   * Deletes document `id`: a tombstone (`deleted`, `deletedAt`) that syncs with the catalogue (WS-CLIENT-2.1). Its
   * data is kept for the retention period, then purged by every replica (WS-CLIENT-2.2). An open handle stays usable.
   * A tombstone is final (WS-PURGE-10): no `create` or later write undoes it, and a second `delete` (here or on
   * another replica) keeps the earliest `deletedAt`.
   */
  delete(id: string): WriteResult {
    this.#live('delete')
    this.#applyCatalogue()
    return this.#documents.delete(id, this.#config.now())
  }

  /**
   * Opens document `docId` (WS-CLIENT-3.1): resolves with the same {@link WeftDoc} `openDoc` returns, loaded from
   * the local store (at once, without waiting for the network), then synced; {@link isStale} until that sync.
   * Opening an open document returns the same handle; every `open` is matched by one {@link close}. Rejects with
   * `invalid-argument` for an invalid id.
   */
  async open(docId: string): Promise<WeftDoc> {
    this.#live('open')
    requireDocumentId(docId)
    const doc = await this.#slots.acquire(docId, 'app')
    this.#index.set(docId, { lastOpened: this.#config.now() })
    this.list._changed([docId])
    return doc
  }

  /**
   * Closes one `open` of `docId`; the last close unloads it (its `Y.Doc` is destroyed, WS-CLIENT-3.2), records its
   * `updatedAt` and `size` in the catalogue if it was changed here, and may evict cold documents (WS-CLIENT-5).
   */
  async close(docId: string): Promise<void> {
    if (this.#destroyed) return
    await this.#slots.release(docId, 'app')
    this.list._changed([docId])
    this.#evict()
  }

  /** Connects the catalogue, the link and every loaded document. */
  connect(): void {
    this.#connected = true
    this.#applyCatalogue() // connects the catalogue and the link if it was kept back
    void this.#config.link?.connect()
    this.#catalogue.connect()
    for (const [, doc] of this.#slots.docs()) doc.connect()
  }

  /** Disconnects everything: local edits continue and stay pending. */
  disconnect(): void {
    this.#connected = false
    this.#config.link?.disconnect()
    this.#catalogue.disconnect()
    for (const [, doc] of this.#slots.docs()) doc.disconnect()
    this.#onlineChanged()
  }

  /**
   * Purges the local data of every document deleted longer ago than the retention period (WS-CLIENT-2.2). Runs by
   * itself when the workspace opens and after each catalogue change; call it periodically in long-lived apps.
   * Resolves once done.
   */
  purge(): Promise<void> {
    this.#purge()
    return this.#purging
  }

  /** Resolves once evictions and this device's bookkeeping so far are stored. */
  async flushed(): Promise<void> {
    while (this.#evicting) await this.#evicting
    await this.#purging
    await this.#index.flushed()
    await this.#snapshots.flush()
  }

  /**
   * Closes every document, the catalogue and the link; waits for local writes. The store stays open (the caller
   * owns it).
   */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    if (this.#applyTimer) clearTimeout(this.#applyTimer)
    for (const off of this.#offs.splice(0)) off()
    this.#background.close()
    await this.#slots.closeAll()
    await this.flushed()
    this.#catalogueClosed = true
    this.#snapshots.close()
    this.#typed.destroy()
    await this.#catalogue.destroy()
    await this.#config.link?.close()
    if (typeof this.#config.transports !== 'function')
      for (const source of this.#config.transports) await source.close?.()
    this.list.destroy()
    super.destroy()
  }

  /**
   * The catalogue's records as the workspace uses them (list, preload, background sync): WS-CLIENT-1.7, a record under
   * an id that is not a document id (a peer's or an old client's) is left out, as the purge leaves it (WS-PURGE-2).
   */
  #records(): Array<CatalogueRecord<M>> {
    const records = this.#snapshot ? Array.from(this.#snapshot.values()) : this.#documents.values()
    return records.every((r) => isWorkspaceDocId(r.id))
      ? records
      : records.filter((r) => isWorkspaceDocId(r.id))
  }

  /** Record `id` (WS-CLIENT-1.7: none under an id that is not a document id). */
  #record(id: string): CatalogueRecord<M> | undefined {
    if (!isWorkspaceDocId(id)) return undefined
    return this.#snapshot ? this.#snapshot.get(id) : this.#documents.get(id)
  }

  /**
   * WS-CLIENT-8.1: applies the rest of the kept-back catalogue state now (the slices not done yet, WS-CLIENT-8.4).
   * Not from inside a slice (a listener of the catalogue's own apply): that slice's apply goes on.
   */
  #applyCatalogue(): void {
    const job = this.#pendingApply
    if (!job || this.#catalogueClosed || this.#inSlice) return
    if (this.#applyTimer) clearTimeout(this.#applyTimer)
    this.#applyTimer = null
    while (this.#pendingApply && !this.#runSlice(job));
  }

  /** WS-CLIENT-8.4: one slice of the kept-back catalogue's apply, then the next one a macrotask later. */
  #applySlice(): void {
    this.#applyTimer = null
    const job = this.#pendingApply
    if (!job || this.#catalogueClosed || this.#destroyed) return
    if (!this.#runSlice(job)) this.#applyTimer = setTimeout(() => this.#applySlice(), 0)
  }

  /** Runs one slice of `job`; returns whether the apply is done. */
  #runSlice(job: Generator<void, void, void>): boolean {
    this.#inSlice = true
    try {
      return job.next().done === true
    } finally {
      this.#inSlice = false
    }
  }

  /**
   * WS-CLIENT-8.1, WS-CLIENT-8.4: applies the kept-back catalogue state (origin: the persistence, as a load), a
   * slice per step (`CatalogueApply`), then compares the live records with the snapshot's, a slice per step, and
   * lets the list read the live catalogue: only records that differ from the snapshot are reported as changed (none,
   * when the snapshot was current). Connects the catalogue and the link if the workspace is connected. Nothing else
   * reads or writes the catalogue meanwhile: whatever would applies the rest first (`#applyCatalogue`).
   */
  *#applySlices(stored: StoredDoc): Generator<void, void, void> {
    const before = this.#snapshot ?? new Map<string, CatalogueRecord<M>>()
    let differing: readonly string[] = []
    this.#applying = true
    try {
      try {
        // Quiet (no `update` event built for the catalogue, as at a load): every `update` listener on the doc now
        // is the handle's own (persistence, pending count, session with no open path), each ignoring a load's
        // origin; an app reaches the doc only through `catalogue` or `typed`, which apply the rest first.
        const doc = this.#catalogue.doc
        const own = new Set<unknown>(doc._observers.get('update') ?? [])
        const apply = new CatalogueApply(doc, stored, this.#catalogue.handle.persistence, own)
        while (!apply.step()) yield
        if (apply.steps > 1) yield // the comparison starts a slice of its own
      } catch (err) {
        this.#fault(err, 'loading the catalogue')
      }
      const adoption = this.#snapshots.adopt(before)
      while (!adoption.step()) yield
      differing = adoption.differing
    } finally {
      this.#applying = false
    }
    this.#pendingApply = null
    this.#snapshot = null
    if (this.#typed.documentVersion > 0 && !this.#marked) {
      this.#marked = true
      this.#unmark?.()
    }
    if (differing.length > 0)
      this.#catalogueChanged({ added: [], updated: [...differing], deleted: [], local: false })
    if (this.#connected && !this.#destroyed) {
      this.#catalogue.connect()
      void this.#config.link?.connect()
    }
    for (const run of this.#applied.splice(0)) run()
  }

  /** Runs `run` now, or once the kept-back catalogue is applied (WS-CLIENT-8.1). */
  #afterApply(run: () => void): void {
    if (this.#pendingApply) this.#applied.push(run)
    else run()
  }

  #live(what: string): void {
    if (this.#destroyed) throw new WeftError(WeftErrorCode.Destroyed, `workspace.${what}() after destroy()`)
  }

  #entry(record: CatalogueRecord<M>): WorkspaceEntry<M> {
    const id = record.id
    // Object.assign, not a spread: V8 copies a record parsed from the list snapshot (JSON.parse) many times faster
    // this way (10,000 entries: a few ms against tens, issue #15 warm open).
    return Object.assign({}, record, {
      local: this.#index.has(id),
      open: this.#slots.isOpen(id),
      stale: this.isStale(id),
      preloaded: this.#preload.has(id),
    })
  }

  async #load(d: string): Promise<WeftDoc> {
    // WS-CLIENT-5.3: held open (shared lock) before it loads, so no other tab evicts it or clears its mark.
    if (!this.#held.has(d))
      this.#held.set(d, await this.#locks.hold(openLockName(workspaceDocId(this.id, d))))
    // WS-CLIENT-6.4: marked loaded in the index (stored) before any local change of it can be stored.
    await this.#index.loading(d)
    this.#lost.delete(d) // WS-CLIENT-6.5: a new attempt (a grant may have changed)
    // Connected only once the listeners are on: a transport may refuse at once, inside connect().
    const doc = await openWorkspaceDoc(this.#config, d, false).catch((err: unknown) => {
      // Not loaded: no unload will release its open lock.
      this.#held.get(d)?.()
      this.#held.delete(d)
      throw err
    })
    const update = () => this.#updateStatus()
    doc.on('status', update)
    doc.on('error', ({ error }) => this.emit('error', [{ error }]))
    doc.on('connection-error', ({ willRetry, code }) => {
      if (willRetry) return
      this.#refused.add(d)
      if (code === CloseCode.Forbidden) this.#gone.add(d)
      if (this.#lost.has(d)) return
      // WS-CLIENT-6.5: no retry changes a refusal: its changes are reported, not counted as pending any more.
      this.#lost.add(d)
      this.emit('refused', [{ docId: d, pendingChanges: doc.pendingChanges, code }])
      this.#updateStatus()
    })
    let touched = 0
    const onPending = () => {
      // WS-CLIENT-1.4: a local change of an open document is recorded in the catalogue at most every touchMs.
      if (doc.session.localChanges <= touched || this.#touches.has(d)) return
      const timer = setTimeout(() => {
        this.#touches.delete(d)
        if (this.#slots.get(d) !== doc || this.#catalogueClosed) return
        touched = doc.session.localChanges
        this.#touch(d, Y.encodeStateAsUpdate(doc.doc).byteLength)
      }, this.#config.touchMs)
      ;(timer as { unref?: () => void }).unref?.()
      this.#touches.set(d, timer)
    }
    doc.handle.on('pending-changed', onPending)
    this.#stale.add(d)
    void doc.whenSynced.then(() => {
      if (!this.#stale.delete(d)) return
      this.list._changed([d])
      this.#updateStatus()
    })
    if (this.#connected) doc.connect()
    this.#updateStatus()
    return doc
  }

  async #unload(d: string, doc: WeftDoc): Promise<void> {
    const changed = doc.session.localChanges > 0
    const size = changed ? Y.encodeStateAsUpdate(doc.doc).byteLength : 0
    clearTimeout(this.#touches.get(d))
    this.#touches.delete(d)
    await doc.destroy()
    this.#stale.delete(d)
    const refused = this.#refused.delete(d)
    // WS-CLIENT-6.4: the index records the pending count the document's stored meta holds (what a reopen reads) and
    // clears its loaded mark. A document whose count rides on its appends (PROV-5.8) stored exactly its own count
    // (the destroy waited for the writes); one without transports, or under a budget (which needs the stored size,
    // measured once per close), is read back. A failed read keeps the mark: the next load reads the stored count.
    const readBack = Number.isFinite(this.#config.budget) || !this.#persistsPending
    const stored = readBack
      ? await this.#config.store.load(workspaceDocId(this.id, d)).catch((err: unknown) => {
          this.#fault(err, `loading ${d}`)
          return undefined
        })
      : undefined
    // Recorded now; the loaded mark stays until the check below (WS-CLIENT-6.6).
    const record = () => {
      if (readBack) {
        if (stored)
          this.#index.unloaded(d, { bytes: stored.byteLength, pending: storedPending(stored) }, false)
        else if (stored === null) this.#index.unloaded(d, undefined, false)
      } else if (doc.doc.store.clients.size > 0 || this.#index.has(d))
        // Stored here now (the destroy waited for the writes): `local` from now on.
        this.#index.unloaded(d, { pending: doc.pendingChanges }, false)
      else this.#index.unloaded(d, undefined, false)
    }
    // WS-CLIENT-6.6: the mark is cleared only when no other tab holds the document open (exclusive lock granted;
    // the clear is stored before that tab's next load can mark it), else that tab's mark is kept. In the background
    // (flushed() waits for it): the unload does not wait for the lock's store write.
    record()
    this.#held.get(d)?.()
    this.#held.delete(d)
    this.#index.track(
      this.#locks.ifFree(openLockName(workspaceDocId(this.id, d)), () => this.#index.clearMark(d)),
    )
    if (this.#gone.has(d)) this.#purge([d]) // WS-PURGE-11: refused as deleted: purged once unloaded
    this.list._changed([d])
    if (changed) this.#touch(d, size)
    // WS-CLIENT-6.3: closed before the relay confirmed its changes (the close outran the ack): pushed by a brief
    // sync now, not only after the next reconnection. A refused document is not retried (WS-CLIENT-4.5).
    if (!refused && this.#catalogueSynced && (this.#index.get(d)?.pending ?? 0) > 0)
      this.#background.enqueue(d)
    this.#updateStatus()
  }

  /**
   * Marks the catalogue with its schema (migrates it) once, right after the first local transaction that wrote to it
   * (WS-CLIENT-1.8: never only because it synced). A catalogue holding the marks at open was marked then: nothing to
   * do; one whose marks synced from another replica gets nothing written.
   * Returns the unsubscribe function.
   */
  #markOnce(): () => void {
    const doc = this.#catalogue.doc
    if (this.#typed.documentVersion > 0) {
      this.#marked = true
      return () => {}
    }
    const onTransaction = (tr: Y.Transaction): void => {
      // Never from inside the sliced apply (WS-CLIENT-8.4): the marks may be in a part not applied yet.
      if (this.#applying) return
      if (tr.local && tr.origin !== this.#catalogue.handle.persistence && tr.changed.size > 0) this.#mark()
    }
    doc.on('afterTransaction', onTransaction)
    this.#unmark = () => doc.off('afterTransaction', onTransaction)
    return () => this.#unmark?.()
  }

  #mark(): void {
    if (this.#marked || this.#catalogueClosed) return
    this.#marked = true
    this.#unmark?.()
    this.#typed.migrate()
  }

  /** Records a local change of `d` in its catalogue record (`updatedAt` now, `size`). */
  #touch(d: string, size: number): void {
    if (this.#catalogueClosed || !this.#record(d)) return
    this.#applyCatalogue() // written to the whole catalogue, never to one half applied (WS-CLIENT-8.4)
    this.#documents.update(d, { updatedAt: this.#config.now(), size } as unknown as Patch<EntryFields<M>>)
  }

  #catalogueChanged(change: {
    added: readonly string[]
    updated: readonly string[]
    deleted: readonly string[]
    local: boolean
  }): void {
    if (this.#destroyed || this.#applying) return
    const ids = [...change.added, ...change.updated, ...change.deleted]
    this.#snapshots.changed(ids)
    this.#background.catalogued([...change.added, ...change.updated]) // WS-PEER-6
    const { entered, left } = this.#preload.apply(ids)
    if (this.#catalogueSynced) {
      // Newly preloaded documents not stored here are fetched; without a link, a peer's change of a preloaded
      // document's record (its updatedAt) is the signal that the document changed (WS-CLIENT-4.2).
      for (const d of entered) if (!this.#index.has(d)) this.#background.enqueue(d)
      if (!change.local && !this.#config.link)
        for (const d of [...change.added, ...change.updated])
          if (this.#preload.has(d)) this.#background.enqueue(d)
    }
    // Entries whose `preloaded` flipped changed too (a `{ recent: n }` set moves with other records).
    const flipped = [...entered, ...left].filter((d) => !ids.includes(d))
    this.list._changed(flipped.length > 0 ? [...ids, ...flipped] : ids)
    this.#purge(ids)
  }

  /** A change from the link: preloaded documents are synced briefly, others only noted (WS-CLIENT-4.2). */
  #changed(d: string, seq: number): void {
    const link = this.#config.link
    if (this.#destroyed || !link) return
    if (d === CATALOGUE_DOC || this.#slots.isOpen(d) || !this.#preload.has(d)) {
      link.handled(seq)
      return
    }
    this.#background.enqueue(d, seq)
  }

  #enqueueInitial(): void {
    for (const d of this.#preload.ids)
      if (!this.#config.link || !this.#index.has(d)) this.#background.enqueue(d)
    for (const [d, info] of this.#index.entries()) if (info.pending > 0) this.#background.enqueue(d)
  }

  #online(): boolean {
    if (!this.#connected || this.#destroyed) return false
    const link = this.#config.link
    if (link) return link.status === 'connected'
    const st = this.#catalogue.status
    return st === 'syncing' || st === 'synced'
  }

  #onlineChanged(): void {
    const online = this.#online()
    if (online && !this.#wasOnline && this.#catalogueSynced) {
      // WS-CLIENT-6.3: documents closed with pending changes are pushed as soon as the workspace is online again.
      for (const [d, info] of this.#index.entries()) if (info.pending > 0) this.#background.enqueue(d)
    }
    this.#wasOnline = online
    if (online) this.#background.pump()
    else this.#background.abortAll()
    this.#updateStatus()
  }

  /** WS-CLIENT-5: over the budget, evict the least recently opened documents that may be evicted. */
  #evict(): void {
    if (!Number.isFinite(this.#config.budget) || this.#destroyed) return
    if (this.#evicting) {
      this.#evictAgain = true
      return
    }
    this.#evicting = this.#evictPass()
      .catch((err: unknown) => this.#fault(err, 'eviction'))
      .finally(() => {
        this.#evicting = null
        if (this.#evictAgain) {
          this.#evictAgain = false
          this.#evict()
        }
      })
  }

  async #evictPass(): Promise<void> {
    // This tab's own mark clears (which hold a document's lock exclusively for a moment, WS-CLIENT-6.6) end first.
    await this.#index.flushed()
    const store = this.#config.store
    for (const [d, info] of this.#index.entries()) {
      if (info.bytes >= 0 || this.#slots.isBusy(d)) continue
      const stored = await store.load(workspaceDocId(this.id, d))
      this.#index.set(d, { bytes: stored?.byteLength ?? 0, pending: storedPending(stored) })
    }
    // A document not removed (open in another tab, WS-CLIENT-5.3; or changed since it was measured) is kept for the
    // rest of this pass and the plan made again, so the next least recently opened ones go instead.
    const skipped = new Set<string>()
    for (;;) {
      const candidates = this.#index.entries().map(([d, info]) => ({
        id: d,
        bytes: Math.max(0, info.bytes),
        lastOpened: info.lastOpened,
        keep:
          skipped.has(d) ||
          this.#slots.isBusy(d) ||
          this.#preload.has(d) ||
          this.#background.has(d) ||
          info.pending > 0,
      }))
      let replan = false
      for (const d of planEviction(candidates, this.#config.budget)) {
        if (this.#destroyed) return
        if (this.#preload.has(d) || this.#background.has(d)) continue
        if (await this.#remove(d)) continue
        skipped.add(d)
        replan = true
        break
      }
      if (!replan) return
    }
  }

  /**
   * Removes `d`'s local data unless it is loaded or holds pending changes (checked in its stored meta). The removal
   * is conditional on the clock of that check (STORE-5.3): another tab or process sharing the store that stored an
   * edit since keeps the document (WS-CLIENT-5.1); its companions go only when it went. `purge`: its tombstone is
   * past the retention, so its pending changes go too (WS-PURGE-6: the relay refuses them for good).
   */
  async #remove(d: string, purge = false): Promise<boolean> {
    const store = this.#config.store
    const key = workspaceDocId(this.id, d)
    const removeUnlocked = async () => {
      const stored = await store.load(key)
      const pending = storedPending(stored)
      if (pending > 0 && !purge) {
        this.#index.set(d, { pending })
        return false
      }
      const result = await store.remove(key, purge ? undefined : { ifClock: stored?.clock ?? 0 })
      if (!result.ok) {
        // Written since the check: measured again by the next eviction pass.
        this.#index.set(d, { bytes: -1 })
        return false
      }
      for (const id of await store.list()) if (id.startsWith(`${key}~`)) await store.remove(id)
      this.#index.delete(d)
      return true
    }
    // WS-CLIENT-5.3: an eviction skips a document open in another tab (its exclusive lock is not granted).
    const removed = await this.#slots.exclusive(d, async () =>
      purge ? removeUnlocked() : ((await this.#locks.ifFree(openLockName(key), removeUnlocked)) ?? false),
    )
    if (removed) {
      this.list._changed([d])
      this.#updateStatus()
    }
    return removed === true
  }

  /** Purges the documents `ids` (default: every record) whose tombstone is past the retention period. */
  #purge(ids?: readonly string[]): void {
    if (this.#destroyed) return
    const seenAt = this.#config.now() // a tombstone is seen when its change arrives (WS-PURGE-11)
    this.#purging = this.#purging
      .then(async () => {
        const now = this.#config.now()
        const records = ids ? ids.map((id) => this.#record(id)) : this.#records()
        for (const e of records) {
          if (this.#destroyed) return
          if (!e?.deleted) continue
          // WS-PURGE-11: the retention counts from this replica's first sighting of the tombstone, never from the
          // deletedAt a catalogue writer wrote; a deleted document the relay refused for good goes at once.
          this.#sightings ??= TombstoneSightings.load(
            this.#config.store,
            tombstoneSightingsKey(this.id),
          ).catch((err: unknown) => {
            this.#sightings = null
            throw err
          })
          const firstSeen = await (await this.#sightings).sight(e.id, seenAt)
          if (!this.#gone.has(e.id) && !isPastRetention(firstSeen, this.#config.retention, now)) continue
          if (!this.#index.has(e.id)) continue
          // WS-PURGE-12: a brief sync does not hold the purge back: it is dropped and released first. A document
          // the app holds open waits for its close.
          if (!this.#slots.isOpen(e.id)) await this.#background.drop(e.id)
          if (this.#slots.isBusy(e.id)) continue
          await this.#remove(e.id, true)
        }
      })
      .catch((err: unknown) => this.#fault(err, 'purge'))
  }

  #fault(err: unknown, what: string): void {
    if (this.#destroyed) return
    this.emit('error', [
      { error: toWeftError(WeftErrorCode.StoreFailed, err, `workspace ${this.id}: ${what}`) },
    ])
  }

  #updateStatus(): void {
    if (this.#destroyed) return
    const statuses: SyncStatus[] = [this.#catalogue.status]
    // WS-CLIENT-6.5: a document refused for good is not syncing any more.
    for (const [d, doc] of this.#slots.docs()) if (!this.#lost.has(d)) statuses.push(doc.status)
    const link = this.#config.link
    const catchingUp = link !== null && link.status === 'connected' && !this.#caughtUp
    const pendingChanges = this.pendingChanges
    const status = workspaceStatus(statuses, {
      // Until the catalogue's first sync is handled, what to preload is not queued yet: not `synced` (WS-CLIENT-6.1).
      queued: this.#background.busy || catchingUp || !this.#catalogueSynced,
      pendingChanges,
    })
    if (status === this.#status && pendingChanges === this.#lastPending) return
    this.#status = status
    this.#lastPending = pendingChanges
    this.emit('status', [{ status, pendingChanges }])
  }
}

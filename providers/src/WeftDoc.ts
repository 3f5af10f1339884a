import { ObservableV2 } from 'lib0/observable'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  DocPersistence,
  EpochManager,
  SyncSession,
  isEpochOrigin,
  requireYDoc,
  type EpochPolicy,
  type EpochRecord,
  type WeftError,
  docId as toDocId,
  type DocId,
  type DocStore,
  type PeerId,
  type Transport,
} from '@weft/core'
import { PendingCounter } from './PendingCounter.js'

/** The sync status of a document (docs/guides/providers.md has the state machine). */
export type SyncStatus = 'offline' | 'connecting' | 'syncing' | 'synced'

/** One peer path, for status details. */
export interface PathStatus {
  /** The transport's kind: `"relay"`, `"webrtc"`, `"tabs"`... */
  readonly kind: string
  readonly transport: Transport
  readonly peer: PeerId
  readonly synced: boolean
  /** The peer speaks Weft (acks, chunking) rather than plain y-protocols. */
  readonly weft: boolean
}

/** Options of {@link openDoc}. */
export interface OpenDocOptions {
  readonly docId: string
  /** The Y.Doc to use (default: a new one). */
  readonly doc?: Y.Doc
  readonly awareness?: Awareness
  /** Local persistence (IndexedDbDocStore in browsers, SqliteDocStore in Node). Loaded before any network. */
  readonly store?: DocStore
  /**
   * The relay transport (a {@link WebSocketTransport}), if any. Its acknowledgements define `pendingChanges`: a
   * change is pending until the relay stored it durably.
   */
  readonly relay?: Transport
  /** Other transports (WebRTC, BroadcastChannel...). */
  readonly transports?: readonly Transport[]
  /** Connect the transports right away (default true). */
  readonly connect?: boolean
  /**
   * History compaction (docs/guides/compaction.md): follow epoch resets that peers offer (default true), and, on the
   * one peer that is the document's epoch authority, start them when tombstones pass the policy (`autoStart`).
   * `false` never switches (the document then stops syncing with peers that moved on).
   */
  readonly epochs?:
    boolean | { readonly autoStart?: (Partial<EpochPolicy> & { readonly minIntervalMs?: number }) | false }
}

/** Events of {@link WeftDoc}. */
export type WeftDocEvents = {
  /** The status, pending count or path set changed. */
  status: (event: { readonly status: SyncStatus; readonly pendingChanges: number }) => void
  /** Progress of a large incoming sync message (e.g. a new device joining a big document). */
  progress: (event: { readonly received: number; readonly total: number; readonly kind: string }) => void
  /**
   * The document moved to a new epoch (history compaction): `doc` is a new Y.Doc. Rebind editors, undo managers
   * and observers to it; `WeftDoc.doc` returns it from now on.
   */
  'epoch-changed': (event: { readonly doc: Y.Doc; readonly record: EpochRecord }) => void
  /** An asynchronous fault (store, transport, malformed peer data). Never thrown. */
  error: (event: { readonly error: WeftError }) => void
}

/**
 * A document opened offline-first: loaded from the local store, then kept in sync over every transport given,
 * all feeding one {@link SyncSession}, with a truthful status. Create with {@link openDoc}.
 */
export class WeftDoc extends ObservableV2<WeftDocEvents> {
  readonly docId: DocId
  readonly session: SyncSession
  readonly persistence: DocPersistence | null
  /** History compaction for this document (null when `epochs: false`). */
  readonly epochs: EpochManager | null
  readonly #transports: Transport[]
  readonly #relay: Transport | null
  readonly #pending: PendingCounter
  #status: SyncStatus = 'offline'
  #lastPending = -1
  readonly #offs: Array<() => void> = []
  #destroyed = false

  /** Use {@link openDoc}. */
  constructor(parts: {
    docId: DocId
    session: SyncSession
    persistence: DocPersistence | null
    epochs: EpochManager | null
    pending: PendingCounter
    relay: Transport | null
    transports: Transport[]
  }) {
    super()
    this.docId = parts.docId
    this.session = parts.session
    this.persistence = parts.persistence
    this.epochs = parts.epochs
    this.#pending = parts.pending
    this.#relay = parts.relay
    this.#transports = parts.transports
    const update = () => this.#update()
    for (const ev of ['peer-joined', 'peer-left', 'peer-synced', 'ack'] as const) {
      this.session.on(ev, update)
      this.#offs.push(() => this.session.off(ev, update))
    }
    const onError = ({ error }: { error: WeftError }) => this.emit('error', [{ error }])
    this.session.on('error', onError)
    this.#offs.push(() => this.session.off('error', onError))
    const onProgress = ({
      received,
      total,
      transport,
    }: {
      received: number
      total: number
      transport: Transport
    }) => this.emit('progress', [{ received, total, kind: transport.kind }])
    this.session.on('progress', onProgress)
    this.#offs.push(() => this.session.off('progress', onProgress))
    for (const t of this.#transports) {
      t.on('status', update)
      this.#offs.push(() => t.off('status', update))
    }
    this.#pending.on('change', update)
    this.#offs.push(() => this.#pending.off('change', update))
    persistenceErrors(this)
    const epochs = this.epochs
    if (epochs) {
      // The session's event comes first (before any other listener can edit the new document): rebind there.
      const onSwitch = ({ doc }: { doc: Y.Doc }) => this.#pending.rebind(doc)
      this.session.on('epoch-changed', onSwitch)
      this.#offs.push(() => this.session.off('epoch-changed', onSwitch))
      const onEpoch = ({ doc, record }: { doc: Y.Doc; record: EpochRecord }) => {
        this.emit('epoch-changed', [{ doc, record }])
        this.#update()
      }
      epochs.on('epoch-changed', onEpoch)
      const onEpochError = ({ error }: { error: WeftError }) => this.emit('error', [{ error }])
      epochs.on('error', onEpochError)
      this.#offs.push(() => {
        epochs.off('epoch-changed', onEpoch)
        epochs.off('error', onEpochError)
      })
    }
    this.#update()
  }

  /** The document (a new Y.Doc after each epoch change: see the `epoch-changed` event). */
  get doc(): Y.Doc {
    return this.session.doc
  }

  get awareness(): Awareness {
    return this.session.awareness
  }

  /** `offline`, `connecting`, `syncing` or `synced`; never `synced` while a change is pending. */
  get status(): SyncStatus {
    return this.#status
  }

  /**
   * Local changes not yet durably stored by the relay (when a relay is configured) or, without a relay, not yet
   * sent to any synced peer. Survives reloads (kept in the local store's metadata).
   */
  get pendingChanges(): number {
    return this.#pending.pending
  }

  /** Every open peer path: which peers, over which transport. */
  get paths(): PathStatus[] {
    return this.session.paths.map(({ transport, peer }) => {
      const info = this.session.pathInfo(transport, peer)
      return {
        kind: transport.kind,
        transport,
        peer,
        synced: info?.synced ?? false,
        weft: info?.weft ?? false,
      }
    })
  }

  /** Resolves when the status is `synced`. */
  whenSynced(): Promise<void> {
    if (this.#status === 'synced') return Promise.resolve()
    return new Promise((resolve) => {
      const h = ({ status }: { status: SyncStatus }) => {
        if (status !== 'synced') return
        this.off('status', h)
        resolve()
      }
      this.on('status', h)
    })
  }

  /**
   * Takes this client offline (disconnects every transport) or back online. Local edits continue offline. Going
   * online connects at once: a relay reconnect waiting out its backoff does not wait (PROV-2.6).
   */
  setOnline(online: boolean): void {
    for (const t of this.#transports) {
      if (online) void t.connect()
      else t.disconnect()
    }
    this.#update()
  }

  /** Disconnects, waits for local writes, releases everything. The store stays open (the caller owns it). */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    for (const off of this.#offs.splice(0)) off()
    for (const t of this.#transports) t.destroy()
    this.epochs?.destroy()
    this.session.destroy()
    await this.#pending.close()
    await this.persistence?.destroy()
    super.destroy()
  }

  #update(): void {
    if (this.#destroyed) return
    const paths = this.session.paths
    const pending = this.#pending.pending
    let status: SyncStatus
    if (paths.length > 0) {
      const allSynced = paths.every(({ transport, peer }) => this.session.pathInfo(transport, peer)?.synced)
      const relayDown = this.#relay !== null && this.#relay.status !== 'connected'
      status = allSynced && pending === 0 && !relayDown ? 'synced' : 'syncing'
    } else if (this.#transports.some((t) => t.status !== 'disconnected')) status = 'connecting'
    else status = 'offline'
    if (status === this.#status && pending === this.#lastPending) return
    this.#status = status
    this.#lastPending = pending
    this.emit('status', [{ status, pendingChanges: pending }])
  }
}

const persistenceErrors = (d: WeftDoc): void => {
  d.persistence?.on('error', ({ error }: { error: WeftError }) => d.emit('error', [{ error }]))
}

/**
 * Opens a document offline-first: creates (or takes) the Y.Doc, loads it from `store` (resolves once loaded, so
 * the app can render before any network), then connects the relay and every other transport, all feeding one
 * {@link SyncSession}. Rejects if the local store cannot be read, and with a `WeftError` (`invalid-argument`) if
 * `doc` is a Y.Doc from another copy of yjs (two copies loaded).
 */
export const openDoc = async (options: OpenDocOptions): Promise<WeftDoc> => {
  const id = toDocId(options.docId)
  const doc = options.doc === undefined ? new Y.Doc() : requireYDoc(options.doc, 'openDoc({ doc })')
  const isLocal = (origin: unknown) =>
    !SyncSession.isPeerOrigin(origin) && !(origin instanceof DocPersistence) && !isEpochOrigin(origin)
  // The local-change count is stored with the appends (`appendMeta`), and only when something can acknowledge.
  const pending = new PendingCounter({
    doc,
    store: options.store ?? null,
    docId: id,
    isLocal,
    persist: options.relay !== undefined || (options.transports?.length ?? 0) > 0,
  })
  let persistence: DocPersistence | null = null
  if (options.store) {
    try {
      persistence = await DocPersistence.open({
        doc,
        store: options.store,
        docId: id,
        appendMeta: pending.appendMeta,
      })
    } catch (err) {
      await pending.close()
      throw err
    }
    pending.setBaseline(persistence.meta)
  }
  const p = persistence
  const epochOptions = options.epochs ?? true
  let epochs: EpochManager | null = null
  if (epochOptions !== false) {
    try {
      epochs = new EpochManager({
        persistence: p,
        ...(typeof epochOptions === 'object' ? { autoStart: epochOptions.autoStart ?? false } : {}),
      })
    } catch (err) {
      await pending.close()
      await p?.destroy()
      throw err
    }
  }
  const session = new SyncSession({
    doc,
    ...(options.awareness ? { awareness: options.awareness } : {}),
    isLocalOrigin: isLocal,
    ...(p ? { durable: () => p.flushed() } : {}),
    ...(epochs ? { epoch: epochs.record, epochLineage: epochs.lineage } : {}),
  })
  epochs?.bind(session)
  const relay = options.relay ?? null
  const transports = [...(relay ? [relay] : []), ...(options.transports ?? [])]
  pending.attach(session, relay)
  const handle = new WeftDoc({ docId: id, session, persistence, epochs, pending, relay, transports })
  for (const t of transports) session.addTransport(t)
  if (options.connect !== false) for (const t of transports) void t.connect()
  return handle
}

import { ObservableV2 } from 'lib0/observable'
import type { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import {
  WeftError,
  WeftErrorCode,
  openDocument,
  requireYDoc,
  type DocHandle,
  type DocHandleEvents,
  type DocPersistence,
  type EpochManager,
  type EpochPolicy,
  type EpochRecord,
  docId as toDocId,
  type DocId,
  type DocStore,
  type PeerId,
  type SessionRules,
  type SyncSession,
  type Transport,
} from '@weft/core'
import { requireMatchingRooms } from './requireMatchingRooms.js'
import type { ConnectionError } from './websocket/connectionError.js'

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
  /** The document id. Every transport that has a `room` must use it as its room (PROV-5.12). */
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
   * Check what peers send against the document's rules (docs/guides/rules.md, RULES-6): updates from every transport
   * but `relay` are checked before they are applied (`openDocument`'s `rules`).
   */
  readonly rules?: SessionRules
  /**
   * Whether a peer's change is forwarded to `relay` (SYNC-3.6, `openDocument`'s `forward`): `'not-to-authority'`
   * (default with `rules`) for a relay that judges every write on a connection as that connection's; `'all'` (default
   * otherwise) forwards every update to every other transport.
   */
  readonly forward?: 'all' | 'not-to-authority'
  /**
   * History compaction (docs/guides/compaction.md, COMPACT-8):
   * - `true` (default): {@link WeftDoc.doc} never changes. An epoch reset that the relay or a peer starts while the
   *   document is open is stored and taken at the next `openDoc` (before it resolves); meanwhile the document keeps
   *   working in its epoch: edits are stored locally and stay pending (`pendingChanges`, `status` stays
   *   `syncing`), updates from peers already in the new epoch do not arrive, and `epoch-available` is emitted (show
   *   "a newer version is available, reopen"). Without a `store` the document follows at once, as with `'live'`
   *   (no next open could carry its edits).
   * - `'live'`: follow at once; `doc` is replaced and `epoch-changed` is emitted. Bind editors with
   *   `bindEachEpoch`, which rebinds them to each new `Y.Doc`.
   * - an object: `live` as above, and `autoStart` on the one peer that is the document's epoch authority (it starts
   *   epochs when tombstones pass the policy; its own starts switch at once in both modes).
   * - `false`: never switches (the document then stops syncing with peers that moved on).
   */
  readonly epochs?:
    | boolean
    | 'live'
    | {
        readonly live?: boolean
        readonly autoStart?: (Partial<EpochPolicy> & { readonly minIntervalMs?: number }) | false
      }
}

/** A {@link ConnectionError} as {@link WeftDoc} reports it: with the transport that was refused. */
export interface WeftDocConnectionError extends ConnectionError {
  readonly transport: Transport
  /** The transport's kind (`"relay"`). */
  readonly kind: string
}

/** Events of {@link WeftDoc}. */
export type WeftDocEvents = {
  /** The status, pending count or path set changed. */
  status: (event: { readonly status: SyncStatus; readonly pendingChanges: number }) => void
  /**
   * {@link WeftDoc.synced} changed. The payload is the new value, a plain boolean, as y-websocket emits it (an
   * exception to one payload object per event, so that handlers written for y-websocket work unchanged).
   */
  sync: (synced: boolean) => void
  /** The same as `sync` (y-websocket emits both). */
  synced: (synced: boolean) => void
  /**
   * A transport's connection was refused with a final close code: a token refused or expired (`reason`
   * `unauthorized`, `forbidden`, `expired`, with the close `code`) or another refusal (`refused`). When the
   * transport does not retry with a fresh token (`willRetry` false) an `error` event follows (PROV-5.13).
   */
  'connection-error': (event: WeftDocConnectionError) => void
  /** Progress of a large incoming sync message (e.g. a new device joining a big document). */
  progress: (event: { readonly received: number; readonly total: number; readonly kind: string }) => void
  /**
   * Only with `epochs: 'live'`: the document moved to a new epoch (history compaction): `doc` is a new Y.Doc.
   * Rebind editors, undo managers and observers to it (`bindEachEpoch` does); `WeftDoc.doc` returns it from
   * now on.
   */
  'epoch-changed': (event: { readonly doc: Y.Doc; readonly record: EpochRecord }) => void
  /**
   * Default mode: the relay or a peer moved to a newer epoch (`record`) while this document is open. `doc` stays the
   * same and keeps working: edits are stored locally and stay pending, updates from peers in the new epoch do not
   * arrive. The next {@link openDoc} takes the epoch and sends the edits made meanwhile (COMPACT-8). Show "a newer
   * version is available, reopen".
   */
  'epoch-available': (event: { readonly record: EpochRecord }) => void
  /**
   * The relay (or, with no relay connected, a peer that checks the rules) rejected a local change under the room's
   * rules and the document was rolled back (RULES-5.7): `ruleId`, `path`, `reason` say why (show "not allowed").
   * The handle's `rejected` event as it is.
   */
  rejected: DocHandleEvents['rejected']
  /**
   * Only with `rules`: a peer's update (WebRTC, tabs, any path but the relay) broke the rules and was neither applied
   * nor passed on (RULES-6.2): `ruleId`, `path`, `reason`, `seq`, where it came from (`transport`, `peer`) and whether
   * the peer was told to roll back (`told`). The handle's `refused` event as it is.
   */
  refused: DocHandleEvents['refused']
  /**
   * An asynchronous fault (store, transport, malformed peer data), or a connection refused for good (`auth-denied`
   * for a token refused or expired, `transport-failed` for another refusal; `cause` is the connection error). Never
   * thrown.
   */
  error: (event: { readonly error: WeftError }) => void
}

/**
 * A document opened offline-first: loaded from the local store, then kept in sync over every transport given,
 * all feeding one {@link SyncSession}, with a truthful status. Create with {@link openDoc}.
 */
export class WeftDoc extends ObservableV2<WeftDocEvents> {
  readonly docId: DocId
  /**
   * The core document handle this provider wraps: it owns the persistence, the epochs, the session and the pending
   * count (docs/guides/documents.md).
   */
  readonly handle: DocHandle
  readonly #transports: Transport[]
  readonly #relay: Transport | null
  #status: SyncStatus = 'offline'
  #lastPending = -1
  readonly #offs: Array<() => void> = []
  #destroyed = false
  #synced = false
  #resolveSynced: () => void = () => {}
  readonly #saveWaiters = new Set<{ resolve: () => void; reject: (error: WeftError) => void }>()

  /**
   * Resolves once the local state is loaded (it is by the time {@link openDoc} resolves) and the first sync with
   * any path (the relay, a WebRTC peer, a tab) completed; at once if the document has no transport. A promise
   * property, as in y-indexeddb: `await handle.whenSynced` (it was a method before). It never rejects and stays
   * pending while the document is offline. For "the relay holds every local change" use {@link whenSaved}.
   */
  readonly whenSynced: Promise<void>

  /** Use {@link openDoc}. */
  constructor(parts: { handle: DocHandle; relay: Transport | null; transports: Transport[] }) {
    super()
    this.whenSynced = new Promise((resolve) => {
      this.#resolveSynced = resolve
    })
    if (parts.transports.length === 0) this.#resolveSynced()
    this.handle = parts.handle
    this.docId = parts.handle.docId
    this.#relay = parts.relay
    this.#transports = parts.transports
    const handle = this.handle
    const session = handle.session
    const update = () => this.#update()
    for (const ev of ['peer-joined', 'peer-left', 'peer-synced', 'ack'] as const) {
      session.on(ev, update)
      this.#offs.push(() => session.off(ev, update))
    }
    const onProgress = ({
      received,
      total,
      transport,
    }: {
      received: number
      total: number
      transport: Transport
    }) => this.emit('progress', [{ received, total, kind: transport.kind }])
    session.on('progress', onProgress)
    this.#offs.push(() => session.off('progress', onProgress))
    for (const t of this.#transports) {
      t.on('status', update)
      // Transports that can be refused (WebSocketTransport) emit `connection-error`; others never do.
      const refusals = t as unknown as ObservableV2<{ 'connection-error': (e: ConnectionError) => void }>
      const onRefused = (e: ConnectionError) => this.#refused(t, e)
      refusals.on('connection-error', onRefused)
      this.#offs.push(() => {
        t.off('status', update)
        refusals.off('connection-error', onRefused)
      })
    }
    const onError = ({ error }: { error: WeftError }) => this.emit('error', [{ error }])
    const onEpoch = ({ doc, record }: { doc: Y.Doc; record: EpochRecord }) => {
      this.emit('epoch-changed', [{ doc, record }])
      this.#update()
    }
    const onAvailable = ({ record }: { record: EpochRecord }) => {
      this.emit('epoch-available', [{ record }])
      this.#update()
    }
    const onRejected = (event: Parameters<DocHandleEvents['rejected']>[0]) => this.emit('rejected', [event])
    const onPeerRefused = (event: Parameters<DocHandleEvents['refused']>[0]) => this.emit('refused', [event])
    handle.on('pending-changed', update)
    handle.on('error', onError)
    handle.on('epoch-changed', onEpoch)
    handle.on('epoch-available', onAvailable)
    handle.on('rejected', onRejected)
    handle.on('refused', onPeerRefused)
    this.#offs.push(() => {
      handle.off('pending-changed', update)
      handle.off('error', onError)
      handle.off('epoch-changed', onEpoch)
      handle.off('epoch-available', onAvailable)
      handle.off('rejected', onRejected)
      handle.off('refused', onPeerRefused)
    })
    this.#update()
  }

  /** The sync engine binding the document to every transport (owned by {@link handle}). */
  get session(): SyncSession {
    return this.handle.session
  }

  /** The local persistence (null without a store; owned by {@link handle}). */
  get persistence(): DocPersistence | null {
    return this.handle.persistence
  }

  /** History compaction for this document (null when `epochs: false`; owned by {@link handle}). */
  get epochs(): EpochManager | null {
    return this.handle.epochs
  }

  /**
   * The document: the same Y.Doc for this handle's life by default; with `epochs: 'live'` a new one after each epoch
   * change (see the `epoch-changed` event).
   */
  get doc(): Y.Doc {
    return this.handle.doc
  }

  /** The newer epoch the next {@link openDoc} will take (default mode, see `epoch-available`), or null. */
  get waitingEpoch(): EpochRecord | null {
    return this.handle.waitingEpoch
  }

  get awareness(): Awareness {
    return this.handle.awareness
  }

  /**
   * Whether this document is in sync with the peers it has, in y-websocket's sense: at least one path is open and
   * every open path finished its handshake (this side has what the peer had). It does not wait for local changes to
   * be acknowledged: `status` (`synced` only with nothing pending) and {@link whenSaved} do. Changes emit `sync` and
   * `synced` (PROV-5.10).
   */
  get synced(): boolean {
    return this.#synced
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
    return this.handle.pendingChanges
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

  /**
   * Resolves once every local change made so far is saved: durably stored by the relay when there is one
   * (`pendingChanges` is 0), otherwise received by a synced peer; for a document with no transport, once the local
   * store wrote it. Rejects with a `WeftError` (`destroyed`) if the document is destroyed first (PROV-5.11).
   */
  whenSaved(): Promise<void> {
    if (this.#destroyed)
      return Promise.reject(new WeftError(WeftErrorCode.Destroyed, 'whenSaved() after destroy()'))
    if (this.#transports.length === 0) return this.persistence?.flushed() ?? Promise.resolve()
    if (this.handle.pendingChanges === 0) return Promise.resolve()
    return new Promise((resolve, reject) => this.#saveWaiters.add({ resolve, reject }))
  }

  /**
   * Connects every transport (the relay, WebRTC, tabs...). A relay reconnect waiting out its backoff tries again at
   * once (PROV-2.6). Local edits work whether connected or not.
   */
  connect(): void {
    for (const t of this.#transports) void t.connect()
    this.#update()
  }

  /** Disconnects every transport: this client is offline until {@link connect}. Local edits continue. */
  disconnect(): void {
    for (const t of this.#transports) t.disconnect()
    this.#update()
  }

  /** @deprecated Use {@link connect} and {@link disconnect}. */
  setOnline(online: boolean): void {
    if (online) this.connect()
    else this.disconnect()
  }

  /** Disconnects, waits for local writes, releases everything. The store stays open (the caller owns it). */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    for (const off of this.#offs.splice(0)) off()
    for (const w of this.#saveWaiters)
      w.reject(new WeftError(WeftErrorCode.Destroyed, 'destroyed before every change was saved'))
    this.#saveWaiters.clear()
    for (const t of this.#transports) t.destroy()
    await this.handle.destroy()
    super.destroy()
  }

  #update(): void {
    if (this.#destroyed) return
    const paths = this.session.paths
    const pending = this.handle.pendingChanges
    let status: SyncStatus
    if (paths.length > 0) {
      const allSynced = paths.every(({ transport, peer }) => this.session.pathInfo(transport, peer)?.synced)
      const relayDown = this.#relay !== null && this.#relay.status !== 'connected'
      status = allSynced && pending === 0 && !relayDown ? 'synced' : 'syncing'
    } else if (this.#transports.some((t) => t.status !== 'disconnected')) status = 'connecting'
    else status = 'offline'
    if (paths.some(({ transport, peer }) => this.session.pathInfo(transport, peer)?.synced))
      this.#resolveSynced()
    if (pending === 0 && this.#saveWaiters.size > 0) {
      for (const w of this.#saveWaiters) w.resolve()
      this.#saveWaiters.clear()
    }
    if (status !== this.#status || pending !== this.#lastPending) {
      this.#status = status
      this.#lastPending = pending
      this.emit('status', [{ status, pendingChanges: pending }])
    }
    const synced = this.session.synced
    if (synced !== this.#synced) {
      this.#synced = synced
      this.emit('synced', [synced])
      this.emit('sync', [synced])
    }
  }

  #refused(transport: Transport, e: ConnectionError): void {
    if (this.#destroyed) return
    this.emit('connection-error', [{ ...e, transport, kind: transport.kind }])
    if (e.willRetry) return
    const code = e.reason === 'refused' ? WeftErrorCode.TransportFailed : WeftErrorCode.AuthDenied
    const what = e.reason === 'refused' ? `refused (${e.name ?? e.code})` : e.reason
    const error = new WeftError(code, `${transport.kind}: connection ${what}, close code ${e.code}`, {
      cause: e,
    })
    this.emit('error', [{ error }])
  }
}

/**
 * Opens a document offline-first: creates (or takes) the Y.Doc, loads it from `store` (resolves once loaded, so
 * the app can render before any network), then connects the relay and every other transport, all feeding one
 * {@link SyncSession}. A thin convenience over `openDocument` from `@weft/core` (the {@link WeftDoc.handle}): it
 * adds the transports, connects them and reports the provider status. Rejects if the local store cannot be read,
 * and with a `WeftError` (`invalid-argument`) if `doc` is a Y.Doc from another copy of yjs (two copies loaded) or a
 * transport's `room` is not `docId` (PROV-5.12), before it loads, stores or connects anything.
 */
export const openDoc = async (options: OpenDocOptions): Promise<WeftDoc> => {
  toDocId(options.docId)
  const relay = options.relay ?? null
  const transports = [...(relay ? [relay] : []), ...(options.transports ?? [])]
  requireMatchingRooms(options.docId, transports)
  const doc = options.doc === undefined ? undefined : requireYDoc(options.doc, 'openDoc({ doc })')
  const epochOptions = options.epochs ?? true
  const handle = await openDocument({
    docId: options.docId,
    ...(doc ? { doc } : {}),
    ...(options.awareness ? { awareness: options.awareness } : {}),
    ...(options.store ? { store: options.store } : {}),
    epochs:
      typeof epochOptions === 'object'
        ? { autoStart: epochOptions.autoStart ?? false, live: epochOptions.live ?? false }
        : epochOptions,
    // The local-change count is stored with the appends, and only when something can acknowledge (PROV-5.8).
    persistPending: transports.length > 0,
    ...(options.rules ? { rules: options.rules } : {}),
    ...(options.forward ? { forward: options.forward } : {}),
  })
  const weftDoc = new WeftDoc({ handle, relay, transports })
  for (const t of transports) handle.addTransport(t, { relay: t === relay })
  if (options.connect !== false) for (const t of transports) void t.connect()
  return weftDoc
}

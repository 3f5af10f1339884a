import { isRollbackOrigin } from '../sync/rollback.js'
import type { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { docId as toDocId, type DocId } from '../ids.js'
import { requireYDoc } from '../requireYDoc.js'
import type { Compactor } from '../storage/Compactor.js'
import { DocPersistence } from '../storage/DocPersistence.js'
import type { DocStore } from '../storage/DocStore.js'
import { EpochManager, type EpochManagerOptions } from '../sync/EpochManager.js'
import { isEpochOrigin } from '../sync/epochOrigin.js'
import type { SessionRules } from '../sync/PeerRules.js'
import type { Transport } from '../transport/Transport.js'
import { SyncSession } from '../sync/SyncSession.js'
import { WeftError, WeftErrorCode, toWeftError } from '../WeftError.js'
import { DocHandle } from './DocHandle.js'
import { PendingCount } from './PendingCount.js'
import { takeOrphans, takeWaitingEpoch } from './waitingEpoch.js'

/** Options of {@link openDocument}. */
export interface OpenDocumentOptions {
  /** The document id (its key in the store). */
  readonly docId: string | DocId
  /** The Y.Doc to use (default: a new one). Content it already holds is stored once, as a local change. */
  readonly doc?: Y.Doc
  /** The document's awareness (default: the session creates one). */
  readonly awareness?: Awareness
  /**
   * Local persistence (IndexedDbDocStore in browsers, SqliteDocStore in Node), loaded before `openDocument`
   * resolves. Without it the document lives in memory only. The store stays open when the handle is destroyed.
   */
  readonly store?: DocStore | null
  /** Log compaction of the store (`DocPersistence`'s `compactor`; default the shared policy, `null` none). */
  readonly compactor?: Compactor | null
  /** This handle is the store's only writer of the document (`DocPersistence`'s `exclusive`; default false). */
  readonly exclusive?: boolean
  /**
   * History compaction (docs/guides/compaction.md, COMPACT-8):
   * - `true` (default): the `Y.Doc` stays put. An epoch that peers or the relay start is stored and taken at the
   *   next open, before the document is handed out (`epoch-available` tells the app); meanwhile the document keeps
   *   working in its epoch and its edits stay pending. An empty document takes it in place (same `Y.Doc`, filled by the new epoch's handshake, COMPACT-8.1b). A
   *   document opened without a `store` follows at once, as with `'live'` (no next open could carry its edits).
   * - `'live'`: follow at once; the handle's `doc` is replaced and `epoch-changed` is emitted (rebind editors,
   *   e.g. with `bindEachEpoch` from `@weft/providers`).
   * - an object: passed to the {@link EpochManager} (`autoStart` on the epoch authority, `follow`, `clientId`), with
   *   `live: true` for the live mode. `start()` and `autoStart` switch at once in both modes (the app asked for it).
   * - `false`: never switches (the document then stops syncing with peers that moved on).
   */
  readonly epochs?:
    boolean | 'live' | (Omit<EpochManagerOptions, 'persistence'> & { readonly live?: boolean })
  /**
   * Store the pending-change count with each local change (default true). `false` when nothing will ever
   * acknowledge a change (no relay, no peer): the count is then kept in memory only and nothing extra is written.
   */
  readonly persistPending?: boolean
  /**
   * Check what peers send against the document's rules (docs/guides/rules.md, RULES-6): see `SyncSessionOptions.rules`.
   * Unless `authority` says otherwise, the transport added with `relay: true` is the authority (a relay that checks the
   * same rules): its updates are applied unchecked; every other path's are checked. With or without `rules`, a `rejected`
   * message is taken from the relay only (RULES-6.11). Refused with `epochs.autoStart`
   * (`invalid-argument`, RULES-6.7): leave epochs to the relay.
   */
  readonly rules?: SessionRules
  /**
   * Whether a peer's change is forwarded to the relay (SYNC-3.6, `SyncSessionOptions.forward`): `'not-to-authority'`
   * (default with `rules`) sends the relay this side's own changes only, for a relay that judges every write on a
   * connection as that connection's (a ruled room, a workspace catalogue); `'all'` (default otherwise) forwards every
   * update to every other path. The authority is `rules.authority`, else the transport added with `relay: true`.
   */
  readonly forward?: 'all' | 'not-to-authority'
}

/**
 * Opens one document (docs/guides/documents.md): creates (or takes) the Y.Doc, loads it from `store` (resolves once
 * loaded, so the app can render before any network), and wires the persistence, the epochs, the sync session and
 * the pending-change count in the one correct order. Add transports with {@link DocHandle.addTransport} and connect
 * them yourself. Rejects with a `WeftError`: `invalid-argument` for a Y.Doc from another copy of yjs or for `rules`
 * with `epochs.autoStart` (RULES-6.7), `store-failed` or `store-corrupted` when the store cannot be read (nothing is
 * then left listening to the doc).
 *
 * ```ts
 * const handle = await openDocument({ docId: 'notes', store })
 * handle.addTransport(relayTransport, { relay: true })
 * relayTransport.connect()
 * handle.doc.getText('body').insert(0, 'hello')
 * handle.on('pending-changed', ({ pendingChanges }) => render(pendingChanges))
 * ```
 */
export const openDocument = async (options: OpenDocumentOptions): Promise<DocHandle> => {
  const id = toDocId(options.docId)
  const autoStart = typeof options.epochs === 'object' ? options.epochs.autoStart : undefined
  if (options.rules && autoStart !== undefined && autoStart !== false) {
    // RULES-4.7, RULES-6.7: a relay or a peer with rules follows no epoch a client starts: this one would stop syncing.
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      'rules and epochs.autoStart do not go together: in a ruled room the relay follows no epoch a client starts ' +
        '(RULES-4.7, RULES-6.7), so this document would stop syncing; leave epochs to the relay (weft serve --epoch-reset)',
    )
  }
  const doc = options.doc === undefined ? new Y.Doc() : requireYDoc(options.doc, 'openDocument({ doc })')
  const store = options.store ?? null
  const isLocal = (origin: unknown) =>
    !SyncSession.isPeerOrigin(origin) &&
    !(origin instanceof DocPersistence) &&
    !isEpochOrigin(origin) &&
    !isRollbackOrigin(origin)
  // The counter listens to the doc before the persistence does, and its count rides on the persistence's appends.
  const pending = new PendingCount({
    doc,
    store,
    docId: id,
    isLocal,
    persist: options.persistPending !== false,
  })
  const epochOptions = options.epochs ?? true
  const epochObject = typeof epochOptions === 'object' ? epochOptions : null
  // Without a store there is no next open to carry the edits made while an epoch waits: follow at once (COMPACT-8.5).
  const live = epochOptions === 'live' || epochObject?.live === true || store === null
  const follow = epochOptions !== false && (epochObject?.follow ?? true)
  let persistence: DocPersistence | null = null
  if (store) {
    try {
      // COMPACT-8.2: an epoch offered while the document was last open is taken before anything is handed out.
      if (follow) {
        await takeWaitingEpoch(store, id, {
          ...(options.exclusive !== undefined ? { exclusive: options.exclusive } : {}),
          ...(epochObject?.clientId ? { clientId: epochObject.clientId } : {}),
        })
          .then(() =>
            takeOrphans(store, id, options.exclusive !== undefined ? { exclusive: options.exclusive } : {}),
          )
          .catch((err: unknown) => {
            throw toWeftError(WeftErrorCode.StoreFailed, err, 'taking the waiting epoch')
          })
      }
      persistence = await DocPersistence.open({
        doc,
        store,
        docId: id,
        ...(options.compactor !== undefined ? { compactor: options.compactor } : {}),
        ...(options.exclusive !== undefined ? { exclusive: options.exclusive } : {}),
        appendMeta: pending.appendMeta,
        // RULES-5.11: a document that can be acknowledged (and refused) records the client ids it is written with.
        recordOwnClients: options.persistPending !== false,
        onLoad: (meta) => pending.setBaseline(meta),
        // STORE-9.8: a compaction that loads the store removes other writers' settled counts.
        collectMeta: pending.collectMeta,
        // the counter ignores the load (isLocal is false for the persistence's origin): no update event is built
        ignoringLoad: [pending.updateListener],
      })
      const stored = persistence
      pending.setWhenStored(() => stored.flushed())
    } catch (err) {
      await pending.close()
      throw err
    }
  }
  let epochs: EpochManager | null = null
  if (epochOptions !== false) {
    try {
      const { live: _live, ...managerOptions } = epochObject ?? {}
      epochs = new EpochManager({ ...managerOptions, follow: follow && live, persistence })
    } catch (err) {
      await pending.close()
      await persistence?.destroy()
      throw err
    }
  }
  const p = persistence
  const session = new SyncSession({
    doc,
    ...(options.awareness ? { awareness: options.awareness } : {}),
    isLocalOrigin: isLocal,
    ...(p ? { durable: () => p.flushed() } : {}),
    ...(p?.ownClients ? { ownClients: p.ownClients } : {}),
    ...(epochs ? { epoch: epochs.record, epochLineage: epochs.lineage } : {}),
    ...(options.rules
      ? { rules: { ...options.rules, authority: options.rules.authority ?? ((t) => t === pending.relay) } }
      : {}),
    // The relay is the authority for `rejected` messages (RULES-6.11) with or without rules; forwarding keeps its own
    // default (SYNC-3.6: `'not-to-authority'` with rules, `'all'` without).
    authority: options.rules?.authority ?? ((t: Transport) => t === pending.relay),
    forward: options.forward ?? (options.rules ? 'not-to-authority' : 'all'),
  })
  return new DocHandle({ docId: id, session, persistence, epochs, pending, deferEpochs: follow && !live })
}

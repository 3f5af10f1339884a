import type * as Y from 'yjs'
import type { DocId } from '../ids.js'
import type { Compactor } from '../storage/Compactor.js'
import { DocPersistence } from '../storage/DocPersistence.js'
import type { DocStore } from '../storage/DocStore.js'
import { EpochManager, type EpochManagerOptions } from '../sync/EpochManager.js'
import { SyncSession } from '../sync/SyncSession.js'

/** Options of {@link openEpochPeer}. */
export interface OpenEpochPeerOptions {
  /** The peer's document (listeners the test needs are attached before). */
  readonly doc: Y.Doc
  readonly store: DocStore
  readonly docId: DocId
  /** Passed to `DocPersistence.open` when given (`null`: no log compaction). */
  readonly compactor?: Compactor | null
  /** Everything of the epoch manager's options but its persistence. */
  readonly epochs?: Omit<EpochManagerOptions, 'persistence'>
}

/** The three pieces of an epoch-aware peer, wired. */
export interface EpochPeerParts {
  readonly persistence: DocPersistence
  readonly epochs: EpochManager
  readonly session: SyncSession
}

/**
 * Wires a peer as an app does for history compaction (docs/guides/compaction.md): `DocPersistence` on `store`, an
 * `EpochManager` on it, a `SyncSession` in the manager's epoch whose durable acks wait for the store, bound
 * together. The caller adds its transports and listeners (the document changes at each `epoch-changed`).
 */
export const openEpochPeer = async (options: OpenEpochPeerOptions): Promise<EpochPeerParts> => {
  const { doc, store, docId, compactor } = options
  const persistence = await DocPersistence.open({
    doc,
    store,
    docId,
    ...(compactor !== undefined ? { compactor } : {}),
  })
  const epochs = new EpochManager({ persistence, ...options.epochs })
  const session = new SyncSession({
    doc,
    epoch: epochs.record,
    epochLineage: epochs.lineage,
    durable: () => persistence.flushed(),
  })
  epochs.bind(session)
  return { persistence, epochs, session }
}

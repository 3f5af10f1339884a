import type * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { Compactor } from '../storage/Compactor.js'
import type { DocHandle } from '../doc/DocHandle.js'
import { openDocument } from '../doc/openDocument.js'
import type { DocPersistence } from '../storage/DocPersistence.js'
import type { DocStore } from '../storage/DocStore.js'
import type { EpochManager, EpochManagerOptions } from '../sync/EpochManager.js'
import type { SyncSession } from '../sync/SyncSession.js'

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

/** The pieces of an epoch-aware peer, wired by one {@link DocHandle}. */
export interface EpochPeerParts {
  readonly handle: DocHandle
  readonly persistence: DocPersistence
  readonly epochs: EpochManager
  readonly session: SyncSession
}

/**
 * Opens a peer as an app does for history compaction (docs/guides/compaction.md): one {@link openDocument} handle
 * over `store` with epochs on in the live mode (COMPACT-8.3: offered epochs are followed at once), its pieces exposed
 * for tests. The caller adds its transports (to `session` or `handle.addTransport`) and listeners (the document
 * changes at each `epoch-changed`).
 */
export const openEpochPeer = async (options: OpenEpochPeerOptions): Promise<EpochPeerParts> => {
  const { doc, store, docId, compactor } = options
  const handle = await openDocument({
    doc,
    store,
    docId,
    ...(compactor !== undefined ? { compactor } : {}),
    epochs: { ...options.epochs, live: true },
    persistPending: false,
  })
  const { persistence, epochs, session } = handle
  if (!persistence || !epochs)
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      'openEpochPeer: a handle with a store and epochs has both',
    )
  return { handle, persistence, epochs, session }
}

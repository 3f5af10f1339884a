/**
 * `@weft/core`: the sync engine, the document handle, typed schemas, the Transport and DocStore contracts and the
 * close codes. Wire-level building blocks are on `@weft/core/protocol`, epoch building blocks on `@weft/core/epochs`,
 * the per-path engine on `@weft/core/sync-engine`, store implementers' tools on `@weft/core/store-kit`.
 * @module @weft/core
 */
export { WeftError, WeftErrorCode, toWeftError } from './WeftError.js'
export { requireYDoc } from './requireYDoc.js'
export { docId, peerId, type DocId, type PeerId, type Brand } from './ids.js'
export type { Transport, TransportEvents, TransportStatus } from './transport/Transport.js'
export * from './storage/index.js'
export {
  SyncSession,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type SyncSessionOptions,
  type SyncSessionEvents,
  type PathRef,
  type EpochOfferSource,
} from './sync/SyncSession.js'
export {
  EpochManager,
  type EpochManagerOptions,
  type EpochManagerEvents,
  type EpochBlockedReason,
} from './sync/EpochManager.js'
export { EPOCH_ORIGIN, isEpochOrigin } from './sync/epochOrigin.js'
export {
  DocHandle,
  openDocument,
  PENDING_META,
  type DocHandleEvents,
  type AddTransportOptions,
  type OpenDocumentOptions,
} from './doc/index.js'
export { CloseCode, closeCodeName, isRetryableClose } from './protocol/closeCodes.js'
export * from './schema/index.js'

/**
 * Wire-level building blocks of Weft's sync protocol (`@weft/core/protocol`; docs/spec/sync-protocol.md): message
 * encoders and the decoder, chunking, structural update validation and awareness readers. For servers, tools and
 * transports that speak the protocol themselves; an app syncing documents needs none of it (`SyncSession`,
 * `openDocument` and the providers do it). Close codes are in `@weft/core`.
 * @module @weft/core/protocol
 */
export {
  MessageType,
  SyncType,
  WeftType,
  Feature,
  PROTOCOL_VERSION,
  CHUNK_OVERHEAD,
  decodeMessage,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  updateMessageParts,
  encodeEpochOffer,
  encodeEpochRequest,
  encodeAwareness,
  encodeQueryAwareness,
  encodeAuthDenied,
  encodeAck,
  encodeChunk,
  encodeRejected,
  encodeRolledBack,
  type Hello,
  type WireMessage,
} from './messages.js'
export { splitMessage, Reassembler, type ReassemblerOptions } from './chunking.js'
export {
  readAwarenessEntries,
  readEncodedAwarenessEntries,
  AwarenessUpdateReader,
  isRemovedAwarenessState,
  decodeAwarenessState,
  encodeAwarenessEntries,
  MAX_AWARENESS_DEPTH,
  type AwarenessEntry,
  type EncodedAwarenessEntry,
} from './readAwarenessClients.js'
export {
  validateUpdate,
  MAX_NESTING_DEPTH,
  MAX_VALUE_DEPTH,
  type ValidateUpdateOptions,
  type UpdateSummary,
} from './validateUpdate.js'
export {
  WorkspaceFrameKind,
  decodeWorkspaceFrame,
  encodeDocFrameHead,
  encodeDocFrame,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeCatchUp,
  encodeChanges,
  encodeChanged,
  encodeRefused,
  type WorkspaceFrame,
  type WorkspaceFrameResult,
} from './workspaceMessages.js'
export {
  DELETIONS_DIGEST_BYTES,
  DELETIONS_MATCHED_UPDATE,
  isDeletionsMatched,
  addDeletions,
  coversDeletions,
  deletionsDigest,
  readDeletions,
  type DeleteRanges,
} from './deleteSets.js'
export { changesNothingOver, deletionsOnly } from './changesNothingOver.js'

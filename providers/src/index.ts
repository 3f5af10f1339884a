/**
 * `@weft/providers`: transports and local stores, and {@link openDoc}, the one entry point that opens a document
 * offline-first over any of them. Transports and stores also have their own subpath exports
 * (`@weft/providers/websocket`, `/webrtc`, `/broadcast`, `/indexeddb`, `/node`, `/lan`).
 * @module @weft/providers
 */
export {
  openDoc,
  WeftDoc,
  type OpenDocOptions,
  type WeftDocEvents,
  type WeftDocConnectionError,
  type SyncStatus,
  type PathStatus,
} from './WeftDoc.js'
export { bindEachEpoch } from './bindEachEpoch.js'
export {
  openWorkspace,
  Workspace,
  DEFAULT_RETENTION_MS,
  WorkspaceList,
  catalogueSchema,
  choosePreload,
  planEviction,
  workspaceStatus,
  type OpenWorkspaceOptions,
  type TransportSource,
  type WorkspaceEvents,
  type WorkspaceProgress,
  type WorkspaceEntry,
  type WorkspaceListEvents,
  type WorkspaceLink,
  type WorkspaceLinkEvents,
  type CatalogueRecord,
  type CatalogueBase,
  type CatalogueFields,
  type CatalogueSchema,
  type CreateInput,
  type EntryFields,
  type PreloadPolicy,
  type EvictionCandidate,
} from './workspace/index.js'
export {
  WorkspaceSocket,
  WORKSPACE_CURSOR_META,
  type WorkspaceSocketOptions,
  type WorkspaceSocketEvents,
} from './workspace/WorkspaceSocket.js'
export {
  WorkspaceBroadcast,
  WorkspaceBroadcastTransport,
  type WorkspaceBroadcastOptions,
  type WorkspaceBroadcastEvents,
} from './workspace/WorkspaceBroadcast.js'
export { DocMux, type DocMuxEvents } from './workspace/DocMux.js'
export { WorkspaceWebRtc, workspaceRoom, type WorkspaceWebRtcOptions } from './workspace/WorkspaceWebRtc.js'
export {
  PeerSummary,
  isPeerSummarySource,
  peerSummaryKey,
  type PeerSummaryOptions,
  type PeerSummaryReport,
  type PeerSummarySource,
} from './workspace/peerSummary.js'
export { WorkspaceDocTransport } from './workspace/WorkspaceDocTransport.js'
/** The metadata keys of the stored pending-change count (the count itself lives in `@weft/core`'s DocHandle). */
export { PENDING_META, storedPendingCount } from '@weft/core'
export {
  WebSocketTransport,
  type WebSocketTransportOptions,
  type WebSocketTransportEvents,
  type WebSocketLike,
  type WebSocketConstructor,
  type CloseInfo,
} from './websocket/WebSocketTransport.js'
export { type ReconnectOptions } from './websocket/ReconnectingSocket.js'
export {
  type ConnectionError,
  type ConnectionErrorReason,
  type TokenRequest,
} from './websocket/connectionError.js'
export {
  BroadcastChannelTransport,
  type BroadcastChannelTransportOptions,
} from './broadcast/BroadcastChannelTransport.js'
export {
  WebRtcTransport,
  WEBRTC_MAX_MESSAGE_SIZE,
  DEFAULT_ICE_SERVERS,
  type WebRtcTransportOptions,
  type WebRtcTransportEvents,
  type SignalingTiming,
} from './webrtc/index.js'

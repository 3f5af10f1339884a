import type { ObservableV2 } from 'lib0/observable'
import type { PeerId } from '../ids.js'

/** Connection state of a {@link Transport}. */
export type TransportStatus = 'disconnected' | 'connecting' | 'connected'

/** Events every {@link Transport} emits. One payload object per event. */
export type TransportEvents = {
  /** A binary message from one peer. */
  message: (event: { from: PeerId; data: Uint8Array }) => void
  /** A peer became reachable: messages can be sent to it. */
  'peer-joined': (event: { peer: PeerId }) => void
  /** A peer is gone (closed, timed out, dropped). */
  'peer-left': (event: { peer: PeerId; reason: string }) => void
  /** The transport's own status changed. */
  status: (event: { status: TransportStatus }) => void
}

/**
 * Moves bytes between this side and any number of peers. A transport knows nothing of documents, Yjs or storage:
 * the {@link SyncSession} that a transport is added to runs the sync protocol over it.
 *
 * - `send(bytes, to)` delivers to one peer; `send(bytes)` to every current peer.
 * - Delivery on one peer path is in order while the path is up (WebSocket, WebRTC data channels and
 *   BroadcastChannel all are). The sync protocol tolerates loss, duplication and reordering anyway.
 * - `peer-joined` is emitted for every peer that becomes reachable, including the single server of a client
 *   WebSocket; `peer-left` when it goes away. `peers` lists the reachable ones.
 */
export interface Transport extends ObservableV2<TransportEvents> {
  /** A short human-readable name for logs and status details, e.g. `"webrtc"`, `"relay"`. */
  readonly kind: string
  readonly status: TransportStatus
  /** Peers currently reachable. */
  readonly peers: ReadonlySet<PeerId>
  /**
   * Largest message this medium carries reliably in one piece, in bytes. The session splits larger
   * messages into chunks for peers that negotiated chunking. `undefined` means the session's default.
   */
  readonly maxMessageSize?: number | undefined
  connect(): void | Promise<void>
  /** Disconnects every peer, or just `peer` when given (e.g. a peer that sent malformed data). */
  disconnect(peer?: PeerId): void
  send(data: Uint8Array, to?: PeerId): void
  destroy(): void
}

/** Messages between the bridge test and its peer processes (Node IPC). */

/** Which paths a peer process uses: WebRTC when `signaling` is set, the relay when `relayUrl` is set. */
export interface BridgePeerOptions {
  readonly room: string
  /** Its presence: awareness state `{ user: { name } }`. */
  readonly name: string
  readonly signaling?: string
  readonly relayUrl?: string
  /** WebRtcTransport's `peerTimeout` (ms). */
  readonly peerTimeout?: number
}

/** Test → peer. Every `wait-*` resolves on an event in the peer, with what it then sees. */
export type BridgeCommand =
  | { readonly cmd: 'open'; readonly options: BridgePeerOptions }
  | { readonly cmd: 'insert'; readonly text: string }
  /** Resolves with the whole text once it contains `includes`. */
  | { readonly cmd: 'wait-text'; readonly includes: string }
  /** Resolves with the other names present once all of `present` are and none of `absent` is. */
  | { readonly cmd: 'wait-presence'; readonly present: readonly string[]; readonly absent: readonly string[] }
  /** Resolves with the kinds of the open paths once `count` of them are synced. */
  | { readonly cmd: 'wait-paths'; readonly count: number }
  | { readonly cmd: 'destroy' }

/** Peer → test. */
export type BridgeMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: false; readonly error: string }
  | { readonly kind: 'event'; readonly event: 'error'; readonly detail: string }
  | { readonly kind: 'fault'; readonly error: string }

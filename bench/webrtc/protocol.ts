/** Messages between the WebRTC latency benchmark and its peer processes (Node IPC, JSON). */

/** Which implementation a peer process hosts. */
export type PeerSystem = 'weft' | 'y-webrtc'

/** Benchmark → peer. */
export type PeerCommand =
  | { readonly cmd: 'join'; readonly room: string; readonly signaling: string }
  /**
   * Appends `text` in one transaction; answers `{ at, sent, length }`: the clock just before the edit, when the
   * last message was handed to a data channel, and the text's length after it.
   */
  | { readonly cmd: 'edit'; readonly text: string }

/** Peer → benchmark. */
export type PeerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'failed'; readonly id: number; readonly error: string }
  /**
   * A remote transaction became visible in the text: the clock reading (ns, as a decimal string) at the end of the
   * transaction that applied it, when the last data-channel message before it arrived from native code, and the
   * text's length after it (which identifies the edit).
   */
  | { readonly kind: 'seen'; readonly at: string; readonly arrived: string; readonly length: number }
  | { readonly kind: 'fault'; readonly error: string }

import { WeftError, WeftErrorCode } from '@weft/core'
import type { OnlineEvents } from '../OnlineListener.js'
import type { SignalingTiming, WebSocketConstructor } from './SignalingConnection.js'

/** The largest message handed to a data channel in one piece: the session chunks larger ones for Weft peers. */
export const WEBRTC_MAX_MESSAGE_SIZE = 16 * 1024

/** ICE servers used when none are given: one public STUN server (enough for most home NATs, not for all). */
export const DEFAULT_ICE_SERVERS: readonly RTCIceServer[] = [{ urls: 'stun:stun.l.google.com:19302' }]

/** Options of {@link WebRtcTransport}. */
export interface WebRtcTransportOptions {
  /** The room (y-webrtc's room name; usually the document id). Peers in the same room find each other. */
  readonly room: string
  /**
   * Signaling servers (`ws://` or `wss://`), speaking the y-webrtc signaling protocol. The transport connects to
   * every one of them at once, like y-webrtc: peers are found through any server that is up.
   */
  readonly signaling: readonly string[]
  /** Room password: signaling messages are encrypted like y-webrtc does (AES-GCM, key from password and room). */
  readonly password?: string
  /** STUN/TURN servers (default {@link DEFAULT_ICE_SERVERS}; pass `[]` on a LAN or in tests). */
  readonly iceServers?: readonly RTCIceServer[]
  /** Further `RTCPeerConnection` settings, e.g. `{ iceTransportPolicy: 'relay' }` to force TURN. */
  readonly rtcConfiguration?: Omit<RTCConfiguration, 'iceServers'>
  /** Most peers connected (or connecting) at once (default 20 to 34, random, as y-webrtc does against clusters). */
  readonly maxConns?: number
  /** A WebRTC implementation; in Node pass `@roamhq/wrtc`. Default: the browser's `RTCPeerConnection`. */
  readonly wrtc?: { readonly RTCPeerConnection: typeof RTCPeerConnection }
  /** A WebSocket class; in Node 20 pass `WebSocket` from `ws`. Default: `globalThis.WebSocket`. */
  readonly WebSocketPolyfill?: WebSocketConstructor
  /** This side's id in the room (default: a random UUID, like y-webrtc). */
  readonly peerId?: string
  /**
   * A connection whose data channel has not opened after this many ms, or whose peer sent nothing this long after
   * it opened, is abandoned and tried afresh (default 20,000).
   */
  readonly connectTimeout?: number
  /**
   * A connected peer from which nothing (not even an ICE connectivity check) arrived for this many ms is dropped
   * with `peer-left` (default 10,000; `0` leaves it to ICE, which reports a vanished peer after about 30 s).
   */
  readonly peerTimeout?: number
  /** Keep-alive and reconnect timing of the signaling connections. */
  readonly signalingTiming?: SignalingTiming
  /**
   * Where the browser's `online` event comes from (default: `globalThis` when it has `addEventListener`, i.e. the
   * window or a worker; nothing in Node). While a signaling connection waits out its reconnect backoff, an `online`
   * event dials it at once. `null` ignores the event (PROV-4.4).
   */
  readonly onlineEvents?: OnlineEvents | null
}

/** Throws a `WeftError` (`invalid-argument`) for options that cannot work. */
export const checkOptions = (o: WebRtcTransportOptions): void => {
  const bad = (detail: string): never => {
    throw new WeftError(WeftErrorCode.InvalidArgument, `WebRtcTransport: ${detail}`)
  }
  if (typeof o.room !== 'string' || o.room === '') bad('`room` must be a non-empty string')
  if (!Array.isArray(o.signaling) || o.signaling.length === 0) bad('`signaling` needs at least one URL')
  for (const url of o.signaling) {
    let protocol = ''
    try {
      protocol = new URL(url).protocol
    } catch {
      bad(`invalid signaling URL ${JSON.stringify(url)}`)
    }
    if (protocol !== 'ws:' && protocol !== 'wss:') bad(`signaling URL ${url} must be ws:// or wss://`)
  }
  if (o.maxConns !== undefined && (!Number.isInteger(o.maxConns) || o.maxConns < 1))
    bad('`maxConns` must be >= 1')
}

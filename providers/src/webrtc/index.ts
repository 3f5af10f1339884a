/**
 * `@weft/providers/webrtc`: a {@link WebRtcTransport} for browsers and Node (through `@roamhq/wrtc`), found
 * through y-webrtc signaling servers and compatible with stock y-webrtc 10.x peers.
 * @module @weft/providers/webrtc
 */
export {
  WebRtcTransport,
  type WebRtcTransportEvents,
  type SignalingConnectionError,
} from './WebRtcTransport.js'
export type { ConnectionError, ConnectionErrorReason } from '../websocket/connectionError.js'
export type { OnlineEvents } from '../OnlineListener.js'
export {
  WEBRTC_MAX_MESSAGE_SIZE,
  DEFAULT_ICE_SERVERS,
  type WebRtcTransportOptions,
} from './WebRtcTransportOptions.js'
export type { WebSocketConstructor, WebSocketLike, SignalingTiming } from './SignalingConnection.js'

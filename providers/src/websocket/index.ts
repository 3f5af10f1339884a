/**
 * `@weft/providers/websocket`: WebSocketTransport: sync with a Weft relay or any y-websocket server.
 * @module @weft/providers/websocket
 */
export {
  WebSocketTransport,
  type WebSocketTransportOptions,
  type WebSocketTransportEvents,
  type WebSocketLike,
  type WebSocketConstructor,
  type CloseInfo,
} from './WebSocketTransport.js'
export { type ReconnectOptions } from './ReconnectingSocket.js'
export { type ConnectionError, type ConnectionErrorReason, type TokenRequest } from './connectionError.js'

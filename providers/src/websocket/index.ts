export {
  WebSocketTransport,
  type WebSocketTransportOptions,
  type WebSocketLike,
  type WebSocketConstructor,
  type CloseInfo,
} from './WebSocketTransport.js'

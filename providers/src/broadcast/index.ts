/**
 * `@weft/providers/broadcast`: BroadcastChannelTransport: sync between tabs of one browser profile.
 * @module @weft/providers/broadcast
 */
export {
  BroadcastChannelTransport,
  type BroadcastChannelTransportOptions,
} from './BroadcastChannelTransport.js'

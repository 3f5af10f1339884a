export {
  BroadcastChannelTransport,
  type BroadcastChannelTransportOptions,
} from './BroadcastChannelTransport.js'

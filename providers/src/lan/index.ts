/**
 * `@weft/providers/lan`: {@link LanTransport}, sync between Node peers on one local network with no server: mDNS
 * discovery (bonjour-service, an optional dependency) and a direct WebSocket per pair of peers. See
 * docs/guides/lan.md.
 * @module @weft/providers/lan
 */
export { LanTransport, type LanTransportOptions, type LanTransportEvents } from './LanTransport.js'
export type { LanDiscovery, LanDiscoveryHandlers, LanAdvert, LanPeerInfo } from './LanDiscovery.js'
export { BonjourDiscovery, LAN_SERVICE_TYPE, type BonjourDiscoveryOptions } from './BonjourDiscovery.js'
export { MemoryLanNetwork } from './MemoryLanNetwork.js'
export {
  LAN_MIN_SECRET_LENGTH,
  LAN_PROTOCOL_VERSION,
  createLanSecret,
  roomTag,
  weakSecretReason,
} from './lanHandshake.js'

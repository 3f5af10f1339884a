/**
 * `@weft/signaling`: the Weft server (WebRTC signaling at `/signal`, the storing relay at `/relay/<room>`,
 * `/healthz`, `/metrics`, static files) as a factory returning `{ listen(), close() }`, the same relay embeddable in
 * an app's own HTTP server (`createWeftRelay`) or fed sockets of the app's own WebSocket server (`WeftRelay.accept`
 * with a `RelaySocket` such as `WsRelaySocket`), its hooks, and the `weft` CLI.
 * @module @weft/signaling
 */
export {
  createWeftServer,
  type WeftServer,
  type WeftServerOptions,
  type ListenAddress,
} from './createWeftServer.js'
export {
  createWeftRelay,
  type WeftRelay,
  type WeftRelayOptions,
  type WeftServiceOptions,
  type UpgradableServer,
  type AcceptRequest,
  type AttachOptions,
} from './createWeftRelay.js'
export type { RelaySocket, RelaySocketHandler } from './relay/RelaySocket.js'
export type { RevalidateFilter, RevalidateResult, RevalidatedConnection } from './relay/revalidate.js'
export { SharedMessage, EncodingKey } from './relay/SharedMessage.js'
export { WsRelaySocket, type WsWebSocket, type WsRelaySocketOptions } from './ws/WsRelaySocket.js'
export type {
  WeftHooks,
  HookVerdict,
  AuthenticateContext,
  ConnectionContext,
  LoadContext,
  UpdateContext,
  StoredContext,
} from './hooks.js'
export { DEFAULT_LIMITS, type ServerLimits } from './ServerLimits.js'
export { WeftServerError, WeftServerErrorCode } from './WeftServerError.js'
export { Authenticator, type AuthOptions, type AuthResult } from './auth/Authenticator.js'
export { RoomGrant, type Access } from './auth/RoomGrant.js'
export { TOKEN_PROTOCOL_PREFIX } from './auth/extractToken.js'
export { RELAY_DEFAULTS, type RelayOptions } from './relay/RelayOptions.js'
export { DEFAULT_PRESENCE_LIMITS, type PresenceLimits } from './relay/AwarenessTable.js'
export { RELAY_DB_FILE } from './relay/openRelayStore.js'
export {
  ServerMetrics,
  type Endpoint,
  type EndpointCounters,
  type GaugeSource,
  type MetricsSources,
  type ServerMetricsOptions,
} from './metrics/ServerMetrics.js'
export { FastCounter, CounterHandle, type Labels, type PromRegistry } from './metrics/FastCounter.js'
export { CountedHistogram } from './metrics/CountedHistogram.js'

/**
 * `@weft/signaling`: the Weft server (WebRTC signaling at `/signal`, the storing relay at `/relay/<room>`,
 * `/healthz`, `/metrics`, static files) as a factory returning `{ listen(), close() }`, and the `weft` CLI.
 * @packageDocumentation
 */
export {
  createWeftServer,
  type WeftServer,
  type WeftServerOptions,
  type ListenAddress,
} from './createWeftServer.js'
export { DEFAULT_LIMITS, type ServerLimits } from './ServerLimits.js'
export { WeftServerError, WeftServerErrorCode } from './WeftServerError.js'
export { Authenticator, type AuthOptions, type AuthResult } from './auth/Authenticator.js'
export { RoomGrant, type Access } from './auth/RoomGrant.js'
export { TOKEN_PROTOCOL_PREFIX } from './auth/extractToken.js'
export { RELAY_DEFAULTS, type RelayOptions } from './relay/RelayOptions.js'
export { RELAY_DB_FILE } from './relay/openRelayStore.js'
export { ServerMetrics, type Endpoint } from './metrics/ServerMetrics.js'

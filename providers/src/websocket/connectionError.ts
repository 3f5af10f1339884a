import { CloseCode, isRetryableClose } from '@weft/core'

/**
 * Why the relay refused a connection: `unauthorized` (no token, or one that does not verify), `forbidden` (a valid
 * token that does not grant this room), `expired` (the token expired, before the connection was accepted or while
 * it was open), or `refused` (any other final close: a read-only connection that wrote, an update the relay
 * rejected, a document past the relay's size limit...; `name` tells which).
 */
export type ConnectionErrorReason = 'unauthorized' | 'forbidden' | 'expired' | 'refused'

/** A connection that the relay closed with a final close code (one that is not retried as it is). */
export interface ConnectionError {
  /** The WebSocket close code (`CloseCode` in `@weft/core`). */
  readonly code: number
  readonly reason: ConnectionErrorReason
  /** The Weft close-code name (`"TokenExpired"`), if the code is one of Weft's. */
  readonly name: string | undefined
  /**
   * The transport tries again at once with a fresh token (the token is a function, and this is the first refusal
   * since the last successful connection); otherwise it stays down until `connect()` is called.
   */
  readonly willRetry: boolean
}

/** What the token function is told when it is called (see `WebSocketTransportOptions.token`). */
export interface TokenRequest {
  /**
   * Why a new token is asked for: the relay refused or expired the previous one (`unauthorized`, `forbidden`,
   * `expired`) and a cached token must not be returned again; `null` for an ordinary (re)connection.
   */
  readonly refused: Exclude<ConnectionErrorReason, 'refused'> | null
}

/** The reason for a close code, or null when the close is transient (the transport reconnects as usual). */
export const connectionErrorReason = (code: number): ConnectionErrorReason | null => {
  switch (code) {
    case CloseCode.Unauthorized:
      return 'unauthorized'
    case CloseCode.Forbidden:
      return 'forbidden'
    case CloseCode.TokenExpired:
      return 'expired'
    default:
      return isRetryableClose(code) ? null : 'refused'
  }
}

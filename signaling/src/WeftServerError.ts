/**
 * Every error code that `@weft/signaling` raises. Expected failures (auth refused, malformed frames) are not
 * errors: they close the offending connection with a close code from `@weft/core` and are logged.
 */
export const WeftServerErrorCode = {
  /** An option or argument was invalid (programmer or operator error). */
  InvalidArgument: 'invalid-argument',
  /** The server could not bind its port. */
  ListenFailed: 'listen-failed',
  /** The server was used after `close()`. */
  Destroyed: 'destroyed',
  /** The relay refused an update (RELAY-9.1, RELAY-9.4): too large for its document, or not mergeable. */
  RejectedUpdate: 'rejected-update',
  /** An optional dependency a configured feature needs is not installed (scale-out: `npm install pg ioredis`). */
  MissingDependency: 'missing-dependency',
} as const

/** Union of every {@link WeftServerErrorCode} value. */
export type WeftServerErrorCode = (typeof WeftServerErrorCode)[keyof typeof WeftServerErrorCode]

/** The one error class of `@weft/signaling`, discriminated by {@link WeftServerError.code}. */
export class WeftServerError extends Error {
  readonly code: WeftServerErrorCode
  override readonly cause?: unknown

  constructor(code: WeftServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message)
    this.name = 'WeftServerError'
    this.code = code
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/**
 * Every error code that Weft's packages raise or report. Codes are stable: apps and tools match on them.
 */
export const WeftErrorCode = {
  /** A message from a transport could not be decoded (truncated, garbage, unknown type). */
  MalformedMessage: 'malformed-message',
  /** A message (or a reassembled chunked message) exceeded the configured maximum size. */
  MessageTooLarge: 'message-too-large',
  /** A Yjs update could not be applied. */
  InvalidUpdate: 'invalid-update',
  /** A transport failed (connection refused, closed with an error, ...). */
  TransportFailed: 'transport-failed',
  /** A DocStore operation failed or found corrupted data. */
  StoreFailed: 'store-failed',
  /** A stored document could not be decoded. */
  StoreCorrupted: 'store-corrupted',
  /**
   * An epoch-checked append (`DocStore.append` with `epoch`) was refused: the stored document is in another epoch,
   * because another writer of the same store switched it (docs/spec/storage.md, STORE-2.5). Nothing was written.
   */
  EpochMismatch: 'epoch-mismatch',
  /** The other side refused access (y-websocket's permission-denied message). */
  AuthDenied: 'auth-denied',
  /** An application observer threw while a remote update was applied (the update itself was applied). */
  ObserverFailed: 'observer-failed',
  /** An API was used the wrong way (programmer error). */
  InvalidArgument: 'invalid-argument',
  /** The object was used after `destroy()`/`close()`. */
  Destroyed: 'destroyed',
} as const

/** Union of every {@link WeftErrorCode} value. */
export type WeftErrorCode = (typeof WeftErrorCode)[keyof typeof WeftErrorCode]

/** The one error class of `@weft/core`, discriminated by {@link WeftError.code}. */
export class WeftError extends Error {
  readonly code: WeftErrorCode
  override readonly cause?: unknown

  constructor(code: WeftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message)
    this.name = 'WeftError'
    this.code = code
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/** Wraps any thrown value into a {@link WeftError} with the given code (keeps a WeftError as it is). */
export const toWeftError = (code: WeftErrorCode, err: unknown, message?: string): WeftError => {
  if (err instanceof WeftError) return err
  const detail = err instanceof Error ? err.message : String(err)
  return new WeftError(code, message ? `${message}: ${detail}` : detail, { cause: err })
}

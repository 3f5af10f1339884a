/**
 * WebSocket close codes (4000-4999, the application range) that mean the same on every Weft server and client.
 * A client decides from the code whether to reconnect: see {@link isRetryableClose}.
 */
export const CloseCode = {
  /** Normal shutdown of the server (SIGTERM). Reconnect later. */
  ServerShutdown: 4000,
  /** A frame could not be decoded. */
  MalformedMessage: 4001,
  /** A frame or reassembled message exceeded the server's maximum size. */
  MessageTooLarge: 4002,
  /**
   * The connection stayed over its rate limit past the server's abuse bound (a client that is merely fast is slowed
   * down by backpressure, not closed). Retryable.
   */
  RateLimited: 4003,
  /** No token, or a token that does not verify. */
  Unauthorized: 4004,
  /** A valid token that does not grant this room. */
  Forbidden: 4005,
  /** A read-only connection tried to write. */
  ReadOnly: 4006,
  /**
   * The token expired (before the connection was accepted, or while it was open). In the 4400-4499 band, which stock
   * y-websocket (3.x) treats as final: it stops reconnecting and emits `closed` instead of retrying with a token
   * that can never work again. (It was 4007 before; moved so that stock clients stop.)
   */
  TokenExpired: 4401,
  /** The connection subscribed to more rooms than allowed. */
  TooManyRooms: 4008,
  /** The client did not answer heartbeats. */
  HeartbeatTimeout: 4009,
  /** The client could not keep up: its send buffer overflowed. */
  SlowConsumer: 4010,
  /** The server is at its connection limit. */
  ServerFull: 4011,
  /** The server failed internally while handling this connection. */
  InternalError: 4012,
  /**
   * The document's history was reset (a new epoch) and this client holds older-epoch state it cannot bring over (a
   * stock client, docs/spec/compaction.md): drop the local copy and load the document again.
   */
  StaleEpoch: 4013,
  /**
   * The server's budget for unfinished incoming messages (partial frames, fragmented messages, chunks being
   * reassembled) ran out and this connection held the most of it, or it left an unfinished message stalled. Retryable.
   */
  MemoryLimit: 4014,
  /**
   * The relay refused an update that passed validation but that Yjs could not merge into the document (RELAY-9.1):
   * nothing of it was stored or forwarded. Final (4400-4499 band): the same bytes would be refused again.
   */
  RejectedUpdate: 4402,
  /**
   * The update would grow the document past the server's per-document size limit (`maxDocBytes`, RELAY-9.4):
   * nothing of it was stored or forwarded. Final (4400-4499 band) until the document is made smaller.
   */
  DocumentTooLarge: 4403,
  /**
   * The server's `onUpdate` hook refused an update of this connection (an app rule, HOOK-3): nothing of it was stored
   * or forwarded, and the connection's later updates were dropped. Final (4400-4499 band): the same update would be
   * refused again.
   */
  UpdateRefused: 4404,
  /**
   * The update broke a rule of the room (docs/spec/rules.md, RULES-4.3) and this client cannot roll it back (a stock
   * client, or a Weft client without the `rollback` feature): nothing of it was stored or forwarded. Final (4400-4499
   * band): the client's later updates depend on the rejected one and would be rejected too.
   */
  UpdateRejected: 4405,
  /**
   * The app took this connection's access away while it was open (a revalidation, RELAY-4.5 in
   * docs/spec/relay-protocol.md): its grant no longer gives the room, or the app's authorization refused it outright.
   * Nothing it sends after the decision is stored or forwarded. Final (4400-4499 band): reconnecting with the same
   * credentials would be refused, so a stock y-websocket client stops and a Weft client stays down (a `refused`
   * connection error named `AccessRevoked`) until the app connects it again.
   */
  AccessRevoked: 4406,
} as const

/** Union of every {@link CloseCode} value. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

const names = new Map<number, string>(Object.entries(CloseCode).map(([name, code]) => [code, name]))

/** The name of a close code (`"ReadOnly"`), or `undefined` for a code Weft does not define. */
export const closeCodeName = (code: number): string | undefined => names.get(code)

/**
 * Whether a client should reconnect after a close with this code. Auth failures and read-only violations are
 * final until the app supplies a new token; so is every code in the 4400-4499 band (the convention of stock
 * y-websocket, whose servers may use it); everything else is transient.
 */
export const isRetryableClose = (code: number): boolean =>
  !(code >= 4400 && code < 4500) &&
  code !== CloseCode.Unauthorized &&
  code !== CloseCode.Forbidden &&
  code !== CloseCode.ReadOnly &&
  code !== CloseCode.StaleEpoch

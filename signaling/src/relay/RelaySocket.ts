import type { Logger } from 'pino'
import type { SharedMessage } from './SharedMessage.js'

/** What receives a {@link RelaySocket}'s messages: the relay's connection, or a handler that ignores them. */
export interface RelaySocketHandler {
  /**
   * One complete message from the peer. `isBinary` is false for a text message (the relay refuses those). May close
   * the socket; may be async. A throw or a rejection closes the socket with `InternalError`, never the process.
   */
  onMessage(data: Buffer, isBinary: boolean): void | Promise<void>
  /** The socket closed, for whatever reason; called exactly once. */
  onClose(): void
}

/**
 * The relay's view of one WebSocket: everything `RelayHub` and `RelayConnection` ask of a connection, and nothing
 * else, so the relay runs over any WebSocket implementation: the project's own RFC 6455 layer (`GuardedSocket`,
 * with the server's limits), the `ws` package (`WsRelaySocket`), or memory in tests (`MemoryRelaySocket`).
 *
 * Protections that depend on the transport (message size, rate limits, heartbeats, slow consumers) belong to the
 * implementation; the relay only closes with a named code (`CloseCode` of `@weft/core`) when a message breaks the
 * protocol.
 */
export interface RelaySocket {
  /** Whether messages can still be sent: false from the moment a close starts. */
  readonly open: boolean
  /** Where the relay logs what concerns this connection (a child logger with the connection's id, typically). */
  readonly logger: Logger
  /**
   * Starts delivering messages to `handler`; nothing is delivered before. Called once, right after the relay gets
   * the socket. If the socket is already closed, `handler.onClose` runs right away.
   */
  attach(handler: RelaySocketHandler): void
  /**
   * Sends one binary message. A {@link SharedMessage} is the same message for many sockets: an implementation may
   * cache its encoding on it (built once, written to every socket). Returns false when nothing was sent: the socket
   * is closing, or the implementation closed it because the peer does not keep up.
   */
  send(message: Uint8Array | SharedMessage): boolean
  /**
   * Starts closing with a close code (`CloseCode` of `@weft/core`) and a reason (cut to what a close frame can carry);
   * `open` is false from now on and `onClose` follows once the socket is gone. Does nothing if already closing.
   */
  close(code: number, reason: string): void
  /**
   * Bytes the relay holds for an unfinished incoming message of this connection (reassembled chunks, RELAY-7.3)
   * grew or shrank by `delta`. An implementation with a memory budget charges them to it (CONN-11); others may
   * ignore it.
   */
  trackInput(delta: number): void
}

/**
 * Protection limits applied to every WebSocket connection. Every field has a default
 * ({@link DEFAULT_LIMITS}); see docs/guides/server.md ("Limits") for sizing advice.
 */
export interface ServerLimits {
  /** Largest message accepted on `/signal`, in bytes. Larger closes with `MessageTooLarge`. */
  readonly maxSignalMessageBytes: number
  /** Largest message accepted on `/relay/<room>`, in bytes. Larger closes with `MessageTooLarge`. */
  readonly maxRelayMessageBytes: number
  /**
   * Sustained messages per second per connection (token bucket refill). A faster client is slowed down: the server
   * stops reading its socket until the bucket refills (backpressure, CONN-2).
   */
  readonly messagesPerSecond: number
  /** Message burst per connection (token bucket size). */
  readonly messageBurst: number
  /** Sustained received bytes per second per connection. */
  readonly bytesPerSecond: number
  /** Received byte burst per connection; at least the largest message size. */
  readonly byteBurst: number
  /**
   * The abuse bound of the rate limits (CONN-2.2): a connection held back by them without a break for this long
   * (it never let its message bucket refill) is closed with `RateLimited`; so is one whose next message would have
   * to wait longer than this.
   */
  readonly maxThrottleMs: number
  /**
   * Bytes of unfinished incoming messages (frames still arriving, fragmented messages, chunked messages being
   * reassembled) held for all connections together (CONN-11.2). Past it, the connection holding the most is closed
   * with `MemoryLimit`.
   */
  readonly maxPendingInputBytes: number
  /** An unfinished incoming message that receives no new byte for this long closes with `MemoryLimit` (CONN-11.3). */
  readonly pendingInputTimeoutMs: number
  /** Signaling topics one connection may subscribe to. More closes with `TooManyRooms`. */
  readonly maxRoomsPerConnection: number
  /**
   * Documents one socket of the workspace endpoint (`<workspacePath>/<W>`) may be subscribed to at once. A SUBSCRIBE
   * past it is refused for that document (REFUSED with `TooManyRooms`); the socket stays open (WS-RELAY-4).
   */
  readonly maxWorkspaceSubscriptions: number
  /** Longest signaling topic or relay room name, in characters. */
  readonly maxRoomNameLength: number
  /**
   * Open WebSocket connections for the whole server. More are refused with `ServerFull` (upgraded, closed and cut at
   * once; refused connections never count).
   */
  readonly maxConnections: number
  /**
   * WebSocket connections one client address may hold at once (IPv6: one /64). More are refused with HTTP 429.
   * Behind a proxy, set `trustedProxies` or every client shares the proxy's address (docs/guides/server.md).
   */
  readonly maxConnectionsPerIp: number
  /** Sustained WebSocket upgrade requests per second per client address. Faster ones are refused with HTTP 429. */
  readonly upgradesPerIpPerSecond: number
  /** Upgrade request burst per client address. */
  readonly upgradeBurstPerIp: number
  /**
   * Bytes queued for one client that has not read them yet. A send while more than this (or twice the largest
   * message queued since the queue was last empty, if more) is queued closes the connection with `SlowConsumer`.
   */
  readonly maxBufferedBytes: number
  /**
   * Bytes the relay holds for one document (its merged state plus updates not yet merged; RELAY-9.4). An update that
   * would grow a document past it is refused with `DocumentTooLarge`; a larger stored document still loads and is
   * served. A loaded document is held whole in memory: size this with the number of documents loaded at once.
   */
  readonly maxDocBytes: number
  /**
   * Bytes one document's entry in a workspace catalogue may hold after an update of a writer without `write` on the
   * whole workspace (WS-ACCESS-8): its record (title, timestamps, the app's metadata) and its deletion entries, as
   * `catalogueEntryBytes` of `@weft/core` counts them. Such an update that would make an entry larger is refused
   * (`catalogue-access`). Writers of every document are limited only by {@link ServerLimits.maxDocBytes}.
   */
  readonly maxCatalogueEntryBytes: number
  /**
   * The heartbeat's interval (CONN-3): it looks at every connection twice per interval (CONN-3.1). A connection
   * silent (no message, no pong) for a while (1.5-2 s at the default timeout) is pinged; busy connections are not.
   */
  readonly heartbeatIntervalMs: number
  /**
   * A connection from which nothing arrived (no message, no pong) for this long is cut with `HeartbeatTimeout`, and
   * its presence is removed (RELAY-6.6): a peer gone without closing (a closed laptop, a lost network) leaves
   * within this time. Counted in whole intervals; under three intervals, every sweep pings every connection.
   */
  readonly heartbeatTimeoutMs: number
  /** After the server sends a close frame, how long it waits for the client's before cutting the socket. */
  readonly closeGraceMs: number
  /**
   * How long a client may take to send a request's headers (an upgrade's included) before its socket is cut
   * (CONN-12): sockets that never finish a request are not covered by the per-address limits, which count upgraded
   * connections. Node checks it about once a second.
   */
  readonly headersTimeoutMs: number
}

/** Default {@link ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = Object.freeze({
  maxSignalMessageBytes: 64 * 1024,
  maxRelayMessageBytes: 32 * 1024 * 1024,
  messagesPerSecond: 200,
  messageBurst: 1000,
  bytesPerSecond: 8 * 1024 * 1024,
  byteBurst: 64 * 1024 * 1024,
  maxThrottleMs: 60_000,
  maxPendingInputBytes: 256 * 1024 * 1024,
  pendingInputTimeoutMs: 30_000,
  maxRoomsPerConnection: 100,
  maxWorkspaceSubscriptions: 1000,
  maxRoomNameLength: 512,
  maxConnections: 10_000,
  maxConnectionsPerIp: 500,
  upgradesPerIpPerSecond: 20,
  upgradeBurstPerIp: 200,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxDocBytes: 64 * 1024 * 1024,
  maxCatalogueEntryBytes: 64 * 1024,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 5_000,
  closeGraceMs: 2_000,
  headersTimeoutMs: 10_000,
})

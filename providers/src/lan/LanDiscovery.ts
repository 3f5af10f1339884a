/** What a {@link LanTransport} advertises about itself. */
export interface LanAdvert {
  /** The peer id. */
  readonly peer: string
  /** The room tag (a salted hash of the room, see `roomTag`). */
  readonly room: string
  /** The salt of the room tag (base64, 16 bytes), fresh per run of the transport. */
  readonly salt: string
  /** The LAN protocol version. */
  readonly version: number
  /** The TCP port of the peer's WebSocket server. */
  readonly port: number
  /** The address the server listens on, when it listens on one address only. */
  readonly address?: string | undefined
}

/** A peer found on the network. */
export interface LanPeerInfo extends LanAdvert {
  /**
   * Addresses to dial, best first (the advertised `address`, then where the announcement came from, then the host's
   * other addresses). The transport tries them in order.
   */
  readonly addresses: readonly string[]
}

/** What a discovery reports to the transport that started it. */
export interface LanDiscoveryHandlers {
  /** A peer appeared, or its advertisement changed (it restarted, moved port or address). */
  up(peer: LanPeerInfo): void
  /** A peer withdrew its advertisement (it stopped). A peer that vanished without a word is never reported. */
  down(peer: string): void
  /** An asynchronous fault of the discovery (a socket error). */
  error(error: Error): void
}

/**
 * Finds peers on the local network and makes this peer findable. The default is mDNS / DNS-SD
 * ({@link BonjourDiscovery}); tests pass an in-process one ({@link MemoryLanNetwork}). A discovery serves one
 * transport; `start` is called again after `stop` when the transport reconnects.
 */
export interface LanDiscovery {
  /** Starts advertising `self` and browsing for peers; resolves once both are under way. */
  start(self: LanAdvert, handlers: LanDiscoveryHandlers): Promise<void>
  /** Withdraws the advertisement (so peers see the peer leave) and stops browsing. */
  stop(): Promise<void>
}

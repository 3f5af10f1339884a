import type { LanAdvert, LanDiscovery, LanDiscoveryHandlers, LanPeerInfo } from './LanDiscovery.js'

interface Member {
  readonly advert: LanAdvert
  readonly handlers: LanDiscoveryHandlers | null
}

/**
 * An in-process stand-in for mDNS: every {@link LanDiscovery} made by {@link MemoryLanNetwork.discovery} sees the
 * adverts of the others, with `127.0.0.1` as their address (the transports must listen on loopback). Reports are
 * delivered in a microtask, as from a network. For tests of apps and of the transport itself; no packet leaves the
 * process.
 */
export class MemoryLanNetwork {
  readonly #members = new Set<Member>()
  /** Address reported for adverts that name none. */
  readonly address: string

  constructor(options: { readonly address?: string } = {}) {
    this.address = options.address ?? '127.0.0.1'
  }

  /** A discovery on this network, for one transport. */
  discovery(): LanDiscovery {
    let member: Member | null = null
    return {
      start: (advert, handlers) => {
        if (member) this.#leave(member)
        const m: Member = { advert, handlers }
        member = m
        for (const other of this.#members) this.#deliver(m, (h) => h.up(this.#info(other.advert)))
        this.#join(m)
        return Promise.resolve()
      },
      stop: () => {
        if (member) this.#leave(member)
        member = null
        return Promise.resolve()
      },
    }
  }

  /**
   * Advertises a peer that is not a transport (a hand-made server in a test); returns a function that withdraws it.
   */
  announce(advert: LanAdvert): () => void {
    const m: Member = { advert, handlers: null }
    this.#join(m)
    return () => this.#leave(m)
  }

  #info(advert: LanAdvert): LanPeerInfo {
    return { ...advert, addresses: [advert.address ?? this.address] }
  }

  #join(m: Member): void {
    this.#members.add(m)
    for (const other of this.#members)
      if (other !== m) this.#deliver(other, (h) => h.up(this.#info(m.advert)))
  }

  #leave(m: Member): void {
    if (!this.#members.delete(m)) return
    for (const other of this.#members) this.#deliver(other, (h) => h.down(m.advert.peer))
  }

  /** Calls `report` on `to`'s handlers in a microtask, if `to` is still on the network then. */
  #deliver(to: Member, report: (h: LanDiscoveryHandlers) => void): void {
    const handlers = to.handlers
    if (!handlers) return
    queueMicrotask(() => {
      if (this.#members.has(to)) report(handlers)
    })
  }
}

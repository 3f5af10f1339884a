import type { Browser, Service } from 'bonjour-service'
import type { LanAdvert, LanDiscovery, LanDiscoveryHandlers, LanPeerInfo } from './LanDiscovery.js'

/** DNS-SD service type of Weft LAN peers: `_weft._tcp.local`. */
export const LAN_SERVICE_TYPE = 'weft'

/** Options of {@link BonjourDiscovery}. */
export interface BonjourDiscoveryOptions {
  /**
   * IPv4 address of the interface to send and receive multicast on. Default: every interface (the system picks the
   * one that sends). Set it to keep mDNS on one network.
   */
  readonly interface?: string
  /** How often to ask the network again for peers, in ms (default 30,000), in case an announcement was lost. */
  readonly requeryMs?: number
}

/** The subset of bonjour-service's instance this module uses. */
interface BonjourLike {
  publish(config: {
    name: string
    type: string
    port: number
    host: string
    txt: Record<string, string>
    probe: boolean
    disableIPv6: boolean
  }): Service
  find(config: { type: string }): Browser
  unpublishAll(callback: () => void): void
  destroy(callback: () => void): void
  readonly server: { readonly mdns: { on(event: 'error' | 'warning', listener: (err: Error) => void): void } }
}

type BonjourConstructor = new (
  options: Record<string, unknown>,
  onError: (err: unknown) => void,
) => BonjourLike

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString() : undefined

/** Reads a Weft advert from a resolved service, or null when it is not one. */
const readService = (service: Service): LanPeerInfo | null => {
  const txt = (service.txt ?? {}) as Record<string, unknown>
  const peer = str(txt['p'])
  const room = str(txt['r'])
  const salt = str(txt['s']) ?? '' // absent in version 1 adverts, which the transport ignores
  const version = Number(str(txt['v']))
  const address = str(txt['a'])
  if (!peer || !room || !Number.isInteger(version) || !Number.isInteger(service.port)) return null
  const candidates = [address, service.referer?.address, ...(service.addresses ?? [])]
  const addresses = [
    ...new Set(candidates.filter((a): a is string => typeof a === 'string' && a !== '')),
  ].filter(
    (a) => !a.toLowerCase().startsWith('fe80:'), // link-local IPv6 needs a zone id the record does not carry
  )
  return { peer, room, salt, version, port: service.port, address, addresses }
}

/**
 * {@link LanDiscovery} over mDNS / DNS-SD with bonjour-service (an optional dependency, loaded on first start).
 * Publishes `weft-<peer>._weft._tcp.local` with TXT `p` (peer id), `r` (room tag), `s` (its salt), `v` (protocol
 * version) and `a` (listen address, if one), on a host name of its own (`weft-<peer>.local`), and browses for `_weft._tcp`. Withdraws
 * the service with a goodbye packet on stop. Runs only where multicast is allowed: Node, not browsers.
 */
export class BonjourDiscovery implements LanDiscovery {
  readonly #options: BonjourDiscoveryOptions
  #bonjour: BonjourLike | null = null
  #browser: Browser | null = null
  #requery: ReturnType<typeof setInterval> | null = null

  constructor(options: BonjourDiscoveryOptions = {}) {
    this.#options = options
  }

  async start(self: LanAdvert, handlers: LanDiscoveryHandlers): Promise<void> {
    await this.stop()
    const mod = (await import('bonjour-service')) as unknown as { Bonjour: BonjourConstructor }
    const iface = this.#options.interface
    // Bind to 0.0.0.0:5353 (a socket bound to the interface address would not receive multicast), and send and
    // join the group on `interface` only, when given.
    const mdnsOptions: Record<string, unknown> =
      iface === undefined ? {} : { interface: iface, bind: '0.0.0.0' }
    // bonjour-service reports failed sends (an answer or announcement that could not leave, e.g. while the link is
    // down) here; they are transient, and mDNS repeats itself. Socket errors (port 5353 refused) are reported.
    const bonjour = new mod.Bonjour(mdnsOptions, () => {})
    bonjour.server.mdns.on('error', (err) => handlers.error(toError(err)))
    bonjour.server.mdns.on('warning', () => {
      // Transient (an interface without multicast, a packet that does not decode): nothing to do.
    })
    this.#bonjour = bonjour
    const txt: Record<string, string> = {
      p: self.peer,
      r: self.room,
      s: self.salt,
      v: String(self.version),
    }
    if (self.address !== undefined) txt['a'] = self.address
    bonjour.publish({
      name: `weft-${self.peer}`,
      type: LAN_SERVICE_TYPE,
      port: self.port,
      host: `weft-${self.peer}.local`,
      txt,
      // The instance name is unique by construction (peer ids are): no probing, so the peer is findable at once.
      probe: false,
      disableIPv6: true,
    })
    const browser = bonjour.find({ type: LAN_SERVICE_TYPE })
    const up = (service: Service) => {
      const info = readService(service)
      if (info && info.peer !== self.peer) handlers.up(info)
    }
    browser.on('up', up)
    browser.on('srv-update', up)
    browser.on('txt-update', up)
    browser.on('down', (service: Service) => {
      const info = readService(service)
      if (info && info.peer !== self.peer) handlers.down(info.peer)
    })
    this.#browser = browser
    this.#requery = setInterval(() => browser.update(), this.#options.requeryMs ?? 30_000)
    this.#requery.unref()
  }

  stop(): Promise<void> {
    const bonjour = this.#bonjour
    this.#bonjour = null
    if (this.#requery) clearInterval(this.#requery)
    this.#requery = null
    this.#browser?.stop()
    this.#browser = null
    if (!bonjour) return Promise.resolve()
    // Goodbye packets first (TTL 0: browsers drop the service at once), then close the socket.
    return new Promise((resolve) => bonjour.unpublishAll(() => bonjour.destroy(() => resolve())))
  }
}

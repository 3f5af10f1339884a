import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { WeftServerError } from '../WeftServerError.js'

/**
 * Proxies trusted when none are configured: the machine itself (a reverse proxy on the same host), so that behind
 * one every client is told apart by its `X-Forwarded-For` instead of sharing the loopback address.
 */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = Object.freeze(['127.0.0.0/8', '::1'])

/**
 * Finds the address a request comes from, for the per-address limits (CONN-10). A request whose TCP peer is not a
 * trusted proxy comes from that peer. One whose peer is a trusted proxy is attributed by its `X-Forwarded-For`
 * header, read from the right: each hop that is itself a trusted proxy is skipped, the first one that is not is the
 * client. A malformed hop stops the walk at the last trusted address, so a client cannot choose its address by
 * writing the header itself: only what trusted proxies appended is believed.
 */
export class ClientAddresses {
  readonly #trusted: BlockList | null

  /**
   * @param trustedProxies Addresses (`10.0.0.1`, `::1`) or CIDR ranges (`10.0.0.0/8`, `fd00::/8`) of proxies whose
   *   `X-Forwarded-For` is believed (default {@link DEFAULT_TRUSTED_PROXIES}; `[]` trusts none). Throws
   *   `invalid-argument` for an entry that is neither.
   */
  constructor(trustedProxies: readonly string[] = DEFAULT_TRUSTED_PROXIES) {
    if (trustedProxies.length === 0) {
      this.#trusted = null
      return
    }
    const list = new BlockList()
    for (const entry of trustedProxies) {
      const [address = '', bits, ...rest] = entry.trim().split('/')
      const type = isIP(address)
      const prefix = bits === undefined ? null : Number(bits)
      const max = type === 4 ? 32 : 128
      if (type === 0 || rest.length > 0 || (prefix !== null && (!/^\d+$/.test(bits ?? '') || prefix > max))) {
        throw new WeftServerError(
          'invalid-argument',
          `trusted proxy ${JSON.stringify(entry)} is not an IP address or CIDR range`,
        )
      }
      const family = type === 4 ? 'ipv4' : 'ipv6'
      if (prefix === null) list.addAddress(address, family)
      else list.addSubnet(address, prefix, family)
    }
    this.#trusted = list
  }

  /** The client's address (IPv4-mapped IPv6 addresses as IPv4), `''` if the socket has none. */
  of(req: IncomingMessage): string {
    let address = normalizeAddress(req.socket.remoteAddress ?? '')
    if (!this.#trusts(address)) return address
    const header = req.headers['x-forwarded-for']
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseHop(hops[i] ?? '')
      if (hop === null) return address
      address = hop
      if (!this.#trusts(address)) return address
    }
    return address
  }

  #trusts(address: string): boolean {
    const type = isIP(address)
    return this.#trusted !== null && type !== 0 && this.#trusted.check(address, type === 4 ? 'ipv4' : 'ipv6')
  }
}

/** `::ffff:1.2.3.4` as `1.2.3.4`; a zone id (`%eth0`) dropped; other addresses unchanged. */
const normalizeAddress = (address: string): string => {
  const zone = address.indexOf('%')
  const bare = zone >= 0 ? address.slice(0, zone) : address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)
  return mapped?.[1] ?? bare
}

/** One `X-Forwarded-For` entry as an address (`1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`), or `null`. */
const parseHop = (raw: string): string | null => {
  const hop = raw.trim()
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop)
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop)
  const address = normalizeAddress(bracketed?.[1] ?? v4WithPort?.[1] ?? hop)
  return isIP(address) === 0 ? null : address
}

/** Whether `address` (as {@link ClientAddresses.of} returns it) is the machine itself: 127.0.0.0/8 or `::1`. */
export const isLoopback = (address: string): boolean => {
  const type = isIP(address)
  if (type === 4) return address.startsWith('127.')
  return type === 6 && expandIPv6(address).join(':') === '0:0:0:0:0:0:0:1'
}

/**
 * The key an address is limited under: an IPv4 address as it is, an IPv6 address by its /64 prefix (one host
 * usually holds a whole /64, so limiting single IPv6 addresses would limit nothing).
 */
export const addressKey = (address: string): string => {
  if (isIP(address) !== 6) return address
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
const expandIPv6 = (address: string): string[] => {
  let text = address.toLowerCase()
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16).toString(16))
}

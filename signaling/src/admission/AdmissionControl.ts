import { monotonicMs, TokenBucket } from '../connection/TokenBucket.js'
import { addressKey, isLoopback } from './ClientAddresses.js'

/** The per-address limits of {@link AdmissionControl} (fields of `ServerLimits`). */
export interface AdmissionLimits {
  /** WebSocket connections one address may hold at once (open, or waiting for their auth decision). */
  readonly maxConnectionsPerIp: number
  /** Sustained WebSocket upgrade requests per second per address (token bucket refill). */
  readonly upgradesPerIpPerSecond: number
  /** Upgrade request burst per address (token bucket size). */
  readonly upgradeBurstPerIp: number
}

/** Outcome of {@link AdmissionControl.admit}. */
export type Admission = 'ok' | 'too-many-upgrades' | 'too-many-connections'

/** The state of one address: its connections and its upgrade bucket. */
interface Entry {
  connections: number
  readonly upgrades: TokenBucket
}

/** Entries unused for this long are forgotten by {@link AdmissionControl.sweep}'s timer. */
const SWEEP_INTERVAL_MS = 10_000

/**
 * Per-address limits applied before anything else of an upgrade request (CONN-10): an upgrade rate (token bucket)
 * and a cap on the connections one address holds. Addresses are keyed by {@link addressKey} (IPv6 by /64). An
 * address is remembered while it holds connections or its bucket is not full; a timer forgets the others, so memory
 * stays proportional to the addresses active in the last seconds. Loopback addresses (the machine itself: local
 * tools, tests, a local reverse proxy's own requests) are not limited.
 */
export class AdmissionControl {
  readonly #limits: AdmissionLimits
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()
  #timer: NodeJS.Timeout | null = null

  constructor(limits: AdmissionLimits, now: () => number = monotonicMs) {
    this.#limits = limits
    this.#now = now
  }

  /** Addresses currently remembered (for tests). */
  get size(): number {
    return this.#entries.size
  }

  /**
   * One upgrade request from `address`: takes a token from its bucket and, if admitted, reserves one of its
   * connections. Every `'ok'` must be matched by one {@link AdmissionControl.release} when the connection is refused
   * or gone.
   */
  admit(address: string): Admission {
    if (isLoopback(address)) return 'ok'
    const key = addressKey(address)
    const limits = this.#limits
    let entry = this.#entries.get(key)
    if (!entry) {
      const upgrades = new TokenBucket(limits.upgradesPerIpPerSecond, limits.upgradeBurstPerIp, this.#now)
      entry = { connections: 0, upgrades }
      this.#entries.set(key, entry)
    }
    if (!entry.upgrades.take()) return 'too-many-upgrades'
    if (entry.connections >= limits.maxConnectionsPerIp) return 'too-many-connections'
    entry.connections++
    return 'ok'
  }

  /** A connection of `address` admitted by {@link AdmissionControl.admit} was refused or closed. */
  release(address: string): void {
    const entry = this.#entries.get(addressKey(address))
    if (entry && entry.connections > 0) entry.connections--
  }

  /** Connections `address` holds (for tests and logs). */
  connectionsOf(address: string): number {
    return this.#entries.get(addressKey(address))?.connections ?? 0
  }

  /** Forgets addresses that hold no connection and whose bucket is full again. */
  sweep(): void {
    for (const [key, entry] of this.#entries)
      if (entry.connections === 0 && entry.upgrades.full) this.#entries.delete(key)
  }

  /** Starts the sweep timer (unref'd). */
  start(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Stops the sweep timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }
}

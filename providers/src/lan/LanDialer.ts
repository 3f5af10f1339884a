import type { PeerId } from '@weft/core'

/** Options of {@link LanDialer}. */
export interface LanDialerOptions {
  /** First retry delay ceiling in ms; doubles per failure, with full jitter. */
  readonly minMs: number
  /** Largest retry delay in ms. */
  readonly maxMs: number
  /**
   * One dial attempt: `true` when a connection opened (report its outcome with {@link LanDialer.succeeded} or
   * {@link LanDialer.failed}), `false` when the peer could not be reached (retried later), `null` when there is
   * nothing to dial (forgotten).
   */
  readonly dial: (peer: PeerId) => Promise<boolean | null>
  /** Random source in [0, 1) for jitter. */
  readonly random?: () => number
}

interface Entry {
  attempt: number
  /** A dial or a dialed connection's handshake is under way. */
  busy: boolean
  timer: ReturnType<typeof setTimeout> | null
  /** Bumped by cancel/reset so that a late dial result is ignored. */
  generation: number
}

/**
 * When to dial which peer: at most one dial (or dialed handshake) per peer at a time, retries after failures with
 * exponential backoff and full jitter, a fresh start when the peer's advertisement reappears.
 */
export class LanDialer {
  readonly #options: LanDialerOptions
  readonly #entries = new Map<PeerId, Entry>()

  constructor(options: LanDialerOptions) {
    this.#options = options
  }

  /** Dials `peer` now unless a dial is under way or scheduled. */
  request(peer: PeerId): void {
    const entry = this.#entry(peer)
    if (entry.busy || entry.timer) return
    this.#run(peer, entry)
  }

  /** Forgets earlier failures of `peer` and any scheduled retry (call {@link request} next). */
  reset(peer: PeerId): void {
    const entry = this.#entries.get(peer)
    if (!entry || entry.busy) return
    if (entry.timer) clearTimeout(entry.timer)
    this.#entries.delete(peer)
  }

  /** The dialed connection to `peer` completed its handshake. */
  succeeded(peer: PeerId): void {
    this.cancel(peer)
  }

  /** A dial or a connection to `peer` failed or closed: retry after a backoff delay. */
  failed(peer: PeerId): void {
    const entry = this.#entry(peer)
    entry.busy = false
    this.#schedule(peer, entry)
  }

  /** Stops dialing `peer` (a late result of a dial under way is ignored). */
  cancel(peer: PeerId): void {
    const entry = this.#entries.get(peer)
    if (!entry) return
    if (entry.timer) clearTimeout(entry.timer)
    entry.generation++
    this.#entries.delete(peer)
  }

  /** Stops dialing every peer. */
  cancelAll(): void {
    for (const peer of [...this.#entries.keys()]) this.cancel(peer)
  }

  #entry(peer: PeerId): Entry {
    let entry = this.#entries.get(peer)
    if (!entry) {
      entry = { attempt: 0, busy: false, timer: null, generation: 0 }
      this.#entries.set(peer, entry)
    }
    return entry
  }

  #run(peer: PeerId, entry: Entry): void {
    entry.busy = true
    const generation = entry.generation
    const settle = (result: boolean | null): void => {
      if (this.#entries.get(peer) !== entry || entry.generation !== generation) return
      if (result === true) return // the connection's outcome decides (succeeded/failed)
      entry.busy = false
      if (result === null) this.#entries.delete(peer)
      else this.#schedule(peer, entry)
    }
    this.#options.dial(peer).then(settle, () => settle(false))
  }

  #schedule(peer: PeerId, entry: Entry): void {
    if (entry.timer) return
    const ceiling = Math.min(this.#options.maxMs, this.#options.minMs * 2 ** entry.attempt++)
    const delay = Math.floor((this.#options.random ?? Math.random)() * ceiling)
    entry.timer = setTimeout(() => {
      entry.timer = null
      if (this.#entries.get(peer) === entry && !entry.busy) this.#run(peer, entry)
    }, delay)
  }
}

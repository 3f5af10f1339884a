/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. `take(n)` spends `n` tokens or, when
 * fewer are left, spends none and returns `false`. Time comes from an injectable monotonic clock (milliseconds).
 */
export class TokenBucket {
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  #tokens: number
  #last: number

  constructor(ratePerSecond: number, burst: number, now: () => number = monotonicMs) {
    this.#rate = ratePerSecond / 1000
    this.#burst = burst
    this.#now = now
    this.#tokens = burst
    this.#last = now()
  }

  /** Spends `n` tokens if available. */
  take(n = 1): boolean {
    this.#refill()
    if (this.#tokens < n) return false
    this.#tokens -= n
    return true
  }

  /** Whether the bucket has refilled to its burst (nothing spent is still owed). */
  get full(): boolean {
    this.#refill()
    return this.#tokens >= this.#burst
  }

  #refill(): void {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate)
    this.#last = now
  }
}

/** Milliseconds from a monotonic clock. */
export const monotonicMs = (): number => performance.now()

/**
 * A tick at or before this many milliseconds from now is run with the ones due: Node's timers count from the event
 * loop's clock, read when the loop's turn began, so a timer may fire a little before the monotonic clock reaches its
 * tick.
 */
const SLACK_MS = 2

/**
 * The relay's presence ticks (RELAY-6.8): the moments at which the rooms' coalescing windows (RELAY-6.7) end, shared
 * by every room of the relay. A window of `periodMs` ends on a multiple of `periodMs` of the process's monotonic
 * clock, so that busy rooms whose windows have the same length send together, in one turn of the event loop: the
 * process wakes once per tick for all of them instead of once per room per window. A wakeup is not free: on a shared
 * VM an idle Node process woken by a timer spends 150-200 µs of CPU on it, more than the writes of a small room
 * (docs/guides/server.md, "Presence (issue 12.11)").
 *
 * The server's heartbeat sweeps (CONN-3.1, every 500 ms by default) run on the same ticks, so that a sweep shares
 * its wakeup with the presence sends due at that moment.
 *
 * One timer for all the ticks, created when the first is scheduled and re-armed (`refresh`) while the delay to the
 * next tick stays the same; it does not keep the process alive (`unref`).
 */
export class PresenceTicker {
  /** What runs at each tick (a multiple of its period), by tick. */
  readonly #due = new Map<number, Array<() => void>>()
  #timer: NodeJS.Timeout | null = null
  /** The delay {@link #timer} was created with, and the tick it is armed for (`Infinity`: none). */
  #timerMs = -1
  #armedFor = Number.POSITIVE_INFINITY

  /**
   * The first tick of period `periodMs` at or after `earliest` (monotonic milliseconds, `performance.now()`): the
   * first multiple of `periodMs` that is not before it.
   */
  static tickAt(earliest: number, periodMs: number): number {
    return Math.ceil(earliest / periodMs) * periodMs
  }

  /** Ticks scheduled and not run yet (for tests and metrics). */
  get pending(): number {
    return this.#due.size
  }

  /**
   * Runs `fn` once, at the first tick of period `periodMs` at least `minDelayMs` from now. Returns the tick
   * (monotonic milliseconds).
   */
  schedule(periodMs: number, minDelayMs: number, fn: () => void): number {
    const now = performance.now()
    const tick = PresenceTicker.tickAt(now + minDelayMs, periodMs)
    const fns = this.#due.get(tick)
    if (fns) fns.push(fn)
    else this.#due.set(tick, [fn])
    if (tick < this.#armedFor) this.#arm(tick, now)
    return tick
  }

  /** Arms the one timer for `tick`: re-armed if its delay is the one it was created with, else replaced. */
  #arm(tick: number, now: number): void {
    const ms = Math.max(1, Math.ceil(tick - now))
    this.#armedFor = tick
    if (this.#timer !== null && this.#timerMs === ms) {
      this.#timer.refresh()
      return
    }
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerMs = ms
    this.#timer = setTimeout(this.#fire, ms)
    this.#timer.unref()
  }

  /**
   * Runs every tick that is due (what they schedule goes to later ticks), then arms the timer for the next. A
   * function that throws does not keep the others from running nor the next tick from coming; the first error is
   * thrown afterwards, as it would have been from a timer of its own.
   */
  readonly #fire = (): void => {
    this.#armedFor = Number.POSITIVE_INFINITY
    const now = performance.now()
    let failed = false
    let error: unknown = null
    for (const [tick, fns] of this.#due) {
      if (tick > now + SLACK_MS) continue
      this.#due.delete(tick)
      for (const fn of fns) {
        try {
          fn()
        } catch (err) {
          if (!failed) error = err
          failed = true
        }
      }
    }
    let next = Number.POSITIVE_INFINITY
    for (const tick of this.#due.keys()) if (tick < next) next = tick
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next, performance.now())
    if (failed) throw error
  }
}

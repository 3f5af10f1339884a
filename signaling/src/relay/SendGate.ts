/**
 * Lets at most `limit` large sends run at once; the others wait in arrival order. A send holds its slot until it
 * calls `release` (idempotent), normally once the kernel took its last byte.
 *
 * Why (RELAY-2.5): a join storm on a large document otherwise writes the whole state to every joiner at once, and
 * every joiner receives its copy at the speed of all of them together: all finish late, each holding a partial copy
 * meanwhile. Served a few at a time, joiners finish one after another and the last no later.
 */
export class SendGate {
  readonly #limit: number
  #active = 0
  readonly #waiting: Array<(release: () => void) => void> = []

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit))
  }

  /** Sends running. */
  get active(): number {
    return this.#active
  }

  /** Sends waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length
  }

  /** Runs `send` now if a slot is free, else once one is; `send` must eventually call its `release`. */
  acquire(send: (release: () => void) => void): void {
    if (this.#active < this.#limit) {
      this.#active++
      send(this.#releaser())
    } else this.#waiting.push(send)
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next) next(this.#releaser())
      else this.#active--
    }
  }
}

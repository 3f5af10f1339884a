import type { InputBudget, InputHolder } from './InputBudget.js'

/**
 * The bytes one connection holds for its unfinished incoming messages (CONN-11), charged to the server-wide
 * {@link InputBudget} as they change, and the watch for a stalled message (CONN-11.3). Created the first time a
 * connection holds anything: most connections receive every message whole in one read and never need one.
 */
export class PendingInput {
  readonly #holder: InputHolder
  readonly #budget: InputBudget
  readonly #timeoutMs: number
  /** Progress of the unfinished messages (monotonic): the WebSocket layer's, plus calls from outside it. */
  readonly #progress: () => number
  readonly #onStalled: () => void
  #bytes = 0
  #external = 0
  #mark = -1
  #timer: NodeJS.Timeout | null = null

  constructor(
    holder: InputHolder,
    budget: InputBudget,
    timeoutMs: number,
    progress: () => number,
    onStalled: () => void,
  ) {
    this.#holder = holder
    this.#budget = budget
    this.#timeoutMs = timeoutMs
    this.#progress = progress
    this.#onStalled = onStalled
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes
  }

  /** The bytes held changed by `delta`; `progressed`: a call from outside the WebSocket layer, which is progress. */
  add(delta: number, progressed: boolean): void {
    if (progressed) this.#external++
    if (delta === 0) return
    this.#bytes += delta
    this.#budget.charge(this.#holder, delta)
    if (this.#bytes > 0 && this.#timer === null) this.#watch()
  }

  /** Gives everything back to the budget and stops watching. */
  release(): void {
    const held = this.#bytes
    this.#bytes = 0
    if (held !== 0) this.#budget.charge(this.#holder, -held)
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** CONN-11.3: checks every `timeoutMs` that a held unfinished message made progress. */
  #watch(): void {
    this.#mark = this.#progress() + this.#external
    const timer = setTimeout(() => {
      this.#timer = null
      if (this.#bytes <= 0) return
      if (this.#progress() + this.#external === this.#mark) return this.#onStalled()
      this.#watch()
    }, this.#timeoutMs)
    timer.unref()
    this.#timer = timer
  }
}

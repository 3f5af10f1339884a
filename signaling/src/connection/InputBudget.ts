import type { ServerMetrics } from '../metrics/ServerMetrics.js'

/** A connection that holds bytes of unfinished incoming messages, as the {@link InputBudget} sees it. */
export interface InputHolder {
  /** Bytes it holds now. */
  readonly pendingInputBytes: number
  /** Gives up everything it holds at once (closes the connection); called when the budget is exceeded. */
  shedInput(): void
}

/**
 * The server-wide budget for bytes of unfinished incoming messages (CONN-11.2): frames still arriving, fragmented
 * WebSocket messages, chunked messages being reassembled, over every connection of one server. Connections report
 * what they hold as it changes; when the total passes the limit, the connection holding the most is told to shed
 * (it closes with `MemoryLimit`), then the next largest, until the total fits again.
 */
export class InputBudget {
  readonly limit: number
  #total = 0
  /** Connections holding something (few at any time: most messages arrive whole in one read). */
  readonly #holders = new Set<InputHolder>()

  constructor(limit: number) {
    this.limit = limit
  }

  /**
   * The budget of one server (its endpoints share it: the server creates it once and hands it to each), exported
   * as the gauge `weft_pending_input_bytes` of `metrics`.
   */
  static forServer(metrics: ServerMetrics, limit: number): InputBudget {
    const budget = new InputBudget(limit)
    metrics.gauge(
      'weft_pending_input_bytes',
      'Bytes held for unfinished incoming messages (partial frames, fragments, chunks), all connections.',
      () => budget.total,
    )
    return budget
  }

  /** Bytes held over all connections. */
  get total(): number {
    return this.#total
  }

  /** `holder` now holds `delta` more (or fewer) bytes; sheds the largest holders while over the limit. */
  charge(holder: InputHolder, delta: number): void {
    this.#total += delta
    if (holder.pendingInputBytes > 0) this.#holders.add(holder)
    else this.#holders.delete(holder)
    if (delta <= 0) return
    while (this.#total > this.limit) {
      let largest: InputHolder | null = null
      for (const h of this.#holders)
        if (!largest || h.pendingInputBytes > largest.pendingInputBytes) largest = h
      if (!largest) return
      // Shedding releases the holder's bytes (it charges itself the negative amount) and removes it.
      this.#holders.delete(largest)
      largest.shedInput()
    }
  }
}

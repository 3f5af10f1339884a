/**
 * The client's view of a workspace's change sequence (WS-WIRE-4, WS-CLIENT-LINK-4): which numbers were announced
 * (CHANGED, CHANGES), which the workspace has handled, and the cursor that may be stored: the end of the
 * contiguous run of numbers that are handled or need nothing. A pure state machine; the socket does the I/O.
 *
 * - `known`: every number `<= known` is accounted for: announced, or covered by a catch-up page's `through` (a
 *   number a page does not list belongs to a document changed again later, whose later number is listed or pushed).
 * - `cursor`: `<= known`, and no announced number `<= cursor` waits to be handled.
 */
export class WorkspaceCursor {
  #cursor: number
  #known: number
  /** Announced numbers above the cursor: `true` once handled. */
  readonly #seqs = new Map<number, boolean>()
  /**
   * The same numbers in ascending order from `#head` (announcements come almost always in order, so inserting is
   * appending): every operation is amortized O(1) or O(log n), also for a first catch-up of 10,000 documents.
   */
  #order: number[] = []
  #head = 0

  /** Starts from a stored cursor (0: never caught up). */
  constructor(cursor: number) {
    this.#cursor = cursor
    this.#known = cursor
  }

  /** The end of the contiguous handled run: the number to store. */
  get cursor(): number {
    return this.#cursor
  }

  /** Every number up to this one is accounted for; a catch-up asks from here. */
  get known(): number {
    return this.#known
  }

  /** Whether an announced number lies beyond a hole (a number neither announced nor covered by a page). */
  get gap(): boolean {
    return this.#order.length > this.#head && this.#order[this.#order.length - 1]! > this.#known
  }

  /**
   * Records that `seq` was announced. Returns true when it is new (the caller reports it), false for a number
   * already announced or at or below the cursor.
   */
  announce(seq: number): boolean {
    if (seq <= this.#cursor || this.#seqs.has(seq)) return false
    this.#seqs.set(seq, false)
    this.#insert(seq)
    this.#extend()
    return true
  }

  /** A catch-up page says every change `<= through` was listed in it or earlier. Returns true if the cursor moved. */
  covered(through: number): boolean {
    if (through > this.#known) this.#known = through
    this.#extend()
    return this.#advance()
  }

  /** The workspace handled `seq` (an announced number; others are ignored). Returns true if the cursor moved. */
  handled(seq: number): boolean {
    if (!this.#seqs.has(seq)) return false
    this.#seqs.set(seq, true)
    return this.#advance()
  }

  /** Moves `known` over announced numbers that continue it. */
  #extend(): void {
    while (this.#seqs.has(this.#known + 1)) this.#known++
  }

  #insert(seq: number): void {
    const order = this.#order
    if (order.length === this.#head || order[order.length - 1]! < seq) {
      order.push(seq)
      return
    }
    let lo = this.#head
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (order[mid]! < seq) lo = mid + 1
      else hi = mid
    }
    order.splice(lo, 0, seq)
  }

  #advance(): boolean {
    const order = this.#order
    let i = this.#head
    while (i < order.length && this.#seqs.get(order[i]!) === true) i++ // handled ones beyond a hole
    const end = i < order.length ? Math.min(this.#known, order[i]! - 1) : this.#known
    if (end <= this.#cursor) return false
    this.#cursor = end
    while (this.#head < order.length && order[this.#head]! <= end) this.#seqs.delete(order[this.#head++]!)
    if (this.#head > 1024 && this.#head * 2 > order.length) {
      this.#order = order.slice(this.#head)
      this.#head = 0
    }
    return true
  }
}

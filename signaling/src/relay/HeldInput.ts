import type { Logger } from 'pino'
import { CloseCode, closeCodeName } from '@weft/core'

/** What the hooks and rules need of a connection's socket: whether it is open, closing it, and charging held bytes. */
export interface ClosableSocket {
  readonly open: boolean
  close(code: number, reason: string): void
  /** Bytes held for this connection changed by `delta` (charged to the server's input budget, CONN-11.2). */
  trackInput(delta: number): void
}

/**
 * HOOK-3.6: whether a connection that already holds `queued` bytes of updates behind its oldest held one passes
 * `maxHeldBytes` with `next` more; one update always may wait, however large.
 */
const pastHeldBound = (queued: number, next: number, maxHeldBytes: number): boolean =>
  queued > 0 && queued + next > maxHeldBytes

/** One update a {@link HeldInput} holds until it goes on ({@link Hold.release}) or is dropped. */
export interface Hold {
  /** Whether it was dropped: its connection closed (its `dropped` callback has run). */
  readonly dropped: boolean
  /**
   * The update goes on (to its verdict, its check): its bytes are given back; `false` if it was dropped meanwhile
   * (then it must not go on).
   */
  release(): boolean
}

class HoldOf implements Hold {
  readonly bytes: number
  readonly #input: HeldInput
  onDrop: (() => void) | null
  dropped = false

  constructor(input: HeldInput, bytes: number, onDrop: () => void) {
    this.#input = input
    this.bytes = bytes
    this.onDrop = onDrop
  }

  release(): boolean {
    if (this.dropped) return false
    this.#input.releaseHold(this)
    return true
  }
}

/**
 * The updates one connection holds in memory while they wait (for the app's `onUpdate` hook, HOOK-3.6, or for a
 * ruled room's rebuild, RULES-4.9): one owner, per connection, for both. Each held update is charged to the server's
 * input budget (CONN-11.2) until it goes on or is dropped; the bytes held behind the connection's oldest held
 * update are bounded by `maxBytes` (one update always may wait), and an update past the bound closes the connection
 * with `RateLimited`.
 *
 * HOOK-3.4: once the connection is closed (past the bound, refused by a hook or the rules, or gone), everything it
 * holds is dropped at once, whatever it waits for: never stored, forwarded or acknowledged (the client sends it
 * again when it reconnects), its bytes given back; and it holds nothing more.
 */
export class HeldInput {
  readonly #socket: ClosableSocket
  readonly #maxBytes: number
  readonly #logger: Logger
  readonly #fields: object
  /** In the order they were held: the first is the oldest. */
  readonly #holds = new Set<HoldOf>()
  readonly #onClose: Array<() => void> = []
  #bytes = 0
  #closed = false

  /** `fields`: what the connection's log lines say of it (its room, its id). */
  constructor(socket: ClosableSocket, maxBytes: number, logger: Logger, fields: object = {}) {
    this.#socket = socket
    this.#maxBytes = maxBytes
    this.#logger = logger
    this.#fields = fields
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes
  }

  /** Closed: nothing is held any more, and nothing more will be. */
  get closed(): boolean {
    return this.#closed || !this.#socket.open
  }

  /** Whether the connection's socket is open (it may be before this notices it closed). */
  get open(): boolean {
    return this.#socket.open
  }

  /** Calls `listener` once, when the connection is closed (at once if it is). */
  onClose(listener: () => void): void {
    if (this.#closed) listener()
    else this.#onClose.push(listener)
  }

  /**
   * Holds an update of `bytes` that waits for `waitingFor` (for the log line and close reason); `dropped` is called if
   * the connection closes before the update goes on. `null` if it may not wait: the connection is closed, or the
   * update would pass the bound, which closes it with `RateLimited` (everything it held dropped).
   */
  hold(bytes: number, waitingFor: string, dropped: () => void): Hold | null {
    if (this.closed) {
      this.drop()
      return null
    }
    const oldest = this.#holds.values().next().value
    if (pastHeldBound(this.#bytes - (oldest?.bytes ?? 0), bytes, this.#maxBytes)) {
      this.#logger.warn(
        { ...this.#fields, held: this.#bytes, code: closeCodeName(CloseCode.RateLimited) },
        `updates waiting for ${waitingFor} exceed their bound`,
      )
      this.close(CloseCode.RateLimited, `too many updates waiting for ${waitingFor}`)
      return null
    }
    const hold = new HoldOf(this, bytes, dropped)
    this.#holds.add(hold)
    this.#bytes += bytes
    this.#socket.trackInput(bytes)
    return hold
  }

  /** Closes the connection with `code`, dropping everything it holds. */
  close(code: number, reason: string): void {
    this.#socket.close(code, reason)
    this.drop()
  }

  /** The connection is closed (or gone): everything it holds is dropped, each `dropped` called, the bytes given back. */
  drop(): void {
    if (this.#closed) return
    this.#closed = true
    const holds = [...this.#holds]
    this.#holds.clear()
    if (this.#bytes !== 0) this.#socket.trackInput(-this.#bytes)
    this.#bytes = 0
    for (const hold of holds) {
      hold.dropped = true
      const onDrop = hold.onDrop
      hold.onDrop = null
      onDrop?.()
    }
    for (const listener of this.#onClose.splice(0)) listener()
  }

  /** @internal `hold` goes on: its bytes are given back. */
  releaseHold(hold: HoldOf): void {
    if (!this.#holds.delete(hold)) return
    hold.onDrop = null
    this.#bytes -= hold.bytes
    this.#socket.trackInput(-hold.bytes)
  }
}

import type { Duplex } from 'node:stream'
import type { InputBudget, InputHolder } from './InputBudget.js'

/**
 * HOOK-1.7: most bytes held from one client while its upgrade is decided. A conforming client sends none before the
 * server's answer (RFC 6455 4.1); past this the rest stays in the socket, and the client's leaving is then seen when
 * the connection reads.
 */
export const EARLY_BYTES_MAX = 64 * 1024

/**
 * HOOK-1.7: what a client sends while its upgrade is decided, read (so that the end of its sending side is seen: a
 * half-closed socket is neither destroyed nor ended for writing, and its end is signalled only once every byte before
 * it was read) and held unparsed until {@link EarlyInput.release}. What it holds is charged to the server's input
 * budget (CONN-11.2) until released: taken by the accepted connection, dropped with a refusal, or dropped when the client
 * goes away (even while the decision still hangs). Past the budget it may be told to shed (`onShed` then refuses the
 * upgrade with `MemoryLimit`).
 */
export class EarlyInput implements InputHolder {
  readonly #socket: Duplex
  readonly #budget: InputBudget
  readonly #onShed: () => void
  #held: Buffer[] = []
  #bytes = 0
  #holding = true

  constructor(socket: Duplex, budget: InputBudget, onShed: () => void) {
    this.#socket = socket
    this.#budget = budget
    this.#onShed = onShed
    socket.on('readable', this.#take)
    socket.once('end', this.#closed)
    socket.once('close', this.#closed)
  }

  /**
   * Holds `head`, the bytes that came with the upgrade request (Node hands them over with it), as if read now;
   * `false` if that passed the budget and the upgrade was shed (refused).
   */
  hold(head: Buffer): boolean {
    if (head.length > 0 && this.#holding) this.#add(head)
    return this.#holding
  }

  /** Bytes held now (charged to the budget). */
  get pendingInputBytes(): number {
    return this.#bytes
  }

  /** Whether the client went away meanwhile: its socket is destroyed, or its sending side ended. */
  gone(): boolean {
    return this.#socket.destroyed || this.#socket.readableEnded
  }

  /**
   * Stops holding (once; later calls return nothing), gives the bytes back to the budget and returns what was held,
   * in order (for the accepted connection, which charges what it has not parsed yet itself).
   */
  release(): Buffer[] {
    if (!this.#holding) return []
    this.#holding = false
    const socket = this.#socket
    // Without a 'readable' listener the stream is back in its initial mode: the connection's 'data' listener starts
    // it flowing.
    socket.off('readable', this.#take)
    socket.off('end', this.#closed)
    socket.off('close', this.#closed)
    // An upgrade answered meanwhile (HOOK-1.5's 503, a refusal) goes back to dropping what the client sends.
    if (socket.writableEnded) socket.resume()
    const held = this.#held
    this.#held = []
    const bytes = this.#bytes
    this.#bytes = 0
    if (bytes !== 0) this.#budget.charge(this, -bytes)
    return held
  }

  /** CONN-11.2: the budget is exceeded and this upgrade holds the most: dropped, and the upgrade refused. */
  shedInput(): void {
    if (!this.#holding) return
    this.release()
    this.#onShed()
  }

  readonly #take = (): void => {
    let chunk: unknown
    while (this.#holding && this.#bytes < EARLY_BYTES_MAX && (chunk = this.#socket.read()) !== null) {
      this.#add(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array))
    }
  }

  #add(buffer: Buffer): void {
    this.#held.push(buffer)
    this.#bytes += buffer.length
    // May shed this very holder (or others): then it holds nothing and stops reading.
    this.#budget.charge(this, buffer.length)
  }

  /** The client went away (its sending side ended, or the socket closed): it is not accepted, nothing it sent is kept. */
  readonly #closed = (): void => {
    this.release()
  }
}

import type { Duplex } from 'node:stream'
import { CloseCode } from '@weft/core'
import { GuardedSocket, type GuardedSocketContext } from '../connection/GuardedSocket.js'
import type { RoomGrant } from './RoomGrant.js'

/**
 * A {@link GuardedSocket} bound to its grant (the one it was accepted with, or the last one a revalidation gave it,
 * RELAY-4.5) and the client address it counts against: it ends when the grant does (AUTH-6, AUTH-8).
 * Construct it only once the auth decision is final; no frame (`head` included) is parsed before that.
 *
 * Expiry is checked in the message path, before a message reaches the route's handler: a message read at or after
 * the grant's end closes the connection with `TokenExpired` and is dropped, whether or not the expiry timer (which
 * closes idle connections) has fired yet. Costs one number per connection and one clock read per message of a
 * connection whose grant expires.
 */
export class AuthorizedSocket extends GuardedSocket {
  #grant: RoomGrant
  /** The expiry the armed timer waits for (a timer armed for another one is stale when it fires). */
  #armedAt: number | undefined = undefined

  constructor(
    socket: Duplex,
    head: Buffer,
    protocol: string,
    id: number,
    ctx: GuardedSocketContext,
    /** The grant the connection was accepted with; the connection ends when it does. */
    grant: RoomGrant,
    /** The client's address, as the per-address limits count it (CONN-10). */
    readonly clientAddress: string,
  ) {
    super(socket, head, protocol, id, ctx)
    this.#grant = grant
    if (grant.expiresAt !== undefined) this.#arm(grant.expiresAt)
  }

  /** The connection's grant: the one it was accepted with, or the last one a revalidation gave (RELAY-4.5). */
  get grant(): RoomGrant {
    return this.#grant
  }

  /**
   * RELAY-4.5: a revalidation gave the connection `grant`; from now on its expiry is the one that ends the
   * connection (AUTH-6, AUTH-8), earlier or later than the previous one.
   */
  regrant(grant: RoomGrant): void {
    this.#grant = grant
    const at = grant.expiresAt
    if (at !== undefined && (this.#armedAt === undefined || at < this.#armedAt)) this.#arm(at)
  }

  /** Whether the grant has ended at `now` (epoch milliseconds). */
  expired(now: number = Date.now()): boolean {
    return this.#grant.expired(now)
  }

  protected override onWebSocketMessage(data: Buffer, isBinary: boolean): void {
    if (this.#grant.expiresAt !== undefined && this.#grant.expired()) return this.#expire()
    super.onWebSocketMessage(data, isBinary)
  }

  /**
   * Closes the connection at expiry. A timer waits at most about 24.8 days (2^31 ms) and may fire a little early
   * against the wall clock, or find that a revalidation moved the expiry: if the grant still holds when it fires, it
   * is armed again for the grant's expiry then.
   */
  #arm(expiresAt: number): void {
    this.#armedAt = expiresAt
    this.at(expiresAt, () => {
      if (this.#armedAt !== expiresAt) return
      this.#armedAt = undefined
      if (this.expired()) return this.#expire()
      const next = this.#grant.expiresAt
      if (next !== undefined) this.#arm(next)
    })
  }

  #expire(): void {
    this.close(CloseCode.TokenExpired, 'token expired')
  }
}

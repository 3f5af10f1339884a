import type { Duplex } from 'node:stream'
import { CloseCode } from '@weft/core'
import { GuardedSocket, type GuardedSocketContext } from '../connection/GuardedSocket.js'
import type { RoomGrant } from './RoomGrant.js'

/**
 * A {@link GuardedSocket} bound to the grant it was accepted with and the client address it counts against: it
 * ends when the grant does (AUTH-6, AUTH-8).
 * Construct it only once the auth decision is final; no frame (`head` included) is parsed before that.
 *
 * Expiry is checked in the message path, before a message reaches the route's handler: a message read at or after
 * the grant's end closes the connection with `TokenExpired` and is dropped, whether or not the expiry timer (which
 * closes idle connections) has fired yet. Costs one number per connection and one clock read per message of a
 * connection whose grant expires.
 */
export class AuthorizedSocket extends GuardedSocket {
  constructor(
    socket: Duplex,
    head: Buffer,
    protocol: string,
    id: number,
    ctx: GuardedSocketContext,
    /** The grant the connection was accepted with; the connection ends when it does. */
    readonly grant: RoomGrant,
    /** The client's address, as the per-address limits count it (CONN-10). */
    readonly clientAddress: string,
  ) {
    super(socket, head, protocol, id, ctx)
    if (grant.expiresAt !== undefined) this.#arm(grant.expiresAt)
  }

  /** Whether the grant has ended at `now` (epoch milliseconds). */
  expired(now: number = Date.now()): boolean {
    return this.grant.expired(now)
  }

  protected override onWebSocketMessage(data: Buffer, isBinary: boolean): void {
    if (this.grant.expiresAt !== undefined && this.grant.expired()) return this.#expire()
    super.onWebSocketMessage(data, isBinary)
  }

  /**
   * Closes the connection at expiry. A timer waits at most about 24.8 days (2^31 ms) and may fire a little early
   * against the wall clock: if the grant still holds when it fires, it is armed again.
   */
  #arm(expiresAt: number): void {
    this.at(expiresAt, () => (this.expired() ? this.#expire() : this.#arm(expiresAt)))
  }

  #expire(): void {
    this.close(CloseCode.TokenExpired, 'token expired')
  }
}

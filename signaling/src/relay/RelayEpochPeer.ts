import type { Access } from '../auth/RoomGrant.js'
import type { RelayPeer } from './RelayDoc.js'

/** What the relay's epoch logic needs of a connection (a {@link RelayConnection}). */
export interface EpochPeer extends RelayPeer {
  /** Whether the peer announced the Weft protocol (a hello in its step 1). */
  readonly weft: boolean
  readonly access: Exclude<Access, 'none'>
  /** Sends sync step 1 with the relay's state vector and hello (epoch included). */
  announce(): void
  /** Closes the connection with a named close code. */
  closeWith(code: number, reason: string): void
}

/** Whether a room member is a client connection (the scale-out bus peer is not). */
export const isEpochPeer = (peer: RelayPeer): peer is EpochPeer =>
  'announce' in peer && 'closeWith' in peer && 'weft' in peer

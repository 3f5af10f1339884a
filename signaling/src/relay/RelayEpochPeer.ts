import type { Access } from '../auth/RoomGrant.js'
import type { RelayPeer } from './RelayRoom.js'

/** What the relay's epoch logic needs of a connection (a {@link RelayConnection}). */
export interface EpochPeer extends RelayPeer {
  readonly access: Exclude<Access, 'none'>
  /** The document switched epochs: the connection's handshake starts again (`ProtocolPath.epochChanged`). */
  epochChanged(): void
  /** Closes the connection with a named close code. */
  closeWith(code: number, reason: string): void
}

/** Whether a room member is a client connection (the scale-out bus peer is not). */
export const isEpochPeer = (peer: RelayPeer): peer is EpochPeer =>
  'epochChanged' in peer && 'closeWith' in peer

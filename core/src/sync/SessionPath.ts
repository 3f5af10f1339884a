import type { PeerId } from '../ids.js'
import type { Transport } from '../transport/Transport.js'
import { ProtocolPath } from './ProtocolPath.js'
import type { ProtocolDocState, ProtocolPathOptions, ProtocolSide, ProtocolSink } from './protocolPorts.js'

/** A client's path (a {@link SyncSession}'s): one peer over one transport, and what the session keeps of it. */
export class SessionPath extends ProtocolPath {
  readonly transport: Transport
  readonly peer: PeerId
  /** Awareness client ids whose latest state arrived over this path (SYNC-6.2). */
  readonly awarenessClients = new Set<number>()
  bytesSent = 0

  constructor(
    side: ProtocolSide,
    state: ProtocolDocState,
    sink: ProtocolSink,
    options: ProtocolPathOptions,
    transport: Transport,
    peer: PeerId,
  ) {
    super(side, state, sink, options)
    this.transport = transport
    this.peer = peer
  }
}

import type { PeerId } from '../ids.js'
import { Reassembler } from '../protocol/chunking.js'
import { Feature, type Hello } from '../protocol/messages.js'
import type { Transport } from '../transport/Transport.js'

/**
 * The state a {@link SyncSession} keeps for one peer reached over one transport: negotiation, handshake progress,
 * sequence numbers for durable acks, chunk reassembly, and which awareness clients arrived this way.
 */
export class PeerPath {
  readonly transport: Transport
  readonly peer: PeerId
  readonly reassembler: Reassembler
  /** What the peer announced; `null` for a stock y-protocols peer (or before its step 1 arrived). */
  hello: Hello | null = null
  /** The peer's sync step 2 has been applied. */
  synced = false
  /** Last sequence number we sent on this path. */
  sentSeq = 0
  /** Highest sequence number the peer acknowledged as durable. */
  ackedSeq = 0
  /** Highest `n` such that every sequenced update 1..n from the peer was applied. */
  receivedSeq = 0
  /** Sequence numbers received out of order (above `receivedSeq + 1`). */
  readonly receivedAhead = new Set<number>()
  /** Highest sequence number we acknowledged to the peer. */
  sentAck = 0
  /** An ack is being prepared (waiting for durability). */
  ackInFlight = false
  /** `[seq, localChanges]`: after the peer acks `seq`, the first `localChanges` local changes are durable there. */
  readonly marks: Array<readonly [number, number]> = []
  /** Awareness client ids whose latest state arrived over this path. */
  readonly awarenessClients = new Set<number>()
  /**
   * The peer's epoch as its last step 1 said (COMPACT-6.1), `null` until then. Updates are exchanged only while it
   * equals the session's (in epoch 0, also before the peer said).
   */
  epoch: string | null = null
  /** A resync (step 1) was requested because an update from this path had missing dependencies. */
  resyncRequested = false
  nextChunkId = 0
  /** Bytes received (after reassembly) on this path. */
  bytesReceived = 0
  bytesSent = 0

  constructor(transport: Transport, peer: PeerId, maxMessageSize: number) {
    this.transport = transport
    this.peer = peer
    this.reassembler = new Reassembler({ maxMessageSize })
  }

  /** The peer speaks Weft and announced `feature`. */
  has(feature: number): boolean {
    return this.hello !== null && (this.hello.features & feature) !== 0
  }

  get acks(): boolean {
    return this.has(Feature.Ack)
  }

  /**
   * Records an incoming sequence number; returns false for a duplicate. A sync step 2 (`complete`) holds all the
   * peer's state that this side lacked, so it also covers every earlier sequence number (SYNC-4.5).
   */
  receive(seq: number, complete = false): boolean {
    if (seq <= this.receivedSeq || this.receivedAhead.has(seq)) return false
    if (complete) {
      for (const s of this.receivedAhead) if (s < seq) this.receivedAhead.delete(s)
      this.receivedSeq = seq - 1
    }
    if (seq !== this.receivedSeq + 1) {
      this.receivedAhead.add(seq)
      return true
    }
    this.receivedSeq = seq
    while (this.receivedAhead.delete(this.receivedSeq + 1)) this.receivedSeq++
    return true
  }

  /** Applies an ack from the peer; returns how many local changes are now known durable there, or null. */
  acknowledge(seq: number): number | null {
    if (seq <= this.ackedSeq || seq > this.sentSeq) return null
    this.ackedSeq = seq
    let durable: number | null = null
    while (this.marks.length > 0 && (this.marks[0]?.[0] ?? Infinity) <= seq) {
      durable = this.marks.shift()?.[1] ?? durable
    }
    return durable
  }
}

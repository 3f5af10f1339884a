import type { ValidateUpdateOptions } from '../protocol/validateUpdate.js'
import type { EpochRecord } from '../storage/epochRecord.js'
import type { WeftError } from '../WeftError.js'
import type { OfferJudgement } from './epochRules.js'

/**
 * What a `ProtocolPath` works over, and what differs between the sides that run it: the document-state port,
 * the per-path sink, the side's settings.
 */

/** What a side offers a peer in an older epoch (SYNC-9.3, COMPACT-6.1). */
export interface EpochOffering {
  /** The record of the epoch that replaced the peer's. */
  readonly record: EpochRecord
  /**
   * What a peer whose state vector is `sv` lacks of the peer's (old) epoch, as a V1 update; `null` when this side
   * does not hold that epoch's state (then the offer carries no catch-up, and a request is not answered).
   */
  readonly catchUp: ((sv: Uint8Array) => Uint8Array) | null
}

/**
 * The document as the protocol sees it, one per document (a session's `Y.Doc`, the relay's encoded `UpdateLog`).
 * Nothing here decides anything: the decisions are `ProtocolPath`'s.
 */
export interface ProtocolDocState<M extends Sendable = Uint8Array> {
  /** The document's encoded state vector. */
  stateVector(): Uint8Array
  /**
   * The sync step 2 answering a peer whose state vector is `sv` (SYNC-1.2): the messages to send, numbered `seq` and
   * tagged `tag` (either may be `null`). May be pre-framed parts (the relay's cached answers).
   */
  answer(sv: Uint8Array, seq: number | null, tag: string | null): Iterable<Uint8Array | M>
  /** The document's epoch record (`null` in the initial epoch `"0"`). */
  epochRecord(): EpochRecord | null
  /**
   * What to offer a peer found in the older epoch `peerEpoch` (a session: its lineage; the relay: its archive);
   * `null`: the current record, no catch-up. Must not reject: a failed lookup is reported by the state and is `null`.
   */
  offerFor(peerEpoch: string): EpochOffering | null | Promise<EpochOffering | null>
}

/**
 * A message as a side sends it: bytes, or a side's own form of them (the relay's `SharedMessage`, framed once for
 * many sockets).
 */
export interface Sendable {
  readonly byteLength: number
}

/** An update of this side that the peer rejected under its rules (RULES-4.3): neither stored nor forwarded. */
export interface Rejection {
  /** The rejected update's sequence number, as this side sent it; `null` when it was not numbered. */
  readonly seq: number | null
  /** The rule it broke (docs/spec/rules.md, RULES-1.3), e.g. `shapes.x.max`. */
  readonly ruleId: string
  /** Where: the collection, the record id, the field (empty when the rule is about no one place). */
  readonly path: readonly string[]
  /** Why, for people. */
  readonly reason: string
}

/** Where one path's bytes and outcomes go: what differs between a session's path and a relay connection. */
export interface ProtocolSink<M extends Sendable = Uint8Array> {
  /** Writes one message to the peer as it is (already chunked); false once the path cannot send any more. */
  write(message: Uint8Array | M): boolean
  /** The bytes of a message in the side's own form (to chunk it). */
  bytesOf?(message: M): Uint8Array
  /** The medium's own largest message (a transport's limit), if it has one. */
  readonly maxMessageSize?: number | undefined
  /** A Weft peer said hello for the first time on this path. */
  greeted(): void
  /** A peer offered an epoch that wins over ours (SYNC-9.3): `judgement` says whether it replaced ours. */
  offered(record: EpochRecord, catchUp: Uint8Array, judgement: Exclude<OfferJudgement, 'not-winning'>): void
  /** A peer offered an epoch that does not win over ours: the answer to an archive request (SYNC-9.7), if any. */
  archived(record: EpochRecord, catchUp: Uint8Array): void
  /**
   * The peer did what this side refuses without it being malformed: a read-only connection wrote (RELAY-4.3, 7.1),
   * or a stock peer holds another epoch's state (RELAY-EPOCH-3). The relay closes it; a session ignores it.
   */
  refuse(kind: 'read-only' | 'stale-epoch', reason: string): void
  /** The peer rejected one of this side's updates under its rules (RULES-4.3); only sent to a side with `rollback`. */
  rejected?(rejection: Rejection): void
  /** An asynchronous fault on this path (an ack's durability, an offer's lookup). */
  failed(error: WeftError): void
  /** Bytes buffered for reassembly changed by `delta` (charged to a server's input budget, RELAY-7.3). */
  buffered?(delta: number): void
  /** Progress of a chunked message being reassembled. */
  progress?(received: number, total: number): void
}

/** The settings of one side, shared by all its paths. */
export interface ProtocolSide {
  /** The feature bits this side announces in its hello; `null`: no hello at all (a stock y-protocols peer). */
  readonly features: number | null
  /** Largest message accepted, whole or reassembled; announced in the hello. */
  readonly maxMessageSize: number
  /** Largest message sent in one piece to a peer that announced `chunk` (SYNC-5.1, RELAY-7.2). */
  readonly chunkSize: number
  /**
   * Each path delivers in order and loses nothing (one WebSocket). Then a peer's hello precedes its chunks, a chunked
   * message arrives piece after piece (one at a time, RELAY-7.3), and a sequence number above the next one acknowledges
   * the gap too (what lies between was refused by this side, not lost).
   */
  readonly ordered: boolean
  /** Whether this side numbers what it sends to peers that announced `ack` (SYNC-4.1; the relay does not, RELAY-3.2). */
  readonly numbers: boolean
  /**
   * A stock peer found in another epoch holds state it cannot bring over: refuse it (`stale-epoch`, the relay closes
   * it, RELAY-EPOCH-3), or just keep its updates out (a session).
   */
  readonly closesStale: boolean
  /** What a sequence number's mark records when it is sent (a session: its local change count, SYNC-4.3). */
  readonly mark?: (() => number) | undefined
  /** How incoming updates are walked before anything is done with them (SYNC-3.4, RELAY-5.1); `null`: not at all. */
  readonly validate: ValidateUpdateOptions | null
}

/** Per-path settings. */
export interface ProtocolPathOptions {
  /**
   * Whether this side sends its step 1 to the peer on its own (on open, when the peer changes epochs). A relay never
   * greets a read-only connection (RELAY-2.2) except to tell it of a new epoch.
   */
  readonly greets: boolean
  /** Whether the peer may write (send chunks and updates); only the relay has read-only connections. */
  readonly writable: boolean
}

import * as Y from 'yjs'
import { Reassembler, splitMessage } from '../protocol/chunking.js'
import {
  Feature,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeAck,
  encodeEpochOffer,
  encodeSyncStep1,
  type Hello,
  type WireMessage,
} from '../protocol/messages.js'
import { validateUpdate, type UpdateSummary } from '../protocol/validateUpdate.js'
import { decodeEpochRecord, encodeEpochRecord, type EpochRecord } from '../storage/epochRecord.js'
import { WeftError, WeftErrorCode, toWeftError } from '../WeftError.js'
import {
  admitUpdate,
  answersRequest,
  decideEnter,
  epochIdOf,
  epochOpen,
  epochTag,
  judgeOffer,
  judgePeerEpoch,
} from './epochRules.js'
import type {
  EpochOffering,
  ProtocolDocState,
  ProtocolPathOptions,
  ProtocolSide,
  ProtocolSink,
  Sendable,
} from './protocolPorts.js'

/** Smallest maximum message size a Weft peer may announce (chunks need room for their header; SYNC-2.4). */
export const MIN_PEER_MESSAGE_SIZE = 1024

const EMPTY: Uint8Array = new Uint8Array(0)
const ignore = (): void => undefined

/**
 * The sync protocol of one path (one peer over one transport, or one relay connection), written once for clients and
 * the relay (docs/spec/sync-protocol.md): hello and negotiation, sequence numbers and cumulative durable acks,
 * chunking and reassembly, the step 1 / step 2 decisions, and the epoch rules (judging the peer's epoch, admitting
 * updates, offers and requests). It works over a {@link ProtocolDocState} and reports to a {@link ProtocolSink};
 * applying an update is the caller's (a `Y.Doc` on a client, the update log on the relay).
 */
export class ProtocolPath<M extends Sendable = Uint8Array> {
  readonly #side: ProtocolSide
  readonly #state: ProtocolDocState<M>
  readonly #sink: ProtocolSink<M>
  readonly #greets: boolean
  readonly #writable: boolean
  /** Created with the first chunk (most peers never send one). */
  #reassembler: Reassembler | null = null
  #closed = false
  #ackInFlight = false
  #nextChunkId = 0
  /** Sequence numbers received out of order (above `receivedSeq + 1`, unordered sides only). */
  #receivedAhead: Set<number> | null = null
  /** `[seq, mark]`: what the caller recorded when it sent `seq` (a session: its local change count, SYNC-4.3). */
  readonly #marks: Array<readonly [number, number]> = []
  /** RULES-5.2: the updates sent with a sequence number, until acknowledged (a side that announces `rollback`). */
  readonly #kept = new Map<number, Uint8Array>()

  /** What the peer announced; `null` for a stock y-protocols peer (or before its step 1 arrived). */
  hello: Hello | null = null
  /**
   * The peer's epoch as its last step 1 said or was judged (SYNC-9.5, RELAY-EPOCH-2), `null` until then. Updates are
   * exchanged only while it equals ours (in epoch 0, also before the peer said).
   */
  epoch: string | null = null
  /** The peer's sync step 2 has been applied. */
  synced = false
  /** A resync (step 1) was requested because an update from this path had missing dependencies (SYNC-3.3). */
  resyncRequested = false
  /** Last sequence number sent on this path. */
  sentSeq = 0
  /** Highest sequence number the peer acknowledged as durable. */
  ackedSeq = 0
  /** Highest `n` such that every sequenced update 1..n from the peer was taken. */
  receivedSeq = 0
  /** Highest sequence number acknowledged to the peer. */
  sentAck = 0
  /** Bytes received (after reassembly) on this path. */
  bytesReceived = 0

  constructor(
    side: ProtocolSide,
    state: ProtocolDocState<M>,
    sink: ProtocolSink<M>,
    options: ProtocolPathOptions,
  ) {
    this.#side = side
    this.#state = state
    this.#sink = sink
    this.#greets = options.greets
    this.#writable = options.writable
  }

  /** The peer speaks Weft and announced `feature`. */
  has(feature: number): boolean {
    return this.hello !== null && (this.hello.features & feature) !== 0
  }

  /** Whether the peer said hello (speaks Weft). */
  get weft(): boolean {
    return this.hello !== null
  }

  /** Whether updates may go to this path now (COMPACT-5.7). */
  get open(): boolean {
    return !this.#closed && epochOpen(this.#state.epochRecord(), this.epoch)
  }

  /** The epoch tag for updates and step-2 answers (SYNC-9.1): the epoch outside epoch 0, else `null`. */
  get tag(): string | null {
    return epochTag(this.#state.epochRecord())
  }

  /** This side's hello, with its current epoch (SYNC-2.1), or `null` when it speaks stock y-protocols. */
  ownHello(): Hello | null {
    const features = this.#side.features
    if (features === null) return null
    return {
      version: PROTOCOL_VERSION,
      features,
      maxMessageSize: this.#side.maxMessageSize,
      epoch: epochIdOf(this.#state.epochRecord()),
    }
  }

  /** Sends this side's step 1: its state vector and hello (SYNC-1.1). */
  greet(): void {
    this.send(encodeSyncStep1(this.#state.stateVector(), this.ownHello()))
  }

  /** Opens the path: greets the peer if this side does (SYNC-1.1, RELAY-2.2). */
  start(): void {
    if (this.#greets) this.greet()
  }

  /** The path closed: nothing more is sent, pending reassembly goes, late lookups and acks are dropped. */
  close(): void {
    this.#closed = true
    this.#kept.clear()
    this.#reassembler?.clear()
    this.#reassembler = null
  }

  get closed(): boolean {
    return this.#closed
  }

  // ---- sending and chunking (SYNC-5.1, RELAY-7.2)

  /** The largest message sent in one piece on this path. */
  #limit(): number {
    const medium = this.#sink.maxMessageSize ?? Infinity
    return Math.min(this.#side.chunkSize, medium, this.hello?.maxMessageSize ?? Infinity)
  }

  /** Whether a message of `byteLength` bytes goes out in chunks (too large, and the peer reassembles). */
  splits(byteLength: number): boolean {
    return byteLength > this.#limit() && this.has(Feature.Chunk)
  }

  /** Sends `message`, chunked when {@link splits} says so; stops at the first piece the sink cannot write. */
  send(message: Uint8Array | M): void {
    const limit = this.#limit()
    if (message.byteLength > limit && this.has(Feature.Chunk)) {
      const bytes = message instanceof Uint8Array ? message : this.#sink.bytesOf?.(message)
      if (bytes === undefined)
        throw new WeftError(WeftErrorCode.InvalidArgument, 'a message to chunk has no bytes')
      for (const piece of splitMessage(bytes, limit, this.#nextChunkId++))
        if (!this.#sink.write(piece)) return
      return
    }
    this.#sink.write(message)
  }

  // ---- receiving and reassembly (SYNC-5.2..5.6, RELAY-7.1, 7.3)

  /**
   * Decodes one message from the peer; a chunk is reassembled and `null` returned until its message is complete.
   * Throws a `malformed-message` or `message-too-large` {@link WeftError} for bad input.
   */
  decode(data: Uint8Array): Exclude<WireMessage, { type: 'chunk' }> | null {
    if (data.byteLength > this.#side.maxMessageSize) {
      throw new WeftError(WeftErrorCode.MessageTooLarge, `message of ${data.byteLength} bytes`)
    }
    const message = decodeMessage(data)
    if (message.type !== 'chunk') {
      this.bytesReceived += data.byteLength
      return message
    }
    const whole = this.#unchunk(message)
    if (whole === null) return null
    this.bytesReceived += whole.byteLength
    const inner = decodeMessage(whole)
    if (inner.type === 'chunk') throw new WeftError(WeftErrorCode.MalformedMessage, 'chunk inside a chunk')
    return inner
  }

  #unchunk(message: Extract<WireMessage, { type: 'chunk' }>): Uint8Array | null {
    if (!this.#writable) {
      this.#sink.refuse('read-only', 'read-only connection sent a chunk')
      return null
    }
    // Chunking is negotiated: this side offered it, and (on an ordered path, where the hello comes first) the peer
    // announced it.
    if (this.#side.features === null || (this.#side.ordered && !this.has(Feature.Chunk))) {
      throw new WeftError(WeftErrorCode.MalformedMessage, 'chunking was not negotiated')
    }
    const reassembler = (this.#reassembler ??= new Reassembler(
      this.#side.ordered
        ? { maxMessageSize: this.#side.maxMessageSize, maxPending: 1, ordered: true }
        : { maxMessageSize: this.#side.maxMessageSize },
    ))
    const before = reassembler.bufferedBytes
    let whole: Uint8Array | null
    try {
      whole = reassembler.add(message.id, message.total, message.offset, message.data)
    } finally {
      this.#sink.buffered?.(reassembler.bufferedBytes - before)
    }
    this.#sink.progress?.(whole ? message.total : reassembler.progress(message.id), message.total)
    return whole
  }

  #negotiated(what: string): void {
    if (this.#side.features === null)
      throw new WeftError(WeftErrorCode.MalformedMessage, `${what} without negotiation`)
  }

  /**
   * A `rejected` message (RULES-4.3): the peer refused one of this side's updates under its rules; reported to the
   * sink. Only a side that announced `rollback` may be sent one: from anyone else it is malformed.
   */
  onRejected(message: Extract<WireMessage, { type: 'rejected' }>): void {
    if (this.#side.features === null || (this.#side.features & Feature.Rollback) === 0)
      throw new WeftError(WeftErrorCode.MalformedMessage, 'rejected without negotiation')
    const path = message.path === '' ? [] : message.path.split('/')
    this.#sink.rejected?.({ seq: message.seq, ruleId: message.ruleId, path, reason: message.reason })
  }

  // ---- step 1 / step 2 and epochs (SYNC-1.2, SYNC-2, SYNC-9.2, 9.5, RELAY-2.3, RELAY-EPOCH-2/3)

  /**
   * A sync step 1: records the peer's hello (negotiation), judges its epoch and answers: a step 2 with exactly what
   * it lacks when it is in ours, else an offer of ours, our step 1, or nothing (see `decideEnter`).
   */
  step1(stateVector: Uint8Array, hello: Hello | null): void {
    if (hello !== null && this.#side.features !== null) {
      if (hello.maxMessageSize < MIN_PEER_MESSAGE_SIZE) {
        throw new WeftError(WeftErrorCode.MalformedMessage, 'announced maximum message size too small')
      }
      const first = this.hello === null
      this.hello = hello
      if (first) this.#sink.greeted()
    }
    let sv: Map<number, number>
    try {
      sv = Y.decodeStateVector(stateVector)
    } catch (err) {
      throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed state vector', { cause: err })
    }
    const record = this.#state.epochRecord()
    const theirs = judgePeerEpoch(record, this.hello, sv)
    const before = this.epoch
    this.epoch = theirs
    const decision = decideEnter(record, before, theirs, this.hello !== null)
    // The peer moved (to ours, or to a winning epoch): our step 1 asks it again for what it holds, or for its offer.
    if ((decision === 'reannounce' || decision === 'announce') && this.#greets) this.greet()
    if (decision === 'sync' || decision === 'reannounce') {
      for (const m of this.#state.answer(stateVector, this.nextSeq(), epochTag(record))) this.send(m)
    } else if (decision === 'offer') this.#offer(theirs, stateVector, false)
    else if (decision === 'stale' && this.#side.closesStale) {
      this.#sink.refuse('stale-epoch', 'the document history was reset; reload it')
    }
  }

  /**
   * Whether a step 2 or update tagged `tag` may be taken (SYNC-9.1, COMPACT-5.7, RELAY-EPOCH-2); a stock peer
   * outside our epoch is refused (`stale-epoch`).
   */
  admits(tag: string | null): boolean {
    const admitted = admitUpdate(this.#state.epochRecord(), this.hello !== null, this.epoch, tag)
    if (admitted !== 'stale') return admitted
    if (this.#side.closesStale)
      this.#sink.refuse('stale-epoch', 'update from a client without the current epoch; reload the document')
    return false
  }

  /** Walks an incoming update as this side requires (SYNC-3.4, RELAY-5.1); throws for a malformed one. */
  validate(update: Uint8Array): UpdateSummary | null {
    const options = this.#side.validate
    return options === null ? null : validateUpdate(update, options)
  }

  /**
   * The document moved to another epoch (SYNC-9.4, RELAY-EPOCH-4): the handshake starts again. A stock peer holds
   * the old epoch's state (refused: `stale-epoch`); every other path that this side greets, or whose peer is not in
   * the new epoch yet, gets our step 1 (then those in the old epoch announce theirs and get offers).
   */
  epochChanged(): void {
    this.synced = false
    this.resyncRequested = false
    if (this.hello === null && this.#side.closesStale) {
      return this.#sink.refuse('stale-epoch', 'the document history was reset; reload it')
    }
    if (this.#greets || this.epoch !== epochIdOf(this.#state.epochRecord())) this.greet()
  }

  /** An epoch offer from the peer (SYNC-9.3, RELAY-EPOCH-4); throws for a malformed record or catch-up. */
  onOffer(recordBytes: Uint8Array, catchUp: Uint8Array): void {
    this.#negotiated('epoch offer')
    const decoded = decodeEpochRecord(recordBytes)
    if (!decoded.ok) throw new WeftError(WeftErrorCode.MalformedMessage, `epoch record: ${decoded.reason}`)
    if (catchUp.byteLength > 0) {
      try {
        this.validate(catchUp)
      } catch (err) {
        throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed epoch catch-up', { cause: err })
      }
    }
    const judgement = judgeOffer(decoded.record, epochIdOf(this.#state.epochRecord()))
    if (judgement === 'not-winning') this.#sink.archived(decoded.record, catchUp)
    else this.#sink.offered(decoded.record, catchUp, judgement)
  }

  /** A peer asks for an old epoch's state (SYNC-9.7, RELAY-EPOCH-8): answered only for epochs this side left. */
  onRequest(epoch: string, stateVector: Uint8Array): void {
    this.#negotiated('epoch request')
    try {
      Y.decodeStateVector(stateVector)
    } catch (err) {
      throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed epoch request', { cause: err })
    }
    if (answersRequest(this.#state.epochRecord(), epoch)) this.#offer(epoch, stateVector, true)
  }

  /**
   * SYNC-9.3, COMPACT-6.1: hands a peer in an older epoch the record to switch to, with the catch-up of its epoch this
   * side can give. The lookup may be asynchronous: the offer goes out only if, when it returns, the path is still open
   * and the document in the same epoch, and (for a request) there is state to give or (for a step 1) the peer is still
   * in the epoch it was offered for.
   */
  #offer(theirs: string, stateVector: Uint8Array, request: boolean): void {
    const current = this.#state.epochRecord()
    if (current === null) return
    const found = this.#state.offerFor(theirs)
    if (!(found instanceof Promise)) return this.#sendOffer(current, found, theirs, stateVector, request)
    // The incoming buffer may be reused before the lookup returns.
    const sv = stateVector.slice()
    found.then((source) => this.#sendOffer(current, source, theirs, sv, request), ignore)
  }

  #sendOffer(
    current: EpochRecord,
    source: EpochOffering | null,
    theirs: string,
    sv: Uint8Array,
    request: boolean,
  ): void {
    if (this.#closed || this.#state.epochRecord() !== current) return
    if (request ? !source?.catchUp : this.epoch !== theirs) return
    // A peer with nothing of the old epoch needs no catch-up (COMPACT-5.1 only matters for its own changes), unless
    // it asked for the old epoch's state (SYNC-9.7).
    let catchUp = EMPTY
    try {
      if (source?.catchUp && (request || Y.decodeStateVector(sv).size > 0)) catchUp = source.catchUp(sv)
    } catch (err) {
      // Offered without it: the peer asks again (EpochManager on `missing-base`) or waits.
      this.#sink.failed(toWeftError(WeftErrorCode.StoreFailed, err, 'could not compute an epoch catch-up'))
    }
    this.send(encodeEpochOffer(encodeEpochRecord(source?.record ?? current), catchUp))
  }

  // ---- sequence numbers and durable acks (SYNC-4, RELAY-3.2)

  /**
   * The sequence number for the next step 2 or update to this peer (SYNC-4.1), `null` when this side does not number
   * or the peer did not announce `ack`. The side's mark is kept with it and returned by {@link acknowledge} (SYNC-4.3).
   */
  nextSeq(): number | null {
    if (!this.#side.numbers || !this.has(Feature.Ack)) return null
    const seq = ++this.sentSeq
    this.#marks.push([seq, this.#side.mark?.() ?? 0])
    return seq
  }

  /** Whether this side keeps what it numbers until it is acknowledged (it announced `rollback`, RULES-5.2). */
  get #keeps(): boolean {
    return this.#side.features !== null && (this.#side.features & Feature.Rollback) !== 0
  }

  /**
   * Keeps `update`, sent as `seq`, until the peer acknowledges it: a rejection of `seq` rolls back it and everything
   * sent after it on this path (RULES-5.2). Only on a side that announced `rollback`.
   */
  keep(seq: number | null, update: Uint8Array): void {
    if (seq !== null && this.#keeps) this.#kept.set(seq, update)
  }

  /** The updates kept from `seq` on (see {@link keep}), in the order they were sent. */
  unacknowledged(seq: number): Array<readonly [number, Uint8Array]> {
    return [...this.#kept].filter(([s]) => s >= seq).sort((a, b) => a[0] - b[0])
  }

  /** Stops keeping the updates from `seq` on (they were rolled back, RULES-5.2). */
  forget(seq: number): void {
    for (const s of [...this.#kept.keys()]) if (s >= seq) this.#kept.delete(s)
  }

  /**
   * An ack from the peer: the latest mark it now covers (SYNC-4.3), or `null` (nothing new, or never sent). An ack
   * may cover updates the peer refused under its rules (RULES-5.3): they are settled too.
   */
  acknowledge(seq: number): number | null {
    this.#negotiated('ack')
    if (seq <= this.ackedSeq || seq > this.sentSeq) return null
    this.ackedSeq = seq
    for (const s of [...this.#kept.keys()]) if (s <= seq) this.#kept.delete(s)
    let mark: number | null = null
    while (this.#marks.length > 0 && (this.#marks[0]?.[0] ?? Infinity) <= seq)
      mark = this.#marks.shift()?.[1] ?? mark
    return mark
  }

  /**
   * Records an incoming sequence number; false for a duplicate. A sync step 2 (`complete`) holds all the peer's state
   * this side lacked, so it covers every earlier number (SYNC-4.5); on an ordered path every number does.
   */
  received(seq: number, complete = false): boolean {
    if (seq <= this.receivedSeq || this.#receivedAhead?.has(seq)) return false
    if (complete || this.#side.ordered) {
      if (this.#receivedAhead) for (const s of this.#receivedAhead) if (s < seq) this.#receivedAhead.delete(s)
      this.receivedSeq = seq - 1
    }
    if (seq !== this.receivedSeq + 1) {
      ;(this.#receivedAhead ??= new Set()).add(seq)
      return true
    }
    this.receivedSeq = seq
    if (this.#receivedAhead) while (this.#receivedAhead.delete(this.receivedSeq + 1)) this.receivedSeq++
    return true
  }

  /** Everything received up to `seq` is durable: acknowledge it, once, in order (SYNC-4.2, RELAY-3.2). */
  durable(seq: number): void {
    if (seq <= this.sentAck || this.#closed) return
    this.sentAck = seq
    this.#sink.write(encodeAck(seq))
  }

  /** Acknowledges `seq` once `durable` resolves (a relay: each update's own durability). */
  ackWhen(seq: number, durable: Promise<void>): void {
    durable.then(() => this.durable(seq), ignore)
  }

  /**
   * Acknowledges what was received once `flush` (everything applied so far is durable) resolves; one flush at a time
   * per path, the next for what arrived meanwhile (SYNC-4.2).
   */
  scheduleAck(flush: () => Promise<void>): void {
    if (this.#ackInFlight || this.receivedSeq <= this.sentAck || this.#closed) return
    this.#ackInFlight = true
    const seq = this.receivedSeq
    flush().then(
      () => {
        this.#ackInFlight = false
        this.durable(seq)
        this.scheduleAck(flush)
      },
      (err: unknown) => {
        this.#ackInFlight = false
        this.#sink.failed(toWeftError(WeftErrorCode.StoreFailed, err))
      },
    )
  }

  /** Whether something received awaits its ack and no flush for one runs (see {@link scheduleAck}). */
  get ackDue(): boolean {
    return !this.#ackInFlight && !this.#closed && this.receivedSeq > this.sentAck
  }
}

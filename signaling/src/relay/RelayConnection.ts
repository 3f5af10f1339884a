import { CloseCode, WeftError, WeftErrorCode, type EpochRecord } from '@weft/core'
import {
  Feature,
  encodeAwareness,
  encodeRejected,
  updateMessageParts,
  type UpdateSummary,
  type WireMessage,
} from '@weft/core/protocol'
import {
  ProtocolPath,
  type EpochOffering,
  type OfferJudgement,
  type ProtocolDocState,
  type ProtocolSide,
  type ProtocolSink,
} from '@weft/core/sync-engine'
import type { Access } from '../auth/RoomGrant.js'
import type { PresenceApplied } from './AwarenessTable.js'
import { isEmptyUpdate } from './mergeUpdatesBatched.js'
import type { RelayRoom, RelayPeer } from './RelayRoom.js'
import type { EpochPeer } from './RelayEpochPeer.js'
import type { RelayEpochs } from './RelayEpochs.js'
import type { RelaySocket } from './RelaySocket.js'
import { ruleRefusalOf } from './rules/RelayRules.js'
import type { RollbackWriter } from './rules/roomScreen.js'
import { bytesOf, SharedMessage } from './SharedMessage.js'

/** Messages kept while the document loads; more closes the connection. */
const MAX_WAITING = 1024

/** A connection's query-awareness messages are answered at most once per this interval (RELAY-6.5). */
const QUERY_INTERVAL_MS = 1000

/** RELAY-5.1: updates are walked structurally (SYNC-3.4), strings decoded as UTF-8 and JSON parsed. */
const VALIDATE = { strings: true } as const

/** The protocol settings of the connections sharing `opts` (one object for all of them, not one each). */
const sides = new WeakMap<RelayConnectionOptions, ProtocolSide>()
const sideOf = (opts: RelayConnectionOptions): ProtocolSide => {
  let side = sides.get(opts)
  if (side === undefined) {
    side = Object.freeze({
      features: Feature.Ack | Feature.Chunk,
      maxMessageSize: opts.maxMessageBytes,
      chunkSize: opts.chunkSize,
      // One WebSocket: in order, nothing lost (RELAY-7.3: one chunked message at a time, pieces in order).
      ordered: true,
      // RELAY-3.2: the relay acknowledges, but never numbers what it sends.
      numbers: false,
      // RELAY-EPOCH-3: a stock client holding another epoch's state is closed.
      closesStale: true,
      validate: VALIDATE,
    })
    sides.set(opts, side)
  }
  return side
}

/** What a connection asks of the hub that owns its document. */
export interface RelayHost {
  /**
   * Stores and forwards a validated, non-empty update (`summary`: what its validation found: the clock units its
   * delete set covers, the nesting of types it builds); resolves once it is durable.
   */
  acceptUpdate(doc: RelayRoom, update: Uint8Array, from: RelayPeer, summary: UpdateSummary): Promise<void>
  /**
   * A peer whose state vector is `sv` is about to be answered from the document's state (a join): a chance to compact
   * that state first.
   */
  beforeAnswer(doc: RelayRoom, sv: Uint8Array): void
  /**
   * Resolves once everything `from` sent to `doc` so far is durable (an ack of an empty update covers nothing else:
   * another connection's update waiting for a hook never delays it).
   */
  whenDurable(doc: RelayRoom, from: RelayPeer): Promise<void>
  /** Each document's epoch (RELAY-EPOCH-*). */
  readonly epochs: RelayEpochs
  /** A connection of `doc` closed. */
  leave(doc: RelayRoom, conn: RelayConnection): void
}

/** Settings of one {@link RelayConnection}. */
export interface RelayConnectionOptions {
  readonly access: Exclude<Access, 'none'>
  /** Largest message, also after reassembling chunks. */
  readonly maxMessageBytes: number
  /** Largest awareness update accepted. */
  readonly maxAwarenessBytes: number
  /** Largest chunk sent to Weft peers. */
  readonly chunkSize: number
}

/**
 * The y-websocket protocol plus Weft's negotiated extensions (hello, durable acks, chunking, epochs) for one
 * connection to one relay room. The protocol's decisions are core's {@link ProtocolPath}, the same as a client's;
 * the connection is its document-state port (the room's update log, no `Y.Doc`) and its sink (the socket, close
 * codes), and adds what only a relay does: presence, read-only access, storing and forwarding. Messages that arrive
 * before the document is loaded wait in order; nothing is answered before the stored state is in (RELAY-2). Every
 * decoding failure closes the connection with a named code (RELAY-5).
 */
export class RelayConnection
  implements
    RelayPeer,
    EpochPeer,
    RollbackWriter,
    ProtocolDocState<SharedMessage>,
    ProtocolSink<SharedMessage>
{
  readonly #socket: RelaySocket
  readonly #host: RelayHost
  readonly #opts: RelayConnectionOptions
  readonly #path: ProtocolPath<SharedMessage>
  #doc: RelayRoom | null = null
  /** Messages that arrived before the document was loaded (created with the first). */
  #waiting: Buffer[] | null = null
  /** Their bytes, charged to the server's input budget until they are handled (RELAY-9.2). */
  #waitingBytes = 0
  /** When a query-awareness was last answered (RELAY-6.5). */
  #queriedAt = -Infinity
  /**
   * RULES-5.1: `rolled-back` messages received so far, and that count for each update when it arrived; kept only for a
   * writer that announced rollback (RULES-5.15: no entry per update of any other connection).
   */
  #rollbacks = 0
  readonly #arrivedAfter = new WeakMap<Uint8Array, number>()
  /** Write access was taken away while connected (RELAY-4.6). */
  #readOnly = false

  constructor(socket: RelaySocket, host: RelayHost, opts: RelayConnectionOptions) {
    this.#socket = socket
    this.#host = host
    this.#opts = opts
    const write = opts.access === 'write'
    // RELAY-2.2: a read-only connection is not greeted (never offered chunking), except to tell it of a new epoch.
    this.#path = new ProtocolPath<SharedMessage>(sideOf(opts), this, this, { greets: write, writable: write })
  }

  /** The connection's access to its room. */
  get access(): Exclude<Access, 'none'> {
    return this.#readOnly ? 'read' : this.#opts.access
  }

  /** RELAY-4.6: a revalidation took write access away; the connection stays, its next update is refused (RELAY-4.3). */
  downgrade(): void {
    this.#readOnly = true
  }

  /** Closes the connection with a named close code (logged and counted by the socket). */
  closeWith(code: number, reason: string): void {
    this.#socket.close(code, reason)
  }

  /** Whether the peer announced the Weft protocol. */
  get weft(): boolean {
    return this.#path.weft
  }

  /** The document switched epochs (RELAY-EPOCH-4): the handshake starts again. */
  epochChanged(): void {
    this.#path.epochChanged()
  }

  /** The document is loaded: greet the peer (RELAY-2.2) and handle what it sent meanwhile. */
  start(doc: RelayRoom): void {
    if (!this.#socket.open) return
    this.#doc = doc
    this.#path.start()
    const presence = doc.awareness.encodeAll()
    if (presence) this.sendMessage(encodeAwareness(presence))
    const waiting = this.#waiting ?? []
    this.#releaseWaiting()
    for (const data of waiting) {
      if (!this.#socket.open) return
      this.#receive(data)
    }
  }

  /** One frame from the socket (already size- and rate-checked). */
  onMessage(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.#socket.close(CloseCode.MalformedMessage, 'text frame on the relay')
    if (this.#doc === null) {
      const waiting = (this.#waiting ??= [])
      // RELAY-9.2: what waits for a slow load (or a slow onConnect/onLoad hook) is bounded in messages and in bytes,
      // and held against the server's input budget like any unfinished input.
      if (waiting.length >= MAX_WAITING || this.#waitingBytes + data.byteLength > this.#opts.maxMessageBytes)
        return this.#socket.close(CloseCode.RateLimited, 'too many early messages')
      waiting.push(data)
      this.#waitingBytes += data.byteLength
      this.#socket.trackInput(data.byteLength)
      return
    }
    this.#receive(data)
  }

  /** Drops the early messages' charge on the input budget (they are handled now, or never). */
  #releaseWaiting(): void {
    this.#waiting = null
    if (this.#waitingBytes !== 0) this.#socket.trackInput(-this.#waitingBytes)
    this.#waitingBytes = 0
  }

  /** Sends one message, chunked for a Weft client that announced a smaller size (RELAY-7.2). */
  sendMessage(message: Uint8Array | SharedMessage): void {
    this.#path.send(message)
  }

  #receive(data: Uint8Array): void {
    let message: Exclude<WireMessage, { type: 'chunk' }> | null
    try {
      // RELAY-7.1, 7.3: a chunk is reassembled (only from a write connection that negotiated chunking).
      message = this.#path.decode(data)
    } catch (err) {
      return this.#reject(err)
    }
    if (message) this.#handle(message)
  }

  // ---- ProtocolDocState: the room's document as the protocol sees it

  /** @internal The room's state vector. */
  stateVector(): Uint8Array {
    return this.#requireDoc().log.stateVector()
  }

  /**
   * @internal RELAY-2.3: exactly what the peer lacks, from the cached state (no Y.Doc). The answer is cached and
   * framed once: clients joining with the same state vector (a join storm) get the same bytes. Never numbered (the
   * relay sends no sequence numbers, RELAY-3.2): `seq` is always `null` here.
   */
  answer(sv: Uint8Array, _seq: number | null, tag: string | null): readonly SharedMessage[] {
    const doc = this.#requireDoc()
    this.#host.beforeAnswer(doc, sv)
    return doc.log.answer(sv, (diff, kind) => new SharedMessage(updateMessageParts(kind, diff, null, tag)))
  }

  /** @internal The room's epoch record (RELAY-EPOCH-1). */
  epochRecord(): EpochRecord | null {
    return this.#doc ? this.#host.epochs.recordOf(this.#doc) : null
  }

  /** @internal What to offer a client in an older epoch: from the room's archive (RELAY-EPOCH-3, 8). */
  offerFor(peerEpoch: string): Promise<EpochOffering | null> | null {
    return this.#doc ? this.#host.epochs.archive(this.#doc, peerEpoch) : null
  }

  #requireDoc(): RelayRoom {
    if (!this.#doc) throw new WeftError(WeftErrorCode.InvalidArgument, 'the document is not loaded yet')
    return this.#doc
  }

  // ---- ProtocolSink: where the protocol's bytes and outcomes go

  /** @internal */
  write(message: Uint8Array | SharedMessage): boolean {
    return this.#socket.send(message)
  }

  /** @internal */
  bytesOf(message: SharedMessage): Uint8Array {
    return bytesOf(message)
  }

  /** @internal The relay asks clients for no old epoch (it keeps its own archives). */
  greeted(): void {}

  /** @internal */
  offered(record: EpochRecord, catchUp: Uint8Array, judgement: OfferJudgement): void {
    if (this.#doc) this.#host.epochs.offered(this.#doc, this, record, catchUp, judgement)
  }

  /** @internal */
  archived(record: EpochRecord, catchUp: Uint8Array): void {
    this.offered(record, catchUp, 'not-winning')
  }

  /** @internal RELAY-4.3, 7.1 (read-only), RELAY-EPOCH-3 (stale epoch). */
  refuse(kind: 'read-only' | 'stale-epoch', reason: string): void {
    this.#socket.close(kind === 'read-only' ? CloseCode.ReadOnly : CloseCode.StaleEpoch, reason)
  }

  /** @internal */
  failed(error: WeftError): void {
    this.#socket.logger.warn({ err: error, doc: this.#doc?.docId }, error.message)
  }

  /** @internal RELAY-7.3: chunks being reassembled are charged to the server's input budget. */
  buffered(delta: number): void {
    this.#socket.trackInput(delta)
  }

  #reject(err: unknown): void {
    const tooLarge = err instanceof WeftError && err.code === WeftErrorCode.MessageTooLarge
    const reason = err instanceof Error ? err.message : 'malformed message'
    this.#socket.close(tooLarge ? CloseCode.MessageTooLarge : CloseCode.MalformedMessage, reason)
  }

  #handle(message: Exclude<WireMessage, { type: 'chunk' }>): void {
    const doc = this.#doc
    if (!doc) return
    switch (message.type) {
      case 'sync-step1':
        // RELAY-2.3, RELAY-EPOCH-2/3: a step 2 only to a peer in the document's epoch (tagged with it outside
        // epoch 0), an offer to one in an older epoch, the relay's step 1 to one in a newer epoch.
        try {
          return this.#path.step1(message.stateVector, message.hello)
        } catch (err) {
          return this.#reject(err)
        }
      case 'sync-step2':
      case 'sync-update':
        if (!this.#path.admits(message.epoch)) return
        return this.#update(doc, message.update, message.seq)
      case 'awareness': {
        if (message.update.byteLength > this.#opts.maxAwarenessBytes) {
          return this.#socket.close(CloseCode.MessageTooLarge, 'awareness update too large')
        }
        let applied: PresenceApplied
        try {
          applied = doc.awareness.apply(message.update, this, this.access === 'read')
        } catch (err) {
          return this.#reject(err)
        }
        if (!applied.ok) {
          // RELAY-6.5: a connection that brings too many clients is cut; in a full room, presence is dropped.
          if (applied.reason === 'too-many-clients-per-connection')
            return this.#socket.close(CloseCode.MalformedMessage, 'too many awareness clients')
          return
        }
        // RELAY-6.4: only news is forwarded (an echo, same client at the same clock, is dropped). As y-websocket's
        // server does, the sender gets its own news back too (keeps a stock client's connection alive): the table
        // sends to the whole room.
        if (applied.news) doc.awareness.broadcast(applied.news)
        return
      }
      case 'query-awareness': {
        // RELAY-6.5: answered at most once per QUERY_INTERVAL_MS (what changes after an answer is broadcast
        // anyway); the answer is bounded by the room's presence limits and built once per change.
        const now = performance.now()
        if (now - this.#queriedAt < QUERY_INTERVAL_MS) return
        this.#queriedAt = now
        const presence = doc.awareness.encodeAll()
        if (presence) this.sendMessage(encodeAwareness(presence))
        return
      }
      case 'epoch-offer':
      case 'epoch-request':
        try {
          if (message.type === 'epoch-offer') this.#path.onOffer(message.record, message.catchUp)
          else this.#path.onRequest(message.epoch, message.stateVector)
        } catch (err) {
          this.#reject(err)
        }
        return
      case 'rolled-back':
        // RULES-5.15: only a writer that announced rollback is ever fenced, and only its roll-backs count.
        if (!this.#path.has(Feature.Rollback)) return
        // RULES-5.1: the writer rolled back; what it sends from here on is checked again.
        this.#rollbacks++
        this.#socket.logger.info(
          { doc: doc.docId, clientId: message.clientId },
          'writer rolled back a rejected update',
        )
        return
      case 'ack':
      case 'auth-denied':
      case 'rejected':
        // The relay never sends sequence numbers, so acks carry nothing for it; auth and rejected messages are
        // server-to-client.
        return
    }
  }

  #update(doc: RelayRoom, update: Uint8Array, seq: number | null): void {
    const empty = isEmptyUpdate(update)
    let summary: UpdateSummary | null
    try {
      // RELAY-5.1: walked structurally (SYNC-3.4), strings decoded as UTF-8 and JSON parsed (Yjs would fail on
      // them later, when merging), before anything is stored or forwarded.
      summary = this.#path.validate(update)
    } catch (err) {
      return this.#reject(err)
    }
    if (!empty && this.access !== 'write') {
      // RELAY-4.3: nothing from a read-only connection is stored or forwarded.
      return this.#socket.close(CloseCode.ReadOnly, 'read-only connection sent an update')
    }
    // RULES-5.15: another connection's count stays 0, so its updates need no entry (a WeakMap entry per update costs
    // an ephemeron in every scavenge: issue 13).
    if (this.#path.has(Feature.Rollback)) this.#arrivedAfter.set(update, this.#rollbacks)
    // (The relay's side always validates, so `summary` is there for every update.)
    const durable =
      empty || summary === null
        ? this.#host.whenDurable(doc, this)
        : this.#host.acceptUpdate(doc, update, this, summary)
    // RELAY-3.2: acknowledge only once durable; acks are cumulative and monotonic.
    if (seq !== null && this.#path.received(seq)) this.#path.ackWhen(seq, durable)
    // RULES-4.3: an update the room's rules refused is rolled back by a writer that can, else it ends the connection.
    durable.catch((err: unknown) => this.#ruleRefused(doc, err, seq))
  }

  /** @internal RULES-5.1: how many `rolled-back` messages had arrived when `update` did. */
  rollbacksBefore(update: Uint8Array): number {
    return this.#arrivedAfter.get(update) ?? this.#rollbacks
  }

  #ruleRefused(doc: RelayRoom, err: unknown, seq: number | null): void {
    const refusal = ruleRefusalOf(err)
    if (refusal === null || !this.#socket.open) return
    const { verdict, fenced } = refusal
    if (!this.#path.has(Feature.Rollback)) {
      this.#socket.close(CloseCode.UpdateRejected, `${verdict.ruleId}: ${verdict.reason}`.slice(0, 100))
      return
    }
    // RULES-5.1: the writer is told once; the updates refused behind the fence are not news to it.
    if (!fenced) this.sendMessage(encodeRejected(seq, verdict.ruleId, verdict.path.join('/'), verdict.reason))
    // RULES-5.3: a refused update is settled: the cumulative ack moves past it (after the `rejected` message, once
    // everything before it is durable), so the writer never waits for it.
    if (seq !== null) this.#path.ackWhen(seq, this.#host.whenDurable(doc, this))
  }

  /** The socket closed (the connection is its socket's handler: no closure per connection). */
  onClose(): void {
    this.#releaseWaiting()
    this.#path.close()
    if (this.#doc) this.#host.leave(this.#doc, this)
  }
}

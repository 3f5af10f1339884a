import * as Y from 'yjs'
import {
  CloseCode,
  Feature,
  PROTOCOL_VERSION,
  Reassembler,
  WeftError,
  WeftErrorCode,
  decodeMessage,
  encodeAck,
  encodeAwareness,
  encodeSyncStep1,
  updateMessageParts,
  splitMessage,
  validateUpdate,
  type UpdateSummary,
  type Hello,
  type WireMessage,
} from '@weft/core'
import type { Access } from '../auth/RoomGrant.js'
import type { PresenceApplied } from './AwarenessTable.js'
import { isEmptyUpdate } from './mergeUpdatesBatched.js'
import type { RelayDoc, RelayPeer } from './RelayDoc.js'
import type { RelayEpochs } from './RelayEpochs.js'
import type { RelaySocket } from './RelaySocket.js'
import { bytesOf, SharedMessage } from './SharedMessage.js'

/** Messages kept while the document loads; more closes the connection. */
const MAX_WAITING = 1024

/** A connection's query-awareness messages are answered at most once per this interval (RELAY-6.5). */
const QUERY_INTERVAL_MS = 1000

/** Smallest maximum message size a Weft peer may announce (chunks need room for their header). */
const MIN_PEER_MESSAGE_SIZE = 1024

/** What a connection asks of the hub that owns its document. */
export interface RelayHost {
  /**
   * Stores and forwards a validated, non-empty update (`summary`: what its validation found: the clock units its
   * delete set covers, the nesting of types it builds); resolves once it is durable.
   */
  acceptUpdate(doc: RelayDoc, update: Uint8Array, from: RelayPeer, summary: UpdateSummary): Promise<void>
  /** A peer is about to be answered from the document's state (a join): a chance to compact that state first. */
  beforeAnswer(doc: RelayDoc): void
  /** Resolves once everything accepted for `doc` so far is durable. */
  whenDurable(doc: RelayDoc): Promise<void>
  /** Each document's epoch (RELAY-EPOCH-*). */
  readonly epochs: RelayEpochs
  /** A connection of `doc` closed. */
  leave(doc: RelayDoc, conn: RelayConnection): void
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
 * The y-websocket protocol plus Weft's negotiated extensions (hello, durable acks, chunking) for one connection
 * to one relay room. Messages that arrive before the document is loaded wait in order; nothing is answered before
 * the stored state is in (RELAY-2). Every decoding failure closes the connection with a named code (RELAY-5).
 */
export class RelayConnection implements RelayPeer {
  readonly #socket: RelaySocket
  readonly #host: RelayHost
  readonly #opts: RelayConnectionOptions
  /** Created with the first chunk (most peers never send one). */
  #reassembler: Reassembler | null = null
  #doc: RelayDoc | null = null
  /** Messages that arrived before the document was loaded (created with the first). */
  #waiting: Buffer[] | null = null
  /** What the peer announced in its step 1 (null: stock y-protocols peer). */
  #peerHello: Hello | null = null
  #receivedSeq = 0
  #sentAck = 0
  #nextChunkId = 0
  /** When a query-awareness was last answered (RELAY-6.5). */
  #queriedAt = -Infinity

  constructor(socket: RelaySocket, host: RelayHost, opts: RelayConnectionOptions) {
    this.#socket = socket
    this.#host = host
    this.#opts = opts
  }

  get #hello(): Hello {
    return {
      version: PROTOCOL_VERSION,
      features: Feature.Ack | Feature.Chunk,
      maxMessageSize: this.#opts.maxMessageBytes,
      epoch: this.#doc ? this.#host.epochs.epochOf(this.#doc) : null,
    }
  }

  /** The connection's access to its room. */
  get access(): Exclude<Access, 'none'> {
    return this.#opts.access
  }

  /** Sends sync step 1 with the relay's state vector and hello (RELAY-EPOCH-4: greeting again after a switch). */
  announce(): void {
    if (this.#doc) this.sendMessage(encodeSyncStep1(this.#doc.log.stateVector(), this.#hello))
  }

  /** Closes the connection with a named close code (logged and counted by the socket). */
  closeWith(code: number, reason: string): void {
    this.#socket.close(code, reason)
  }

  /** Whether the peer announced the Weft protocol. */
  get weft(): boolean {
    return this.#peerHello !== null
  }

  /** The document is loaded: greet the peer (RELAY-2.2) and handle what it sent meanwhile. */
  start(doc: RelayDoc): void {
    if (!this.#socket.open) return
    this.#doc = doc
    if (this.#opts.access === 'write') this.announce()
    const presence = doc.awareness.encodeAll()
    if (presence) this.sendMessage(encodeAwareness(presence))
    const waiting = this.#waiting ?? []
    this.#waiting = null
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
      if (waiting.length >= MAX_WAITING)
        return this.#socket.close(CloseCode.RateLimited, 'too many early messages')
      waiting.push(data)
      return
    }
    this.#receive(data)
  }

  sendMessage(message: Uint8Array | SharedMessage): void {
    const limit = Math.min(this.#opts.chunkSize, this.#peerHello?.maxMessageSize ?? Infinity)
    if (message.byteLength > limit && this.#hasFeature(Feature.Chunk)) {
      for (const piece of splitMessage(bytesOf(message), limit, this.#nextChunkId++)) {
        if (!this.#socket.send(piece)) return
      }
      return
    }
    this.#socket.send(message)
  }

  #hasFeature(feature: number): boolean {
    return this.#peerHello !== null && (this.#peerHello.features & feature) !== 0
  }

  #receive(data: Uint8Array, nested = false): void {
    let message: WireMessage
    try {
      message = decodeMessage(data)
      if (message.type === 'chunk') {
        if (nested) throw new WeftError(WeftErrorCode.MalformedMessage, 'chunk inside a chunk')
        const whole = this.#chunk(message)
        if (whole) this.#receive(whole, true)
        return
      }
    } catch (err) {
      return this.#reject(err)
    }
    this.#handle(message)
  }

  /**
   * RELAY-7.1: one piece of a chunked message, or `null` until the last. Only from a write connection that
   * announced `chunk` after the relay's hello offered it (a read connection is never greeted, so never offered
   * chunking). One message at a time, pieces in order, its buffer grown as they arrive and charged to the server's
   * budget at once (RELAY-7.3).
   */
  #chunk(message: Extract<WireMessage, { type: 'chunk' }>): Uint8Array | null {
    if (this.#opts.access !== 'write') {
      this.#socket.close(CloseCode.ReadOnly, 'read-only connection sent a chunk')
      return null
    }
    if (!this.#hasFeature(Feature.Chunk)) {
      this.#socket.close(CloseCode.MalformedMessage, 'chunking was not negotiated')
      return null
    }
    const reassembler = (this.#reassembler ??= new Reassembler({
      maxMessageSize: this.#opts.maxMessageBytes,
      maxPending: 1,
      ordered: true,
    }))
    const before = reassembler.bufferedBytes
    try {
      return reassembler.add(message.id, message.total, message.offset, message.data)
    } finally {
      this.#socket.trackInput(reassembler.bufferedBytes - before)
    }
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
      case 'sync-step1': {
        let decoded: Map<number, number>
        try {
          decoded = Y.decodeStateVector(message.stateVector)
        } catch (err) {
          return this.#reject(err)
        }
        if (message.hello) {
          if (message.hello.maxMessageSize < MIN_PEER_MESSAGE_SIZE) {
            return this.#socket.close(CloseCode.MalformedMessage, 'announced maximum message size too small')
          }
          this.#peerHello = message.hello
        }
        // RELAY-2.3: exactly what the peer lacks, from the cached state (no Y.Doc). The answer is cached and framed
        // once: clients joining with the same state vector (a join storm) get the same bytes. RELAY-EPOCH-2: only to a
        // peer in the document's epoch, tagged with it outside epoch 0.
        if (!this.#host.epochs.step1(doc, this, message.stateVector, decoded, message.hello)) return
        const tag = this.#host.epochs.tag(doc)
        this.#host.beforeAnswer(doc)
        const answer = doc.log.answer(
          message.stateVector,
          (diff, kind) => new SharedMessage(updateMessageParts(kind, diff, null, tag)),
        )
        for (const m of answer) this.sendMessage(m)
        return
      }
      case 'sync-step2':
      case 'sync-update':
        if (!this.#host.epochs.admit(doc, this, message.epoch)) return
        return this.#update(doc, message.update, message.seq)
      case 'awareness': {
        if (message.update.byteLength > this.#opts.maxAwarenessBytes) {
          return this.#socket.close(CloseCode.MessageTooLarge, 'awareness update too large')
        }
        let applied: PresenceApplied
        try {
          applied = doc.awareness.apply(message.update, this)
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
        // server does, the sender gets its own news back too (keeps a stock client's connection alive).
        if (applied.news)
          doc.awareness.broadcast(applied.news, (news) => doc.broadcast(encodeAwareness(news)))
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
        return this.#host.epochs.offer(doc, this, message.record, message.catchUp)
      case 'epoch-request':
        return this.#host.epochs.request(doc, this, message.epoch, message.stateVector)
      case 'ack':
      case 'auth-denied':
        // The relay never sends sequence numbers, so acks carry nothing for it; auth messages are server-to-client.
        return
    }
  }

  #update(doc: RelayDoc, update: Uint8Array, seq: number | null): void {
    const empty = isEmptyUpdate(update)
    let summary: UpdateSummary
    try {
      // RELAY-5.1: walked structurally (SYNC-3.4), strings decoded as UTF-8 and JSON parsed (Yjs would fail on
      // them later, when merging), before anything is stored or forwarded.
      summary = validateUpdate(update, { strings: true })
    } catch (err) {
      return this.#reject(err)
    }
    if (!empty && this.#opts.access !== 'write') {
      // RELAY-4.3: nothing from a read-only connection is stored or forwarded.
      return this.#socket.close(CloseCode.ReadOnly, 'read-only connection sent an update')
    }
    const durable = empty ? this.#host.whenDurable(doc) : this.#host.acceptUpdate(doc, update, this, summary)
    if (seq === null || seq <= this.#receivedSeq) return
    this.#receivedSeq = seq
    // RELAY-3.2: acknowledge only once durable; acks are cumulative and monotonic.
    durable.then(
      () => {
        if (seq <= this.#sentAck || !this.#socket.open) return
        this.#sentAck = seq
        this.#socket.send(encodeAck(seq))
      },
      () => undefined,
    )
  }

  /** The socket closed (the connection is its socket's handler: no closure per connection). */
  onClose(): void {
    this.#waiting = null
    this.#reassembler?.clear()
    this.#reassembler = null
    if (this.#doc) this.#host.leave(this.#doc, this)
  }
}

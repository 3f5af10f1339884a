import type { Logger } from 'pino'
import * as Y from 'yjs'
import { type DocId } from '@weft/core'
import { encodeAwareness } from '@weft/core/protocol'
import type { RelayRoom, RelayPeer } from '../relay/RelayRoom.js'
import { bytesOf, SharedMessage } from '../relay/SharedMessage.js'
import { isEmptyUpdate } from '../relay/mergeUpdatesBatched.js'
import { BUS_INLINE_MAX_BYTES, type BusMessage } from './busMessages.js'
import type { RoomMessage } from './RedisRoomBus.js'
import { RoomPresence } from './RoomPresence.js'
import type { StoredTail } from './PostgresDocStore.js'

/** What a {@link ScaleOutRoom} needs from its node. */
export interface ScaleOutRoomHost {
  readSince(docId: DocId, after: number): Promise<StoredTail>
  publish(room: string, message: RoomMessage): void
  /** Another node compacted the room's stored log through `clock` into a snapshot of `bytes` bytes (SCALE-4.3). */
  remoteCompacted(doc: RelayRoom, clock: number, bytes: number): void
  readonly logger: Logger
  /** How long an out-of-order update waits for the missing ones before the room reads them from the store. */
  readonly gapWaitMs: number
}

/** Messages kept while the room loads (more: the room catches up from the store instead). */
const MAX_BUFFERED = 10_000
/** y-protocols message type of awareness messages (first byte of an encoded message). */
const MESSAGE_AWARENESS = 1

/**
 * One room of a scale-out node (SCALE-2, SCALE-3). Subscribed before the document loads, it buffers bus messages
 * until then. Afterwards it tracks `applied`, the store clock up to which every update is in the in-memory log:
 * updates from other nodes and this node's own commits advance it in clock order (clocks are gap-free per
 * document). An update that arrives out of order waits `gapWaitMs` for the missing ones, then the room reads
 * everything after `applied` from PostgreSQL. It is also a {@link RelayPeer} of its document, so it sees what local
 * connections broadcast: presence goes out to the other nodes; updates are published by the committer, once
 * durable.
 */
export class ScaleOutRoom implements RelayPeer {
  readonly room: string
  #doc: RelayRoom | null = null
  #buffer: BusMessage[] | null = []
  #overflow = false
  #applied = 0
  readonly #ahead = new Map<number, Uint8Array | null>()
  #gapTimer: NodeJS.Timeout | null = null
  #catching: Promise<void> | null = null
  #again = false
  #disposed = false
  readonly #host: ScaleOutRoomHost
  #presence: RoomPresence | null = null

  constructor(room: string, host: ScaleOutRoomHost) {
    this.room = room
    this.#host = host
  }

  /** Store clock through which every update is in the in-memory log: the safe `throughClock` of a compaction. */
  get applied(): number {
    return this.#applied
  }

  /** The document is loaded with the store's state through `storedClock`: apply what the bus brought meanwhile. */
  attach(doc: RelayRoom, storedClock: number): void {
    this.#doc = doc
    this.#applied = storedClock
    this.#presence = new RoomPresence({
      table: doc.awareness,
      broadcastLocal: (update) => doc.broadcast(encodeAwareness(update), this),
      publish: (update) => this.#host.publish(this.room, { type: 'awareness', update }),
    })
    doc.joined(this)
    const buffered = this.#buffer ?? []
    this.#buffer = null
    for (const m of buffered) this.receive(m)
    if (this.#overflow) void this.catchUp()
    this.#host.publish(this.room, { type: 'presence-query' })
  }

  /**
   * A message from another node. Never throws (SCALE-2.7): the Redis client rethrows a listener's error as an
   * uncaught exception, so one bad message would end the process.
   */
  receive(m: BusMessage): void {
    try {
      this.#receive(m)
    } catch (err) {
      this.#host.logger.error({ err, room: this.room, type: m.type }, 'bus message could not be handled')
    }
  }

  #receive(m: BusMessage): void {
    if (this.#disposed) return
    if (this.#buffer) {
      if (m.type !== 'update' && m.type !== 'compacted' && m.type !== 'stored') return // presence is queried after the load
      if (this.#buffer.length < MAX_BUFFERED) this.#buffer.push(m)
      else this.#overflow = true
      return
    }
    const doc = this.#doc
    const presence = this.#presence
    if (!doc || !presence) return
    switch (m.type) {
      case 'update':
        return this.#record(m.clock, m.update)
      case 'awareness':
        return presence.fromRemote(m.origin, m.update)
      case 'presence-query': {
        const local = presence.localPresence()
        if (local) this.#host.publish(this.room, { type: 'awareness', update: local })
        return
      }
      case 'compacted':
        return this.#host.remoteCompacted(doc, m.clock, m.bytes)
      case 'stored':
        // SCALE-2.9: too large for the bus; read from the store (with whatever else is missing).
        if (m.clock > this.#applied) void this.catchUp()
        return
      default:
        return
    }
  }

  /** This node stored `update` under `clock` (it is already in the log): publish it and advance. */
  committed(clock: number, update: Uint8Array): void {
    // SCALE-2.9: a large update by reference, so that no subscriber's output buffer overflows.
    this.#host.publish(
      this.room,
      update.byteLength >= BUS_INLINE_MAX_BYTES
        ? { type: 'stored', clock, bytes: update.byteLength }
        : { type: 'update', clock, update },
    )
    this.#record(clock, null)
  }

  /** RelayPeer: what local connections broadcast to the room. Presence goes to the other nodes. */
  sendMessage(shared: Uint8Array | SharedMessage): void {
    const first = shared instanceof SharedMessage ? shared.firstByte : shared[0]
    if (first !== MESSAGE_AWARENESS || !this.#presence) return
    const message = bytesOf(shared)
    // [type, varuint length, update]: skip the length prefix.
    let i = 1
    while ((message[i] ?? 0) & 0x80) i++
    this.#presence.fromLocal(message.subarray(i + 1))
  }

  /** Another node died: drop its clients' presence. */
  nodeDown(node: string): void {
    this.#presence?.nodeDown(node)
  }

  /** Answers presence queries again and catches up (after a bus reconnect). */
  resync(): void {
    if (!this.#doc) return
    this.#host.publish(this.room, { type: 'presence-query' })
    void this.catchUp()
  }

  /** Reads everything after `applied` from the store and applies it (SCALE-2.3). One run at a time per room. */
  catchUp(): Promise<void> {
    if (this.#catching) {
      this.#again = true
      return this.#catching
    }
    this.#clearGapTimer()
    this.#catching = this.#readTail()
      .catch((err: unknown) => {
        this.#host.logger.warn({ err, room: this.room }, 'catch-up from the store failed; will retry')
        this.#armGapTimer(1000)
      })
      .finally(() => {
        this.#catching = null
        if (this.#again && !this.#disposed) {
          this.#again = false
          void this.catchUp()
        } else if (this.#ahead.size > 0) this.#armGapTimer()
      })
    return this.#catching
  }

  /** The room was unloaded. */
  dispose(): void {
    this.#disposed = true
    this.#clearGapTimer()
    this.#doc?.left(this)
  }

  async #readTail(): Promise<void> {
    const doc = this.#doc
    if (!doc) return
    const tail = await this.#host.readSince(doc.docId, this.#applied)
    if (this.#disposed) return
    if (tail.snapshot && tail.snapshotClock > this.#applied) {
      // Another node compacted past what this node has: the snapshot covers the gap; send only what is new.
      let missing: Uint8Array | null = null
      try {
        // Validated by #apply, like every update from another node.
        missing = Y.diffUpdate(Y.convertUpdateFormatV2ToV1(tail.snapshot), doc.log.stateVector())
      } catch (err) {
        this.#host.logger.error({ err, room: this.room }, 'stored snapshot cannot be merged; skipped')
        missing = null
      }
      if (missing && !isEmptyUpdate(missing)) this.#apply(doc, missing)
      this.#advanceTo(tail.snapshotClock)
    }
    for (const u of tail.updates) {
      if (u.clock <= this.#applied) continue
      const own = this.#ahead.has(u.clock) && this.#ahead.get(u.clock) === null
      if (!own) this.#apply(doc, u.data)
      this.#advanceTo(u.clock)
    }
    this.#drainAhead()
  }

  #record(clock: number, update: Uint8Array | null): void {
    if (clock <= this.#applied || this.#ahead.has(clock)) return
    this.#ahead.set(clock, update)
    this.#drainAhead()
    if (this.#ahead.size > 0 && !this.#catching) this.#armGapTimer()
  }

  #drainAhead(): void {
    const doc = this.#doc
    if (!doc) return
    for (;;) {
      const next = this.#applied + 1
      if (!this.#ahead.has(next)) break
      const update = this.#ahead.get(next)
      this.#ahead.delete(next)
      if (update) this.#apply(doc, update)
      this.#applied = next
    }
    if (this.#ahead.size === 0) this.#clearGapTimer()
  }

  #advanceTo(clock: number): void {
    if (clock <= this.#applied) return
    this.#applied = clock
    for (const c of this.#ahead.keys()) if (c <= clock) this.#ahead.delete(c)
  }

  /**
   * A stored update from another node: the room takes it into its log and forwards it to the local connections,
   * never stored again (RELAY-9.5: already stored, so not refused for nesting; the room's bound grows). One that Yjs
   * cannot merge (stored by a node without SYNC-3.5) is skipped and logged (SCALE-2.7).
   */
  #apply(doc: RelayRoom, update: Uint8Array): void {
    if (doc.applyStored(update, this)) return
    this.#host.logger.warn({ room: this.room, bytes: update.byteLength }, 'update from another node refused')
  }

  #armGapTimer(delay = this.#host.gapWaitMs): void {
    if (this.#gapTimer || this.#disposed) return
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = null
      void this.catchUp()
    }, delay)
    this.#gapTimer.unref()
  }

  #clearGapTimer(): void {
    if (this.#gapTimer) clearTimeout(this.#gapTimer)
    this.#gapTimer = null
  }
}

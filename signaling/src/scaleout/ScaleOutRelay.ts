import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { DocId } from '@weft/core'
import type { RelayRoom, RelayPeer } from '../relay/RelayRoom.js'
import type { StoredTail } from './PostgresDocStore.js'
import { RedisRoomBus, type TopicBus } from './RedisRoomBus.js'
import { ScaleOutRoom } from './ScaleOutRoom.js'

/** Scale-out settings (`RelayOptions.scaleOut`): several nodes share PostgreSQL and Redis. */
export interface ScaleOutOptions {
  /** PostgreSQL connection string: the shared durable store (tables created on first use). */
  readonly postgresUrl: string
  /** Redis URL (`redis://host:port`) or Unix socket path: live updates and presence between nodes. */
  readonly redisUrl: string
  /** PostgreSQL schema of the tables (default `public`). */
  readonly postgresSchema?: string | undefined
  /** This node's id (default: host name, process id and random bytes). */
  readonly nodeId?: string | undefined
  /** A node silent this long is dead and its clients' presence removed (default 10 s). */
  readonly nodeTimeoutMs?: number | undefined
  /** How long an out-of-order update waits for the missing ones before reading the store (default 100 ms). */
  readonly gapWaitMs?: number | undefined
  /** How often every loaded room compares its clock with the store's (default 5 s; 1 s while Redis is away). */
  readonly sweepIntervalMs?: number | undefined
  /** Channel prefix in Redis (default `weft:`). */
  readonly redisPrefix?: string | undefined
}

/** Defaults of {@link ScaleOutOptions}. */
export const SCALE_OUT_DEFAULTS = Object.freeze({
  gapWaitMs: 100,
  sweepIntervalMs: 5000,
  nodeTimeoutMs: 10_000,
})

/** The store operations scale-out needs beyond the DocStore contract ({@link PostgresDocStore} has them). */
export interface SharedStore {
  readSince(docId: DocId, after: number): Promise<StoredTail>
  lastClocks(docIds: readonly DocId[]): Promise<Map<DocId, number>>
  /** Whether the store answers within `timeoutMs` (HTTP-1.1); a store without it counts as available. */
  ping?(timeoutMs: number): Promise<boolean>
}

/** What a scale-out node reports at `/healthz` and `/readyz` (HTTP-1.1). */
export interface ScaleOutHealth {
  /** PostgreSQL answered a query within a second. */
  readonly store: 'ok' | 'unavailable'
  /** Redis is connected and answers (SCALE-2.6, 2.8). */
  readonly bus: 'ok' | 'unavailable'
}

/** How long the store may take to answer a health check. */
const STORE_PING_MS = 1000

/** Whether `store` offers the {@link SharedStore} operations. */
export const isSharedStore = (store: object): store is SharedStore =>
  typeof (store as Partial<SharedStore>).readSince === 'function' &&
  typeof (store as Partial<SharedStore>).lastClocks === 'function'

/** Options of {@link ScaleOutRelay}. */
export interface ScaleOutRelayOptions {
  readonly store: SharedStore
  readonly options: ScaleOutOptions
  readonly logger: Logger
}

const SWEEP_WHILE_DISCONNECTED_MS = 1000

/**
 * The relay's side of scale-out (docs/guides/scale-out.md): one {@link ScaleOutRoom} per loaded room, the Redis
 * bus, and a periodic sweep that compares every loaded room's clock with the store's, so a lost last message (the
 * origin node was killed between storing and publishing) is recovered within `sweepIntervalMs`.
 */
export class ScaleOutRelay {
  readonly #store: SharedStore
  readonly #opts: ScaleOutRelayOptions
  readonly #bus: RedisRoomBus
  readonly #rooms = new Map<string, ScaleOutRoom>()
  readonly #started: Promise<void>
  readonly #sweepMs: number
  #sweepTimer: NodeJS.Timeout | null = null
  #sweeping = false
  /** The sweep is failing (PostgreSQL away): logged once, and once when it succeeds again (RELAY-3.5). */
  #sweepFailing = false
  #closed = false

  constructor(opts: ScaleOutRelayOptions) {
    this.#opts = opts
    this.#store = opts.store
    const o = opts.options
    this.#sweepMs = o.sweepIntervalMs ?? SCALE_OUT_DEFAULTS.sweepIntervalMs
    const nodeId = o.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
    this.#bus = new RedisRoomBus({
      url: o.redisUrl,
      nodeId,
      prefix: o.redisPrefix,
      nodeTimeoutMs: o.nodeTimeoutMs ?? SCALE_OUT_DEFAULTS.nodeTimeoutMs,
      logger: opts.logger,
      handlers: {
        message: (room, m) => this.#rooms.get(room)?.receive(m),
        resync: () => {
          for (const r of this.#rooms.values()) r.resync()
        },
        nodeDown: (node) => {
          for (const r of this.#rooms.values()) r.nodeDown(node)
          // Its last update may have been stored but never published.
          this.#sweep()
        },
        // SCALE-2.4: the sweep runs every second from now on, not after the rest of a longer interval.
        unreachable: () => {
          if (this.#closed || !this.#sweepTimer) return
          clearTimeout(this.#sweepTimer)
          this.#sweepTimer = null
          this.#scheduleSweep()
        },
      },
    })
    opts.logger.info({ node: nodeId }, 'scale-out: PostgreSQL store, Redis bus')
    this.#started = this.#bus.start()
    this.#scheduleSweep()
  }

  /** This node's id on the bus. */
  get nodeId(): string {
    return this.#bus.nodeId
  }

  /** The bus's topics, for the other parts of the relay that talk between nodes (the workspaces' notices). */
  get topics(): TopicBus {
    return this.#bus
  }

  /** The store's and the bus's state now (HTTP-1.1). */
  async health(): Promise<ScaleOutHealth> {
    const store = (await this.#store.ping?.(STORE_PING_MS)) ?? true
    return { store: store ? 'ok' : 'unavailable', bus: this.#bus.connected ? 'ok' : 'unavailable' }
  }

  /** Before loading `room`: subscribe (SCALE-2.2), so nothing stored after the load is missed. */
  async prepare(room: string): Promise<void> {
    await this.#started
    if (!this.#rooms.has(room)) this.#rooms.set(room, this.#newRoom(room))
    await this.#bus.subscribe(room)
  }

  /** The room loaded with the store's state through `storedClock`. */
  attach(room: string, doc: RelayRoom, storedClock: number): void {
    let r = this.#rooms.get(room)
    if (!r) {
      r = this.#newRoom(room)
      this.#rooms.set(room, r)
    }
    r.attach(doc, storedClock)
  }

  /** Loading failed, or the room was unloaded: leave its channel. */
  release(room: string): void {
    const r = this.#rooms.get(room)
    if (!r) return
    r.dispose()
    this.#rooms.delete(room)
    this.#bus.unsubscribe(room)
  }

  /** Whether `peer` is a room's bus peer (not a connection). */
  isBusPeer(peer: RelayPeer): boolean {
    return peer instanceof ScaleOutRoom
  }

  /** `doc` stored `update` under `clock` on this node. */
  committed(doc: RelayRoom, clock: number, update: Uint8Array): void {
    this.#rooms.get(doc.docId)?.committed(clock, update)
  }

  /** The clock through which `doc`'s in-memory log holds every stored update (compaction's `throughClock`). */
  appliedClock(doc: RelayRoom): number {
    return this.#rooms.get(doc.docId)?.applied ?? 0
  }

  /** Tells the other nodes that this node compacted `doc` through `clock`. */
  compacted(doc: RelayRoom, clock: number, bytes: number): void {
    this.#bus.publish(doc.docId, { type: 'compacted', clock, bytes })
  }

  /** Says goodbye on the bus and disconnects (the store is closed by its owner). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#sweepTimer) clearTimeout(this.#sweepTimer)
    for (const r of this.#rooms.values()) r.dispose()
    this.#rooms.clear()
    await this.#started
    await this.#bus.close()
  }

  #newRoom(room: string): ScaleOutRoom {
    return new ScaleOutRoom(room, {
      readSince: (docId, after) => this.#store.readSince(docId, after),
      publish: (r, m) => this.#bus.publish(r, m),
      // SCALE-4.3: the room resets its counters and reloads its log itself.
      remoteCompacted: (doc, _clock, bytes) => doc.compactedElsewhere(bytes),
      logger: this.#opts.logger,
      gapWaitMs: this.#opts.options.gapWaitMs ?? SCALE_OUT_DEFAULTS.gapWaitMs,
    })
  }

  #scheduleSweep(): void {
    if (this.#closed) return
    const delay = this.#bus.connected ? this.#sweepMs : Math.min(this.#sweepMs, SWEEP_WHILE_DISCONNECTED_MS)
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = null
      this.#sweep()
      this.#scheduleSweep()
    }, delay)
    this.#sweepTimer.unref()
  }

  /** Compares every loaded room's applied clock with the store's and catches up those behind. */
  #sweep(): void {
    if (this.#sweeping || this.#closed || this.#rooms.size === 0) return
    this.#sweeping = true
    const rooms = [...this.#rooms.values()]
    this.#store
      .lastClocks(rooms.map((r) => r.room as DocId))
      .then(
        (clocks) => {
          if (this.#sweepFailing) this.#opts.logger.info('scale-out sweep succeeds again')
          this.#sweepFailing = false
          for (const r of rooms) if ((clocks.get(r.room as DocId) ?? 0) > r.applied) void r.catchUp()
        },
        (err: unknown) => {
          if (!this.#sweepFailing) this.#opts.logger.warn({ err }, 'scale-out sweep failed; retrying quietly')
          this.#sweepFailing = true
        },
      )
      .finally(() => (this.#sweeping = false))
  }
}

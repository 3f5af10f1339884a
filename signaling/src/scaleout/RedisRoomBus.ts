import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './busMessages.js'
import { redisConnectionOptions } from './redisConnectionOptions.js'
import { requireDriver } from './requireDriver.js'

/** What a {@link RedisRoomBus} reports to its owner. */
export interface RoomBusHandlers {
  /** A message about `room` from another node. */
  message(room: string, message: BusMessage): void
  /**
   * The subscription was re-established after a disconnect (Redis restarted, network cut): messages may have been
   * lost meanwhile, so every room must catch up from the store and ask for presence again (SCALE-2.4).
   */
  resync(): void
  /** No heartbeat from `node` for `nodeTimeoutMs`, or it said goodbye: its clients' presence is gone (SCALE-3.3). */
  nodeDown(node: string): void
  /** An outage began (SCALE-2.6, 2.8): the node polls the store more often until the bus is back. */
  unreachable?(): void
}

/**
 * A listener of one of the bus's other channels (a topic, e.g. a workspace's change notices, WS-RELAY-6). Topics
 * ride on the room bus's two connections, so its liveness check and outage handling (SCALE-2.6, 2.8) cover them.
 */
export interface TopicListener {
  /** A payload published on the topic (by any node, this one included). */
  message(payload: string): void
  /** The topic was (re)subscribed after the bus connected: payloads published meanwhile may have been missed. */
  resync(): void
}

/** The topic side of a {@link RedisRoomBus}: what a {@link WorkspaceBus} needs of it. */
export interface TopicBus {
  /** This node's id on the bus (unique per process). */
  readonly nodeId: string
  /** Subscribes `listener` to `topic` (one listener per topic); resolves once Redis confirmed it. */
  listen(topic: string, listener: TopicListener): Promise<void>
  /** Unsubscribes `topic`. */
  unlisten(topic: string): void
  /** Publishes `payload` on `topic` (best-effort: dropped while Redis is away). */
  publishTopic(topic: string, payload: string): void
}

/** A room message as a node publishes it (the bus adds the origin). */
export type RoomMessage =
  Exclude<BusMessage, { type: 'heartbeat' | 'bye' }> extends infer M
    ? M extends BusMessage
      ? Omit<M, 'origin'>
      : never
    : never

/** Options of {@link RedisRoomBus}. */
export interface RedisRoomBusOptions {
  /** `redis://host:port/db`, `rediss://…`, or the path of a Unix socket. */
  readonly url: string
  /** This node's id (unique per process: a restarted node is a new node). */
  readonly nodeId: string
  readonly handlers: RoomBusHandlers
  readonly logger: Logger
  /** Prefix of every channel (default `weft:`), so several deployments can share one Redis. */
  readonly prefix?: string | undefined
  /** A node silent this long is considered dead (default 10 s); heartbeats go out every quarter of it. */
  readonly nodeTimeoutMs?: number | undefined
  /** Delay before reconnect attempt `attempt` (1, 2, …) while Redis is away (default `min(50 × attempt, 1000)` ms). */
  readonly retryDelay?: ((attempt: number) => number) | undefined
  /**
   * SCALE-2.8: both connections are sent a `PING` this often (default 1000 ms); one unanswered after as long again
   * means a hung Redis (stopped, or a network path that drops packets without a reset): the outage begins and both
   * connections are reconnected.
   */
  readonly livenessMs?: number | undefined
}

/** Defaults of {@link RedisRoomBusOptions}. */
export const BUS_DEFAULTS = Object.freeze({ prefix: 'weft:', nodeTimeoutMs: 10_000, livenessMs: 1000 })

/**
 * Redis pub/sub between the nodes of a scale-out deployment (docs/guides/scale-out.md): one channel per room
 * carrying stored updates (with their store clock), presence, presence queries and compaction notices, and one
 * channel for node heartbeats, and the topics of other parts of the relay ({@link TopicBus}: the workspaces' change
 * notices). Two connections for all of it (a subscriber cannot publish). Publishing is best-effort — a message
 * lost to a disconnect is recovered from PostgreSQL by clock (SCALE-2) — so nothing waits on Redis.
 */
export class RedisRoomBus implements TopicBus {
  readonly #opts: RedisRoomBusOptions
  readonly #prefix: string
  readonly #nodesChannel: string
  readonly #timeoutMs: number
  readonly #pub: Redis
  readonly #sub: Redis
  /** Room channels this node wants, subscribed again after every reconnect. */
  readonly #wanted = new Set<string>()
  /** Topic channels and their listeners, subscribed again after every reconnect. */
  readonly #topics = new Map<string, TopicListener>()
  /** Last time each other node was heard from (ms). */
  readonly #lastSeen = new Map<string, number>()
  #readySince = 0
  #everReady = false
  #timer: NodeJS.Timeout | null = null
  #liveness: NodeJS.Timeout | null = null
  /** A liveness PING is awaiting its replies. */
  #pinging = false
  #closed = false
  /** When the current outage began (ms), or null while Redis is reachable: one warn line per outage (SCALE-2.6). */
  #downSince: number | null = null
  /** Reconnect attempts (both connections) since the outage began. */
  #retries = 0

  constructor(opts: RedisRoomBusOptions) {
    this.#opts = opts
    this.#prefix = opts.prefix ?? BUS_DEFAULTS.prefix
    this.#nodesChannel = `${this.#prefix}nodes`
    this.#timeoutMs = opts.nodeTimeoutMs ?? BUS_DEFAULTS.nodeTimeoutMs
    const delay = opts.retryDelay ?? ((times: number) => Math.min(50 * times, 1000))
    const options = redisConnectionOptions(opts.url, (times) => {
      this.#retries++
      return delay(times)
    })
    // ioredis is an optional peer dependency, loaded only when a bus is made (WeftServerError if missing).
    const { Redis: RedisClient } = requireDriver<{ Redis: typeof Redis }>('ioredis')
    this.#pub = new RedisClient({ ...options, connectionName: `weft-pub-${opts.nodeId}` })
    this.#sub = new RedisClient({ ...options, connectionName: `weft-sub-${opts.nodeId}` })
    // ioredis reports every failed reconnect attempt (an `error`, a `close`): one line when the outage begins, none
    // while it lasts, one when both connections are back.
    for (const conn of [this.#pub, this.#sub]) conn.on('error', (err: Error) => this.#outage(err.message))
    this.#sub.on('close', () => {
      if (this.#everReady) this.#outage('subscriber disconnected')
    })
    this.#pub.on('ready', () => this.#recovered())
    this.#sub.on('ready', () => void this.#onReady())
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.#onMessage(channel.toString(), message),
    )
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#opts.nodeId
  }

  /**
   * Whether Redis is reachable: the subscriber connection is up and no outage is under way (a hung Redis counts as
   * unreachable, SCALE-2.8). While it is not, nodes rely on the store sweep.
   */
  get connected(): boolean {
    return this.#sub.status === 'ready' && this.#downSince === null
  }

  /** Connects both connections; waits at most `timeoutMs` (a Redis that is down is retried in the background). */
  async start(timeoutMs = 5000): Promise<void> {
    const connect = Promise.all([this.#pub.connect(), this.#sub.connect()]).then(() => true)
    const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())
    const ok = await Promise.race([connect.catch(() => false), timedOut])
    if (!ok) this.#outage(`not connected within ${timeoutMs} ms`)
    const beat = Math.max(50, Math.floor(this.#timeoutMs / 4))
    this.#timer = setInterval(() => this.#tick(), beat)
    this.#timer.unref()
    const liveness = this.#opts.livenessMs ?? BUS_DEFAULTS.livenessMs
    this.#liveness = setInterval(() => this.#ping(liveness), liveness)
    this.#liveness.unref()
  }

  /**
   * Subscribes to a room's channel. Resolves once Redis confirmed it, so that every update stored after that is
   * delivered (SCALE-2.2: a room subscribes before it loads). With Redis away it resolves at once; the room then
   * catches up when the subscription is re-established.
   */
  async subscribe(room: string): Promise<void> {
    const channel = this.#prefix + 'room:' + room
    this.#wanted.add(channel)
    if (this.#sub.status !== 'ready') return
    await this.#sub.subscribe(channel).catch(() => undefined)
  }

  /** Leaves a room's channel (the room was unloaded). */
  unsubscribe(room: string): void {
    const channel = this.#prefix + 'room:' + room
    this.#wanted.delete(channel)
    if (this.#sub.status === 'ready') this.#sub.unsubscribe(channel).catch(() => undefined)
  }

  async listen(topic: string, listener: TopicListener): Promise<void> {
    const channel = this.#prefix + topic
    this.#topics.set(channel, listener)
    if (this.#sub.status !== 'ready') return
    await this.#sub.subscribe(channel).catch(() => undefined)
  }

  unlisten(topic: string): void {
    const channel = this.#prefix + topic
    if (!this.#topics.delete(channel)) return
    if (this.#sub.status === 'ready') this.#sub.unsubscribe(channel).catch(() => undefined)
  }

  publishTopic(topic: string, payload: string): void {
    if (this.#closed || this.#pub.status !== 'ready') return
    this.#pub.publish(this.#prefix + topic, payload).catch(() => undefined)
  }

  /** Publishes a message about `room` (best-effort: dropped while Redis is away). */
  publish(room: string, message: RoomMessage): void {
    this.#send(this.#prefix + 'room:' + room, { ...message, origin: this.#opts.nodeId } as BusMessage)
  }

  /** Says goodbye (other nodes drop this node's presence at once) and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#liveness) clearInterval(this.#liveness)
    if (this.#pub.status === 'ready') {
      await this.#pub
        .publish(this.#nodesChannel, encodeBusMessage({ type: 'bye', origin: this.#opts.nodeId }))
        .catch(() => undefined)
    }
    this.#pub.disconnect()
    this.#sub.disconnect()
  }

  #send(channel: string, message: BusMessage): void {
    if (this.#closed || this.#pub.status !== 'ready') return
    this.#pub.publish(channel, encodeBusMessage(message)).catch(() => undefined)
  }

  /**
   * SCALE-2.8: a `PING` on both connections; no reply within `timeoutMs` is an outage (a hung Redis sends no reset,
   * so ioredis alone would wait forever): both connections are dropped and reconnected, which resubscribes and
   * catches every room up once Redis answers again.
   */
  #ping(timeoutMs: number): void {
    if (this.#closed || this.#pinging || this.#pub.status !== 'ready' || this.#sub.status !== 'ready') return
    this.#pinging = true
    let answered = false
    const timer = setTimeout(() => {
      this.#pinging = false
      if (answered || this.#closed) return
      this.#outage(`no reply to PING within ${timeoutMs} ms`)
      this.#pub.disconnect(true)
      this.#sub.disconnect(true)
    }, timeoutMs)
    timer.unref()
    Promise.all([this.#pub.ping(), this.#sub.ping()]).then(
      () => {
        answered = true
        this.#pinging = false
        clearTimeout(timer)
      },
      () => undefined, // a failed connection reports itself (`error`, `close`)
    )
  }

  /** Redis is away: the first report of an outage is logged, the rest (one per retry) are not. */
  #outage(reason: string): void {
    if (this.#closed || this.#downSince !== null) return
    this.#downSince = Date.now()
    this.#retries = 0
    this.#opts.logger.warn(
      { redis: this.#opts.url, reason },
      'redis unreachable: retrying quietly until it is back (rooms catch up from the store)',
    )
    this.#opts.handlers.unreachable?.()
  }

  /** Both connections are up again after an outage: one line saying how long it lasted. */
  #recovered(): void {
    const since = this.#downSince
    if (since === null || this.#pub.status !== 'ready' || this.#sub.status !== 'ready') return
    this.#downSince = null
    this.#opts.logger.info({ downMs: Date.now() - since, retries: this.#retries }, 'redis reachable again')
  }

  async #onReady(): Promise<void> {
    const again = this.#everReady
    this.#everReady = true
    this.#readySince = Date.now()
    try {
      await this.#sub.subscribe(this.#nodesChannel, ...this.#wanted, ...this.#topics.keys())
    } catch {
      return // Disconnected again: the next `ready` retries.
    }
    this.#opts.logger.info({ rooms: this.#wanted.size, reconnect: again }, 'redis bus subscribed')
    this.#recovered()
    if (again) this.#opts.handlers.resync()
    for (const listener of this.#topics.values()) listener.resync()
  }

  #onMessage(channel: string, data: Buffer): void {
    const topic = this.#topics.get(channel)
    if (topic) {
      topic.message(data.toString())
      return
    }
    const message = decodeBusMessage(data)
    if (!message || message.origin === this.#opts.nodeId) return
    if (channel === this.#nodesChannel) {
      if (message.type === 'bye') {
        this.#lastSeen.delete(message.origin)
        this.#opts.handlers.nodeDown(message.origin)
      } else this.#lastSeen.set(message.origin, Date.now())
      return
    }
    const roomPrefix = this.#prefix + 'room:'
    if (!channel.startsWith(roomPrefix)) return
    if (!this.#lastSeen.has(message.origin)) this.#lastSeen.set(message.origin, Date.now())
    this.#opts.handlers.message(channel.slice(roomPrefix.length), message)
  }

  /** Heartbeat out; nodes silent for the timeout are reported dead (not while this node itself is cut off). */
  #tick(): void {
    this.#send(this.#nodesChannel, { type: 'heartbeat', origin: this.#opts.nodeId })
    const now = Date.now()
    if (!this.connected || now - this.#readySince < this.#timeoutMs) return
    for (const [node, seen] of this.#lastSeen) {
      if (now - seen <= this.#timeoutMs) continue
      this.#lastSeen.delete(node)
      this.#opts.logger.info({ node }, 'node silent: dropping its presence')
      this.#opts.handlers.nodeDown(node)
    }
  }
}

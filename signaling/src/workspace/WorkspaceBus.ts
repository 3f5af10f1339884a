import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { redisConnectionOptions } from '../scaleout/redisConnectionOptions.js'
import { requireDriver } from '../scaleout/requireDriver.js'

/** Options of {@link WorkspaceBus}. */
export interface WorkspaceBusOptions {
  /** Redis URL (`redis://host:port/db`, `rediss://…`) or the path of a Unix socket (`ScaleOutOptions.redisUrl`). */
  readonly url: string
  /** Channel prefix (`ScaleOutOptions.redisPrefix`, default `weft:`); channels are `<prefix>workspace:<W>`. */
  readonly prefix?: string | undefined
  /** This node's id: its own notices are not delivered back to it. */
  readonly nodeId: string
  /** Another node stored a change of `workspace` (or the bus reconnected: changes may have been missed). */
  readonly changed: (workspace: string) => void
  readonly logger: Logger
}

/**
 * Scale-out for CHANGED (WS-RELAY-6): after a durable commit of a workspace's document, a node publishes a notice on
 * the workspace's Redis channel; every node with sockets of that workspace subscribes to it and, on a notice, reads
 * the changes after the last one it pushed from the shared store (PostgreSQL's gap-free sequence). The notice
 * carries no data: the store is the truth, so a lost or late notice delays a push, never corrupts it.
 */
export class WorkspaceBus {
  readonly #opts: WorkspaceBusOptions
  readonly #prefix: string
  readonly #pub: Redis
  readonly #sub: Redis
  /** Workspaces watched (subscribed again after every reconnect). */
  readonly #watched = new Set<string>()
  #closed = false

  constructor(opts: WorkspaceBusOptions) {
    this.#opts = opts
    this.#prefix = `${opts.prefix ?? 'weft:'}workspace:`
    const { Redis: RedisClient } = requireDriver<{ Redis: typeof Redis }>('ioredis')
    const options = redisConnectionOptions(opts.url, (times) => Math.min(50 * times, 1000))
    this.#pub = new RedisClient({ ...options, connectionName: `weft-ws-pub-${opts.nodeId}` })
    this.#sub = new RedisClient({ ...options, connectionName: `weft-ws-sub-${opts.nodeId}` })
    // The room bus reports outages; these connections follow the same Redis and stay quiet.
    for (const conn of [this.#pub, this.#sub]) conn.on('error', () => undefined)
    this.#sub.on('ready', () => this.#resubscribe())
    this.#sub.on('message', (channel: string, origin: string) => {
      if (origin === this.#opts.nodeId || !channel.startsWith(this.#prefix)) return
      this.#opts.changed(channel.slice(this.#prefix.length))
    })
  }

  /** Connects both connections (Redis away: retried in the background; nothing waits on it). */
  async start(): Promise<void> {
    await Promise.all([this.#pub.connect(), this.#sub.connect()]).catch((err: unknown) => {
      this.#opts.logger.warn({ err }, 'workspace bus: redis unreachable, retrying')
    })
  }

  /** Starts receiving notices of `workspace` (its first socket on this node opened). Resolves once subscribed. */
  async watch(workspace: string): Promise<void> {
    this.#watched.add(workspace)
    if (this.#sub.status !== 'ready') return
    await this.#sub.subscribe(this.#prefix + workspace).catch(() => undefined)
  }

  /** Stops receiving notices of `workspace` (its last socket on this node closed). */
  unwatch(workspace: string): void {
    this.#watched.delete(workspace)
    if (this.#sub.status === 'ready') this.#sub.unsubscribe(this.#prefix + workspace).catch(() => undefined)
  }

  /** Tells the other nodes that a change of `workspace` is durable. */
  notify(workspace: string): void {
    if (this.#closed || this.#pub.status !== 'ready') return
    this.#pub.publish(this.#prefix + workspace, this.#opts.nodeId).catch(() => undefined)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#pub.disconnect()
    this.#sub.disconnect()
  }

  /** After a (re)connect: subscribe again, and push what may have been missed meanwhile. */
  #resubscribe(): void {
    if (this.#closed || this.#watched.size === 0) return
    const channels = [...this.#watched].map((w) => this.#prefix + w)
    this.#sub.subscribe(...channels).catch(() => undefined)
    for (const workspace of this.#watched) this.#opts.changed(workspace)
  }
}

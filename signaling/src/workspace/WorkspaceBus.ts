import type { TopicBus } from '../scaleout/RedisRoomBus.js'

/** Options of {@link WorkspaceBus}. */
export interface WorkspaceBusOptions {
  /**
   * The scale-out node's Redis bus (`ScaleOutRelay.topics`), or null on a single node; read at each call, because
   * the endpoint is made before the relay hub that owns the bus.
   */
  readonly topics: () => TopicBus | null
  /** Another node stored a change of `workspace` (or the bus reconnected: changes may have been missed). */
  readonly changed: (workspace: string) => void
}

/**
 * Scale-out for CHANGED (WS-RELAY-6): after a durable commit of a workspace's document, a node publishes a notice on
 * the workspace's topic (channel `<prefix>workspace:<W>`, the payload the publishing node's id); every node with
 * sockets of that workspace listens to it and, on a notice, reads the changes after the last one it pushed from the
 * shared store (PostgreSQL's gap-free sequence). The notice carries no data: the store is the truth, so a lost or
 * late notice delays a push, never corrupts it. The topics ride on the room bus's connections (SCALE-2.10), whose
 * liveness check finds a hung Redis for both.
 */
export class WorkspaceBus {
  readonly #opts: WorkspaceBusOptions

  constructor(opts: WorkspaceBusOptions) {
    this.#opts = opts
  }

  /** Starts receiving notices of `workspace` (its first socket on this node opened). Resolves once subscribed. */
  async watch(workspace: string): Promise<void> {
    const bus = this.#opts.topics()
    if (!bus) return
    await bus.listen(topicOf(workspace), {
      message: (origin) => {
        if (origin !== bus.nodeId) this.#opts.changed(workspace)
      },
      // SCALE-2.10: after a reconnect (a restarted or hung Redis) notices may have been lost: push what is stored.
      resync: () => this.#opts.changed(workspace),
    })
  }

  /** Stops receiving notices of `workspace` (its last socket on this node closed). */
  unwatch(workspace: string): void {
    this.#opts.topics()?.unlisten(topicOf(workspace))
  }

  /** Tells the other nodes that a change of `workspace` is durable. */
  notify(workspace: string): void {
    const bus = this.#opts.topics()
    bus?.publishTopic(topicOf(workspace), bus.nodeId)
  }
}

const topicOf = (workspace: string): string => `workspace:${workspace}`
